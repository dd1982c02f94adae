//! The transactional core: carts, discount codes, checkout, orders with
//! their state machine, and payments with the `test`, `manual`, `stripe`
//! and `solana` providers, reached through the ports of [`gateway`] (the
//! `payments` crate implements them over each provider's wire protocol).
//!
//! DESIGN.md names cart, orders and payments as three contexts. They live
//! in one crate because the checkout saga changes all three in one
//! transaction on our one-database deployments, and the port between them
//! would only forward calls; each keeps its own tables, events and module.
//!
//! Rules live here as plain functions ([`OrderStatus::can_become`],
//! [`pricing`]) and decisions over a locked checkout
//! ([`store::Decide`]); the storage port applies a decision's
//! [`store::Change`] — orders, payment, stock, cart, events — in one
//! transaction.

pub mod cart;
pub mod error;
pub mod gateway;
pub mod model;
pub mod payment;
pub mod pricing;
pub mod service;
pub mod store;

pub use cart::{Cart, CartLine, CartStatus};
pub use error::{
    CartError, CheckoutError, OrderActionError, OrdersError, PaymentError, PriceChange, Result, SettingsError,
    ShortLine,
};
pub use model::*;
pub use payment::*;
pub use pricing::{DiscountCode, DiscountKind, ShippingMethod, TaxRate};
pub use service::*;
pub use store::{Change, Hold, OrderFilter, OrdersStore, Placed, Placement, Redemption, StockNeed, StockOp, Stocked};

/// Topics this crate publishes.
pub mod topics {
    /// One per order of a new checkout. Payload: `order_id`, `number`, `checkout_id`, `status`, `total`, `email`, `user_id`.
    pub const ORDER_PLACED: &str = "order.placed";
    pub const ORDER_PAID: &str = "order.paid";
    pub const ORDER_PROCESSING: &str = "order.processing";
    /// Payload adds the fulfilment's `carrier` and `tracking_number`.
    pub const ORDER_SHIPPED: &str = "order.shipped";
    pub const ORDER_DELIVERED: &str = "order.delivered";
    pub const ORDER_CANCELLED: &str = "order.cancelled";
    pub const ORDER_RETURNED: &str = "order.returned";
    /// A refund was recorded (payload adds `amount`, `reason`).
    pub const ORDER_REFUNDED: &str = "order.refunded";
    /// An order needs staff attention (payload adds `flag`, such as `dispute`).
    pub const ORDER_FLAGGED: &str = "order.flagged";
    /// Payload: `payment_id`, `checkout_id`, `amount`, `provider`.
    pub const PAYMENT_SUCCEEDED: &str = "payment.succeeded";
    /// A decline, or expiry before payment (payload `reason`).
    pub const PAYMENT_FAILED: &str = "payment.failed";
    pub const PAYMENT_REFUNDED: &str = "payment.refunded";
    /// Payload: `cart_id`, `checkout_id`.
    pub const CART_CONVERTED: &str = "cart.converted";
}
