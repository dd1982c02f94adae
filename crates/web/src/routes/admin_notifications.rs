//! `/api/v1/admin/notifications`: the delivery log of messages to customers.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Can, Json, Query, permit};
use crate::state::AppState;
use axum::extract::State;
use kernel::{Page, PageRequest};
use notifications::{DeliveryStatus, Notification, NotificationFilter};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListNotificationsQuery {
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
    /// Part of the recipient or subject, case-insensitive.
    pub q: Option<String>,
    /// e.g. `order_confirmation`, `order_shipped`, `welcome`, `low_stock`.
    pub template: Option<String>,
    #[param(inline)]
    pub status: Option<DeliveryStatus>,
}

/// The filter a list query asks for, or a 422 naming the bad field.
pub fn notification_filter(
    q: Option<String>,
    template: Option<String>,
    status: Option<DeliveryStatus>,
) -> Result<NotificationFilter, ApiError> {
    let clean = |field: &'static str, value: Option<String>| -> Result<Option<String>, ApiError> {
        let value = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        if let Some(v) = &value
            && (v.chars().count() > 200 || v.chars().any(char::is_control))
        {
            return Err(ApiError::field(field, "must be at most 200 characters, without control characters"));
        }
        Ok(value)
    };
    Ok(NotificationFilter { q: clean("q", q)?, template: clean("template", template)?, status })
}

/// Messages to customers and staff, per channel, newest first, with what
/// became of each (`pending`, `sent`, `failed` with the reason, `skipped`,
/// or `logged` without a server). Staff may read it, as they read
/// customer accounts.
#[utoipa::path(get, path = "/admin/notifications", tag = "admin", security(("bearer" = [])),
    params(ListNotificationsQuery),
    responses((status = 200, body = Page<Notification>), (status = 401, body = ErrorBody),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    _: Can<permit::ReadUsers>,
    Query(query): Query<ListNotificationsQuery>,
) -> ApiResult<Json<Page<Notification>>> {
    let page = PageRequest { page: query.page, per_page: query.per_page }.validate()?;
    let filter = notification_filter(query.q, query.template, query.status)?;
    Ok(Json(state.notifications.list(&filter, page).await.map_err(ApiError::internal)?))
}
