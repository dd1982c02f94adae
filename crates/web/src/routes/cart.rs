//! The storefront's cart, checkout, orders and payments (`/api/v1`).
//!
//! Guests carry their cart with `X-Cart-Token`; a signed-in customer has one
//! cart, and a guest token sent with a bearer token merges that guest cart
//! into it.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{CurrentUser, Json, Path, Query, user_from_headers};
use crate::state::AppState;
use crate::views::{CheckoutResponse, PaymentView};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use kernel::{Page, PageRequest};
use orders::{Cart, CartView, CheckoutRequest, Customer, Order, OrderFilter, ShippingMethod, VariantRef};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub const CART_TOKEN: &str = "x-cart-token";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_cart))
        .routes(routes!(add_item))
        .routes(routes!(update_item, remove_item))
        .routes(routes!(apply_discount, remove_discount))
        .routes(routes!(checkout))
        .routes(routes!(my_orders))
        .routes(routes!(my_order))
        .routes(routes!(cancel_order))
        .routes(routes!(shipping_methods))
}

/// The payments service's routes: a payment's status, confirmation and
/// verification, and Stripe's webhook.
pub fn payments_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_payment))
        .routes(routes!(confirm_payment))
        .routes(routes!(verify_payment))
        .routes(routes!(stripe_webhook))
}

/// The signed-in customer, if the request carries a bearer token (an
/// invalid one is 401, not a silent guest).
pub async fn customer(headers: &HeaderMap, state: &AppState) -> ApiResult<Option<Customer>> {
    if !headers.contains_key(axum::http::header::AUTHORIZATION) {
        return Ok(None);
    }
    let user = user_from_headers(headers, state).await?;
    Ok(Some(Customer { user_id: user.id, email: user.email.as_str().to_owned() }))
}

pub fn cart_token(headers: &HeaderMap) -> Option<&str> {
    headers.get(CART_TOKEN).and_then(|v| v.to_str().ok()).map(str::trim).filter(|t| !t.is_empty())
}

/// The request's cart (made when missing) and, for a new guest cart, its token.
async fn open(headers: &HeaderMap, state: &AppState) -> ApiResult<(Cart, Option<String>)> {
    let who = customer(headers, state).await?;
    Ok(state.orders.open_cart(who.as_ref(), cart_token(headers)).await?)
}

/// The cart as JSON, with `X-Cart-Token` set when a guest cart was just made.
async fn answer(state: &AppState, cart: &Cart, token: Option<String>) -> ApiResult<Response> {
    let header = token.as_deref().and_then(|t| HeaderValue::from_str(t).ok());
    let view = state.orders.view(cart, token).await?;
    Ok(with_token(Json(view).into_response(), header))
}

fn with_token(mut response: Response, header: Option<HeaderValue>) -> Response {
    if let Some(value) = header {
        response.headers_mut().insert(CART_TOKEN, value);
    }
    response
}

/// The current cart, priced now. Without a cart, a guest cart is made and
/// its `cart_token` returned (also as the `X-Cart-Token` header).
#[utoipa::path(get, path = "/cart", tag = "cart",
    params(("X-Cart-Token" = Option<String>, Header, description = "A guest's cart token")),
    responses((status = 200, body = CartView), (status = 401, body = ErrorBody)))]
pub async fn get_cart(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let (cart, token) = open(&headers, &state).await?;
    answer(&state, &cart, token).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddItem {
    /// The variant, by id…
    pub variant_id: Option<Uuid>,
    /// …or by SKU.
    pub sku: Option<String>,
    /// 1–99; added to the line's quantity when the variant is already in the cart.
    pub quantity: i64,
}

/// Add a variant. 409 `out_of_stock` when more than is available is asked for.
#[utoipa::path(post, path = "/cart/items", tag = "cart", request_body = AddItem,
    params(("X-Cart-Token" = Option<String>, Header, description = "A guest's cart token")),
    responses((status = 200, body = CartView), (status = 404, description = "Unknown or not for sale", body = ErrorBody),
        (status = 409, description = "out_of_stock", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<AddItem>,
) -> ApiResult<Response> {
    let variant = match (body.variant_id, body.sku) {
        (Some(id), None) => VariantRef::Id(id),
        (None, Some(sku)) if !sku.trim().is_empty() => VariantRef::Sku(sku.trim().to_owned()),
        _ => return Err(ApiError::field("variant_id", "give exactly one of variant_id or sku")),
    };
    // A new guest cart is stored with its first line, in one write.
    let who = customer(&headers, &state).await?;
    let (cart, token) = state.orders.open_cart_lazily(who.as_ref(), cart_token(&headers)).await?;
    let header = token.as_deref().and_then(|t| HeaderValue::from_str(t).ok());
    let (_, view) = state.orders.add_item(&cart, variant, body.quantity, token).await?;
    Ok(with_token(Json(view).into_response(), header))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetQuantity {
    /// 0 removes the line.
    pub quantity: i64,
}

#[utoipa::path(patch, path = "/cart/items/{item_id}", tag = "cart", request_body = SetQuantity,
    params(("item_id" = Uuid, Path), ("X-Cart-Token" = Option<String>, Header)),
    responses((status = 200, body = CartView), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn update_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(item_id): Path<Uuid>,
    Json(body): Json<SetQuantity>,
) -> ApiResult<Response> {
    let (cart, token) = open(&headers, &state).await?;
    let cart = state.orders.set_quantity(&cart, item_id, body.quantity).await?;
    answer(&state, &cart, token).await
}

#[utoipa::path(delete, path = "/cart/items/{item_id}", tag = "cart",
    params(("item_id" = Uuid, Path), ("X-Cart-Token" = Option<String>, Header)),
    responses((status = 200, body = CartView), (status = 404, body = ErrorBody)))]
pub async fn remove_item(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(item_id): Path<Uuid>,
) -> ApiResult<Response> {
    let (cart, token) = open(&headers, &state).await?;
    let cart = state.orders.set_quantity(&cart, item_id, 0).await?;
    answer(&state, &cart, token).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscountRequest {
    pub code: String,
}

/// Apply a discount code (one per cart: a new code replaces the old).
/// 422 `discount_not_applicable` says why a code does not apply.
#[utoipa::path(post, path = "/cart/discount", tag = "cart", request_body = DiscountRequest,
    params(("X-Cart-Token" = Option<String>, Header)),
    responses((status = 200, body = CartView), (status = 422, body = ErrorBody)))]
pub async fn apply_discount(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<DiscountRequest>,
) -> ApiResult<Response> {
    let (cart, token) = open(&headers, &state).await?;
    let cart = state.orders.apply_discount(&cart, &body.code).await?;
    answer(&state, &cart, token).await
}

#[utoipa::path(delete, path = "/cart/discount", tag = "cart", params(("X-Cart-Token" = Option<String>, Header)),
    responses((status = 200, body = CartView)))]
pub async fn remove_discount(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    let (cart, token) = open(&headers, &state).await?;
    let cart = state.orders.remove_discount(&cart).await?;
    answer(&state, &cart, token).await
}

/// Place the cart's orders (one per seller), hold their stock until the
/// payment expires and open the payment. Needs `Idempotency-Key`: a repeat
/// with the same key and body answers with the same checkout (its current
/// state, `replayed: true`); another body with the same key is 422.
#[utoipa::path(post, path = "/checkout", tag = "cart", request_body = CheckoutRequest,
    params(("Idempotency-Key" = String, Header), ("X-Cart-Token" = Option<String>, Header)),
    responses((status = 201, body = CheckoutResponse),
        (status = 409, description = "out_of_stock (naming the SKUs), cart_changed, cart_closed, busy (the cart changed twice while being checked out; send again)", body = ErrorBody),
        (status = 422, description = "Validation, empty_cart, discount_not_applicable, idempotency_key_reused", body = ErrorBody)))]
pub async fn checkout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Json(body): Json<CheckoutRequest>,
) -> ApiResult<(StatusCode, Json<CheckoutResponse>)> {
    let key = orders::check_idempotency_key(headers.get("idempotency-key").and_then(|v| v.to_str().ok()))?;
    let who = customer(&headers, &state).await?;
    let cart = match (&who, cart_token(&headers)) {
        (Some(c), token) => state.orders.open_cart(Some(c), token).await?.0,
        (None, Some(token)) => state
            .orders
            .guest_cart_for_checkout(token)
            .await?
            .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "not_found", "no cart with this X-Cart-Token"))?,
        (None, None) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "empty_cart",
                "no cart: sign in or send the guest cart's X-Cart-Token",
            ));
        }
    };
    let answer = CheckoutResponse::from(&state.orders.checkout_cart(who.as_ref(), &cart, &key, body).await?);
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct PageQuery {
    pub page: Option<u32>,
    pub per_page: Option<u32>,
}

/// The signed-in customer's orders, newest first.
#[utoipa::path(get, path = "/orders", tag = "orders", security(("bearer" = [])), params(PageQuery),
    responses((status = 200, body = Page<Order>), (status = 401, body = ErrorBody)))]
pub async fn my_orders(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Query(query): Query<PageQuery>,
) -> ApiResult<Json<Page<Order>>> {
    let spec = PageRequest { page: query.page, per_page: query.per_page }.validate()?;
    let filter = OrderFilter { user_id: Some(user.id), ..OrderFilter::default() };
    Ok(Json(state.orders.orders(&filter, spec).await?))
}

#[utoipa::path(get, path = "/orders/{id}", tag = "orders", security(("bearer" = [])), params(("id" = Uuid, Path)),
    responses((status = 200, body = Order), (status = 404, body = ErrorBody)))]
pub async fn my_order(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Order>> {
    Ok(Json(state.orders.customer_order(user.id, id).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelRequest {
    pub reason: Option<String>,
}

/// Cancel an order before it ships: its held stock is released, or for a
/// paid order the units go back on hand and the payment is refunded.
#[utoipa::path(post, path = "/orders/{id}/cancel", tag = "orders", security(("bearer" = [])), params(("id" = Uuid, Path)),
    request_body(content = Option<CancelRequest>),
    responses((status = 200, body = Order), (status = 404, body = ErrorBody),
        (status = 409, description = "illegal_transition: already shipped or closed", body = ErrorBody)))]
pub async fn cancel_order(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    Path(id): Path<Uuid>,
    body: axum::body::Bytes,
) -> ApiResult<Json<Order>> {
    let body: CancelRequest = if body.iter().all(u8::is_ascii_whitespace) {
        CancelRequest::default()
    } else {
        // `null` is no body, as the document's `oneOf [CancelRequest, null]` says.
        serde_json::from_slice::<Option<CancelRequest>>(&body)
            .map_err(|e| ApiError::field("reason", e.to_string()))?
            .unwrap_or_default()
    };
    state.orders.customer_order(user.id, id).await?;
    let reason = body.reason.or_else(|| Some("cancelled by the customer".into()));
    Ok(Json(state.orders.cancel_order(id, Some(user.id), reason).await?))
}

/// A payment's status and next action.
#[utoipa::path(get, path = "/payments/{id}", tag = "payments", params(("id" = Uuid, Path)),
    responses((status = 200, body = PaymentView), (status = 404, body = ErrorBody)))]
pub async fn get_payment(State(state): State<AppState>, Path(id): Path<Uuid>) -> ApiResult<Json<PaymentView>> {
    Ok(Json(PaymentView::from(&state.orders.payment(id).await?)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRequest {
    /// A test card: 4242424242424242 succeeds, 4000000000000002 is declined,
    /// 4000000000009995 has insufficient funds.
    pub card_number: String,
}

/// Pay with the test provider. Success marks the checkout's orders paid and
/// sells the held stock; a decline is 402 and the payment stays payable
/// until it expires; confirming a settled payment changes nothing.
#[utoipa::path(post, path = "/payments/{id}/confirm", tag = "payments", params(("id" = Uuid, Path)),
    request_body = ConfirmRequest,
    responses((status = 200, body = PaymentView), (status = 402, description = "payment_declined", body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, description = "payment_closed, wrong_provider", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn confirm_payment(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Json(body): Json<ConfirmRequest>,
) -> ApiResult<Json<PaymentView>> {
    Ok(Json(PaymentView::from(&state.orders.confirm_payment(id, &body.card_number).await?)))
}

/// Solana Pay: looks each transfer up on chain (by its reference) and
/// settles the payment once every order's transfer is finalized with the
/// right recipient, mint and exact amount. A background poller does the same
/// until the payment expires.
#[utoipa::path(get, path = "/payments/{id}/verify", tag = "payments", params(("id" = Uuid, Path)),
    responses((status = 200, body = PaymentView), (status = 404, body = ErrorBody),
        (status = 409, description = "wrong_provider, provider_disabled", body = ErrorBody),
        (status = 502, description = "provider_unavailable: the Solana RPC could not be reached", body = ErrorBody)))]
pub async fn verify_payment(State(state): State<AppState>, Path(id): Path<Uuid>) -> ApiResult<Json<PaymentView>> {
    Ok(Json(PaymentView::from(&state.orders.verify_payment(id).await?)))
}

#[derive(Debug, serde::Serialize, ToSchema)]
pub struct WebhookAnswer {
    /// `handled`, `duplicate` (this event id was handled before) or `ignored`.
    pub result: String,
}

/// Stripe's webhook. `Stripe-Signature` is checked as Stripe documents it
/// (HMAC-SHA256 over `t.payload` with the endpoint secret, any of several
/// `v1` signatures, 300 s tolerance): a bad or stale signature is 400 and
/// changes nothing. Events are handled once by id and in any order:
/// `payment_intent.succeeded`, `payment_intent.payment_failed`,
/// `payment_intent.canceled`, `charge.refunded`, `charge.dispute.created`.
/// An event whose amount or currency differs from the payment's is 422 and
/// logged.
#[utoipa::path(post, path = "/payments/webhooks/stripe", tag = "payments",
    request_body(content = String, content_type = "application/json", description = "a Stripe event"),
    responses((status = 200, body = WebhookAnswer),
        (status = 400, description = "invalid_signature, invalid_payload", body = ErrorBody),
        (status = 404, description = "Stripe is not enabled", body = ErrorBody),
        (status = 422, description = "amount_mismatch, intent_mismatch", body = ErrorBody)))]
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<Json<WebhookAnswer>> {
    let signature = headers.get("stripe-signature").and_then(|v| v.to_str().ok());
    let outcome = state.orders.stripe_webhook(&body, signature).await?;
    Ok(Json(WebhookAnswer { result: outcome.as_str().to_owned() }))
}

/// The shipping methods a checkout can choose, cheapest rule first by position.
#[utoipa::path(get, path = "/shipping-methods", tag = "cart", responses((status = 200, body = Vec<ShippingMethod>)))]
pub async fn shipping_methods(State(state): State<AppState>) -> ApiResult<Json<Vec<ShippingMethod>>> {
    Ok(Json(state.orders.shipping_methods().await?.into_iter().filter(|m| m.active).collect()))
}
