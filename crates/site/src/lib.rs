//! The storefront and the admin in the browser.
//!
//! Pages are rendered on the server from askama templates (compiled into the
//! binary, escaping everything by default) and work without JavaScript;
//! htmx, vendored from its npm package and served from `/assets`, makes some
//! of them quicker (search suggestions, cart quantities). Sign-in is a
//! server-side session in an httpOnly, SameSite=Lax cookie; every unsafe
//! request carries a CSRF token bound to the visitor (see [`session`]).

mod account;
mod admin;
mod admin_catalog;
mod admin_categories;
mod admin_notifications;
mod admin_orders;
mod admin_people;
mod admin_pricing;
mod admin_product;
mod assets;
mod cart;
mod checkout;
mod page;
mod pay;
mod product;
mod session;
mod shop;
mod stores;

use axum::Router;
use axum::http::{HeaderValue, header};
use std::sync::Arc;
use tower_http::set_header::SetResponseHeaderLayer;
use web::AppState;

pub use session::{CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE, VISITOR_COOKIE};

/// What the pages need beyond the API's state.
#[derive(Debug, Clone)]
pub struct SiteConfig {
    /// The shop's name in titles and the header.
    pub shop_name: String,
    /// Key for CSRF tokens (derive it from a server secret).
    pub csrf_key: Vec<u8>,
    /// Mark cookies `Secure` (set when the shop is served over TLS).
    pub secure_cookies: bool,
    /// Stripe's publishable key, for the Payment Element (with Stripe enabled).
    pub stripe_publishable_key: Option<String>,
    /// The currency prices are entered in on the admin's forms.
    pub currency: String,
}

#[derive(Clone)]
pub struct Site {
    pub app: AppState,
    pub config: Arc<SiteConfig>,
}

/// Scripts only from here (and Stripe.js for its Payment Element, which
/// draws its fields in Stripe's frames); no inline script or style.
pub const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
    script-src 'self' https://js.stripe.com; frame-src https://js.stripe.com https://hooks.stripe.com; \
    connect-src 'self' https://api.stripe.com; form-action 'self'; base-uri 'none'; object-src 'none'; \
    frame-ancestors 'none'";

/// The pages, with their own 404 for unknown paths (JSON under `/api`).
pub fn router(app: AppState, config: SiteConfig) -> Router {
    let site = Site { app, config: Arc::new(config) };
    Router::new()
        .merge(shop::router())
        .merge(cart::router())
        .merge(account::router(&site))
        .merge(stores::router())
        .merge(admin::router())
        .merge(admin_catalog::router())
        .merge(admin_categories::router())
        .merge(admin_notifications::router())
        .merge(admin_orders::router())
        .merge(admin_people::router())
        .merge(admin_pricing::router())
        .fallback(page::not_found)
        .layer(axum::middleware::from_fn_with_state(site.clone(), session::visitor_layer))
        .layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP)))
        .merge(assets::router())
        .with_state(site)
}
