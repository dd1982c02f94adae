//! The one error type every handler returns. It renders the API contract's
//! `{"error": {"code", "message", "details"}}`; the cause of a 500 is logged
//! here, once, and never sent to the client.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use identity::IdentityError;
use kernel::FieldErrors;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<Value>,
    /// Logged, never rendered.
    source: Option<anyhow::Error>,
    retry_after: Option<u64>,
}

/// The body of every error response.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: String,
    /// Human-readable explanation.
    pub message: String,
    /// Structured context, e.g. `{"fields": {"email": "..."}}`.
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), details: None, source: None, retry_after: None }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthenticated", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }

    pub fn validation(errors: FieldErrors) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", errors.to_string())
            .with_details(json!({ "fields": errors.fields }))
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(FieldErrors::single(field, message))
    }

    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests; slow down");
        e.retry_after = Some(retry_after_secs.max(1));
        e.details = Some(json!({ "retry_after_seconds": retry_after_secs.max(1) }));
        e
    }

    /// 503: a service we depend on (image storage, say) failed; the client may retry shortly.
    pub fn unavailable(what: &str, source: anyhow::Error) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            format!("{what} is unavailable; try again shortly"),
        );
        e.retry_after = Some(5);
        e.source = Some(source);
        e
    }

    pub fn internal(source: anyhow::Error) -> Self {
        let mut e = Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "something went wrong on our side");
        e.source = Some(source);
        e
    }
}

impl From<IdentityError> for ApiError {
    fn from(e: IdentityError) -> Self {
        use StatusCode as S;
        let message = e.to_string();
        match e {
            IdentityError::Validation(errors) => ApiError::validation(errors),
            IdentityError::WeakPassword { rule, mut others } => {
                others.add("password", rule.to_string());
                ApiError::new(S::UNPROCESSABLE_ENTITY, "validation_failed", others.to_string())
                    .with_details(json!({ "fields": others.fields, "rule": rule.rule() }))
            }
            IdentityError::EmailTaken => ApiError::new(S::CONFLICT, "email_taken", message),
            IdentityError::InvalidCredentials => ApiError::new(S::UNAUTHORIZED, "invalid_credentials", message),
            IdentityError::Suspended => ApiError::new(S::FORBIDDEN, "account_suspended", message),
            IdentityError::TokenExpired => ApiError::new(S::UNAUTHORIZED, "token_expired", message),
            IdentityError::InvalidToken => ApiError::new(S::UNAUTHORIZED, "invalid_token", message),
            IdentityError::RefreshTokenReused => ApiError::new(S::UNAUTHORIZED, "refresh_token_reused", message),
            IdentityError::Forbidden => ApiError::new(S::FORBIDDEN, "forbidden", message),
            IdentityError::NotFound(_) => ApiError::new(S::NOT_FOUND, "not_found", message),
            IdentityError::Conflict(_) => ApiError::new(S::CONFLICT, "conflict", message),
            IdentityError::Unexpected(source) => ApiError::internal(source),
        }
    }
}

impl From<catalog::CatalogError> for ApiError {
    fn from(e: catalog::CatalogError) -> Self {
        use StatusCode as S;
        use catalog::CatalogError as E;
        let message = e.to_string();
        match e {
            E::Validation(errors) => ApiError::validation(errors),
            E::NotFound(_) => ApiError::new(S::NOT_FOUND, "not_found", message),
            E::Duplicate { field } => {
                ApiError::new(S::CONFLICT, "duplicate", message).with_details(json!({ "field": field }))
            }
            E::Conflict(_) => ApiError::new(S::CONFLICT, "conflict", message),
            E::Unexpected(source) => ApiError::internal(source),
        }
    }
}

impl From<inventory::InventoryError> for ApiError {
    fn from(e: inventory::InventoryError) -> Self {
        use inventory::{InventoryError as E, Refusal};
        let message = e.to_string();
        match e {
            E::Validation(errors) => ApiError::validation(errors),
            E::Refused(Refusal::BelowReserved { on_hand, reserved }) => {
                ApiError::new(StatusCode::CONFLICT, "insufficient_stock", message)
                    .with_details(json!({ "on_hand": on_hand, "reserved": reserved }))
            }
            E::Refused(Refusal::TooMany) => ApiError::field("on_hand", message),
            E::Unexpected(source) => ApiError::internal(source),
        }
    }
}

impl From<orders::OrdersError> for ApiError {
    fn from(e: orders::OrdersError) -> Self {
        use orders::OrdersError as E;
        let message = e.to_string();
        match e {
            E::Validation(errors) => ApiError::validation(errors),
            E::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
            E::OutOfStock(lines) => out_of_stock(message, &lines),
            E::IllegalTransition(t) => illegal_transition(message, &t),
            E::CartChanged { lines } => cart_changed(message, &lines),
            E::CartClosed(_) => cart_closed(message),
            E::EmptyCart => empty_cart(message),
            E::DiscountNotApplicable(_) => discount_not_applicable(message),
            E::Duplicate(_) => ApiError::new(StatusCode::CONFLICT, "duplicate", message),
            E::IdempotencyKeyReused => idempotency_key_reused(message),
            E::PaymentClosed(_) | E::Lapsed => payment_closed(message),
            E::WrongProvider(_) => wrong_provider(message),
            E::NotAStripePayment => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "wrong_provider", message),
            E::ProviderDisabled(_) => ApiError::new(StatusCode::CONFLICT, "provider_disabled", message),
            E::NoPayoutWallet => ApiError::new(StatusCode::CONFLICT, "no_payout_wallet", message),
            E::AmountNotPayable(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "amount_not_payable", message),
            E::IntentMismatch => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "intent_mismatch", message),
            E::AmountMismatch(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "amount_mismatch", message),
            E::NotRefundable(_) => ApiError::new(StatusCode::CONFLICT, "not_refundable", message),
            E::InvalidSignature(_) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_signature", message),
            E::InvalidPayload(_) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_payload", message),
            E::Declined { reason } => ApiError::new(StatusCode::PAYMENT_REQUIRED, "payment_declined", message)
                .with_details(json!({ "reason": reason })),
            E::Busy => busy(message),
            E::Provider(_) => provider_unavailable(message),
            E::Contended => busy("a concurrent change won; try again".into()),
            E::Unexpected(source) => ApiError::internal(source),
        }
    }
}

/// The checkout's refusals: the same codes as the orders use cases that
/// share them (helpers below).
impl From<orders::CheckoutError> for ApiError {
    fn from(e: orders::CheckoutError) -> Self {
        use orders::CheckoutError as E;
        let message = e.to_string();
        match e {
            E::Validation(errors) => ApiError::validation(errors),
            E::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
            E::CartClosed(_) => cart_closed(message),
            E::EmptyCart => empty_cart(message),
            E::CartChanged { lines } => cart_changed(message, &lines),
            E::OutOfStock(lines) => out_of_stock(message, &lines),
            E::DiscountNotApplicable(_) => discount_not_applicable(message),
            E::IdempotencyKeyReused => idempotency_key_reused(message),
            E::Busy => busy(message),
            E::Unexpected(source) => ApiError::internal(source),
        }
    }
}

/// Editing a cart's refusals, with the codes they share with the rest.
impl From<orders::CartError> for ApiError {
    fn from(e: orders::CartError) -> Self {
        use orders::CartError as E;
        let message = e.to_string();
        match e {
            E::Validation(errors) => ApiError::validation(errors),
            E::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
            E::CartClosed(_) => cart_closed(message),
            E::OutOfStock(lines) => out_of_stock(message, &lines),
            E::DiscountNotApplicable(_) => discount_not_applicable(message),
            E::Busy => busy(message),
            E::Unexpected(source) => ApiError::internal(source),
        }
    }
}

/// Paying's refusals, with the codes they share with the rest.
impl From<orders::PaymentError> for ApiError {
    fn from(e: orders::PaymentError) -> Self {
        use orders::PaymentError as E;
        let message = e.to_string();
        match e {
            E::Validation(errors) => ApiError::validation(errors),
            E::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
            E::PaymentClosed(_) => payment_closed(message),
            E::WrongProvider(_) => wrong_provider(message),
            E::NotAStripePayment => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "wrong_provider", message),
            E::ProviderDisabled(_) => ApiError::new(StatusCode::CONFLICT, "provider_disabled", message),
            E::NoPayoutWallet => ApiError::new(StatusCode::CONFLICT, "no_payout_wallet", message),
            E::AmountNotPayable(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "amount_not_payable", message),
            E::IntentMismatch => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "intent_mismatch", message),
            E::AmountMismatch(_) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "amount_mismatch", message),
            E::InvalidSignature(_) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_signature", message),
            E::InvalidPayload(_) => ApiError::new(StatusCode::BAD_REQUEST, "invalid_payload", message),
            E::Declined { reason } => ApiError::new(StatusCode::PAYMENT_REQUIRED, "payment_declined", message)
                .with_details(json!({ "reason": reason })),
            E::Provider(_) => provider_unavailable(message),
            E::Busy => busy(message),
            E::Unexpected(source) => ApiError::internal(source),
        }
    }
}

/// An action on a placed order's refusals.
impl From<orders::OrderActionError> for ApiError {
    fn from(e: orders::OrderActionError) -> Self {
        use orders::OrderActionError as E;
        let message = e.to_string();
        match e {
            E::Validation(errors) => ApiError::validation(errors),
            E::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
            E::IllegalTransition(t) => illegal_transition(message, &t),
            E::WrongProvider(_) => wrong_provider(message),
            E::PaymentClosed(_) => payment_closed(message),
            E::NotRefundable(_) => ApiError::new(StatusCode::CONFLICT, "not_refundable", message),
            E::IdempotencyKeyReused => idempotency_key_reused(message),
            E::Provider(_) => provider_unavailable(message),
            E::Busy => busy(message),
            E::Unexpected(source) => ApiError::internal(source),
        }
    }
}

/// The pricing settings' refusals.
impl From<orders::SettingsError> for ApiError {
    fn from(e: orders::SettingsError) -> Self {
        use orders::SettingsError as E;
        let message = e.to_string();
        match e {
            E::Validation(errors) => ApiError::validation(errors),
            E::NotFound(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", message),
            E::Duplicate(_) => ApiError::new(StatusCode::CONFLICT, "duplicate", message),
            E::Unexpected(source) => ApiError::internal(source),
        }
    }
}

fn illegal_transition(message: String, t: &orders::IllegalTransition) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "illegal_transition", message)
        .with_details(json!({ "from": t.from, "to": t.to }))
}

fn payment_closed(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "payment_closed", message)
}

fn wrong_provider(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "wrong_provider", message)
}

fn provider_unavailable(message: String) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "provider_unavailable", message)
}

fn out_of_stock(message: String, lines: &[orders::ShortLine]) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "out_of_stock", message).with_details(json!({ "lines": lines }))
}

fn cart_changed(message: String, lines: &[orders::PriceChange]) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "cart_changed", message).with_details(json!({ "lines": lines }))
}

fn cart_closed(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "cart_closed", message)
}

fn empty_cart(message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "empty_cart", message)
}

fn discount_not_applicable(message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "discount_not_applicable", message)
}

fn idempotency_key_reused(message: String) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", message)
}

fn busy(message: String) -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "busy", message)
}

impl From<kernel::page::PageError> for ApiError {
    fn from(e: kernel::page::PageError) -> Self {
        let field = match e {
            kernel::page::PageError::Page => "page",
            kernel::page::PageError::PerPage => "per_page",
        };
        ApiError::field(field, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            match &self.source {
                Some(source) => tracing::error!(error = format!("{source:#}"), code = self.code, "request failed"),
                None => tracing::error!(code = self.code, message = self.message, "request failed"),
            }
        }
        let body = json!({ "error": { "code": self.code, "message": self.message, "details": self.details } });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;
    use orders::{OrderStatus, OrdersError as E};

    /// One of each refusal the orders service works in, but the
    /// unexpected one, fresh on every call (they are not `Clone`).
    fn refusals() -> Vec<E> {
        vec![
            E::Validation(FieldErrors::single("amount", "must be positive")),
            E::NotFound("order"),
            E::OutOfStock(vec![]),
            E::IllegalTransition(orders::IllegalTransition { from: OrderStatus::Shipped, to: OrderStatus::Paid }),
            E::CartChanged { lines: vec![] },
            E::CartClosed("checked out"),
            E::EmptyCart,
            E::DiscountNotApplicable("used up".into()),
            E::Duplicate("code WELCOME exists".into()),
            E::IdempotencyKeyReused,
            E::PaymentClosed("expired".into()),
            E::WrongProvider("manual"),
            E::NotAStripePayment,
            E::ProviderDisabled("off"),
            E::NoPayoutWallet,
            E::AmountNotPayable("too small".into()),
            E::IntentMismatch,
            E::AmountMismatch("other currency".into()),
            E::NotRefundable("nothing paid".into()),
            E::InvalidSignature("bad".into()),
            E::InvalidPayload("not JSON".into()),
            E::Declined { reason: "insufficient_funds" },
            E::Provider("unreachable".into()),
            E::Busy,
            E::Contended,
            E::Lapsed,
        ]
    }

    fn answer(e: ApiError) -> (StatusCode, &'static str, Option<serde_json::Value>) {
        (e.status, e.code, e.details)
    }

    /// Each use case's error answers what the orders error it came from
    /// answers, status, code and details, save the refusals a use case
    /// never makes (a 500 there, by design). `Contended` is `busy` with
    /// another message, and `Lapsed` is `payment_closed`.
    #[test]
    fn use_case_errors_answer_as_the_orders_error_they_came_from() {
        type Convert = fn(E) -> ApiError;
        let cases: [(&str, Convert); 5] = [
            ("checkout", |e| orders::CheckoutError::from(e).into()),
            ("cart", |e| orders::CartError::from(e).into()),
            ("payment", |e| orders::PaymentError::from(e).into()),
            ("order action", |e| orders::OrderActionError::from(e).into()),
            ("settings", |e| orders::SettingsError::from(e).into()),
        ];
        for (name, convert) in cases {
            let mut kept = 0;
            for (direct, via) in refusals().into_iter().zip(refusals()) {
                let label = format!("{name}: {direct:?}");
                let expected = answer(ApiError::from(direct));
                let got = answer(convert(via));
                if got.0 == StatusCode::INTERNAL_SERVER_ERROR {
                    continue;
                }
                assert_eq!(got, expected, "{label}");
                kept += 1;
            }
            assert!(kept >= 3, "{name} keeps {kept} refusals");
        }
    }

    #[test]
    fn a_refusal_a_use_case_never_makes_is_an_internal_error() {
        let e = ApiError::from(orders::SettingsError::from(E::Declined { reason: "expired_card" }));
        assert_eq!((e.status, e.code), (StatusCode::INTERNAL_SERVER_ERROR, "internal"));
        let e = ApiError::from(orders::PaymentError::from(E::Lapsed));
        assert_eq!((e.status, e.code), (StatusCode::CONFLICT, "payment_closed"));
    }
}
