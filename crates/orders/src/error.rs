use crate::model::IllegalTransition;
use kernel::FieldErrors;
use serde::Serialize;
use uuid::Uuid;

/// A line that could not be reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShortLine {
    pub sku: String,
    pub variant_id: Uuid,
    pub requested: i64,
    pub available: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    /// 422 naming each bad field.
    #[error("{0}")]
    Validation(FieldErrors),
    /// 404.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// 409 `out_of_stock`: not enough available for these lines; nothing changed.
    #[error("not enough stock for {}", .0.iter().map(|l| l.sku.as_str()).collect::<Vec<_>>().join(", "))]
    OutOfStock(Vec<ShortLine>),
    /// 409 `illegal_transition`.
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    /// 409 with a code (`cart_changed`, `empty_cart`, `payment_settled`…).
    #[error("{message}")]
    Conflict { code: &'static str, message: String, details: Option<serde_json::Value> },
    /// 422 with a code (`discount_not_applicable`, `idempotency_key_reused`…).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    /// 402 `payment_declined`: the order stays payable until it expires.
    #[error("the card was declined: {reason}")]
    Declined { reason: &'static str },
    /// 400 with a code (`invalid_signature`, `invalid_payload`): a webhook that is refused.
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// 502 `provider_unavailable`: a payment provider could not be reached or
    /// refused the call; nothing changed here.
    #[error("{0}")]
    Provider(String),
    /// A concurrent write won and nothing was written; the service retries,
    /// and answers 409 `busy` when it keeps losing.
    #[error("concurrent update")]
    Contended,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl OrdersError {
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        OrdersError::Conflict { code, message: message.into(), details: None }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        OrdersError::Unprocessable { code, message: message.into() }
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        OrdersError::Validation(FieldErrors::single(field, message))
    }
}

impl From<FieldErrors> for OrdersError {
    fn from(e: FieldErrors) -> Self {
        OrdersError::Validation(e)
    }
}

pub type Result<T> = std::result::Result<T, OrdersError>;

/// An `Idempotency-Key` seen before with another request body.
pub fn idempotency_reused() -> OrdersError {
    OrdersError::unprocessable(
        "idempotency_key_reused",
        "this Idempotency-Key was used with a different request body; use a new key for a new request",
    )
}
