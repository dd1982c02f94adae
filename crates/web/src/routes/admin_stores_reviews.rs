//! `/api/v1/admin/stores` (store locator) and `/api/v1/admin/reviews` (moderation).

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Can, Json, Path, Query, permit};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use catalog::{Review, ReviewFilter, ReviewModeration, ReviewStatus, Store, StoreInput, StoreWithDistance};
use kernel::{Page, PageRequest};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_stores, create_store))
        .routes(routes!(update_store, delete_store))
        .routes(routes!(list_reviews))
        .routes(routes!(moderate_review, delete_review))
}

#[utoipa::path(get, path = "/admin/stores", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [StoreWithDistance]), (status = 403, body = ErrorBody)))]
pub async fn list_stores(
    State(state): State<AppState>,
    _: Can<permit::ReadProducts>,
) -> ApiResult<Json<Vec<StoreWithDistance>>> {
    Ok(Json(state.catalog.stores_near(None, None).await?))
}

#[utoipa::path(post, path = "/admin/stores", tag = "admin", security(("bearer" = [])), request_body = StoreInput,
    responses((status = 201, body = Store), (status = 422, body = ErrorBody)))]
pub async fn create_store(
    State(state): State<AppState>,
    _: Can<permit::WriteProducts>,
    Json(body): Json<StoreInput>,
) -> ApiResult<(StatusCode, Json<Store>)> {
    Ok((StatusCode::CREATED, Json(state.catalog.create_store(body).await?)))
}

/// Replace a store's details.
#[utoipa::path(put, path = "/admin/stores/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = StoreInput,
    responses((status = 200, body = Store), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_store(
    State(state): State<AppState>,
    _: Can<permit::WriteProducts>,
    Path(id): Path<Uuid>,
    Json(body): Json<StoreInput>,
) -> ApiResult<Json<Store>> {
    Ok(Json(state.catalog.update_store(id, body).await?))
}

#[utoipa::path(delete, path = "/admin/stores/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_store(
    State(state): State<AppState>,
    _: Can<permit::DeleteProducts>,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state.catalog.delete_store(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListReviewsQuery {
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
    pub product_id: Option<Uuid>,
    #[param(inline)]
    pub status: Option<ReviewStatus>,
}

/// All reviews, newest first, for moderation.
#[utoipa::path(get, path = "/admin/reviews", tag = "admin", security(("bearer" = [])), params(ListReviewsQuery),
    responses((status = 200, body = Page<Review>), (status = 403, body = ErrorBody)))]
pub async fn list_reviews(
    State(state): State<AppState>,
    _: Can<permit::ReadProducts>,
    Query(query): Query<ListReviewsQuery>,
) -> ApiResult<Json<Page<Review>>> {
    let page = PageRequest { page: query.page, per_page: query.per_page }.validate()?;
    let filter = ReviewFilter { product_id: query.product_id, status: query.status };
    Ok(Json(state.catalog.reviews(filter, page).await?))
}

/// Publish or hide a review; hidden reviews leave the product's rating.
#[utoipa::path(patch, path = "/admin/reviews/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ReviewModeration,
    responses((status = 200, body = Review), (status = 404, body = ErrorBody)))]
pub async fn moderate_review(
    State(state): State<AppState>,
    _: Can<permit::WriteProducts>,
    Path(id): Path<Uuid>,
    Json(body): Json<ReviewModeration>,
) -> ApiResult<Json<Review>> {
    Ok(Json(state.catalog.moderate_review(id, body.status).await?))
}

#[utoipa::path(delete, path = "/admin/reviews/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_review(
    State(state): State<AppState>,
    _: Can<permit::DeleteProducts>,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state.catalog.delete_review(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
