//! The providers that move real money: Stripe (a PaymentIntent per
//! checkout, signed webhooks, refunds through the Refunds API) and Solana
//! Pay (a transfer request per order, checked on chain).
//!
//! Calls to a provider are never made inside a database transaction. Each
//! is idempotent at the provider (Stripe's `Idempotency-Key`; a Solana
//! reference can only be paid once), so a retry after a crash or timeout
//! repeats nothing; what the provider reports is then written with the
//! checkout locked, by the same decisions as the test provider's.

mod solana_checks;
mod stripe_events;

use super::OrdersService;
use crate::error::{OrdersError, Result};
use crate::gateway::{NewIntent, PaymentGateway, TransferFor, TransferGateway};
use crate::model::*;
use crate::payment::*;
use crate::store::Change;
use kernel::Currency;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// `payment_refs` kinds.
const INTENT: &str = "stripe_intent";
const EVENT: &str = "stripe_event";
const SIGNATURE: &str = "solana_signature";

/// The providers enabled besides `test` and `manual`, through their
/// gateways (see [`crate::gateway`]).
#[derive(Debug, Clone, Default)]
pub struct Providers {
    pub stripe: Option<Arc<dyn PaymentGateway>>,
    pub solana: Option<Arc<dyn TransferGateway>>,
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
        if let Some(token) = sol.currency()
            && token != currency
        {
            return Err(OrdersError::field(
                "payment_provider",
                format!("Solana Pay takes a token worth one {token}; this cart is priced in {currency}"),
            ));
        }
        for seller in sellers {
            if !self.catalog.payout_wallet(*seller).await?.is_some_and(|w| sol.is_payout_address(&w)) {
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
        let request = NewIntent {
            amount: payment.amount,
            description: format!("Order {}", numbers.join(", ")),
            metadata,
            receipt_email: Some(state.email.clone()),
        };
        // One key per payment: however often this is retried, Stripe makes one intent.
        let intent = stripe.create_intent(&request, &format!("emporium-payment-{}", payment.id)).await?;
        self.store.claim_ref(INTENT, &intent.intent_id, payment.id).await?;
        let StripeIntent { intent_id: id, client_secret: secret } = intent;
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
        let mut transfers = Vec::new();
        for o in state.orders.iter().filter(|o| o.status == OrderStatus::PendingPayment && o.total.amount > 0) {
            let wallet = self
                .catalog
                .payout_wallet(o.seller_id)
                .await?
                .filter(|w| sol.is_payout_address(w))
                .ok_or_else(|| OrdersError::NoPayoutWallet)?;
            let wanted = TransferFor { order_id: o.id, number: &o.number, total: o.total, recipient: &wallet };
            transfers.push(sol.request(&wanted)?);
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
        if !state.payment.status.is_closed_unpaid() {
            return;
        }
        let key = format!("emporium-cancel-{}", state.payment.id);
        if let Err(e) = stripe.cancel_intent(&intent.intent_id, &key).await {
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
                let id = stripe.refund(&intent.intent_id, refund.amount.amount, &metadata, &key).await?;
                made.insert((o.id, position), id);
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
}
