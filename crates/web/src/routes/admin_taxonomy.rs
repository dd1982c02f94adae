//! `/api/v1/admin/categories` and `/api/v1/admin/sellers`.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Can, Json, Path, permit};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use catalog::{Category, CategoryInput, CategoryPatch, Seller, SellerInput, SellerPatch};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_categories, create_category))
        .routes(routes!(update_category, delete_category))
        .routes(routes!(list_sellers, create_seller))
        .routes(routes!(update_seller, delete_seller))
}

/// Every category, flat, with parent ids and positions.
#[utoipa::path(get, path = "/admin/categories", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [Category]), (status = 403, body = ErrorBody)))]
pub async fn list_categories(
    State(state): State<AppState>,
    _: Can<permit::ReadProducts>,
) -> ApiResult<Json<Vec<Category>>> {
    Ok(Json(state.catalog.categories().await?.as_ref().clone()))
}

#[utoipa::path(post, path = "/admin/categories", tag = "admin", security(("bearer" = [])), request_body = CategoryInput,
    responses((status = 201, body = Category), (status = 409, description = "Slug taken", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_category(
    State(state): State<AppState>,
    _: Can<permit::WriteProducts>,
    Json(body): Json<CategoryInput>,
) -> ApiResult<(StatusCode, Json<Category>)> {
    Ok((StatusCode::CREATED, Json(state.catalog.create_category(body).await?)))
}

/// Rename, move (`parent_id`, `null` for top level) or reorder (`position`).
#[utoipa::path(patch, path = "/admin/categories/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = CategoryPatch,
    responses((status = 200, body = Category), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, description = "Unknown parent, or a move under itself", body = ErrorBody)))]
pub async fn update_category(
    State(state): State<AppState>,
    _: Can<permit::WriteProducts>,
    Path(id): Path<Uuid>,
    Json(body): Json<CategoryPatch>,
) -> ApiResult<Json<Category>> {
    Ok(Json(state.catalog.update_category(id, body).await?))
}

/// Delete an empty category: 409 while it holds products or subcategories.
#[utoipa::path(delete, path = "/admin/categories/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_category(
    State(state): State<AppState>,
    _: Can<permit::DeleteProducts>,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state.catalog.delete_category(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The shop's sellers, the default one first.
#[utoipa::path(get, path = "/admin/sellers", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [Seller]), (status = 403, body = ErrorBody)))]
pub async fn list_sellers(State(state): State<AppState>, _: Can<permit::ReadProducts>) -> ApiResult<Json<Vec<Seller>>> {
    Ok(Json(state.catalog.sellers().await?))
}

#[utoipa::path(post, path = "/admin/sellers", tag = "admin", security(("bearer" = [])), request_body = SellerInput,
    responses((status = 201, body = Seller), (status = 422, body = ErrorBody)))]
pub async fn create_seller(
    State(state): State<AppState>,
    _: Can<permit::DeleteProducts>,
    Json(body): Json<SellerInput>,
) -> ApiResult<(StatusCode, Json<Seller>)> {
    Ok((StatusCode::CREATED, Json(state.catalog.create_seller(body).await?)))
}

#[utoipa::path(patch, path = "/admin/sellers/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = SellerPatch,
    responses((status = 200, body = Seller), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_seller(
    State(state): State<AppState>,
    _: Can<permit::DeleteProducts>,
    Path(id): Path<Uuid>,
    Json(body): Json<SellerPatch>,
) -> ApiResult<Json<Seller>> {
    Ok(Json(state.catalog.update_seller(id, body).await?))
}

/// Delete a seller without products (never the default seller).
#[utoipa::path(delete, path = "/admin/sellers/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_seller(
    State(state): State<AppState>,
    _: Can<permit::DeleteProducts>,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state.catalog.delete_seller(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
