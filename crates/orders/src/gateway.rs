//! The ports to the providers that move real money. Orders decides what a
//! provider's answer means for a checkout; the `payments` crate speaks each
//! provider's wire protocol and implements these traits (the composition
//! root, `emporium`, hands them to [`crate::OrdersService`]).
//!
//! Two traits, because the two kinds of provider share no verb:
//!
//! - [`PaymentGateway`]: a provider that holds the payment (Stripe). The
//!   shop creates an intent, the buyer pays it at the provider, the provider
//!   tells the shop by a signed notification, and the shop refunds through
//!   it.
//! - [`TransferGateway`]: a provider where the buyer's wallet pays the
//!   seller directly (Solana Pay). The shop writes a transfer request and
//!   looks the transfer up; nothing can be refunded through it.
//!
//! Every call that creates something at the provider takes an idempotency
//! key, so that a retry after a timeout or a crash creates nothing twice.

use crate::payment::{SolanaTransfer, StripeIntent};
use async_trait::async_trait;
use kernel::{Currency, Money};
use std::collections::BTreeMap;
use uuid::Uuid;

/// Why a provider call did not go through. Nothing changed in the shop.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The provider refused the call, or could not be reached.
    #[error("{0}")]
    Provider(String),
    /// A notification whose signature does not check out.
    #[error("{0}")]
    InvalidSignature(String),
    /// A notification whose body cannot be read.
    #[error("{0}")]
    InvalidPayload(String),
    /// The amount cannot be expressed in the provider's units.
    #[error("{0}")]
    NotPayable(String),
}

/// What an intent is created with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIntent {
    pub amount: Money,
    /// Shown to the buyer and on the provider's dashboard.
    pub description: String,
    /// Kept by the provider and sent back in its notifications.
    pub metadata: BTreeMap<String, String>,
    pub receipt_email: Option<String>,
}

/// A refund as the provider records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderRefund {
    pub id: String,
    /// Minor units of the payment's currency.
    pub amount: i64,
    /// Made or on its way (not failed or cancelled).
    pub goes_through: bool,
    /// As given when the refund was made: the shop's own carry `order_id`.
    pub metadata: BTreeMap<String, String>,
}

/// An intent as a notification describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentFacts {
    pub id: String,
    pub amount: i64,
    /// ISO 4217, in the provider's case.
    pub currency: String,
    /// As given at creation: the shop's carry `payment_id`.
    pub metadata: BTreeMap<String, String>,
    /// The decline code of the last failed attempt, if any.
    pub failure: Option<String>,
}

impl IntentFacts {
    /// The payment the shop created this intent for, by its metadata.
    pub fn payment_id(&self) -> Option<Uuid> {
        self.metadata.get("payment_id").and_then(|s| s.parse().ok())
    }
}

/// What a verified notification says happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Happened {
    IntentSucceeded(IntentFacts),
    IntentFailed(IntentFacts),
    IntentCanceled(IntentFacts),
    /// Some of a charge was refunded (by the shop or on the provider's dashboard).
    ChargeRefunded {
        intent_id: Option<String>,
        currency: String,
    },
    /// The buyer's bank disputes the payment.
    Disputed {
        id: String,
        intent_id: Option<String>,
        amount: i64,
        currency: String,
        reason: Option<String>,
    },
    /// Anything the shop does not act on.
    Other,
}

/// A verified notification. Its id is what makes acting on it once possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub id: String,
    pub happened: Happened,
}

/// A provider that holds the payment: create an intent, refund, verify
/// what the provider reports (Stripe's PaymentIntents).
#[async_trait]
pub trait PaymentGateway: Send + Sync + std::fmt::Debug {
    /// Creates the intent the buyer pays; with a key used before, the
    /// provider answers the intent it made then.
    async fn create_intent(&self, intent: &NewIntent, key: &str) -> Result<StripeIntent, GatewayError>;

    /// Cancels an unpaid intent so that it can no longer be paid.
    async fn cancel_intent(&self, intent_id: &str, key: &str) -> Result<(), GatewayError>;

    /// Gives back `amount` (minor units) of an intent's payment; returns
    /// the provider's refund id.
    async fn refund(
        &self,
        intent_id: &str,
        amount: i64,
        metadata: &BTreeMap<String, String>,
        key: &str,
    ) -> Result<String, GatewayError>;

    /// Every refund of an intent, newest first.
    async fn refunds(&self, intent_id: &str) -> Result<Vec<ProviderRefund>, GatewayError>;

    /// Checks a notification's signature (against `now`, Unix seconds, for
    /// replays) and reads it.
    fn verify(&self, payload: &[u8], signature: &str, now: i64) -> Result<Notification, GatewayError>;
}

/// What one transfer request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferFor<'a> {
    pub order_id: Uuid,
    /// The order's number, shown by the wallet and written in the memo.
    pub number: &'a str,
    pub total: Money,
    /// The seller's payout wallet.
    pub recipient: &'a str,
}

/// What the provider says about one transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferCheck {
    /// Final, and paying exactly what was asked.
    Paid { signature: String },
    /// Nothing carries the transfer's reference yet.
    NotFound,
    /// A transaction carries it but is not final yet.
    NotFinal { signature: String },
    /// A final transaction carries it but does not pay what was asked.
    Rejected { signature: String, reason: String },
}

/// A provider where the buyer's wallet pays each seller directly: write a
/// transfer request, verify the transfer (Solana Pay).
#[async_trait]
pub trait TransferGateway: Send + Sync + std::fmt::Debug {
    /// The one currency prices must be in, when what is paid is worth one
    /// unit of a currency (a stablecoin); `None` when any converts.
    fn currency(&self) -> Option<Currency>;

    /// Whether `wallet` is an address a seller can be paid at.
    fn is_payout_address(&self, wallet: &str) -> bool;

    /// A new transfer request, with a fresh reference to find it by.
    fn request(&self, transfer: &TransferFor<'_>) -> Result<SolanaTransfer, GatewayError>;

    /// Looks the transfer up.
    async fn check(&self, transfer: &SolanaTransfer) -> Result<TransferCheck, GatewayError>;
}
