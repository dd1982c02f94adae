//! `/api/v1/admin`: orders (list, transitions, fulfilments, refunds) and the
//! pricing data checkout uses (discount codes, shipping methods, tax rates).

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Can, Json, Path, Query, permit};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use kernel::{Money, Page, PageRequest};
use orders::{
    DiscountCode, DiscountInput, Order, OrderFilter, OrderStatus, ShippingMethod, ShippingMethodInput, TaxRate,
    TaxRateInput,
};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_orders))
        .routes(routes!(get_order))
        .routes(routes!(transition))
        .routes(routes!(fulfill))
        .routes(routes!(refund))
        .routes(routes!(list_discounts, create_discount))
        .routes(routes!(update_discount, delete_discount))
        .routes(routes!(list_shipping, create_shipping))
        .routes(routes!(update_shipping, delete_shipping))
        .routes(routes!(list_tax, create_tax))
        .routes(routes!(update_tax, delete_tax))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct OrderQuery {
    /// One status, e.g. `paid`.
    pub status: Option<String>,
    /// An order number or part of the customer's email.
    pub q: Option<String>,
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

#[utoipa::path(get, path = "/admin/orders", tag = "admin", security(("bearer" = [])), params(OrderQuery),
    responses((status = 200, body = Page<Order>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_orders(
    State(state): State<AppState>,
    _: Can<permit::ReadOrders>,
    Query(query): Query<OrderQuery>,
) -> ApiResult<Json<Page<Order>>> {
    let status = match query.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(OrderStatus::parse(s).ok_or_else(|| ApiError::field("status", "unknown order status"))?),
    };
    if query.q.as_deref().is_some_and(|q| q.contains('\0') || q.chars().count() > 200) {
        return Err(ApiError::field("q", "at most 200 characters"));
    }
    let spec = PageRequest { page: query.page, per_page: query.per_page }.validate()?;
    let filter = OrderFilter { user_id: None, status, q: query.q };
    Ok(Json(state.orders.orders(&filter, spec).await?))
}

#[utoipa::path(get, path = "/admin/orders/{id}", tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Order), (status = 404, body = ErrorBody)))]
pub async fn get_order(
    State(state): State<AppState>,
    _: Can<permit::ReadOrders>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Order>> {
    Ok(Json(state.orders.order(id).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransitionRequest {
    pub to: OrderStatus,
    pub note: Option<String>,
}

/// Move an order along the state machine; 409 `illegal_transition` for a
/// move it does not have. `paid` settles a manual payment, `cancelled`
/// releases or restocks and refunds, `refunded` refunds what is left.
#[utoipa::path(post, path = "/admin/orders/{id}/transitions", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = TransitionRequest,
    responses((status = 200, body = Order), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn transition(
    State(state): State<AppState>,
    Can(actor, _): Can<permit::WriteOrders>,
    Path(id): Path<Uuid>,
    Json(body): Json<TransitionRequest>,
) -> ApiResult<Json<Order>> {
    Ok(Json(state.orders.transition(id, body.to, actor.id, body.note).await?))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FulfillmentRequest {
    pub carrier: String,
    pub tracking_number: String,
}

/// Record a shipment: a paid or processing order becomes `shipped`.
#[utoipa::path(post, path = "/admin/orders/{id}/fulfillments", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = FulfillmentRequest,
    responses((status = 201, body = Order), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn fulfill(
    State(state): State<AppState>,
    Can(actor, _): Can<permit::WriteOrders>,
    Path(id): Path<Uuid>,
    Json(body): Json<FulfillmentRequest>,
) -> ApiResult<(StatusCode, Json<Order>)> {
    Ok((StatusCode::CREATED, Json(state.orders.fulfill(id, &body.carrier, &body.tracking_number, actor.id).await?)))
}

/// An amount in minor units, or a Money object in the order's currency.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Amount {
    Minor(i64),
    Money(Money),
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    pub amount: Amount,
    pub reason: String,
}

/// Refund part or all of what was paid (never more). `Idempotency-Key`
/// makes a retry return the first refund instead of refunding twice.
#[utoipa::path(post, path = "/admin/orders/{id}/refunds", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path), ("Idempotency-Key" = Option<String>, Header)), request_body = RefundRequest,
    responses((status = 201, body = Order), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn refund(
    State(state): State<AppState>,
    Can(actor, _): Can<permit::WriteOrders>,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
    Json(body): Json<RefundRequest>,
) -> ApiResult<(StatusCode, Json<Order>)> {
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(v) => Some(orders::check_idempotency_key(v.to_str().ok())?),
    };
    let amount = match body.amount {
        Amount::Minor(a) => a,
        Amount::Money(m) => {
            let order = state.orders.order(id).await?;
            if m.currency != order.currency {
                return Err(ApiError::field("amount", format!("this order is in {}", order.currency)));
            }
            m.amount
        }
    };
    let order = state.orders.refund(id, amount, &body.reason, key.as_deref(), actor.id).await?;
    Ok((StatusCode::CREATED, Json(order)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DiscountListQuery {
    #[param(minimum = 1)]
    pub page: Option<u32>,
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
    /// Part of the code, case-insensitive.
    pub q: Option<String>,
}

/// Discount codes in alphabetical order.
#[utoipa::path(get, path = "/admin/discounts", tag = "admin", security(("bearer" = [])), params(DiscountListQuery),
    responses((status = 200, body = Page<DiscountCode>), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn list_discounts(
    State(state): State<AppState>,
    _: Can<permit::ReadPricing>,
    Query(query): Query<DiscountListQuery>,
) -> ApiResult<Json<Page<DiscountCode>>> {
    let spec = PageRequest { page: query.page, per_page: query.per_page }.validate()?;
    let q = query.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty());
    if q.as_ref().is_some_and(|q| q.chars().count() > 64) {
        return Err(ApiError::field("q", "must be at most 64 characters"));
    }
    Ok(Json(state.orders.discount_codes(q.as_deref(), spec).await?))
}

/// A code: `{code, kind: percentage|fixed, value, currency?, min_subtotal?,
/// starts_at?, ends_at?, usage_limit?, per_customer_limit?, active?}`.
#[utoipa::path(post, path = "/admin/discounts", tag = "admin", security(("bearer" = [])), request_body = DiscountInput,
    responses((status = 201, body = DiscountCode), (status = 409, description = "duplicate", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_discount(
    State(state): State<AppState>,
    _: Can<permit::WritePricing>,
    Json(body): Json<DiscountInput>,
) -> ApiResult<(StatusCode, Json<DiscountCode>)> {
    Ok((StatusCode::CREATED, Json(state.orders.create_discount(body).await?)))
}

#[utoipa::path(patch, path = "/admin/discounts/{id}", tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = DiscountInput,
    responses((status = 200, body = DiscountCode), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_discount(
    State(state): State<AppState>,
    _: Can<permit::WritePricing>,
    Path(id): Path<Uuid>,
    Json(body): Json<DiscountInput>,
) -> ApiResult<Json<DiscountCode>> {
    Ok(Json(state.orders.update_discount(id, body).await?))
}

#[utoipa::path(delete, path = "/admin/discounts/{id}", tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_discount(
    State(state): State<AppState>,
    _: Can<permit::DeletePricing>,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state.orders.delete_discount(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/admin/shipping-methods", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<ShippingMethod>), (status = 403, body = ErrorBody)))]
pub async fn list_shipping(
    State(state): State<AppState>,
    _: Can<permit::ReadPricing>,
) -> ApiResult<Json<Vec<ShippingMethod>>> {
    Ok(Json(state.orders.shipping_methods().await?))
}

/// `{code, name, price: Money, free_above?, active?, position?}`; charged once per order.
#[utoipa::path(post, path = "/admin/shipping-methods", tag = "admin", security(("bearer" = [])),
    request_body = ShippingMethodInput,
    responses((status = 201, body = ShippingMethod), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_shipping(
    State(state): State<AppState>,
    _: Can<permit::WritePricing>,
    Json(body): Json<ShippingMethodInput>,
) -> ApiResult<(StatusCode, Json<ShippingMethod>)> {
    Ok((StatusCode::CREATED, Json(state.orders.create_shipping_method(body).await?)))
}

#[utoipa::path(patch, path = "/admin/shipping-methods/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), request_body = ShippingMethodInput,
    responses((status = 200, body = ShippingMethod), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_shipping(
    State(state): State<AppState>,
    _: Can<permit::WritePricing>,
    Path(id): Path<Uuid>,
    Json(body): Json<ShippingMethodInput>,
) -> ApiResult<Json<ShippingMethod>> {
    Ok(Json(state.orders.update_shipping_method(id, body).await?))
}

#[utoipa::path(delete, path = "/admin/shipping-methods/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = Uuid, Path)), responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_shipping(
    State(state): State<AppState>,
    _: Can<permit::DeletePricing>,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state.orders.delete_shipping_method(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/admin/tax-rates", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = Vec<TaxRate>), (status = 403, body = ErrorBody)))]
pub async fn list_tax(State(state): State<AppState>, _: Can<permit::ReadPricing>) -> ApiResult<Json<Vec<TaxRate>>> {
    Ok(Json(state.orders.tax_rates().await?))
}

/// `{country, region?, rate_bp, name?}`: a region's rate wins over its country's.
#[utoipa::path(post, path = "/admin/tax-rates", tag = "admin", security(("bearer" = [])), request_body = TaxRateInput,
    responses((status = 201, body = TaxRate), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_tax(
    State(state): State<AppState>,
    _: Can<permit::WritePricing>,
    Json(body): Json<TaxRateInput>,
) -> ApiResult<(StatusCode, Json<TaxRate>)> {
    Ok((StatusCode::CREATED, Json(state.orders.create_tax_rate(body).await?)))
}

#[utoipa::path(patch, path = "/admin/tax-rates/{id}", tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body = TaxRateInput,
    responses((status = 200, body = TaxRate), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_tax(
    State(state): State<AppState>,
    _: Can<permit::WritePricing>,
    Path(id): Path<Uuid>,
    Json(body): Json<TaxRateInput>,
) -> ApiResult<Json<TaxRate>> {
    Ok(Json(state.orders.update_tax_rate(id, body).await?))
}

#[utoipa::path(delete, path = "/admin/tax-rates/{id}", tag = "admin", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, body = ErrorBody)))]
pub async fn delete_tax(
    State(state): State<AppState>,
    _: Can<permit::DeletePricing>,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state.orders.delete_tax_rate(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
