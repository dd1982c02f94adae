//! What staff do to a placed order: cancel it (refunding what was paid),
//! move it along its state machine, record a fulfilment, refund part or all.

use super::*;

pub(super) fn new_refund(
    o: &Order,
    amount: i64,
    reason: &str,
    by: Option<Uuid>,
    key: Option<String>,
    at: OffsetDateTime,
) -> Refund {
    Refund {
        id: new_id(),
        amount: Money::new(amount, o.currency),
        reason: reason.to_owned(),
        by,
        at,
        idempotency_key: key,
        provider_ref: None,
    }
}

/// Records a refund on an order and its payment.
pub(super) fn refund_into(change: &mut Change, payment: &mut Payment, o: &mut Order, refund: Refund) {
    let (amount, at) = (refund.amount.amount, refund.at);
    let reason = refund.reason.clone();
    let reason = reason.as_str();
    o.refunded_total = Money::new(o.refunded_total.amount + amount, o.currency);
    o.refunds.push(refund);
    o.updated_at = at;
    payment.refunded = Money::new(payment.refunded.amount + amount, payment.amount.currency);
    payment.status = if payment.refunded.amount >= payment.amount.amount {
        PaymentStatus::Refunded
    } else {
        PaymentStatus::PartiallyRefunded
    };
    payment.updated_at = at;
    let mut event = order_event(topics::ORDER_REFUNDED, o, at);
    if let Some(map) = event.payload.as_object_mut() {
        map.insert("amount".into(), json!(Money::new(amount, o.currency)));
        map.insert("reason".into(), json!(reason));
    }
    change.events.push(event);
    change.events.push(payment_event(
        topics::PAYMENT_REFUNDED,
        payment,
        at,
        json!({"amount": amount, "order_id": o.id}),
    ));
}

/// Cancels one order before it ships: an unpaid one releases its holds (and
/// when it was the checkout's last open order, the payment is cancelled);
/// a paid one puts its units back on hand and is refunded in full.
pub fn cancel(
    state: &CheckoutState,
    order_id: Uuid,
    by: Option<Uuid>,
    note: Option<String>,
    at: OffsetDateTime,
) -> Result<Change> {
    let current = order(state, order_id)?;
    let was = current.status;
    let mut o = current.clone();
    o.transition(OrderStatus::Cancelled, by, note.or_else(|| Some("cancelled".into())), at)?;
    let mut change = Change::default();
    let mut payment = state.payment.clone();
    let of_order = state.reservations.iter().filter(|r| r.order_id == order_id);
    if was == OrderStatus::PendingPayment {
        change.stock =
            of_order.filter(|r| r.status == ReservationStatus::Open).map(|r| StockOp::Release(r.id)).collect();
        let others_open = state.orders.iter().any(|x| x.id != order_id && x.status == OrderStatus::PendingPayment);
        if !others_open && payment.status == PaymentStatus::Pending {
            payment.status = PaymentStatus::Cancelled;
            payment.updated_at = at;
            change.release_discount = true;
            change.events.push(payment_event(topics::PAYMENT_FAILED, &payment, at, json!({"reason": "cancelled"})));
        } else {
            // The payment now covers the remaining orders only.
            payment.amount = Money::new(payment.amount.amount - o.total.amount, payment.amount.currency);
            payment.updated_at = at;
        }
        change.events.push(order_event(topics::ORDER_CANCELLED, &o, at));
    } else {
        change.stock =
            of_order.filter(|r| r.status == ReservationStatus::Committed).map(|r| StockOp::Restock(r.id)).collect();
        change.events.push(order_event(topics::ORDER_CANCELLED, &o, at));
        let amount = o.refundable();
        if amount > 0 {
            let refund = new_refund(&o, amount, "order cancelled", by, None, at);
            refund_into(&mut change, &mut payment, &mut o, refund);
        }
    }
    change.orders.push(o);
    if payment != state.payment {
        change.payment = Some(payment);
    }
    Ok(change)
}

/// A staff transition without side effects on stock or money
/// (`processing`, `shipped`, `delivered`, `returned`).
pub fn advance(
    state: &CheckoutState,
    order_id: Uuid,
    to: OrderStatus,
    by: Option<Uuid>,
    note: Option<String>,
    at: OffsetDateTime,
) -> Result<Change> {
    let mut o = order(state, order_id)?.clone();
    o.transition(to, by, note, at)?;
    let event = order_event(topic_for(to), &o, at);
    Ok(Change { orders: vec![o], events: vec![event], ..Change::default() })
}

/// A parcel left: `paid` goes through `processing` to `shipped`.
pub fn fulfill(
    state: &CheckoutState,
    order_id: Uuid,
    carrier: &str,
    tracking_number: &str,
    by: Option<Uuid>,
    at: OffsetDateTime,
) -> Result<Change> {
    let mut o = order(state, order_id)?.clone();
    let note = format!("{carrier} {tracking_number}");
    if o.status == OrderStatus::Paid {
        o.transition(OrderStatus::Processing, by, None, at)?;
    }
    o.transition(OrderStatus::Shipped, by, Some(note), at)?;
    o.fulfillments.push(Fulfillment {
        id: new_id(),
        carrier: carrier.to_owned(),
        tracking_number: tracking_number.to_owned(),
        created_at: at,
    });
    let mut event = order_event(topics::ORDER_SHIPPED, &o, at);
    if let Some(map) = event.payload.as_object_mut() {
        map.insert("carrier".into(), json!(carrier));
        map.insert("tracking_number".into(), json!(tracking_number));
    }
    Ok(Change { orders: vec![o], events: vec![event], ..Change::default() })
}

/// A full or partial refund, never more than was paid and not yet refunded.
/// A returned order refunded in full becomes `refunded`. With an
/// idempotency key, a repeat is answered by the first refund.
pub fn refund(
    state: &CheckoutState,
    order_id: Uuid,
    amount: i64,
    reason: &str,
    key: Option<&str>,
    by: Option<Uuid>,
    at: OffsetDateTime,
) -> Result<Change> {
    let current = order(state, order_id)?;
    if let Some(key) = key
        && let Some(earlier) = current.refunds.iter().find(|r| r.idempotency_key.as_deref() == Some(key))
    {
        if earlier.amount.amount == amount && earlier.reason == reason {
            return Ok(Change::default());
        }
        return Err(crate::error::idempotency_reused());
    }
    let refundable = current.refundable();
    if refundable <= 0 {
        return Err(OrdersError::NotRefundable(format!("a {} order has nothing to refund", current.status)));
    }
    if amount < 1 || amount > refundable {
        return Err(OrdersError::Validation(kernel::FieldErrors::single(
            "amount",
            format!("must be between 1 and {refundable}, what was paid and not yet refunded"),
        )));
    }
    let mut o = current.clone();
    let mut payment = state.payment.clone();
    let mut change = Change::default();
    let refund = new_refund(&o, amount, reason, by, key.map(str::to_owned), at);
    refund_into(&mut change, &mut payment, &mut o, refund);
    if o.status == OrderStatus::Returned && o.refunded_total.amount >= o.total.amount {
        o.transition(OrderStatus::Refunded, by, Some("refunded in full".into()), at)?;
    }
    change.orders.push(o);
    change.payment = Some(payment);
    Ok(change)
}
