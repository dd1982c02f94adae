//! Storefront reads beside products: the category tree, the store locator,
//! product reviews and the customer's wishlist.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{CurrentUser, Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use catalog::{CategoryNode, ProductCard, Review, ReviewInput, StoreWithDistance, WishlistItem};
use kernel::{Page, PageRequest};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(categories))
        .routes(routes!(stores))
        .routes(routes!(list_reviews, create_review))
        .routes(routes!(wishlist, add_to_wishlist))
        .routes(routes!(remove_from_wishlist))
}

/// The category tree, siblings in display order.
#[utoipa::path(get, path = "/categories", tag = "catalog", responses((status = 200, body = [CategoryNode])))]
pub async fn categories(State(state): State<AppState>) -> ApiResult<Json<Vec<CategoryNode>>> {
    Ok(Json(state.catalog.category_tree().await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StoresQuery {
    /// Latitude of the shopper, degrees.
    pub lat: Option<f64>,
    /// Longitude of the shopper, degrees.
    pub lng: Option<f64>,
    /// Only stores within this many kilometres (needs lat and lng).
    pub radius_km: Option<f64>,
}

/// Physical stores, nearest first when `lat` and `lng` are given.
#[utoipa::path(get, path = "/stores", tag = "catalog", params(StoresQuery),
    responses((status = 200, body = [StoreWithDistance]), (status = 422, body = ErrorBody)))]
pub async fn stores(
    State(state): State<AppState>,
    Query(q): Query<StoresQuery>,
) -> ApiResult<Json<Vec<StoreWithDistance>>> {
    let point = match (q.lat, q.lng) {
        (Some(lat), Some(lng)) => Some((lat, lng)),
        (None, None) => None,
        _ => return Err(ApiError::field("lat", "give both lat and lng, or neither")),
    };
    Ok(Json(state.catalog.stores_near(point, q.radius_km).await?))
}

/// Published reviews of a product, newest first.
#[utoipa::path(get, path = "/products/{id}/reviews", tag = "catalog", params(("id" = Uuid, Path), PageRequest),
    responses((status = 200, body = Page<Review>), (status = 404, body = ErrorBody)))]
pub async fn list_reviews(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(page): Query<PageRequest>,
) -> ApiResult<Json<Page<Review>>> {
    Ok(Json(state.catalog.product_reviews(id, page.validate()?).await?))
}

/// Review a product (signed in; one review per customer per product).
/// `verified_purchase` is set by the server from the customer's orders.
#[utoipa::path(post, path = "/products/{id}/reviews", tag = "catalog", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ReviewInput,
    responses(
        (status = 201, body = Review),
        (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Already reviewed", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn create_review(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<ReviewInput>,
) -> ApiResult<(StatusCode, Json<Review>)> {
    let review = state.catalog.create_review(user.id, &user.full_name, id, body).await?;
    Ok((StatusCode::CREATED, Json(review)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WishlistEntry {
    #[serde(flatten)]
    pub item: WishlistItem,
    /// The product's card; absent when it is no longer on sale.
    pub product: Option<ProductCard>,
}

/// The signed-in customer's wishlist, most recent first.
#[utoipa::path(get, path = "/users/me/wishlist", tag = "identity", security(("bearer" = [])),
    responses((status = 200, body = [WishlistEntry]), (status = 401, body = ErrorBody)))]
pub async fn wishlist(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
) -> ApiResult<Json<Vec<WishlistEntry>>> {
    let items = state.catalog.wishlist(user.id).await?;
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        let product = match state.catalog.storefront_product(&item.product_id.to_string()).await {
            Ok(p) => {
                let levels = state.catalog.availability(&p).await?;
                Some(ProductCard::new(&p, levels.values().any(|q| q.is_none_or(|q| q > 0))))
            }
            Err(catalog::CatalogError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        out.push(WishlistEntry { item, product });
    }
    Ok(Json(out))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WishlistAdd {
    pub product_id: Uuid,
}

/// Add an active product; adding it again changes nothing.
#[utoipa::path(post, path = "/users/me/wishlist", tag = "identity", security(("bearer" = [])), request_body = WishlistAdd,
    responses((status = 201, body = WishlistItem), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn add_to_wishlist(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Json(body): Json<WishlistAdd>,
) -> ApiResult<(StatusCode, Json<WishlistItem>)> {
    Ok((StatusCode::CREATED, Json(state.catalog.add_to_wishlist(user.id, body.product_id).await?)))
}

#[utoipa::path(delete, path = "/users/me/wishlist/{product_id}", tag = "identity", security(("bearer" = [])),
    params(("product_id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn remove_from_wishlist(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(product_id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state.catalog.remove_from_wishlist(user.id, product_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
