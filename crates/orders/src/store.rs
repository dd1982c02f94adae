//! The storage port. Every method that writes is one transaction, outbox
//! events included.

use crate::cart::Cart;
use crate::error::Result;
use crate::model::{CheckoutState, DailySales, Order, OrderStatus, Reservation};
use crate::payment::Payment;
use crate::pricing::{DiscountCode, ShippingMethod, TaxRate};
use async_trait::async_trait;
use kernel::{Event, PageSpec};
use time::OffsetDateTime;
use uuid::Uuid;

/// Units to hold for one order line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    pub order_id: Uuid,
    pub variant_id: Uuid,
    pub sku: String,
    pub quantity: i64,
}

/// A discount code use, counted against its limits when the checkout is placed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redemption {
    pub code_id: Uuid,
    /// The account id, or the lower-cased email of a guest.
    pub customer_key: String,
    pub per_customer_limit: Option<i64>,
}

/// Everything `place_checkout` writes.
#[derive(Debug, Clone)]
pub struct Placement {
    pub checkout_id: Uuid,
    pub cart_id: Uuid,
    /// The version the cart was read at: the placement is made only if the
    /// cart is still at it (else `Contended`, nothing written).
    pub cart_version: i64,
    pub user_id: Option<Uuid>,
    pub email: String,
    /// Whose keys these are: `user:{id}` for customers, `cart:{id}` for guests.
    pub scope: String,
    pub idempotency_key: String,
    /// Hash of the request body: the same key with another body is refused.
    pub request_hash: String,
    /// Orders without numbers (the store assigns them).
    pub orders: Vec<Order>,
    pub payment: Payment,
    pub holds: Vec<Hold>,
    pub redemption: Option<Redemption>,
    pub at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// New: the orders with their numbers, and the same cart's earlier
    /// checkouts (for the service to supersede those still awaiting payment).
    New { orders: Vec<Order>, earlier: Vec<Uuid> },
    /// This key was used before with the same body: that checkout's id.
    Replay(Uuid),
}

/// What happens to the stock of one reservation (or order line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockOp {
    /// Paid: `on_hand` and `reserved` both fall.
    Commit(Uuid),
    /// Cancelled or expired: `reserved` falls.
    Release(Uuid),
    /// A committed reservation's units go back on hand (a paid order cancelled before shipping).
    Restock(Uuid),
}

/// What a decision does to a locked checkout.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub payment: Option<Payment>,
    /// Orders to write (whole documents).
    pub orders: Vec<Order>,
    pub stock: Vec<StockOp>,
    /// Mark the checkout's cart converted.
    pub convert_cart: bool,
    /// Give back the checkout's discount code use.
    pub release_discount: bool,
    pub events: Vec<Event>,
}

impl Change {
    /// Whether the change writes nothing at all.
    pub fn is_empty(&self) -> bool {
        self.payment.is_none()
            && self.orders.is_empty()
            && self.stock.is_empty()
            && self.events.is_empty()
            && !self.convert_cart
            && !self.release_discount
    }
}

/// Decides a change from the checkout as it is under lock.
pub type Decide<'a> = dyn Fn(&CheckoutState) -> Result<Change> + Send + Sync + 'a;

#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    pub user_id: Option<Uuid>,
    pub status: Option<OrderStatus>,
    /// Order number or part of the email.
    pub q: Option<String>,
}

/// Units of one SKU a cart write needs available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockNeed {
    pub sku: String,
    pub variant_id: Uuid,
    /// The cart's whole quantity of the SKU after the write.
    pub wanted: i64,
}

/// What [`OrdersStore::write_cart_if_available`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stocked {
    /// Written; the units available when it was (`None`: not tracked).
    Written { available: Option<i64> },
    /// Not written: only `available` units.
    Short { available: i64 },
}

#[async_trait]
pub trait OrdersStore: Send + Sync + 'static {
    // Carts.
    async fn cart(&self, id: Uuid) -> Result<Option<Cart>>;
    async fn cart_by_token(&self, token_hash: &str) -> Result<Option<Cart>>;
    /// The guest cart behind `token_hash` for its checkout. A store may
    /// answer from a copy it kept (PostgreSQL keeps the last one it wrote):
    /// the placement checks the cart's version, so a stale copy is never
    /// placed, and the service decides a refusal again on a cart that moved.
    async fn cart_for_checkout(&self, token_hash: &str) -> Result<Option<Cart>> {
        self.cart_by_token(token_hash).await
    }
    async fn active_cart_of(&self, user_id: Uuid) -> Result<Option<Cart>>;
    /// `Contended` when the user already has an active cart (a concurrent request made it).
    async fn insert_cart(&self, cart: &Cart) -> Result<()>;
    /// Writes each cart whose stored version is still `cart.version`, as
    /// version + 1, all or none; `Contended` if any moved.
    async fn save_carts(&self, carts: &[Cart]) -> Result<()>;
    /// Writes `cart` as `insert_cart` (when `new`) or `save_carts` would,
    /// but only if `need.sku` has at least `need.wanted` units available,
    /// and says how many were. Available is inventory's figure: on hand
    /// less reserved over every location; a SKU without stock rows is not
    /// tracked and always available. On PostgreSQL the check and the write
    /// are one statement.
    async fn write_cart_if_available(&self, cart: &Cart, new: bool, need: &StockNeed) -> Result<Stocked>;
    /// Housekeeping: deletes guests' carts untouched since `before` that no
    /// checkout names (a checkout keeps its cart, however old); how many.
    async fn prune_guest_carts(&self, before: OffsetDateTime) -> Result<u64>;

    // Discount codes, shipping methods, tax rates.
    /// Codes in alphabetical order, those containing `q` (case-insensitive)
    /// when given, with the total count.
    async fn discount_codes(&self, q: Option<&str>, page: PageSpec) -> Result<(Vec<DiscountCode>, u64)>;
    async fn discount_by_code(&self, code: &str) -> Result<Option<DiscountCode>>;
    async fn discount(&self, id: Uuid) -> Result<Option<DiscountCode>>;
    /// `Conflict(duplicate)` when the code exists.
    async fn insert_discount(&self, code: &DiscountCode) -> Result<()>;
    async fn update_discount(&self, code: &DiscountCode) -> Result<bool>;
    async fn delete_discount(&self, id: Uuid) -> Result<bool>;
    async fn shipping_methods(&self) -> Result<Vec<ShippingMethod>>;
    async fn insert_shipping_method(&self, method: &ShippingMethod) -> Result<()>;
    async fn update_shipping_method(&self, method: &ShippingMethod) -> Result<bool>;
    async fn delete_shipping_method(&self, id: Uuid) -> Result<bool>;
    async fn tax_rates(&self) -> Result<Vec<TaxRate>>;
    async fn insert_tax_rate(&self, rate: &TaxRate) -> Result<()>;
    async fn update_tax_rate(&self, rate: &TaxRate) -> Result<bool>;
    async fn delete_tax_rate(&self, id: Uuid) -> Result<bool>;

    // Checkouts.
    /// In one transaction: records the idempotency key (a concurrent request
    /// with the same key waits for this one), checks that the cart is still
    /// at `cart_version` (`Contended` otherwise), counts the discount use
    /// against its limits, reserves every held line all-or-nothing
    /// (`OutOfStock` naming the short lines, nothing written), numbers and
    /// writes the orders, the payment, the reservations, the ledger and the
    /// events (`order.placed`, `stock.changed`).
    async fn place_checkout(&self, placement: &Placement) -> Result<Placed>;
    async fn checkout(&self, id: Uuid) -> Result<Option<CheckoutState>>;
    /// The checkout made with this key in this scope, and its request hash.
    async fn checkout_by_key(&self, scope: &str, key: &str) -> Result<Option<(Uuid, String)>>;
    /// Atomically: loads the checkout, asks `decide`, and writes what it
    /// returns (payment, orders, stock, cart, discount, events) only if
    /// nothing changed the checkout in between. Returns the checkout as it
    /// is afterwards. A store may lock the checkout for the decision, or
    /// decide without a lock and decide again when another change got in
    /// first: `decide` may run more than once, so whatever it records
    /// outside its answer must be overwritten on every call.
    async fn change_checkout(&self, id: Uuid, decide: &Decide<'_>) -> Result<CheckoutState>;
    async fn checkout_of_order(&self, order_id: Uuid) -> Result<Option<Uuid>>;
    async fn checkout_of_payment(&self, payment_id: Uuid) -> Result<Option<Uuid>>;
    /// Checkouts whose payment is still pending at `now` past its expiry.
    async fn expired_checkouts(&self, now: OffsetDateTime, limit: u32) -> Result<Vec<Uuid>>;

    // Reads.
    async fn order(&self, id: Uuid) -> Result<Option<Order>>;
    /// Newest first, with the total count.
    async fn orders(&self, filter: &OrderFilter, page: PageSpec) -> Result<(Vec<Order>, u64)>;
    /// Net sales (total less refunds) per UTC day and currency of the orders
    /// placed since `since`, leaving out unpaid and cancelled ones; by day.
    async fn daily_sales(&self, since: OffsetDateTime) -> Result<Vec<DailySales>>;
    async fn payment(&self, id: Uuid) -> Result<Option<Payment>>;
    /// Open reservations (for the consistency checks and the admin).
    async fn open_reservations(&self) -> Result<Vec<Reservation>>;

    // Provider references.
    /// Records that `reference` (of `kind`: a Stripe intent or event id, a
    /// Solana signature) belongs to `payment_id` unless another payment has
    /// it already; returns the payment it belongs to.
    async fn claim_ref(&self, kind: &str, reference: &str, payment_id: Uuid) -> Result<Uuid>;
    async fn ref_owner(&self, kind: &str, reference: &str) -> Result<Option<Uuid>>;
    /// Payments still pending, soonest expiry first (for the Solana poller).
    async fn pending_payments(&self, limit: u32) -> Result<Vec<Payment>>;
}
