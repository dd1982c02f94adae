//! `/api/v1/users/me`: the signed-in user's own profile.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::{CurrentUser, Json};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use identity::{Address, User, UserPatch};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_me, update_me, delete_me)).routes(routes!(export_me))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    pub full_name: Option<String>,
}

/// The signed-in user.
#[utoipa::path(get, path = "/users/me", tag = "identity", security(("bearer" = [])),
    responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
pub async fn get_me(CurrentUser(user): CurrentUser) -> Json<User> {
    Json(user)
}

/// Update the signed-in user's profile.
#[utoipa::path(patch, path = "/users/me", tag = "identity", security(("bearer" = [])), request_body = UpdateMeRequest,
    responses((status = 200, body = User), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_me(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Json(body): Json<UpdateMeRequest>,
) -> ApiResult<Json<User>> {
    let updated = state.identity.update_profile(&user, UserPatch { full_name: body.full_name }).await?;
    Ok(Json(updated))
}

/// Erase the account's personal data. Orders, once they exist, are kept
/// with the customer anonymised.
#[utoipa::path(delete, path = "/users/me", tag = "identity", security(("bearer" = [])),
    responses((status = 204, description = "Erased"), (status = 401, body = ErrorBody)))]
pub async fn delete_me(State(state): State<AppState>, CurrentUser(user): CurrentUser) -> ApiResult<StatusCode> {
    state.identity.erase(&user).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonalData {
    pub user: User,
    pub addresses: Vec<Address>,
}

/// Everything we hold about the signed-in user, as JSON (GDPR access and
/// portability).
#[utoipa::path(get, path = "/users/me/export", tag = "identity", security(("bearer" = [])),
    responses((status = 200, body = PersonalData), (status = 401, body = ErrorBody)))]
pub async fn export_me(State(state): State<AppState>, CurrentUser(user): CurrentUser) -> ApiResult<Json<PersonalData>> {
    let addresses = state.identity.addresses(&user).await?;
    Ok(Json(PersonalData { user, addresses }))
}
