//! The `orders` crate's gateway ports, implemented over the two wire
//! protocols: [`PaymentGateway`] for [`Stripe`], [`TransferGateway`] for
//! [`SolanaPay`]. Each translates between the provider's objects and the
//! domain's, and nothing more: what an answer means for a checkout is
//! decided in `orders`.

use crate::solana::{self, Asset, Check, Expected, Rpc, TransferRequest};
use crate::stripe::{self, Charge, Dispute, Event, NewPaymentIntent, PaymentIntent, Stripe, StripeError};
use async_trait::async_trait;
use kernel::Currency;
use orders::gateway::{
    GatewayError, Happened, IntentFacts, NewIntent, Notification, PaymentGateway, ProviderRefund, TransferCheck,
    TransferFor, TransferGateway,
};
use orders::{SolanaTransfer, StripeIntent};
use std::collections::BTreeMap;

fn refused(e: StripeError) -> GatewayError {
    GatewayError::Provider(e.to_string())
}

fn unreadable(e: impl std::fmt::Display) -> GatewayError {
    GatewayError::InvalidPayload(e.to_string())
}

fn intent_facts(intent: PaymentIntent) -> IntentFacts {
    let failure = intent.last_payment_error.and_then(|e| e.decline_code.or(e.code));
    IntentFacts { id: intent.id, amount: intent.amount, currency: intent.currency, metadata: intent.metadata, failure }
}

/// What a Stripe event says happened, for the events the shop acts on.
fn happened(event: &Event) -> Result<Happened, GatewayError> {
    let intent = || event.object::<PaymentIntent>().map(intent_facts).map_err(unreadable);
    Ok(match event.kind.as_str() {
        "payment_intent.succeeded" => Happened::IntentSucceeded(intent()?),
        "payment_intent.payment_failed" => Happened::IntentFailed(intent()?),
        "payment_intent.canceled" => Happened::IntentCanceled(intent()?),
        "charge.refunded" => {
            let charge: Charge = event.object().map_err(unreadable)?;
            Happened::ChargeRefunded { intent_id: charge.payment_intent, currency: charge.currency }
        }
        "charge.dispute.created" => {
            let dispute: Dispute = event.object().map_err(unreadable)?;
            Happened::Disputed {
                id: dispute.id,
                intent_id: dispute.payment_intent,
                amount: dispute.amount,
                currency: dispute.currency,
                reason: dispute.reason,
            }
        }
        _ => Happened::Other,
    })
}

#[async_trait]
impl PaymentGateway for Stripe {
    async fn create_intent(&self, intent: &NewIntent, key: &str) -> Result<StripeIntent, GatewayError> {
        let request = NewPaymentIntent {
            amount: intent.amount.amount,
            currency: intent.amount.currency.as_str().to_owned(),
            description: intent.description.clone(),
            metadata: intent.metadata.clone(),
            receipt_email: intent.receipt_email.clone(),
        };
        let made = self.create_payment_intent(&request, key).await.map_err(refused)?;
        Ok(StripeIntent { intent_id: made.id, client_secret: made.client_secret })
    }

    async fn cancel_intent(&self, intent_id: &str, key: &str) -> Result<(), GatewayError> {
        self.cancel_payment_intent(intent_id, "abandoned", key).await.map(drop).map_err(refused)
    }

    async fn refund(
        &self,
        intent_id: &str,
        amount: i64,
        metadata: &BTreeMap<String, String>,
        key: &str,
    ) -> Result<String, GatewayError> {
        Ok(self.create_refund(intent_id, amount, metadata, key).await.map_err(refused)?.id)
    }

    async fn refunds(&self, intent_id: &str) -> Result<Vec<ProviderRefund>, GatewayError> {
        let refunds = self.list_refunds(intent_id).await.map_err(refused)?;
        Ok(refunds
            .into_iter()
            .map(|r| ProviderRefund {
                goes_through: r.status == "succeeded" || r.status == "pending",
                id: r.id,
                amount: r.amount,
                metadata: r.metadata,
            })
            .collect())
    }

    fn verify(&self, payload: &[u8], signature: &str, now: i64) -> Result<Notification, GatewayError> {
        let secrets = &self.config().webhook_secrets;
        stripe::verify_signature(signature, payload, secrets, now, stripe::SIGNATURE_TOLERANCE_SECS)
            .map_err(|e| GatewayError::InvalidSignature(e.to_string()))?;
        let event: Event = serde_json::from_slice(payload).map_err(unreadable)?;
        Ok(Notification { happened: happened(&event)?, id: event.id })
    }
}

/// Solana Pay: one transfer request per order, paid to the seller's
/// wallet in SOL or an SPL token, checked over JSON-RPC.
#[derive(Debug)]
pub struct SolanaPay {
    pub rpc: Rpc,
    pub asset: Asset,
    /// For a token: the currency it is worth one unit of (prices in any
    /// other currency cannot be paid with it).
    pub token_currency: Option<Currency>,
    /// The wallet's `label`: the shop's name.
    pub label: String,
}

#[async_trait]
impl TransferGateway for SolanaPay {
    fn currency(&self) -> Option<Currency> {
        self.token_currency
    }

    fn is_payout_address(&self, wallet: &str) -> bool {
        solana::is_address(wallet)
    }

    fn request(&self, transfer: &TransferFor<'_>) -> Result<SolanaTransfer, GatewayError> {
        let exponent = kernel::money::currency_exponent(transfer.total.currency.as_str());
        let amount = self
            .asset
            .base_units(transfer.total.amount, exponent)
            .map_err(|e| GatewayError::NotPayable(e.to_string()))?;
        let request = TransferRequest {
            recipient: transfer.recipient.to_owned(),
            amount,
            decimals: self.asset.decimals(),
            spl_token: self.asset.mint().map(str::to_owned),
            reference: solana::new_reference(),
            label: self.label.clone(),
            message: format!("Order {}", transfer.number),
            memo: transfer.number.to_owned(),
        };
        Ok(SolanaTransfer {
            order_id: transfer.order_id,
            url: request.url(),
            recipient: request.recipient,
            amount,
            decimals: request.decimals,
            mint: request.spl_token,
            reference: request.reference,
            signature: None,
        })
    }

    async fn check(&self, transfer: &SolanaTransfer) -> Result<TransferCheck, GatewayError> {
        let expected = Expected {
            recipient: transfer.recipient.clone(),
            amount: transfer.amount,
            mint: transfer.mint.clone(),
            reference: transfer.reference.clone(),
        };
        Ok(match self.rpc.check(&expected).await.map_err(|e| GatewayError::Provider(e.to_string()))? {
            Check::Paid { signature } => TransferCheck::Paid { signature },
            Check::NotFound => TransferCheck::NotFound,
            Check::NotFinalized { signature } => TransferCheck::NotFinal { signature },
            Check::Rejected { signature, reason } => TransferCheck::Rejected { signature, reason },
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::stripe::StripeConfig;
    use kernel::Money;
    use serde_json::json;
    use std::time::Duration;

    const SECRET: &str = "whsec_test";

    /// reqwest is built without a TLS provider; the binary installs ring.
    fn tls() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }

    fn stripe() -> Stripe {
        tls();
        Stripe::new(StripeConfig { webhook_secrets: vec![SECRET.into()], ..StripeConfig::new("sk_test") }).unwrap()
    }

    fn event(kind: &str, object: serde_json::Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"id": "evt_1", "type": kind, "created": 1, "data": {"object": object}})).unwrap()
    }

    #[test]
    fn a_signed_event_is_read_into_what_happened() {
        let now = 1_700_000_000;
        let intent = json!({"id": "pi_1", "amount": 1250, "currency": "usd", "status": "requires_payment_method",
            "metadata": {"payment_id": "8d8ac610-566d-4ef0-9c22-186b2a5ed793"},
            "last_payment_error": {"code": "card_declined", "decline_code": "insufficient_funds"}});
        let payload = event("payment_intent.payment_failed", intent);
        let signature = stripe::signature_header(SECRET, now, &payload);
        let read = stripe().verify(&payload, &signature, now).unwrap();
        assert_eq!(read.id, "evt_1");
        let Happened::IntentFailed(facts) = read.happened else { panic!("not a failed intent: {read:?}") };
        assert_eq!((facts.id.as_str(), facts.amount, facts.currency.as_str()), ("pi_1", 1250, "usd"));
        assert_eq!(facts.failure.as_deref(), Some("insufficient_funds"), "the decline code wins over the code");
        assert_eq!(
            facts.payment_id().map(|id| id.to_string()).as_deref(),
            Some("8d8ac610-566d-4ef0-9c22-186b2a5ed793")
        );

        let dispute =
            json!({"id": "dp_1", "amount": 1250, "currency": "usd", "payment_intent": "pi_1", "reason": "fraudulent"});
        let payload = event("charge.dispute.created", dispute);
        let read = stripe().verify(&payload, &stripe::signature_header(SECRET, now, &payload), now).unwrap();
        assert_eq!(
            read.happened,
            Happened::Disputed {
                id: "dp_1".into(),
                intent_id: Some("pi_1".into()),
                amount: 1250,
                currency: "usd".into(),
                reason: Some("fraudulent".into())
            }
        );

        let payload = event("customer.created", json!({"id": "cus_1"}));
        let read = stripe().verify(&payload, &stripe::signature_header(SECRET, now, &payload), now).unwrap();
        assert_eq!(read.happened, Happened::Other);
    }

    #[test]
    fn a_bad_signature_or_an_unreadable_body_is_refused_as_such() {
        let now = 1_700_000_000;
        let payload = event("payment_intent.succeeded", json!({"id": "pi_1"}));
        let forged = stripe::signature_header("whsec_other", now, &payload);
        assert!(matches!(stripe().verify(&payload, &forged, now), Err(GatewayError::InvalidSignature(_))));
        // Signed, but the intent lacks its amount.
        let signed = stripe::signature_header(SECRET, now, &payload);
        assert!(matches!(stripe().verify(&payload, &signed, now), Err(GatewayError::InvalidPayload(_))));
        let garbage = b"not json";
        let signed = stripe::signature_header(SECRET, now, garbage);
        assert!(matches!(stripe().verify(garbage, &signed, now), Err(GatewayError::InvalidPayload(_))));
    }

    #[test]
    fn a_transfer_request_pays_the_seller_the_order_total_in_base_units() {
        let usd = Currency::parse("USD").unwrap();
        let mint = solana::new_reference();
        tls();
        let sol = SolanaPay {
            rpc: Rpc::new("http://127.0.0.1:9", Duration::from_secs(1)).unwrap(),
            asset: Asset::Token { mint: mint.clone(), decimals: 6 },
            token_currency: Some(usd),
            label: "Emporium".into(),
        };
        let wallet = solana::new_reference();
        let order_id = uuid::Uuid::from_u128(7);
        let wanted = TransferFor { order_id, number: "EM-1001", total: Money::new(1234, usd), recipient: &wallet };
        let transfer = sol.request(&wanted).unwrap();
        assert_eq!((transfer.order_id, transfer.amount, transfer.decimals), (order_id, 12_340_000, 6));
        assert_eq!((transfer.recipient.as_str(), transfer.mint.as_deref()), (wallet.as_str(), Some(mint.as_str())));
        assert!(solana::is_address(&transfer.reference));
        assert!(
            transfer.url.starts_with(&format!("solana:{wallet}?amount=12.34&spl-token={mint}")),
            "{}",
            transfer.url
        );
        assert!(transfer.url.contains("memo=EM-1001"), "{}", transfer.url);
        let again = sol.request(&wanted).unwrap();
        assert_ne!(again.reference, transfer.reference, "every request has a fresh reference");

        let zero = TransferFor { total: Money::new(0, usd), ..wanted };
        assert!(matches!(sol.request(&zero), Err(GatewayError::NotPayable(_))));
        assert_eq!(sol.currency(), Some(usd));
        assert!(!sol.is_payout_address("not-a-wallet"));
    }
}
