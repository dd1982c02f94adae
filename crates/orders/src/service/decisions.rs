//! What each action does to a locked checkout: pure functions from the
//! checkout as it is to a [`Change`], so every rule is in one place and the
//! store only applies the result.

use crate::error::{OrdersError, Result};
use crate::model::*;
use crate::payment::*;
use crate::store::{Change, StockOp};
use crate::topics;
use kernel::{Event, Money, new_id};
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;

mod staff;
pub use staff::{advance, cancel, fulfill, refund};
use staff::{new_refund, refund_into};

/// How a card attempt went (the test provider's fixed numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardOutcome {
    Approved,
    Declined(&'static str),
}

/// Test cards: 4000000000000002 is declined, 4000000000009995 has
/// insufficient funds, 4000000000000069 is expired; every other number
/// that passes the Luhn check (4242424242424242 is the usual one) is approved.
pub fn test_card(number: &str) -> Result<CardOutcome> {
    let digits: String = number.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let luhn = || {
        let mut sum = 0u32;
        for (i, c) in digits.chars().rev().enumerate() {
            let Some(mut d) = c.to_digit(10) else { return false };
            if i % 2 == 1 {
                d *= 2;
                if d > 9 {
                    d -= 9;
                }
            }
            sum += d;
        }
        sum.is_multiple_of(10)
    };
    if !(12..=19).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) || !luhn() {
        return Err(OrdersError::field("card_number", "is not a valid card number"));
    }
    Ok(match digits.as_str() {
        "4000000000000002" => CardOutcome::Declined("card_declined"),
        "4000000000009995" => CardOutcome::Declined("insufficient_funds"),
        "4000000000000069" => CardOutcome::Declined("expired_card"),
        _ => CardOutcome::Approved,
    })
}

pub fn order_event(topic: &str, order: &Order, at: OffsetDateTime) -> Event {
    Event::new(
        topic,
        order.id,
        at,
        json!({
            "order_id": order.id,
            "number": order.number,
            "checkout_id": order.checkout_id,
            "seller_id": order.seller_id,
            "status": order.status,
            "total": order.total,
            "email": order.email,
            "user_id": order.user_id,
            // What the customer's messages show (and what a service apart
            // needs without reading the orders' tables).
            "subtotal": order.subtotal,
            "discount_total": order.discount_total,
            "shipping_total": order.shipping_total,
            "tax_total": order.tax_total,
            "lines": order.lines.iter().map(|l| json!({
                "variant_id": l.variant_id,
                "sku": l.sku,
                "title": l.title,
                "quantity": l.quantity,
                "unit_price": l.unit_price,
                "total": l.total,
            })).collect::<Vec<_>>(),
            "shipping_address": order.shipping_address,
        }),
    )
}

fn payment_event(topic: &str, p: &Payment, at: OffsetDateTime, extra: serde_json::Value) -> Event {
    let mut payload = json!({
        "payment_id": p.id,
        "checkout_id": p.checkout_id,
        "provider": p.provider,
        "status": p.status,
        "amount": p.amount,
        "refunded": p.refunded,
    });
    if let (Some(map), Some(extra)) = (payload.as_object_mut(), extra.as_object()) {
        map.extend(extra.clone());
    }
    Event::new(topic, p.id, at, payload)
}

fn topic_for(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::PendingPayment => topics::ORDER_PLACED,
        OrderStatus::Paid => topics::ORDER_PAID,
        OrderStatus::Processing => topics::ORDER_PROCESSING,
        OrderStatus::Shipped => topics::ORDER_SHIPPED,
        OrderStatus::Delivered => topics::ORDER_DELIVERED,
        OrderStatus::Cancelled => topics::ORDER_CANCELLED,
        OrderStatus::Returned => topics::ORDER_RETURNED,
        OrderStatus::Refunded => topics::ORDER_REFUNDED,
    }
}

fn order(state: &CheckoutState, id: Uuid) -> Result<&Order> {
    state.orders.iter().find(|o| o.id == id).ok_or(OrdersError::NotFound("order"))
}

/// Whether the payment can still be settled or declined: `false` once it has
/// succeeded (a repeat then changes nothing), 409 `payment_closed` once it
/// expired or was cancelled.
fn still_payable(state: &CheckoutState) -> Result<bool> {
    match state.payment.status {
        PaymentStatus::Pending => Ok(true),
        PaymentStatus::Succeeded | PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded => Ok(false),
        PaymentStatus::Expired | PaymentStatus::Cancelled => Err(OrdersError::PaymentClosed(format!(
            "this payment is {}; its orders were cancelled",
            state.payment.status.as_str()
        ))),
    }
}

/// Payment received: every order paid, held stock sold, cart converted.
/// Settling twice changes nothing.
pub fn settle(state: &CheckoutState, by: Option<Uuid>, note: &str, at: OffsetDateTime) -> Result<Change> {
    settle_inner(state, by, note, at, true)
}

/// Money a provider reports received: settles a payment still pending even
/// past its expiry, since its holds are only released when it is expired.
pub fn settle_received(state: &CheckoutState, note: &str, at: OffsetDateTime) -> Result<Change> {
    settle_inner(state, None, note, at, false)
}

fn settle_inner(
    state: &CheckoutState,
    by: Option<Uuid>,
    note: &str,
    at: OffsetDateTime,
    check_expiry: bool,
) -> Result<Change> {
    if !still_payable(state)? {
        return Ok(Change::default());
    }
    if check_expiry && at >= state.payment.expires_at {
        return Err(OrdersError::PaymentClosed("this payment has expired; its orders were cancelled".into()));
    }
    let mut payment = state.payment.clone();
    payment.status = PaymentStatus::Succeeded;
    payment.last_error = None;
    payment.updated_at = at;
    let mut change = Change { convert_cart: true, ..Change::default() };
    change.events.push(payment_event(topics::PAYMENT_SUCCEEDED, &payment, at, json!({})));
    for o in &state.orders {
        if o.status != OrderStatus::PendingPayment {
            continue;
        }
        let mut o = o.clone();
        o.transition(OrderStatus::Paid, by, Some(note.to_owned()), at)?;
        change.events.push(order_event(topics::ORDER_PAID, &o, at));
        change.orders.push(o);
    }
    change.stock = state
        .reservations
        .iter()
        .filter(|r| r.status == ReservationStatus::Open)
        .map(|r| StockOp::Commit(r.id))
        .collect();
    change.events.push(Event::new(
        topics::CART_CONVERTED,
        state.cart_id,
        at,
        json!({"cart_id": state.cart_id, "checkout_id": state.id}),
    ));
    change.payment = Some(payment);
    Ok(change)
}

/// A declined attempt: recorded, the payment stays payable.
pub fn decline(state: &CheckoutState, reason: &str, at: OffsetDateTime) -> Result<Change> {
    if !still_payable(state)? {
        return Ok(Change::default());
    }
    let mut payment = state.payment.clone();
    payment.failed_attempts += 1;
    payment.last_error = Some(reason.to_owned());
    payment.updated_at = at;
    let event = payment_event(topics::PAYMENT_FAILED, &payment, at, json!({"reason": reason}));
    Ok(Change { payment: Some(payment), events: vec![event], ..Change::default() })
}

/// Not paid in time: orders cancelled, holds released, code given back.
/// Does nothing unless the payment is pending and past its expiry.
pub fn expire(state: &CheckoutState, at: OffsetDateTime) -> Result<Change> {
    if state.payment.status != PaymentStatus::Pending || at < state.payment.expires_at {
        return Ok(Change::default());
    }
    close_unpaid(
        state,
        PaymentStatus::Expired,
        "expired",
        "payment not received before the reservation expired",
        Some(inventory_topic_reservation_expired()),
        at,
    )
}

/// A newer checkout of the same cart replaces this one: its unpaid orders
/// are cancelled, its holds released and its code given back, so one cart
/// never holds stock twice. Does nothing unless the payment is still pending.
pub fn supersede(state: &CheckoutState, at: OffsetDateTime) -> Result<Change> {
    if state.payment.status != PaymentStatus::Pending {
        return Ok(Change::default());
    }
    close_unpaid(
        state,
        PaymentStatus::Cancelled,
        "superseded",
        "replaced by a newer checkout of the same cart",
        None,
        at,
    )
}

/// The provider cancelled the payment (a Stripe PaymentIntent cancelled
/// there): like an expiry, now. Does nothing unless the payment is pending.
pub fn cancelled_at_provider(state: &CheckoutState, at: OffsetDateTime) -> Result<Change> {
    if state.payment.status != PaymentStatus::Pending {
        return Ok(Change::default());
    }
    close_unpaid(state, PaymentStatus::Cancelled, "cancelled", "the payment was cancelled at the provider", None, at)
}

/// A refund made at the provider (Stripe's dashboard, say) and not through
/// the shop: `amount` is recorded against the orders in turn, each up to
/// what it can still refund.
pub fn outside_refund(
    state: &CheckoutState,
    amount: i64,
    reason: &str,
    provider_ref: &str,
    at: OffsetDateTime,
) -> Result<Change> {
    if state.orders.iter().flat_map(|o| &o.refunds).any(|r| r.provider_ref.as_deref() == Some(provider_ref)) {
        return Ok(Change::default());
    }
    let mut left = amount;
    let mut payment = state.payment.clone();
    let mut change = Change::default();
    for o in &state.orders {
        let take = left.min(o.refundable());
        if take <= 0 {
            continue;
        }
        let mut o = o.clone();
        let mut refund = new_refund(&o, take, reason, None, None, at);
        refund.provider_ref = Some(provider_ref.to_owned());
        refund_into(&mut change, &mut payment, &mut o, refund);
        change.orders.push(o);
        left -= take;
    }
    if !change.orders.is_empty() {
        change.payment = Some(payment);
    }
    Ok(change)
}

/// Flags every order of the checkout for staff (once per `reference`).
pub fn flag(state: &CheckoutState, code: &str, message: &str, reference: &str, at: OffsetDateTime) -> Result<Change> {
    let mut change = Change::default();
    for o in &state.orders {
        if o.flags.iter().any(|f| f.reference.as_deref() == Some(reference)) {
            continue;
        }
        let mut o = o.clone();
        o.flags.push(OrderFlag { code: code.into(), message: message.into(), reference: Some(reference.into()), at });
        o.updated_at = at;
        let mut event = order_event(topics::ORDER_FLAGGED, &o, at);
        if let Some(map) = event.payload.as_object_mut() {
            map.insert("flag".into(), json!(code));
        }
        change.events.push(event);
        change.orders.push(o);
    }
    Ok(change)
}

/// Solana Pay transfers found paid on chain (`(reference, signature)`):
/// recorded on the payment, which settles once every still-open order's
/// transfer is paid. `problem` (a transfer refused or not yet final) is kept
/// as the payment's last error.
pub fn solana_progress(
    state: &CheckoutState,
    paid: &[(String, String)],
    problem: Option<&str>,
    at: OffsetDateTime,
) -> Result<Change> {
    if state.payment.status != PaymentStatus::Pending {
        return Ok(Change::default());
    }
    let mut payment = state.payment.clone();
    for t in &mut payment.solana {
        if t.signature.is_none()
            && let Some((_, signature)) = paid.iter().find(|(reference, _)| *reference == t.reference)
        {
            t.signature = Some(signature.clone());
        }
    }
    let open: Vec<Uuid> =
        state.orders.iter().filter(|o| o.status == OrderStatus::PendingPayment).map(|o| o.id).collect();
    let all_paid = !open.is_empty()
        && open.iter().all(|id| payment.solana.iter().any(|t| t.order_id == *id && t.signature.is_some()));
    if all_paid {
        let mut paid_state = state.clone();
        paid_state.payment = payment;
        return settle_received(&paid_state, "paid with Solana Pay", at);
    }
    if let Some(problem) = problem {
        payment.last_error = Some(problem.to_owned());
    }
    if payment == state.payment {
        return Ok(Change::default());
    }
    payment.updated_at = at;
    Ok(Change { payment: Some(payment), ..Change::default() })
}

/// Ends a pending checkout unpaid: the payment gets `status`, every order
/// still awaiting payment is cancelled with `note`, open holds are released
/// (announced under `stock_topic`, if any) and the discount use is given back.
fn close_unpaid(
    state: &CheckoutState,
    status: PaymentStatus,
    reason: &str,
    note: &str,
    stock_topic: Option<&str>,
    at: OffsetDateTime,
) -> Result<Change> {
    let mut payment = state.payment.clone();
    payment.status = status;
    payment.updated_at = at;
    let mut change = Change { release_discount: true, ..Change::default() };
    change.events.push(payment_event(topics::PAYMENT_FAILED, &payment, at, json!({"reason": reason})));
    for o in &state.orders {
        if o.status == OrderStatus::PendingPayment {
            let mut o = o.clone();
            o.transition(OrderStatus::Cancelled, None, Some(note.into()), at)?;
            change.events.push(order_event(topics::ORDER_CANCELLED, &o, at));
            change.orders.push(o);
        }
    }
    let released: Vec<&Reservation> =
        state.reservations.iter().filter(|r| r.status == ReservationStatus::Open).collect();
    change.stock = released.iter().map(|r| StockOp::Release(r.id)).collect();
    if let Some(topic) = stock_topic {
        change.events.push(Event::new(
            topic,
            state.id,
            at,
            json!({
                "checkout_id": state.id,
                "lines": released.iter().map(|r| json!({"variant_id": r.variant_id, "sku": r.sku, "quantity": r.quantity})).collect::<Vec<_>>(),
            }),
        ));
    }
    change.payment = Some(payment);
    Ok(change)
}

/// inventory's topic name (orders does not depend on the inventory crate).
fn inventory_topic_reservation_expired() -> &'static str {
    "reservation.expired"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards() {
        assert_eq!(test_card("4242 4242 4242 4242").ok(), Some(CardOutcome::Approved));
        assert_eq!(test_card("4000000000000002").ok(), Some(CardOutcome::Declined("card_declined")));
        assert_eq!(test_card("4000000000009995").ok(), Some(CardOutcome::Declined("insufficient_funds")));
        for bad in ["4242424242424241", "abcd", "", "42424242424242424242"] {
            assert!(test_card(bad).is_err(), "{bad}");
        }
    }
}
