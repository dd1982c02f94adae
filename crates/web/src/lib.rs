//! The HTTP face of Emporium: the `/api/v1` REST API with its OpenAPI
//! document, health and metrics endpoints, and the middleware every request
//! passes through (request ids, tracing, metrics, security headers, CORS,
//! compression, body limits, timeouts, panic safety).

pub mod error;
pub mod extract;
mod metrics;
pub mod middleware;
pub mod rate_limit;
pub mod routes;
pub mod served;
pub mod state;
pub mod views;

pub use error::{ApiError, ApiResult};
pub use served::{Served, Service};
pub use state::{AppState, Services, WebConfig};

use axum::Router;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use utoipa::OpenApi;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;

#[derive(OpenApi)]
#[openapi(
    info(title = "Emporium API", description = "Storefront and admin API of an Emporium shop. \
        Errors are `{\"error\": {\"code\", \"message\", \"details\"}}`; money is integer minor units."),
    modifiers(&BearerAuth),
    tags(
        (name = "identity", description = "Accounts, sign-in, profile and addresses"),
        (name = "catalog", description = "Storefront catalogue: categories, product search, product pages, reviews, stores"),
        (name = "admin", description = "Shop administration (staff, admin, superadmin)"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    }
}

/// The `/api/v1` routes of the services in `served`, with their OpenAPI
/// description (authentication's rate limit is added by `app_with`).
fn api(max_image_bytes: usize, served: &Served, auth: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    let mut api = OpenApiRouter::new();
    for service in served.iter() {
        api = match service {
            Service::Identity => api
                .merge(auth.clone())
                .merge(routes::me::router().layer(no_store()))
                .merge(routes::addresses::router())
                .merge(routes::admin_users::router()),
            Service::Catalog => api
                .merge(routes::products::router())
                .merge(routes::storefront::router())
                .merge(routes::admin_products::router())
                .merge(routes::admin_images::router(max_image_bytes))
                .merge(routes::admin_taxonomy::router())
                .merge(routes::admin_stores_reviews::router()),
            Service::Inventory => api.merge(routes::admin_inventory::router()),
            Service::Orders => api.merge(routes::admin_orders::router()).merge(routes::cart::router()),
            Service::Payments => api.merge(routes::cart::payments_router()),
            Service::Notifications => api.merge(routes::admin_notifications::router()),
            Service::Storefront => api,
        };
    }
    api
}

/// The authentication routes, which are rate limited per client.
fn auth_api(state: &AppState) -> OpenApiRouter<AppState> {
    routes::auth::router()
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), middleware::limit_auth))
        .layer(no_store())
}

/// `Cache-Control: no-store` on answers that carry tokens or the account:
/// no browser or proxy cache may keep them.
fn no_store() -> tower_http::set_header::SetResponseHeaderLayer<axum::http::HeaderValue> {
    tower_http::set_header::SetResponseHeaderLayer::overriding(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    )
}

/// The OpenAPI document of every service, as served at `/api/openapi.json`
/// by a process that runs them all.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (_, doc) =
        routers(media::ImagePolicy::default().max_bytes, &Served::all(), routes::auth::router()).split_for_parts();
    doc
}

/// The routes of `served` under their paths, with the OpenAPI description.
fn routers(max_image_bytes: usize, served: &Served, auth: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    let router = OpenApiRouter::with_openapi(ApiDoc::openapi()).nest("/api/v1", api(max_image_bytes, served, auth));
    if served.contains(Service::Identity) { router.merge(routes::keys::router()) } else { router }
}

/// The whole application for `state`: the API alone, answering unknown
/// paths with a JSON 404.
pub fn app(state: AppState) -> Router {
    app_with(state, no_pages(), &Served::all())
}

/// In place of the pages (a process without the storefront): every path the
/// API does not serve is a JSON 404.
pub fn no_pages() -> Router {
    Router::new().fallback(middleware::not_found)
}

/// The API of the services in `served` beside `site`, a router of pages
/// that owns the fallback (for unknown paths) and may not reuse the API's
/// paths. Health, metrics and the OpenAPI document (of what this process
/// serves) are on every process; the images go with the catalogue.
pub fn app_with(state: AppState, site: Router, served: &Served) -> Router {
    let (api_router, doc) = routers(state.image_policy.max_bytes, served, auth_api(&state)).split_for_parts();
    let doc = Arc::new(doc.to_json().unwrap_or_else(|_| "{}".to_owned()));
    let mut router = api_router.merge(routes::health::router());
    if served.contains(Service::Catalog) {
        router = router.merge(routes::media::router());
    }
    let router = router
        .route_layer(axum::middleware::from_fn(metrics::track))
        .merge(routes::docs::router(doc))
        .with_state(state.clone())
        .merge(site);
    middleware::wrap(router, &state.config)
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests
/// in flight finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
