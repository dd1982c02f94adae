//! `/api/v1/admin/products` and their variants. Staff may create and edit;
//! deleting needs the `Delete` permission (admin and up).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Can, Json, Path, Query, permit};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use catalog::{Product, ProductFilter, ProductInput, ProductPatch, ProductStatus, Variant, VariantInput, VariantPatch};
use kernel::{Page, PageRequest};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, update, delete))
        .routes(routes!(list_variants, add_variant))
        .routes(routes!(update_variant, delete_variant))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListProductsQuery {
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
    /// Part of the title, slug or a SKU, case-insensitive.
    pub q: Option<String>,
    #[param(inline)]
    pub status: Option<ProductStatus>,
    pub category_id: Option<Uuid>,
    pub seller_id: Option<Uuid>,
}

/// A search string from a query parameter: trimmed, bounded, printable.
pub(crate) fn query_text(field: &str, q: Option<String>) -> ApiResult<Option<String>> {
    let q = q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    if let Some(q) = &q
        && (q.chars().count() > 200 || q.chars().any(char::is_control))
    {
        return Err(ApiError::field(field, "must be at most 200 characters, without control characters"));
    }
    Ok(q)
}

/// Every product whatever its status, newest first.
#[utoipa::path(get, path = "/admin/products", tag = "admin", security(("bearer" = [])), params(ListProductsQuery),
    responses((status = 200, body = Page<Product>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _: Can<permit::ReadProducts>,
    Query(query): Query<ListProductsQuery>,
) -> ApiResult<Json<Page<Product>>> {
    let page = PageRequest { page: query.page, per_page: query.per_page }.validate()?;
    let filter = ProductFilter {
        q: query_text("q", query.q)?,
        status: query.status,
        category_id: query.category_id,
        seller_id: query.seller_id,
    };
    Ok(Json(state.catalog.list_products(filter, page).await?))
}

/// Create a product with its options and variants. Without `seller_id` it
/// belongs to the shop's default seller; without `slug` one is made from the title.
#[utoipa::path(post, path = "/admin/products", tag = "admin", security(("bearer" = [])), request_body = ProductInput,
    responses(
        (status = 201, body = Product),
        (status = 403, body = ErrorBody),
        (status = 409, description = "Slug or SKU already in use", body = ErrorBody),
        (status = 422, description = "Names each bad field", body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    _: Can<permit::WriteProducts>,
    Json(body): Json<ProductInput>,
) -> ApiResult<(StatusCode, Json<Product>)> {
    Ok((StatusCode::CREATED, Json(state.catalog.create_product(body).await?)))
}

#[utoipa::path(get, path = "/admin/products/{id}", tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Product), (status = 404, body = ErrorBody)))]
pub async fn show(
    State(state): State<AppState>,
    _: Can<permit::ReadProducts>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Product>> {
    Ok(Json(state.catalog.product(id).await?))
}

/// Change a product's own fields; absent fields stay as they are.
#[utoipa::path(patch, path = "/admin/products/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ProductPatch,
    responses((status = 200, body = Product), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    _: Can<permit::WriteProducts>,
    Path(id): Path<Uuid>,
    Json(body): Json<ProductPatch>,
) -> ApiResult<Json<Product>> {
    Ok(Json(state.catalog.update_product(id, body).await?))
}

/// Delete a product with its variants, images and reviews (admin only;
/// archive it instead to keep it for reference).
#[utoipa::path(delete, path = "/admin/products/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    _: Can<permit::DeleteProducts>,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state.catalog.delete_product(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/admin/products/{id}/variants", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 200, body = [Variant]), (status = 404, body = ErrorBody)))]
pub async fn list_variants(
    State(state): State<AppState>,
    _: Can<permit::ReadProducts>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<Variant>>> {
    Ok(Json(state.catalog.product(id).await?.variants))
}

/// Add a variant; its option values must be values of the product's options.
#[utoipa::path(post, path = "/admin/products/{id}/variants", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = VariantInput,
    responses((status = 201, body = Variant), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn add_variant(
    State(state): State<AppState>,
    _: Can<permit::WriteProducts>,
    Path(id): Path<Uuid>,
    Json(body): Json<VariantInput>,
) -> ApiResult<(StatusCode, Json<Variant>)> {
    Ok((StatusCode::CREATED, Json(state.catalog.add_variant(id, body).await?)))
}

#[utoipa::path(patch, path = "/admin/products/{id}/variants/{variant_id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("variant_id" = Uuid, Path)), request_body = VariantPatch,
    responses((status = 200, body = Variant), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_variant(
    State(state): State<AppState>,
    _: Can<permit::WriteProducts>,
    Path((id, variant_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<VariantPatch>,
) -> ApiResult<Json<Variant>> {
    Ok(Json(state.catalog.update_variant(id, variant_id, body).await?))
}

/// Remove a variant (409 if it is the last one of an active product).
#[utoipa::path(delete, path = "/admin/products/{id}/variants/{variant_id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("variant_id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_variant(
    State(state): State<AppState>,
    _: Can<permit::DeleteProducts>,
    Path((id, variant_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    state.catalog.delete_variant(id, variant_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
