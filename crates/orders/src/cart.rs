//! Carts: a guest's (found by the secret `X-Cart-Token`) or a customer's.

use kernel::{Currency, Money};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

/// Most units of one variant on one line.
pub const MAX_LINE_QUANTITY: i64 = 99;
/// Most lines in one cart.
pub const MAX_LINES: usize = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CartStatus {
    Active,
    /// Paid for: its checkout succeeded.
    Converted,
    /// A guest cart folded into a customer's cart at sign-in.
    Merged,
}

impl CartStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CartStatus::Active => "active",
            CartStatus::Converted => "converted",
            CartStatus::Merged => "merged",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CartLine {
    pub id: Uuid,
    pub variant_id: Uuid,
    pub product_id: Uuid,
    pub sku: String,
    pub title: String,
    pub quantity: i64,
    /// The price when the line was added (or last re-priced at checkout).
    pub unit_price: Money,
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cart {
    pub id: Uuid,
    /// SHA-256 of the guest token (the token itself is never stored).
    pub token_hash: Option<String>,
    pub user_id: Option<Uuid>,
    pub status: CartStatus,
    pub lines: Vec<CartLine>,
    pub discount_code: Option<String>,
    /// Bumped by every write; a write names the version it read (optimistic locking).
    pub version: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Cart {
    pub fn currency(&self) -> Option<Currency> {
        self.lines.first().map(|l| l.unit_price.currency)
    }

    pub fn line_for(&self, variant_id: Uuid) -> Option<&CartLine> {
        self.lines.iter().find(|l| l.variant_id == variant_id)
    }

    /// Σ snapshot price × quantity.
    pub fn snapshot_subtotal(&self) -> i64 {
        self.lines.iter().map(|l| l.unit_price.amount.saturating_mul(l.quantity)).fold(0i64, i64::saturating_add)
    }
}
