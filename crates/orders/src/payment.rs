//! Payments: the providers, a payment's status and provider details, and
//! the next action a buyer takes to pay.

use kernel::Money;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Test cards, no money moves.
    Test,
    /// Paid outside the shop (bank transfer, cash); staff mark it paid.
    Manual,
    /// Cards and wallets through a Stripe PaymentIntent.
    Stripe,
    /// Solana Pay transfers, one per order, checked on chain.
    Solana,
}

impl Provider {
    pub fn parse(s: &str) -> Option<Provider> {
        match s {
            "test" => Some(Provider::Test),
            "manual" => Some(Provider::Manual),
            "stripe" => Some(Provider::Stripe),
            "solana" => Some(Provider::Solana),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Test => "test",
            Provider::Manual => "manual",
            Provider::Stripe => "stripe",
            Provider::Solana => "solana",
        }
    }
}

/// Stripe's side of a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StripeIntent {
    /// `pi_…`
    pub intent_id: String,
    /// For Stripe.js's Payment Element; absent when the intent was first
    /// learnt of from a webhook.
    pub client_secret: Option<String>,
}

/// One Solana Pay transfer request: each order's seller is paid to their own wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SolanaTransfer {
    pub order_id: Uuid,
    /// The seller's payout wallet.
    pub recipient: String,
    /// Base units: lamports, or the token's smallest unit.
    pub amount: u64,
    pub decimals: u32,
    /// The SPL token's mint; absent for SOL.
    pub mint: Option<String>,
    /// The fresh public key the transfer must carry.
    pub reference: String,
    /// The `solana:` transfer request URL.
    pub url: String,
    /// The finalized transaction that paid it.
    pub signature: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Waiting for the customer (or staff, for manual); declines leave it here.
    Pending,
    Succeeded,
    /// Not paid before the reservation expired.
    Expired,
    /// Every order of the checkout was cancelled before payment.
    Cancelled,
    PartiallyRefunded,
    Refunded,
}

impl PaymentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Pending => "pending",
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::Expired => "expired",
            PaymentStatus::Cancelled => "cancelled",
            PaymentStatus::PartiallyRefunded => "partially_refunded",
            PaymentStatus::Refunded => "refunded",
        }
    }

    /// Expired or cancelled: closed before it was paid, its stock released.
    pub fn is_closed_unpaid(self) -> bool {
        matches!(self, PaymentStatus::Expired | PaymentStatus::Cancelled)
    }
}

/// One payment per checkout, covering all its orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Payment {
    pub id: Uuid,
    pub checkout_id: Uuid,
    pub provider: Provider,
    pub status: PaymentStatus,
    pub amount: Money,
    pub refunded: Money,
    /// Declined attempts so far.
    pub failed_attempts: u32,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe: Option<StripeIntent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub solana: Vec<SolanaTransfer>,
}

/// What the buyer does next to pay, as data: `web` and `site` word it and
/// render its URLs and QR codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NextStep {
    /// The test provider: confirm with a test card.
    ConfirmCard,
    /// Manual: pay by bank transfer; staff mark it paid.
    Manual,
    /// Stripe: confirm with the Payment Element and this secret.
    StripeElement { client_secret: String },
    /// The provider could not be reached when the payment was opened:
    /// reading the payment again retries.
    Retry,
    /// Solana Pay: one transfer request per order, checked on chain.
    SolanaPay { transfers: Vec<SolanaTransfer> },
    /// Settled or closed: nothing to do.
    Nothing,
}

impl Payment {
    pub fn next_step(&self) -> NextStep {
        match (self.status, self.provider) {
            (PaymentStatus::Pending, Provider::Test) => NextStep::ConfirmCard,
            (PaymentStatus::Pending, Provider::Manual) => NextStep::Manual,
            (PaymentStatus::Pending, Provider::Stripe) => match &self.stripe {
                Some(StripeIntent { client_secret: Some(secret), .. }) => {
                    NextStep::StripeElement { client_secret: secret.clone() }
                }
                _ => NextStep::Retry,
            },
            (PaymentStatus::Pending, Provider::Solana) if !self.solana.is_empty() => {
                NextStep::SolanaPay { transfers: self.solana.clone() }
            }
            (PaymentStatus::Pending, Provider::Solana) => NextStep::Retry,
            _ => NextStep::Nothing,
        }
    }
}
