//! Orders, their state machine and stock reservations (payments are in
//! `crate::payment`).

use crate::payment::Payment;
use kernel::{Currency, FieldErrors, Money};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// Where an order is in its life. See [`OrderStatus::can_become`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    Paid,
    Processing,
    Shipped,
    Delivered,
    Cancelled,
    Returned,
    Refunded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("an order cannot go from {from} to {to}")]
pub struct IllegalTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

impl OrderStatus {
    pub const ALL: [OrderStatus; 8] = [
        OrderStatus::PendingPayment,
        OrderStatus::Paid,
        OrderStatus::Processing,
        OrderStatus::Shipped,
        OrderStatus::Delivered,
        OrderStatus::Cancelled,
        OrderStatus::Returned,
        OrderStatus::Refunded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderStatus::PendingPayment => "pending_payment",
            OrderStatus::Paid => "paid",
            OrderStatus::Processing => "processing",
            OrderStatus::Shipped => "shipped",
            OrderStatus::Delivered => "delivered",
            OrderStatus::Cancelled => "cancelled",
            OrderStatus::Returned => "returned",
            OrderStatus::Refunded => "refunded",
        }
    }

    pub fn parse(s: &str) -> Option<OrderStatus> {
        OrderStatus::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// The state machine, the one place that says which moves exist:
    /// `pending_payment → paid → processing → shipped → delivered`,
    /// `pending_payment → cancelled`, `paid | processing → cancelled` (with
    /// a refund), `delivered → returned → refunded`.
    pub fn can_become(self, to: OrderStatus) -> Result<(), IllegalTransition> {
        use OrderStatus::*;
        let legal = matches!(
            (self, to),
            (PendingPayment, Paid)
                | (Paid, Processing)
                | (Processing, Shipped)
                | (Shipped, Delivered)
                | (PendingPayment, Cancelled)
                | (Paid | Processing, Cancelled)
                | (Delivered, Returned)
                | (Returned, Refunded)
        );
        if legal { Ok(()) } else { Err(IllegalTransition { from: self, to }) }
    }

    /// Before shipping: the customer may still cancel.
    pub fn is_cancellable(self) -> bool {
        self.can_become(OrderStatus::Cancelled).is_ok()
    }
}

impl std::fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A postal address as given at checkout (the API's Address shape). Named
/// `PostalAddress` in the OpenAPI document: identity's saved `Address`
/// (with its id and defaults) is another shape.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = PostalAddress)]
pub struct Address {
    pub full_name: String,
    pub line1: String,
    #[serde(default)]
    pub line2: Option<String>,
    pub city: String,
    #[serde(default)]
    pub region: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    #[serde(default)]
    pub phone: Option<String>,
}

impl Address {
    /// Trims every field and checks lengths, the country code and the
    /// phone (the address book's rules); errors are named `{prefix}.{field}`.
    pub fn normalized(mut self, prefix: &str, errors: &mut FieldErrors) -> Address {
        let fields = kernel::postal::PostalFields {
            full_name: &mut self.full_name,
            line1: &mut self.line1,
            line2: &mut self.line2,
            city: &mut self.city,
            region: &mut self.region,
            postal_code: &mut self.postal_code,
            country: &mut self.country,
            phone: &mut self.phone,
        };
        kernel::postal::normalise(errors, &format!("{prefix}."), fields);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderLine {
    pub variant_id: Uuid,
    pub product_id: Uuid,
    pub sku: String,
    /// Product title and variant, e.g. "Linen shirt — M / White".
    pub title: String,
    pub quantity: i64,
    pub unit_price: Money,
    pub total: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TimelineEntry {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// `null` for the order's creation.
    pub from: Option<OrderStatus>,
    pub to: OrderStatus,
    /// The user who made the change; `null` for the customer as a guest or the system.
    pub by: Option<Uuid>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Fulfillment {
    pub id: Uuid,
    pub carrier: String,
    pub tracking_number: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Refund {
    pub id: Uuid,
    pub amount: Money,
    pub reason: String,
    pub by: Option<Uuid>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// The `Idempotency-Key` it was made with, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    /// The provider's id for it (a Stripe refund `re_…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_ref: Option<String>,
}

/// The shipping method chosen at checkout, as it was then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShippingChoice {
    pub code: String,
    pub name: String,
}

/// One seller's part of a checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Order {
    pub id: Uuid,
    /// Human-readable and unique, e.g. "1042".
    pub number: String,
    pub checkout_id: Uuid,
    pub payment_id: Uuid,
    pub seller_id: Uuid,
    pub user_id: Option<Uuid>,
    pub email: String,
    pub status: OrderStatus,
    pub currency: Currency,
    pub lines: Vec<OrderLine>,
    pub subtotal: Money,
    pub discount_total: Money,
    pub discount_code: Option<String>,
    pub shipping_total: Money,
    pub tax_total: Money,
    /// Whether the line prices already included the tax.
    pub prices_include_tax: bool,
    pub total: Money,
    pub refunded_total: Money,
    pub shipping_address: Address,
    pub billing_address: Address,
    pub shipping_method: Option<ShippingChoice>,
    pub timeline: Vec<TimelineEntry>,
    pub fulfillments: Vec<Fulfillment>,
    pub refunds: Vec<Refund>,
    /// Things staff must look at (a payment dispute opened at the provider).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<OrderFlag>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Order {
    /// Moves the order along the state machine and writes the timeline entry.
    pub fn transition(
        &mut self,
        to: OrderStatus,
        by: Option<Uuid>,
        note: Option<String>,
        at: OffsetDateTime,
    ) -> Result<(), IllegalTransition> {
        self.status.can_become(to)?;
        self.timeline.push(TimelineEntry { at, from: Some(self.status), to, by, note });
        self.status = to;
        self.updated_at = at;
        Ok(())
    }

    /// What can still be refunded.
    pub fn refundable(&self) -> i64 {
        if matches!(self.status, OrderStatus::PendingPayment) {
            return 0;
        }
        if matches!(self.status, OrderStatus::Cancelled) && self.timeline.iter().all(|t| t.to != OrderStatus::Paid) {
            return 0;
        }
        self.total.amount - self.refunded_total.amount
    }
}

/// One day's net sales in one currency (see `OrdersStore::daily_sales`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DailySales {
    /// The UTC day the orders were placed.
    pub day: time::Date,
    pub currency: Currency,
    /// Totals less refunds, in minor units.
    pub amount: i64,
}

/// A mark on an order for staff, such as a card payment disputed at the provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OrderFlag {
    /// `dispute`.
    pub code: String,
    pub message: String,
    /// The provider's id for it (a Stripe dispute `dp_…`), so it is recorded once.
    pub reference: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReservationStatus {
    Open,
    /// Paid: the units are sold.
    Committed,
    /// Cancelled or expired: the units are available again.
    Released,
}

impl ReservationStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReservationStatus::Open => "open",
            ReservationStatus::Committed => "committed",
            ReservationStatus::Released => "released",
        }
    }

    pub fn parse(s: &str) -> Option<ReservationStatus> {
        match s {
            "open" => Some(ReservationStatus::Open),
            "committed" => Some(ReservationStatus::Committed),
            "released" => Some(ReservationStatus::Released),
            _ => None,
        }
    }
}

/// Units held for one order line of a tracked variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reservation {
    pub id: Uuid,
    pub checkout_id: Uuid,
    pub order_id: Uuid,
    pub variant_id: Uuid,
    pub location_id: Uuid,
    pub sku: String,
    pub quantity: i64,
    pub status: ReservationStatus,
    pub expires_at: OffsetDateTime,
}

/// A checkout with everything that changes with it, as loaded (and locked)
/// by [`crate::OrdersStore::change_checkout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckoutState {
    pub id: Uuid,
    pub cart_id: Uuid,
    pub user_id: Option<Uuid>,
    pub email: String,
    pub discount_code_id: Option<Uuid>,
    pub payment: Payment,
    pub orders: Vec<Order>,
    /// Reservations of tracked variants only (untracked lines hold nothing).
    pub reservations: Vec<Reservation>,
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::{self, *};

    /// Every (from, to) pair: exactly the pairs of DESIGN.md §3 are legal.
    #[test]
    fn the_state_machine_allows_exactly_the_designed_moves() {
        let legal = [
            (PendingPayment, Paid),
            (Paid, Processing),
            (Processing, Shipped),
            (Shipped, Delivered),
            (PendingPayment, Cancelled),
            (Paid, Cancelled),
            (Processing, Cancelled),
            (Delivered, Returned),
            (Returned, Refunded),
        ];
        let mut allowed = 0;
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let expected = legal.contains(&(from, to));
                assert_eq!(from.can_become(to).is_ok(), expected, "{from} → {to}");
                allowed += usize::from(expected);
            }
        }
        assert_eq!(allowed, legal.len());
        for s in OrderStatus::ALL {
            assert_eq!(OrderStatus::parse(s.as_str()), Some(s));
        }
        assert!(Paid.is_cancellable() && !Shipped.is_cancellable() && !Cancelled.is_cancellable());
    }
}
