//! `/api/v1/admin/users`: account administration.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Can, Json, Path, Query, permit};
use crate::state::AppState;
use axum::extract::State;
use identity::{AdminUserPatch, Role, User, UserFilter};
use kernel::{Page, PageRequest};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(update))
}

/// The page fields repeat `kernel::PageRequest` instead of flattening it:
/// `#[serde(flatten)]` makes serde_urlencoded hand numbers over as strings,
/// and `?page=2` would then fail to parse.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
    /// Part of the email or name, case-insensitive.
    pub q: Option<String>,
    #[param(inline)]
    pub role: Option<Role>,
    pub suspended: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserRequest {
    pub role: Option<Role>,
    /// A suspended user can neither sign in nor refresh; their sessions end.
    pub suspended: Option<bool>,
}

/// Accounts, newest first.
#[utoipa::path(get, path = "/admin/users", tag = "admin", security(("bearer" = [])), params(ListUsersQuery),
    responses((status = 200, body = Page<User>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Can(actor, _): Can<permit::ReadUsers>,
    Query(query): Query<ListUsersQuery>,
) -> ApiResult<Json<Page<User>>> {
    let page = PageRequest { page: query.page, per_page: query.per_page }.validate()?;
    let q = query.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    if let Some(q) = &q
        && (q.chars().count() > 200 || q.chars().any(char::is_control))
    {
        return Err(ApiError::field("q", "must be at most 200 characters, without control characters"));
    }
    let filter = UserFilter { q, role: query.role, suspended: query.suspended };
    Ok(Json(state.identity.list_users(&actor, filter, page).await?))
}

/// Change an account's role or suspend it. Only a superadmin grants or
/// removes `admin` and `superadmin`.
#[utoipa::path(patch, path = "/admin/users/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = UpdateUserRequest,
    responses(
        (status = 200, body = User),
        (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody),
        (status = 409, description = "Changing your own role or suspending yourself", body = ErrorBody),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Can(actor, _): Can<permit::WriteUsers>,
    Path(id): Path<Uuid>,
    Json(body): Json<UpdateUserRequest>,
) -> ApiResult<Json<User>> {
    let patch = AdminUserPatch { role: body.role, suspended: body.suspended };
    Ok(Json(state.identity.admin_update_user(&actor, id, patch).await?))
}
