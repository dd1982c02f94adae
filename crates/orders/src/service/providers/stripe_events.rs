//! Stripe's webhooks: signed events about intents, charges, refunds and
//! disputes, each applied once (deduplicated by event id).

use super::*;
use crate::error::{OrdersError, Result};
use crate::model::*;
use crate::payment::*;
use crate::service::OrdersService;
use crate::service::decisions;
use crate::store::Change;
use payments::stripe::{self, Charge, Dispute, Event, PaymentIntent, Stripe};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use uuid::Uuid;

impl OrdersService {
    /// `POST /payments/webhooks/stripe`: verifies the signature, then acts on
    /// the event once (by id) and in any order.
    pub async fn stripe_webhook(&self, payload: &[u8], signature: Option<&str>) -> Result<WebhookOutcome> {
        let stripe = self.providers.stripe.clone().ok_or(OrdersError::NotFound("webhook endpoint"))?;
        let now = self.now().unix_timestamp();
        stripe::verify_signature(
            signature.unwrap_or_default(),
            payload,
            &stripe.config().webhook_secrets,
            now,
            stripe::SIGNATURE_TOLERANCE_SECS,
        )
        .map_err(|e| {
            tracing::warn!(error = %e, "Stripe webhook refused: bad signature");
            OrdersError::InvalidSignature(e.to_string())
        })?;
        let event: Event = serde_json::from_slice(payload).map_err(bad_payload)?;
        if self.store.ref_owner(EVENT, &event.id).await?.is_some() {
            return Ok(WebhookOutcome::Duplicate);
        }
        let handled = match event.kind.as_str() {
            "payment_intent.succeeded" | "payment_intent.payment_failed" | "payment_intent.canceled" => {
                self.on_intent(&stripe, &event).await?
            }
            "charge.refunded" => self.on_charge_refunded(&stripe, &event).await?,
            "charge.dispute.created" => self.on_dispute(&event).await?,
            _ => None,
        };
        // Recorded once handled: a delivery that failed half-way is retried
        // by Stripe, and every handler is idempotent.
        match handled {
            Some(payment_id) => {
                self.store.claim_ref(EVENT, &event.id, payment_id).await?;
                Ok(WebhookOutcome::Handled)
            }
            None => Ok(WebhookOutcome::Ignored),
        }
    }

    /// The payment an intent belongs to: by its recorded id, else by the
    /// metadata set when it was created.
    async fn payment_of_intent(
        &self,
        intent_id: &str,
        metadata: Option<&BTreeMap<String, String>>,
    ) -> Result<Option<(Uuid, Uuid)>> {
        let payment_id = match self.store.ref_owner(INTENT, intent_id).await? {
            Some(id) => id,
            None => match metadata.and_then(|m| m.get("payment_id")).and_then(|s| s.parse().ok()) {
                Some(id) => id,
                None => return Ok(None),
            },
        };
        match self.store.checkout_of_payment(payment_id).await? {
            Some(checkout_id) => Ok(Some((payment_id, checkout_id))),
            None => Ok(None),
        }
    }

    async fn on_intent(&self, stripe: &Stripe, event: &Event) -> Result<Option<Uuid>> {
        let intent: PaymentIntent = event.object().map_err(bad_payload)?;
        let Some((payment_id, checkout_id)) = self.payment_of_intent(&intent.id, Some(&intent.metadata)).await? else {
            tracing::info!(intent = intent.id, "Stripe event for an intent that is not ours; ignored");
            return Ok(None);
        };
        let now = self.now();
        let kind = event.kind.as_str();
        let paid_late = AtomicBool::new(false);
        let reason = intent
            .last_payment_error
            .as_ref()
            .and_then(|e| e.decline_code.clone().or_else(|| e.code.clone()))
            .unwrap_or_else(|| "payment_failed".into());
        let decided = self
            .store
            .change_checkout(checkout_id, &|state: &CheckoutState| {
                let p = &state.payment;
                if p.provider != Provider::Stripe {
                    return Err(OrdersError::NotAStripePayment);
                }
                if let Some(known) = &p.stripe
                    && known.intent_id != intent.id
                {
                    return Err(OrdersError::IntentMismatch);
                }
                if intent.amount != p.amount.amount || !intent.currency.eq_ignore_ascii_case(p.amount.currency.as_str())
                {
                    return Err(OrdersError::AmountMismatch(format!(
                        "the event is for {} {}, the payment is for {} {}",
                        intent.amount, intent.currency, p.amount.amount, p.amount.currency
                    )));
                }
                let closed = matches!(p.status, PaymentStatus::Expired | PaymentStatus::Cancelled);
                // Set on every call: the store may decide more than once and writes the last answer.
                paid_late.store(kind == "payment_intent.succeeded" && closed, Ordering::Relaxed);
                let mut change = match kind {
                    "payment_intent.succeeded" if closed => Change::default(),
                    "payment_intent.succeeded" => decisions::settle_received(state, "paid by card (Stripe)", now)?,
                    "payment_intent.payment_failed" if p.status == PaymentStatus::Pending => {
                        decisions::decline(state, &reason, now)?
                    }
                    "payment_intent.canceled" => decisions::cancelled_at_provider(state, now)?,
                    _ => Change::default(),
                };
                // Learnt from the event before Stripe's answer to the create call arrived.
                if p.stripe.is_none() {
                    let mut payment = change.payment.clone().unwrap_or_else(|| p.clone());
                    payment.stripe = Some(StripeIntent { intent_id: intent.id.clone(), client_secret: None });
                    change.payment = Some(payment);
                }
                Ok(change)
            })
            .await;
        let state = match decided {
            Ok(state) => state,
            Err(e) => {
                tracing::warn!(event = event.id, intent = intent.id, %payment_id, error = %e, "Stripe event refused");
                return Err(e);
            }
        };
        self.store.claim_ref(INTENT, &intent.id, payment_id).await?;
        if paid_late.load(Ordering::Relaxed) {
            // Money taken for a checkout that had already closed (its stock
            // released): give it back.
            tracing::warn!(%payment_id, intent = intent.id, "paid after the checkout closed; refunding in full");
            let metadata = BTreeMap::from([("reason".to_owned(), "paid after the checkout closed".to_owned())]);
            stripe
                .create_refund(&intent.id, intent.amount, &metadata, &format!("emporium-late-{payment_id}"))
                .await
                .map_err(provider_error)?;
        }
        if kind == "payment_intent.canceled" {
            self.close_at_provider(&state).await;
        }
        Ok(Some(payment_id))
    }

    /// A refund shows on the charge: refunds made outside the shop (in
    /// Stripe's dashboard) are recorded; the shop's own are already, or are
    /// about to be, recorded under the same Stripe refund id.
    async fn on_charge_refunded(&self, stripe: &Stripe, event: &Event) -> Result<Option<Uuid>> {
        let charge: Charge = event.object().map_err(bad_payload)?;
        let Some(intent_id) = charge.payment_intent.clone() else { return Ok(None) };
        let Some((payment_id, checkout_id)) = self.payment_of_intent(&intent_id, None).await? else {
            return Ok(None);
        };
        let refunds = stripe.list_refunds(&intent_id).await.map_err(provider_error)?;
        let now = self.now();
        for refund in refunds.iter().rev().filter(|r| r.status == "succeeded" || r.status == "pending") {
            // The shop's own refunds carry the order they were made for.
            if refund.metadata.contains_key("order_id") {
                continue;
            }
            self.store
                .change_checkout(checkout_id, &|state: &CheckoutState| {
                    if !charge.currency.eq_ignore_ascii_case(state.payment.amount.currency.as_str()) {
                        return Err(OrdersError::AmountMismatch("the charge's currency is not the payment's".into()));
                    }
                    decisions::outside_refund(state, refund.amount, "refunded at Stripe", &refund.id, now)
                })
                .await?;
        }
        Ok(Some(payment_id))
    }

    async fn on_dispute(&self, event: &Event) -> Result<Option<Uuid>> {
        let dispute: Dispute = event.object().map_err(bad_payload)?;
        let Some(intent_id) = dispute.payment_intent.clone() else { return Ok(None) };
        let Some((payment_id, checkout_id)) = self.payment_of_intent(&intent_id, None).await? else {
            return Ok(None);
        };
        let now = self.now();
        let message = format!(
            "the card payment is disputed at Stripe ({}, {} {}): respond in Stripe's dashboard",
            dispute.reason.as_deref().unwrap_or("no reason given"),
            dispute.amount,
            dispute.currency.to_uppercase()
        );
        tracing::warn!(%payment_id, dispute = dispute.id, "payment disputed; orders flagged for staff");
        self.store
            .change_checkout(checkout_id, &|state: &CheckoutState| {
                decisions::flag(state, "dispute", &message, &dispute.id, now)
            })
            .await?;
        Ok(Some(payment_id))
    }
}
