//! Stripe's webhooks: signed events about intents, charges, refunds and
//! disputes, each applied once (deduplicated by event id).

use super::*;
use crate::error::{OrdersError, PaymentError, Result};
use crate::gateway::{GatewayError, Happened, IntentFacts, Notification, PaymentGateway};
use crate::model::*;
use crate::payment::*;
use crate::service::OrdersService;
use crate::service::decisions;
use crate::store::Change;
use std::collections::BTreeMap;
use uuid::Uuid;

impl OrdersService {
    /// `POST /payments/webhooks/stripe`: verifies the signature, then acts on
    /// the event once (by id) and in any order.
    pub async fn stripe_webhook(
        &self,
        payload: &[u8],
        signature: Option<&str>,
    ) -> Result<WebhookOutcome, PaymentError> {
        let stripe = self.providers.stripe.clone().ok_or(OrdersError::NotFound("webhook endpoint"))?;
        let now = self.now().unix_timestamp();
        let event = stripe.verify(payload, signature.unwrap_or_default(), now).map_err(|e| {
            if matches!(e, GatewayError::InvalidSignature(_)) {
                tracing::warn!(error = %e, "Stripe webhook refused: bad signature");
            }
            OrdersError::from(e)
        })?;
        if self.store.ref_owner(EVENT, &event.id).await?.is_some() {
            return Ok(WebhookOutcome::Duplicate);
        }
        let handled = match &event.happened {
            Happened::IntentSucceeded(intent) | Happened::IntentFailed(intent) | Happened::IntentCanceled(intent) => {
                self.on_intent(stripe.as_ref(), &event, intent).await?
            }
            Happened::ChargeRefunded { intent_id: Some(intent_id), currency } => {
                self.on_charge_refunded(stripe.as_ref(), intent_id, currency).await?
            }
            Happened::Disputed { id, intent_id: Some(intent_id), amount, currency, reason } => {
                let message = format!(
                    "the card payment is disputed at Stripe ({}, {amount} {}): respond in Stripe's dashboard",
                    reason.as_deref().unwrap_or("no reason given"),
                    currency.to_uppercase()
                );
                self.on_dispute(id, intent_id, &message).await?
            }
            // Not about a PaymentIntent, or nothing the shop acts on.
            Happened::ChargeRefunded { intent_id: None, .. }
            | Happened::Disputed { intent_id: None, .. }
            | Happened::Other => None,
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
    async fn payment_of_intent(&self, intent_id: &str, by_metadata: Option<Uuid>) -> Result<Option<(Uuid, Uuid)>> {
        let payment_id = match self.store.ref_owner(INTENT, intent_id).await? {
            Some(id) => id,
            None => match by_metadata {
                Some(id) => id,
                None => return Ok(None),
            },
        };
        match self.store.checkout_of_payment(payment_id).await? {
            Some(checkout_id) => Ok(Some((payment_id, checkout_id))),
            None => Ok(None),
        }
    }

    async fn on_intent(
        &self,
        stripe: &dyn PaymentGateway,
        event: &Notification,
        intent: &IntentFacts,
    ) -> Result<Option<Uuid>> {
        let Some((payment_id, checkout_id)) = self.payment_of_intent(&intent.id, intent.payment_id()).await? else {
            tracing::info!(intent = intent.id, "Stripe event for an intent that is not ours; ignored");
            return Ok(None);
        };
        let now = self.now();
        let reason = intent.failure.clone().unwrap_or_else(|| "payment_failed".into());
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
                let closed = p.status.is_closed_unpaid();
                let mut change = match &event.happened {
                    Happened::IntentSucceeded(_) if closed => Change::default(),
                    Happened::IntentSucceeded(_) => decisions::settle_received(state, "paid by card (Stripe)", now)?,
                    Happened::IntentFailed(_) if p.status == PaymentStatus::Pending => {
                        decisions::decline(state, &reason, now)?
                    }
                    Happened::IntentCanceled(_) => decisions::cancelled_at_provider(state, now)?,
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
        // The state written is the last decision's: a success that finds
        // the checkout closed (its stock released) changed nothing, and the
        // money taken goes back.
        if matches!(event.happened, Happened::IntentSucceeded(_)) && state.payment.status.is_closed_unpaid() {
            tracing::warn!(%payment_id, intent = intent.id, "paid after the checkout closed; refunding in full");
            let metadata = BTreeMap::from([("reason".to_owned(), "paid after the checkout closed".to_owned())]);
            stripe.refund(&intent.id, intent.amount, &metadata, &format!("emporium-late-{payment_id}")).await?;
        }
        if matches!(event.happened, Happened::IntentCanceled(_)) {
            self.close_at_provider(&state).await;
        }
        Ok(Some(payment_id))
    }

    /// A refund shows on the charge: refunds made outside the shop (in
    /// Stripe's dashboard) are recorded; the shop's own are already, or are
    /// about to be, recorded under the same Stripe refund id.
    async fn on_charge_refunded(
        &self,
        stripe: &dyn PaymentGateway,
        intent_id: &str,
        currency: &str,
    ) -> Result<Option<Uuid>> {
        let Some((payment_id, checkout_id)) = self.payment_of_intent(intent_id, None).await? else {
            return Ok(None);
        };
        let refunds = stripe.refunds(intent_id).await?;
        let now = self.now();
        for refund in refunds.iter().rev().filter(|r| r.goes_through) {
            // The shop's own refunds carry the order they were made for.
            if refund.metadata.contains_key("order_id") {
                continue;
            }
            self.store
                .change_checkout(checkout_id, &|state: &CheckoutState| {
                    if !currency.eq_ignore_ascii_case(state.payment.amount.currency.as_str()) {
                        return Err(OrdersError::AmountMismatch("the charge's currency is not the payment's".into()));
                    }
                    decisions::outside_refund(state, refund.amount, "refunded at Stripe", &refund.id, now)
                })
                .await?;
        }
        Ok(Some(payment_id))
    }

    async fn on_dispute(&self, dispute_id: &str, intent_id: &str, message: &str) -> Result<Option<Uuid>> {
        let Some((payment_id, checkout_id)) = self.payment_of_intent(intent_id, None).await? else {
            return Ok(None);
        };
        let now = self.now();
        tracing::warn!(%payment_id, dispute = dispute_id, "payment disputed; orders flagged for staff");
        self.store
            .change_checkout(checkout_id, &|state: &CheckoutState| {
                decisions::flag(state, "dispute", message, dispute_id, now)
            })
            .await?;
        Ok(Some(payment_id))
    }
}
