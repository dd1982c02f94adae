//! The JSON shapes of payments and placed checkouts. The orders context
//! answers data (`Payment`, its `NextStep`); this is where a next step gets
//! its words, its URL and, for Solana Pay, its QR codes.

use kernel::Money;
use orders::{NextStep, Order, Payment, PaymentStatus, PlacedCheckout, Provider};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentView {
    pub id: Uuid,
    pub checkout_id: Uuid,
    pub provider: Provider,
    pub status: PaymentStatus,
    pub amount: Money,
    pub refunded: Money,
    pub last_error: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    pub next_action: NextAction,
}

impl From<&Payment> for PaymentView {
    fn from(p: &Payment) -> Self {
        PaymentView {
            id: p.id,
            checkout_id: p.checkout_id,
            provider: p.provider,
            status: p.status,
            amount: p.amount,
            refunded: p.refunded,
            last_error: p.last_error.clone(),
            expires_at: p.expires_at,
            next_action: NextAction::of(p),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckoutResponse {
    pub checkout_id: Uuid,
    pub orders: Vec<Order>,
    pub payment: PaymentView,
    /// True when this answers a repeat of an earlier request with the same `Idempotency-Key`.
    pub replayed: bool,
}

impl From<&PlacedCheckout> for CheckoutResponse {
    fn from(c: &PlacedCheckout) -> Self {
        CheckoutResponse {
            checkout_id: c.checkout_id,
            orders: c.orders.clone(),
            payment: PaymentView::from(&c.payment),
            replayed: c.replayed,
        }
    }
}

/// What the buyer does next to pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct NextAction {
    /// `confirm_card` (test provider), `manual` (await staff),
    /// `stripe_payment_element`, `solana_pay`, `retry`, `none` (settled).
    #[serde(rename = "type")]
    pub kind: String,
    pub url: Option<String>,
    pub message: String,
    /// Stripe: the PaymentIntent's client secret for the Payment Element.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Solana Pay: one transfer request per order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transfers: Vec<TransferAction>,
}

/// One Solana Pay transfer request, ready for a wallet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
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

impl NextAction {
    /// `p`'s next step, worded, with its URL.
    pub fn of(p: &Payment) -> NextAction {
        let action = |kind: &str, url: Option<String>, message: &str| NextAction {
            kind: kind.into(),
            url,
            message: message.into(),
            client_secret: None,
            transfers: Vec::new(),
        };
        let again = || Some(format!("/api/v1/payments/{}", p.id));
        match p.next_step() {
            NextStep::ConfirmCard => action(
                "confirm_card",
                Some(format!("/api/v1/payments/{}/confirm", p.id)),
                "POST {\"card_number\": \"4242424242424242\"} to pay with the test card",
            ),
            NextStep::Manual => {
                action("manual", None, "pay by bank transfer quoting the order number; the shop marks the order paid")
            }
            NextStep::StripeElement { client_secret } => NextAction {
                client_secret: Some(client_secret),
                ..action(
                    "stripe_payment_element",
                    None,
                    "confirm the payment with Stripe.js's Payment Element using client_secret",
                )
            },
            NextStep::Retry if p.provider == Provider::Stripe => {
                action("retry", again(), "Stripe could not be reached; GET this payment again to retry")
            }
            NextStep::Retry => action("retry", again(), "the transfer requests are not ready; GET this payment again"),
            NextStep::SolanaPay { transfers } => NextAction {
                transfers: transfers
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
                    Some(format!("/api/v1/payments/{}/verify", p.id)),
                    "pay each transfer request with a Solana wallet; the shop checks the chain (GET url to check now)",
                )
            },
            NextStep::Nothing => {
                NextAction { message: format!("payment {}", p.status.as_str()), ..action("none", None, "") }
            }
        }
    }
}
