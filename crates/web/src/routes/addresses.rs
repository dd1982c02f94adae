//! `/api/v1/users/me/addresses`: the address book.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{CurrentUser, Json, Path};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use identity::{Address, AddressInput, AddressPatch};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create)).routes(routes!(update, remove))
}

/// The signed-in user's addresses, oldest first.
#[utoipa::path(get, path = "/users/me/addresses", tag = "identity", security(("bearer" = [])),
    responses((status = 200, body = Vec<Address>), (status = 401, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, CurrentUser(user): CurrentUser) -> ApiResult<Json<Vec<Address>>> {
    Ok(Json(state.identity.addresses(&user).await?))
}

/// Add an address. The first one becomes the default shipping and billing
/// address; setting a default clears the previous one.
#[utoipa::path(post, path = "/users/me/addresses", tag = "identity", security(("bearer" = [])),
    request_body = AddressInput,
    responses((status = 201, body = Address), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Json(body): Json<AddressInput>,
) -> ApiResult<(StatusCode, Json<Address>)> {
    let address = state.identity.add_address(&user, body).await?;
    Ok((StatusCode::CREATED, Json(address)))
}

/// Change some fields of an address.
#[utoipa::path(patch, path = "/users/me/addresses/{id}", tag = "identity", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = AddressPatch,
    responses((status = 200, body = Address), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<Uuid>,
    Json(body): Json<AddressPatch>,
) -> ApiResult<Json<Address>> {
    Ok(Json(state.identity.update_address(&user, id, body).await?))
}

/// Delete an address; if it was a default, the oldest remaining address
/// takes its place.
#[utoipa::path(delete, path = "/users/me/addresses/{id}", tag = "identity", security(("bearer" = [])),
    params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn remove(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state.identity.delete_address(&user, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
