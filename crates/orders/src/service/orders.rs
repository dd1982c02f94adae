//! Payments, order changes and reads.

use super::decisions::{self, CardOutcome};
use super::{OrdersService, RETRIES};
use crate::error::{OrderActionError, OrdersError, PaymentError, Result};
use crate::model::*;
use crate::payment::*;
use crate::store::{Change, OrderFilter};
use kernel::{Page, PageSpec};
use time::OffsetDateTime;
use uuid::Uuid;

/// Longest carrier name, tracking number, note or refund reason.
const MAX_TEXT: usize = 500;

fn text(field: &str, value: &str, max: usize) -> Result<String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(OrdersError::field(field, "is required"));
    }
    if value.chars().count() > max || value.contains('\0') {
        return Err(OrdersError::field(field, format!("at most {max} characters")));
    }
    Ok(value.to_owned())
}

fn note(value: Option<String>) -> Result<Option<String>> {
    value.filter(|n| !n.trim().is_empty()).map(|n| text("note", &n, MAX_TEXT)).transpose()
}

impl OrdersService {
    pub(super) async fn checkout_of_payment(&self, payment_id: Uuid) -> Result<Uuid> {
        if let Some(known) = self.known_checkout(payment_id) {
            return Ok(known);
        }
        let id = self.store.checkout_of_payment(payment_id).await?.ok_or(OrdersError::NotFound("payment"))?;
        self.remember_checkout([payment_id], id);
        Ok(id)
    }

    async fn checkout_of_order(&self, order_id: Uuid) -> Result<Uuid> {
        if let Some(known) = self.known_checkout(order_id) {
            return Ok(known);
        }
        let id = self.store.checkout_of_order(order_id).await?.ok_or(OrdersError::NotFound("order"))?;
        self.remember_checkout([order_id], id);
        Ok(id)
    }

    /// Runs `decide` on the locked checkout. A checkout whose payment is
    /// overdue is expired instead (so nothing acts on lapsed holds) and the
    /// answer is 409 `payment_closed`.
    pub(super) async fn change(
        &self,
        checkout_id: Uuid,
        decide: impl Fn(&CheckoutState) -> Result<Change> + Send + Sync,
    ) -> Result<CheckoutState> {
        let now = self.now();
        for _ in 0..RETRIES {
            let decided = self
                .store
                .change_checkout(checkout_id, &|state: &CheckoutState| {
                    if decisions::expire(state, now)?.is_empty() { decide(state) } else { Err(OrdersError::Lapsed) }
                })
                .await;
            if !matches!(decided, Err(OrdersError::Lapsed)) {
                return decided;
            }
            // A second transaction writes the expiry (a no-op should
            // another request have written it in between).
            let state = self.store.change_checkout(checkout_id, &|state| decisions::expire(state, now)).await?;
            if state.payment.status.is_closed_unpaid() {
                self.close_at_provider(&state).await;
                return Err(OrdersError::PaymentClosed(
                    "this checkout was not paid in time; its orders were cancelled and the stock released".into(),
                ));
            }
            // Paid in between (money received settles a payment even past
            // its hold): no longer lapsed, so `decide` runs on it as it is.
        }
        Err(OrdersError::Busy)
    }

    /// A payment; one its provider has not opened yet (Stripe was
    /// unreachable at checkout) is opened now.
    pub async fn payment(&self, id: Uuid) -> Result<Payment, PaymentError> {
        let payment = self.store.payment(id).await?.ok_or(OrdersError::NotFound("payment"))?;
        let unopened = match payment.provider {
            Provider::Stripe => payment.stripe.as_ref().is_none_or(|s| s.client_secret.is_none()),
            Provider::Solana => payment.solana.is_empty(),
            Provider::Test | Provider::Manual => false,
        };
        if payment.status == PaymentStatus::Pending && unopened {
            let checkout_id = self.checkout_of_payment(id).await?;
            if let Some(state) = self.store.checkout(checkout_id).await? {
                return Ok(self.open_at_provider(state).await.payment.clone());
            }
        }
        Ok(payment.clone())
    }

    /// The test provider: pay with a test card. Declines are recorded and
    /// answered 402; the payment stays payable until it expires. Confirming
    /// a settled payment changes nothing.
    pub async fn confirm_payment(&self, payment_id: Uuid, card_number: &str) -> Result<Payment, PaymentError> {
        let outcome = decisions::test_card(card_number)?;
        let checkout_id = self.checkout_of_payment(payment_id).await?;
        let now = self.now();
        let state = self
            .change(checkout_id, |state| {
                if state.payment.provider != Provider::Test {
                    return Err(OrdersError::WrongProvider("this payment is settled by the shop (manual provider)"));
                }
                match outcome {
                    CardOutcome::Approved => {
                        decisions::settle(state, state.user_id, "paid by card (test provider)", now)
                    }
                    CardOutcome::Declined(reason) => decisions::decline(state, reason, now),
                }
            })
            .await?;
        match (state.payment.status, outcome) {
            (PaymentStatus::Pending, CardOutcome::Declined(reason)) => Err(PaymentError::Declined { reason }),
            _ => Ok(state.payment.clone()),
        }
    }

    /// Deletes guests' carts untouched for `older_than` that no checkout
    /// names (abandoned, or opened by a crawler); how many.
    pub async fn prune_guest_carts(&self, older_than: std::time::Duration) -> Result<u64> {
        self.store.prune_guest_carts(self.clock.now() - older_than).await
    }

    /// Expires every checkout whose payment is overdue; returns how many.
    pub async fn expire_due(&self, limit: u32) -> Result<usize> {
        let now = self.now();
        let due = self.store.expired_checkouts(now, limit).await?;
        for id in &due {
            let state = self.store.change_checkout(*id, &|state: &CheckoutState| decisions::expire(state, now)).await?;
            self.close_at_provider(&state).await;
        }
        Ok(due.len())
    }

    /// A customer's own order (404 for anyone else's).
    pub async fn customer_order(&self, user_id: Uuid, order_id: Uuid) -> Result<Order> {
        self.store.order(order_id).await?.filter(|o| o.user_id == Some(user_id)).ok_or(OrdersError::NotFound("order"))
    }

    pub async fn order(&self, order_id: Uuid) -> Result<Order> {
        self.store.order(order_id).await?.ok_or(OrdersError::NotFound("order"))
    }

    pub async fn orders(&self, filter: &OrderFilter, page: PageSpec) -> Result<Page<Order>> {
        let (items, total) = self.store.orders(filter, page).await?;
        Ok(Page::new(items, page, total))
    }

    /// Net sales per day and currency since `since` (for the dashboard's chart).
    pub async fn daily_sales(&self, since: OffsetDateTime) -> Result<Vec<DailySales>> {
        self.store.daily_sales(since).await
    }

    fn updated(state: &CheckoutState, order_id: Uuid) -> Result<Order> {
        state.orders.iter().find(|o| o.id == order_id).cloned().ok_or(OrdersError::NotFound("order"))
    }

    /// Cancels an order before it ships (the customer's or staff's
    /// request): holds released, or units restocked and the payment refunded.
    pub async fn cancel_order(
        &self,
        order_id: Uuid,
        by: Option<Uuid>,
        reason: Option<String>,
    ) -> Result<Order, OrderActionError> {
        let reason = note(reason)?;
        let checkout_id = self.checkout_of_order(order_id).await?;
        let now = self.now();
        let state = self
            .change_refunding(checkout_id, |state| {
                let o = state.orders.iter().find(|o| o.id == order_id).ok_or(OrdersError::NotFound("order"))?;
                if !o.status.is_cancellable() {
                    return Err(OrdersError::IllegalTransition(IllegalTransition {
                        from: o.status,
                        to: OrderStatus::Cancelled,
                    }));
                }
                decisions::cancel(state, order_id, by, reason.clone(), now)
            })
            .await?;
        Ok(Self::updated(&state, order_id)?)
    }

    /// Staff move an order along the state machine (409 for a move it
    /// does not have). `paid` settles a manual payment; `cancelled` cancels
    /// as above; `refunded` refunds what is left.
    pub async fn transition(
        &self,
        order_id: Uuid,
        to: OrderStatus,
        by: Uuid,
        note_text: Option<String>,
    ) -> Result<Order, OrderActionError> {
        let note_text = note(note_text)?;
        if to == OrderStatus::Cancelled {
            return self.cancel_order(order_id, Some(by), note_text).await;
        }
        let checkout_id = self.checkout_of_order(order_id).await?;
        let now = self.now();
        let state = self
            .change_refunding(checkout_id, |state| {
                let o = state.orders.iter().find(|o| o.id == order_id).ok_or(OrdersError::NotFound("order"))?;
                o.status.can_become(to)?;
                match to {
                    OrderStatus::Paid => {
                        if state.payment.provider != Provider::Manual {
                            return Err(OrdersError::WrongProvider(
                                "only manual payments are marked paid by staff; this one is paid through its provider",
                            ));
                        }
                        decisions::settle(state, Some(by), note_text.as_deref().unwrap_or("marked paid by staff"), now)
                    }
                    OrderStatus::Refunded => {
                        let left = o.refundable();
                        let reason = note_text.clone().unwrap_or_else(|| "refunded".into());
                        if left > 0 {
                            decisions::refund(state, order_id, left, &reason, None, Some(by), now)
                        } else {
                            decisions::advance(state, order_id, to, Some(by), note_text.clone(), now)
                        }
                    }
                    _ => decisions::advance(state, order_id, to, Some(by), note_text.clone(), now),
                }
            })
            .await?;
        Ok(Self::updated(&state, order_id)?)
    }

    pub async fn fulfill(
        &self,
        order_id: Uuid,
        carrier: &str,
        tracking_number: &str,
        by: Uuid,
    ) -> Result<Order, OrderActionError> {
        let carrier = text("carrier", carrier, 100)?;
        let tracking = text("tracking_number", tracking_number, 100)?;
        let checkout_id = self.checkout_of_order(order_id).await?;
        let now = self.now();
        let state = self
            .change(checkout_id, |state| decisions::fulfill(state, order_id, &carrier, &tracking, Some(by), now))
            .await?;
        Ok(Self::updated(&state, order_id)?)
    }

    pub async fn refund(
        &self,
        order_id: Uuid,
        amount: i64,
        reason: &str,
        key: Option<&str>,
        by: Uuid,
    ) -> Result<Order, OrderActionError> {
        let reason = text("reason", reason, MAX_TEXT)?;
        let checkout_id = self.checkout_of_order(order_id).await?;
        let now = self.now();
        let state = self
            .change_refunding(checkout_id, |state| {
                decisions::refund(state, order_id, amount, &reason, key, Some(by), now)
            })
            .await?;
        Ok(Self::updated(&state, order_id)?)
    }
}
