//! The providers that move real money: Stripe (a PaymentIntent per
//! checkout, signed webhooks, refunds through the Refunds API) and Solana
//! Pay (a transfer request per order, checked on chain).
//!
//! Calls to a provider are never made inside a database transaction. Each
//! is idempotent at the provider (Stripe's `Idempotency-Key`; a Solana
//! reference can only be paid once), so a retry after a crash or timeout
//! repeats nothing; what the provider reports is then written with the
//! checkout locked, by the same decisions as the test provider's.

use super::OrdersService;
use super::checkout::PaymentView;
use super::decisions;
use crate::error::{OrdersError, Result};
use crate::model::*;
use crate::store::Change;
use kernel::Currency;
use payments::solana::{self, Asset, Check, Expected, Rpc, TransferRequest};
use payments::stripe::{self, Charge, Dispute, Event, NewPaymentIntent, PaymentIntent, Stripe, StripeError};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use uuid::Uuid;

/// `payment_refs` kinds.
const INTENT: &str = "stripe_intent";
const EVENT: &str = "stripe_event";
const SIGNATURE: &str = "solana_signature";

/// The providers enabled besides `test` and `manual`.
#[derive(Debug, Clone, Default)]
pub struct Providers {
    pub stripe: Option<Arc<Stripe>>,
    pub solana: Option<Arc<SolanaProvider>>,
}

#[derive(Debug)]
pub struct SolanaProvider {
    pub rpc: Rpc,
    pub asset: Asset,
    /// For a token: the currency it is worth one unit of (prices in any
    /// other currency cannot be paid with it).
    pub token_currency: Option<Currency>,
    /// The wallet's `label`: the shop's name.
    pub label: String,
}

/// What a webhook delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    Handled,
    /// This event id was handled before; nothing changed.
    Duplicate,
    /// Not an event the shop acts on, or not about one of its payments.
    Ignored,
}

impl WebhookOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Handled => "handled",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::Ignored => "ignored",
        }
    }
}

fn provider_error(e: StripeError) -> OrdersError {
    OrdersError::Provider(e.to_string())
}

fn bad_payload(e: impl std::fmt::Display) -> OrdersError {
    OrdersError::BadRequest { code: "invalid_payload", message: format!("the event could not be read: {e}") }
}

impl OrdersService {
    pub(super) fn provider_enabled(&self, provider: Provider) -> bool {
        match provider {
            Provider::Test | Provider::Manual => true,
            Provider::Stripe => self.providers.stripe.is_some(),
            Provider::Solana => self.providers.solana.is_some(),
        }
    }

    /// The providers a checkout may name, for error messages.
    pub fn provider_names(&self) -> Vec<&'static str> {
        [Provider::Test, Provider::Manual, Provider::Stripe, Provider::Solana]
            .into_iter()
            .filter(|p| self.provider_enabled(*p))
            .map(Provider::as_str)
            .collect()
    }

    /// Checks made before a checkout is placed: Solana Pay needs every
    /// seller's payout wallet, and prices in the token's currency.
    pub(super) async fn check_provider(&self, provider: Provider, sellers: &[Uuid], currency: Currency) -> Result<()> {
        let Some(sol) = self.providers.solana.as_ref().filter(|_| provider == Provider::Solana) else {
            return Ok(());
        };
        if let Some(token) = sol.token_currency
            && token != currency
        {
            return Err(OrdersError::field(
                "payment_provider",
                format!("Solana Pay takes a token worth one {token}; this cart is priced in {currency}"),
            ));
        }
        for seller in sellers {
            if !self.catalog.payout_wallet(*seller).await?.is_some_and(|w| solana::is_address(&w)) {
                return Err(OrdersError::field(
                    "payment_provider",
                    "a seller in this cart has no Solana payout wallet; choose another payment method",
                ));
            }
        }
        Ok(())
    }

    /// Opens a placed checkout's payment at its provider: a Stripe
    /// PaymentIntent, or the Solana Pay transfer requests. If that fails the
    /// payment stays pending without them (its next action says to retry)
    /// and reading the payment tries again.
    pub(super) async fn open_at_provider(&self, state: CheckoutState) -> CheckoutState {
        if state.payment.status != PaymentStatus::Pending {
            return state;
        }
        let opened = match state.payment.provider {
            Provider::Stripe if state.payment.stripe.as_ref().is_none_or(|s| s.client_secret.is_none()) => {
                self.open_stripe(&state).await
            }
            Provider::Solana if state.payment.solana.is_empty() => self.open_solana(&state).await,
            _ => return state,
        };
        match opened {
            Ok(state) => state,
            Err(e) => {
                tracing::warn!(payment_id = %state.payment.id, error = %e, "could not open the payment at its provider");
                state
            }
        }
    }

    async fn open_stripe(&self, state: &CheckoutState) -> Result<CheckoutState> {
        let stripe = self.providers.stripe.as_ref().ok_or_else(|| OrdersError::Provider("Stripe is off".into()))?;
        let payment = &state.payment;
        let numbers: Vec<&str> = state.orders.iter().map(|o| o.number.as_str()).collect();
        let metadata = BTreeMap::from([
            ("payment_id".to_owned(), payment.id.to_string()),
            ("checkout_id".to_owned(), state.id.to_string()),
            ("order_numbers".to_owned(), numbers.join(",")),
        ]);
        let request = NewPaymentIntent {
            amount: payment.amount.amount,
            currency: payment.amount.currency.as_str().to_owned(),
            description: format!("Order {}", numbers.join(", ")),
            metadata,
            receipt_email: Some(state.email.clone()),
        };
        // One key per payment: however often this is retried, Stripe makes one intent.
        let intent = stripe
            .create_payment_intent(&request, &format!("emporium-payment-{}", payment.id))
            .await
            .map_err(provider_error)?;
        self.store.claim_ref(INTENT, &intent.id, payment.id).await?;
        let (id, secret) = (intent.id.clone(), intent.client_secret.clone());
        self.store
            .change_checkout(state.id, &|state: &CheckoutState| {
                let mut payment = state.payment.clone();
                match &payment.stripe {
                    Some(known) if known.intent_id != id || known.client_secret.is_some() => {
                        return Ok(Change::default());
                    }
                    _ => payment.stripe = Some(StripeIntent { intent_id: id.clone(), client_secret: secret.clone() }),
                }
                Ok(Change { payment: Some(payment), ..Change::default() })
            })
            .await
    }

    async fn open_solana(&self, state: &CheckoutState) -> Result<CheckoutState> {
        let sol = self.providers.solana.as_ref().ok_or_else(|| OrdersError::Provider("Solana Pay is off".into()))?;
        let exponent = payments::currency_exponent(state.payment.amount.currency.as_str());
        let mut transfers = Vec::new();
        for o in state.orders.iter().filter(|o| o.status == OrderStatus::PendingPayment && o.total.amount > 0) {
            let wallet =
                self.catalog.payout_wallet(o.seller_id).await?.filter(|w| solana::is_address(w)).ok_or_else(|| {
                    OrdersError::conflict("no_payout_wallet", "the seller of this order has no Solana payout wallet")
                })?;
            let amount = sol
                .asset
                .base_units(o.total.amount, exponent)
                .map_err(|e| OrdersError::unprocessable("amount_not_payable", e.to_string()))?;
            let request = TransferRequest {
                recipient: wallet,
                amount,
                decimals: sol.asset.decimals(),
                spl_token: sol.asset.mint().map(str::to_owned),
                reference: solana::new_reference(),
                label: sol.label.clone(),
                message: format!("Order {}", o.number),
                memo: o.number.clone(),
            };
            transfers.push(SolanaTransfer {
                order_id: o.id,
                url: request.url(),
                recipient: request.recipient,
                amount,
                decimals: request.decimals,
                mint: request.spl_token,
                reference: request.reference,
                signature: None,
            });
        }
        self.store
            .change_checkout(state.id, &|state: &CheckoutState| {
                if !state.payment.solana.is_empty() || state.payment.status != PaymentStatus::Pending {
                    return Ok(Change::default());
                }
                let mut payment = state.payment.clone();
                payment.solana = transfers.clone();
                Ok(Change { payment: Some(payment), ..Change::default() })
            })
            .await
    }

    /// After a checkout closed unpaid (expired, superseded, cancelled):
    /// cancels its Stripe PaymentIntent so it can no longer be paid. A
    /// failure is logged; should the buyer still pay, the webhook refunds it.
    pub(super) async fn close_at_provider(&self, state: &CheckoutState) {
        let (Some(stripe), Some(intent)) = (&self.providers.stripe, &state.payment.stripe) else { return };
        if !matches!(state.payment.status, PaymentStatus::Expired | PaymentStatus::Cancelled) {
            return;
        }
        let key = format!("emporium-cancel-{}", state.payment.id);
        if let Err(e) = stripe.cancel_payment_intent(&intent.intent_id, "abandoned", &key).await {
            tracing::warn!(payment_id = %state.payment.id, error = %e, "could not cancel the Stripe PaymentIntent");
        }
    }

    /// Carries out at Stripe the refunds `decide` would record, before they
    /// are recorded (each with an idempotency key made of the order and the
    /// refund's position, so a retried request refunds once). Returns the
    /// Stripe refund ids by (order, position) for the record.
    pub(super) async fn refund_at_provider(
        &self,
        checkout_id: Uuid,
        decide: &(dyn Fn(&CheckoutState) -> Result<Change> + Send + Sync),
    ) -> Result<BTreeMap<(Uuid, usize), String>> {
        let mut made = BTreeMap::new();
        let Some(stripe) = &self.providers.stripe else { return Ok(made) };
        let state = self.store.checkout(checkout_id).await?.ok_or(OrdersError::NotFound("checkout"))?;
        if state.payment.provider != Provider::Stripe {
            return Ok(made);
        }
        let change = decide(&state)?;
        for o in &change.orders {
            let before = state.orders.iter().find(|x| x.id == o.id).map_or(0, |x| x.refunds.len());
            for (position, refund) in o.refunds.iter().enumerate().skip(before) {
                let intent = state
                    .payment
                    .stripe
                    .as_ref()
                    .ok_or_else(|| OrdersError::Provider("this payment has no Stripe PaymentIntent".into()))?;
                let metadata = BTreeMap::from([
                    ("order_id".to_owned(), o.id.to_string()),
                    ("reason".to_owned(), refund.reason.clone()),
                ]);
                let key = format!("emporium-refund-{}-{position}", o.id);
                let done = stripe
                    .create_refund(&intent.intent_id, refund.amount.amount, &metadata, &key)
                    .await
                    .map_err(provider_error)?;
                made.insert((o.id, position), done.id);
            }
        }
        Ok(made)
    }

    /// Runs `decide` on the locked checkout like `change`, after carrying
    /// out at the provider the refunds it records; each recorded refund then
    /// names the provider's refund.
    pub(super) async fn change_refunding(
        &self,
        checkout_id: Uuid,
        decide: impl Fn(&CheckoutState) -> Result<Change> + Send + Sync,
    ) -> Result<CheckoutState> {
        // One at a time per checkout in this process: each reads the refunds
        // recorded so far, makes the new ones at the provider (keyed by
        // their position) and records them before the next one reads.
        // Without it, two refunds sent at once took the same position, so
        // Stripe made one refund and the shop recorded two.
        let stripe = checkout_id.as_u128() as usize % self.caches.refunding.len();
        let _one_at_a_time = self.caches.refunding[stripe].lock().await;
        let made = self.refund_at_provider(checkout_id, &decide).await?;
        let state = self
            .change(checkout_id, |state| {
                let mut change = decide(state)?;
                for o in &mut change.orders {
                    for (position, refund) in o.refunds.iter_mut().enumerate() {
                        if let Some(id) = made.get(&(o.id, position)) {
                            refund.provider_ref = Some(id.clone());
                        }
                    }
                }
                Ok(change)
            })
            .await?;
        self.close_at_provider(&state).await;
        Ok(state)
    }

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
            OrdersError::BadRequest { code: "invalid_signature", message: e.to_string() }
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
                    return Err(OrdersError::unprocessable("wrong_provider", "this payment is not a Stripe payment"));
                }
                if let Some(known) = &p.stripe
                    && known.intent_id != intent.id
                {
                    return Err(OrdersError::unprocessable(
                        "intent_mismatch",
                        "the event's PaymentIntent is not this payment's",
                    ));
                }
                if intent.amount != p.amount.amount || !intent.currency.eq_ignore_ascii_case(p.amount.currency.as_str())
                {
                    return Err(OrdersError::unprocessable(
                        "amount_mismatch",
                        format!(
                            "the event is for {} {}, the payment is for {} {}",
                            intent.amount, intent.currency, p.amount.amount, p.amount.currency
                        ),
                    ));
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
                        return Err(OrdersError::unprocessable(
                            "amount_mismatch",
                            "the charge's currency is not the payment's",
                        ));
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

    /// `GET /payments/{id}/verify`: looks each unpaid transfer of a Solana
    /// Pay payment up on chain and settles the payment once all are paid.
    pub async fn verify_payment(&self, payment_id: Uuid) -> Result<PaymentView> {
        let checkout_id = self.checkout_of_payment(payment_id).await?;
        let mut state = self.store.checkout(checkout_id).await?.ok_or(OrdersError::NotFound("payment"))?;
        if state.payment.provider != Provider::Solana {
            return Err(OrdersError::conflict("wrong_provider", "only Solana Pay payments are verified on chain"));
        }
        let sol = self
            .providers
            .solana
            .clone()
            .ok_or_else(|| OrdersError::conflict("provider_disabled", "Solana Pay is not enabled on this shop"))?;
        if state.payment.status != PaymentStatus::Pending {
            return Ok(PaymentView::from(&state.payment));
        }
        if state.payment.solana.is_empty() {
            state = self.open_solana(&state).await?;
        }
        let open: Vec<Uuid> =
            state.orders.iter().filter(|o| o.status == OrderStatus::PendingPayment).map(|o| o.id).collect();
        let mut paid = Vec::new();
        let mut problem = None;
        for t in state.payment.solana.iter().filter(|t| t.signature.is_none() && open.contains(&t.order_id)) {
            let expected = Expected {
                recipient: t.recipient.clone(),
                amount: t.amount,
                mint: t.mint.clone(),
                reference: t.reference.clone(),
            };
            match sol.rpc.check(&expected).await.map_err(|e| OrdersError::Provider(e.to_string()))? {
                Check::Paid { signature } => {
                    if self.store.claim_ref(SIGNATURE, &signature, payment_id).await? == payment_id {
                        paid.push((t.reference.clone(), signature));
                    } else {
                        tracing::warn!(%payment_id, signature, "a transaction that paid another payment was offered again");
                        problem = Some(format!("transaction {signature} already paid another payment"));
                    }
                }
                Check::NotFound => {}
                Check::NotFinalized { signature } => {
                    problem.get_or_insert(format!("transaction {signature} is not finalized yet"));
                }
                Check::Rejected { signature, reason } => {
                    tracing::warn!(%payment_id, signature, reason, "Solana transfer refused");
                    problem = Some(format!("transaction {signature} refused: {reason}"));
                }
            }
        }
        // Nothing new on chain (the poller's usual answer): no write.
        if paid.is_empty() && problem.as_ref().is_none_or(|p| state.payment.last_error.as_ref() == Some(p)) {
            return Ok(PaymentView::from(&state.payment));
        }
        let now = self.now();
        let state = self
            .store
            .change_checkout(checkout_id, &|state: &CheckoutState| {
                decisions::solana_progress(state, &paid, problem.as_deref(), now)
            })
            .await?;
        Ok(PaymentView::from(&state.payment))
    }

    /// Checks the chain for every pending Solana Pay payment not yet
    /// expired; returns how many settled.
    pub async fn poll_solana(&self, limit: u32) -> Result<usize> {
        if self.providers.solana.is_none() {
            return Ok(0);
        }
        let now = self.now();
        let mut settled = 0;
        for p in self.store.pending_payments(limit).await? {
            if p.provider != Provider::Solana || p.expires_at <= now {
                continue;
            }
            match self.verify_payment(p.id).await {
                Ok(view) if view.status == PaymentStatus::Succeeded => settled += 1,
                Ok(_) => {}
                Err(e) => tracing::warn!(payment_id = %p.id, error = %e, "Solana Pay check failed"),
            }
        }
        Ok(settled)
    }
}
