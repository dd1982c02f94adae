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

/// A transfer as the client shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TransferAction {
    pub order_id: Uuid,
    pub url: String,
    /// The URL as a QR code (SVG) for a phone wallet.
    pub qr_svg: String,
    pub recipient: String,
    /// In SOL or tokens, as a decimal string.
    pub amount: String,
    pub mint: Option<String>,
    pub reference: String,
    pub paid: bool,
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
}

/// What the client does next to pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct NextAction {
    /// `confirm_card` (test provider), `manual` (await staff), `none` (settled).
    #[serde(rename = "type")]
    pub kind: String,
    pub url: Option<String>,
    pub message: String,
    /// Stripe: the PaymentIntent's client secret for the Payment Element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Solana Pay: one transfer request per order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transfers: Vec<TransferAction>,
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

impl Payment {
    pub fn next_action(&self) -> NextAction {
        let action = |kind: &str, url: Option<String>, message: String| NextAction {
            kind: kind.into(),
            url,
            message,
            client_secret: None,
            transfers: Vec::new(),
        };
        match (self.status, self.provider) {
            (PaymentStatus::Pending, Provider::Test) => action(
                "confirm_card",
                Some(format!("/api/v1/payments/{}/confirm", self.id)),
                "POST {\"card_number\": \"4242424242424242\"} to pay with the test card".into(),
            ),
            (PaymentStatus::Pending, Provider::Manual) => action(
                "manual",
                None,
                "pay by bank transfer quoting the order number; the shop marks the order paid".into(),
            ),
            (PaymentStatus::Pending, Provider::Stripe) => match &self.stripe {
                Some(StripeIntent { client_secret: Some(secret), .. }) => NextAction {
                    client_secret: Some(secret.clone()),
                    ..action(
                        "stripe_payment_element",
                        None,
                        "confirm the payment with Stripe.js's Payment Element using client_secret".into(),
                    )
                },
                _ => action(
                    "retry",
                    Some(format!("/api/v1/payments/{}", self.id)),
                    "Stripe could not be reached; GET this payment again to retry".into(),
                ),
            },
            (PaymentStatus::Pending, Provider::Solana) if !self.solana.is_empty() => NextAction {
                transfers: self
                    .solana
                    .iter()
                    .map(|t| TransferAction {
                        order_id: t.order_id,
                        url: t.url.clone(),
                        qr_svg: payments::solana::qr_svg(&t.url).unwrap_or_default(),
                        recipient: t.recipient.clone(),
                        amount: payments::solana::decimal(t.amount, t.decimals),
                        mint: t.mint.clone(),
                        reference: t.reference.clone(),
                        paid: t.signature.is_some(),
                    })
                    .collect(),
                ..action(
                    "solana_pay",
                    Some(format!("/api/v1/payments/{}/verify", self.id)),
                    "pay each transfer request with a Solana wallet; the shop checks the chain (GET url to check now)"
                        .into(),
                )
            },
            (PaymentStatus::Pending, Provider::Solana) => action(
                "retry",
                Some(format!("/api/v1/payments/{}", self.id)),
                "the transfer requests are not ready; GET this payment again".into(),
            ),
            _ => action("none", None, format!("payment {}", self.status.as_str())),
        }
    }
}
