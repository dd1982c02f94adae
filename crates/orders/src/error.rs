use crate::model::IllegalTransition;
use kernel::{FieldErrors, Money};
use serde::Serialize;
use uuid::Uuid;

/// A line that could not be reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShortLine {
    pub sku: String,
    pub variant_id: Uuid,
    pub requested: i64,
    pub available: i64,
}

/// A cart line whose price or availability moved since it was added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PriceChange {
    pub sku: String,
    pub was: Money,
    /// `None`: no longer sold.
    pub now: Option<Money>,
}

const CART_CHANGED: &str = "prices or availability changed since these items were added; the cart now shows the \
                            current prices — review it and check out again";
const KEY_REUSED: &str = "this Idempotency-Key was used with a different request body; use a new key for a new request";
const BUSY: &str = "the cart changed under this request too many times; try again";

fn skus(lines: &[ShortLine]) -> String {
    lines.iter().map(|l| l.sku.as_str()).collect::<Vec<_>>().join(", ")
}

/// Every way an orders use case can refuse, as data. The HTTP status and
/// the contract's `code` for each are assigned in one place, `web`'s
/// `From<OrdersError> for ApiError`; nothing here knows them.
#[derive(Debug, thiserror::Error)]
pub enum OrdersError {
    /// Each bad field of a request, named.
    #[error("{0}")]
    Validation(FieldErrors),
    #[error("no such {0}")]
    NotFound(&'static str),
    /// Not enough available for these lines; nothing changed.
    #[error("not enough stock for {}", skus(.0))]
    OutOfStock(Vec<ShortLine>),
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    /// Prices or availability moved since the items were added; the cart
    /// was refreshed to show what is sold now.
    #[error("{CART_CHANGED}")]
    CartChanged { lines: Vec<PriceChange> },
    /// The cart was checked out (or merged) already.
    #[error("{0}")]
    CartClosed(&'static str),
    #[error("the cart is empty")]
    EmptyCart,
    /// The discount code does not exist, does not apply, or is used up.
    #[error("{0}")]
    DiscountNotApplicable(String),
    /// A code, method or rate with this unique name exists.
    #[error("{0}")]
    Duplicate(String),
    #[error("{KEY_REUSED}")]
    IdempotencyKeyReused,
    /// The payment expired or was cancelled, and its orders with it.
    #[error("{0}")]
    PaymentClosed(String),
    /// The action is not how this payment's provider is paid.
    #[error("{0}")]
    WrongProvider(&'static str),
    /// A Stripe event named a payment of another provider.
    #[error("this payment is not a Stripe payment")]
    NotAStripePayment,
    #[error("{0}")]
    ProviderDisabled(&'static str),
    #[error("the seller of this order has no Solana payout wallet")]
    NoPayoutWallet,
    /// The amount cannot be expressed in the provider's units.
    #[error("{0}")]
    AmountNotPayable(String),
    /// A provider's event is about another PaymentIntent than the payment's.
    #[error("the event's PaymentIntent is not this payment's")]
    IntentMismatch,
    /// A provider's event is for another amount or currency than the payment's.
    #[error("{0}")]
    AmountMismatch(String),
    #[error("{0}")]
    NotRefundable(String),
    /// A webhook whose signature does not check out.
    #[error("{0}")]
    InvalidSignature(String),
    /// A webhook whose body cannot be read.
    #[error("the event could not be read: {0}")]
    InvalidPayload(String),
    /// The card was declined; the order stays payable until it expires.
    #[error("the card was declined: {reason}")]
    Declined { reason: &'static str },
    /// A payment provider could not be reached or refused the call;
    /// nothing changed here.
    #[error("{0}")]
    Provider(String),
    /// The cart kept changing under the request.
    #[error("{BUSY}")]
    Busy,
    /// A concurrent write won and nothing was written; the service retries,
    /// and answers `Busy` when it keeps losing.
    #[error("concurrent update")]
    Contended,
    /// The checkout's payment is overdue: nothing may act on its lapsed
    /// holds. The service expires it and answers `PaymentClosed`.
    #[error("this checkout was not paid in time")]
    Lapsed,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Every way placing a checkout can refuse (`OrdersService::checkout`,
/// `checkout_cart`): the use case's own answer, so that a caller matches
/// on what a checkout can say and on nothing else. The service works in
/// [`OrdersError`] and converts at its edge; the conversion names every
/// `OrdersError` variant, so a new one must be given its place here.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// Each bad field of the request (address, email, method, provider), named.
    #[error("{0}")]
    Validation(FieldErrors),
    /// The cart, or the checkout an earlier request with the key placed.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The cart was checked out (or merged) already.
    #[error("{0}")]
    CartClosed(&'static str),
    #[error("the cart is empty")]
    EmptyCart,
    /// Prices or availability moved since the items were added; the cart
    /// was refreshed to show what is sold now.
    #[error("{CART_CHANGED}")]
    CartChanged { lines: Vec<PriceChange> },
    /// Not enough available for these lines; nothing was held.
    #[error("not enough stock for {}", skus(.0))]
    OutOfStock(Vec<ShortLine>),
    #[error("{0}")]
    DiscountNotApplicable(String),
    #[error("{KEY_REUSED}")]
    IdempotencyKeyReused,
    /// The cart kept changing under the request.
    #[error("{BUSY}")]
    Busy,
    #[error(transparent)]
    Unexpected(anyhow::Error),
}

impl From<OrdersError> for CheckoutError {
    fn from(e: OrdersError) -> Self {
        use OrdersError as E;
        match e {
            E::Validation(fields) => CheckoutError::Validation(fields),
            E::NotFound(what) => CheckoutError::NotFound(what),
            E::CartClosed(why) => CheckoutError::CartClosed(why),
            E::EmptyCart => CheckoutError::EmptyCart,
            E::CartChanged { lines } => CheckoutError::CartChanged { lines },
            E::OutOfStock(lines) => CheckoutError::OutOfStock(lines),
            E::DiscountNotApplicable(why) => CheckoutError::DiscountNotApplicable(why),
            E::IdempotencyKeyReused => CheckoutError::IdempotencyKeyReused,
            // Both say the cart moved under the request (`Contended` once
            // more than the service retried); the answer is the same.
            E::Busy | E::Contended => CheckoutError::Busy,
            E::Unexpected(source) => CheckoutError::Unexpected(source),
            // Placing a checkout decides none of these: one arriving here is a bug.
            e @ (E::IllegalTransition(_)
            | E::Duplicate(_)
            | E::PaymentClosed(_)
            | E::WrongProvider(_)
            | E::NotAStripePayment
            | E::ProviderDisabled(_)
            | E::NoPayoutWallet
            | E::AmountNotPayable(_)
            | E::IntentMismatch
            | E::AmountMismatch(_)
            | E::NotRefundable(_)
            | E::InvalidSignature(_)
            | E::InvalidPayload(_)
            | E::Declined { .. }
            | E::Provider(_)
            | E::Lapsed) => CheckoutError::Unexpected(anyhow::anyhow!("checkout refused unexpectedly: {e}")),
        }
    }
}

/// Every way editing a cart can refuse (`add_item`, `set_quantity`,
/// `apply_discount`, `remove_discount`), converted from [`OrdersError`]
/// at the service's edge like [`CheckoutError`].
#[derive(Debug, thiserror::Error)]
pub enum CartError {
    /// A bad quantity, a line over the limit, a variant in another currency.
    #[error("{0}")]
    Validation(FieldErrors),
    /// The cart, the variant or the cart line.
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("{0}")]
    CartClosed(&'static str),
    /// Not enough available for the line as edited; nothing changed.
    #[error("not enough stock for {}", skus(.0))]
    OutOfStock(Vec<ShortLine>),
    #[error("{0}")]
    DiscountNotApplicable(String),
    #[error("{BUSY}")]
    Busy,
    #[error(transparent)]
    Unexpected(anyhow::Error),
}

impl From<OrdersError> for CartError {
    fn from(e: OrdersError) -> Self {
        use OrdersError as E;
        match e {
            E::Validation(fields) => CartError::Validation(fields),
            E::NotFound(what) => CartError::NotFound(what),
            E::CartClosed(why) => CartError::CartClosed(why),
            E::OutOfStock(lines) => CartError::OutOfStock(lines),
            E::DiscountNotApplicable(why) => CartError::DiscountNotApplicable(why),
            E::Busy | E::Contended => CartError::Busy,
            E::Unexpected(source) => CartError::Unexpected(source),
            // Editing a cart decides none of these: one arriving here is a bug.
            e @ (E::IllegalTransition(_)
            | E::CartChanged { .. }
            | E::EmptyCart
            | E::Duplicate(_)
            | E::IdempotencyKeyReused
            | E::PaymentClosed(_)
            | E::WrongProvider(_)
            | E::NotAStripePayment
            | E::ProviderDisabled(_)
            | E::NoPayoutWallet
            | E::AmountNotPayable(_)
            | E::IntentMismatch
            | E::AmountMismatch(_)
            | E::NotRefundable(_)
            | E::InvalidSignature(_)
            | E::InvalidPayload(_)
            | E::Declined { .. }
            | E::Provider(_)
            | E::Lapsed) => CartError::Unexpected(anyhow::anyhow!("cart edit refused unexpectedly: {e}")),
        }
    }
}

/// Every way paying can refuse: the test card (`confirm_payment`), Solana
/// Pay's on-chain check (`verify_payment`), Stripe's webhook
/// (`stripe_webhook`) and a payment's page (`payment`), converted from
/// [`OrdersError`] at the service's edge like [`CheckoutError`].
#[derive(Debug, thiserror::Error)]
pub enum PaymentError {
    /// A bad card number.
    #[error("{0}")]
    Validation(FieldErrors),
    /// The payment, or Stripe's webhook on a shop without Stripe.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The payment expired or was cancelled, and its orders with it.
    #[error("{0}")]
    PaymentClosed(String),
    /// The action is not how this payment's provider is paid.
    #[error("{0}")]
    WrongProvider(&'static str),
    /// A Stripe event named a payment of another provider.
    #[error("this payment is not a Stripe payment")]
    NotAStripePayment,
    #[error("{0}")]
    ProviderDisabled(&'static str),
    /// Solana Pay opened late (at verification) for a seller without a wallet.
    #[error("the seller of this order has no Solana payout wallet")]
    NoPayoutWallet,
    /// The amount cannot be expressed in the provider's units.
    #[error("{0}")]
    AmountNotPayable(String),
    /// A provider's event is about another PaymentIntent than the payment's.
    #[error("the event's PaymentIntent is not this payment's")]
    IntentMismatch,
    /// A provider's event is for another amount or currency than the payment's.
    #[error("{0}")]
    AmountMismatch(String),
    /// A webhook whose signature does not check out.
    #[error("{0}")]
    InvalidSignature(String),
    /// A webhook whose body cannot be read.
    #[error("the event could not be read: {0}")]
    InvalidPayload(String),
    /// The card was declined; the order stays payable until it expires.
    #[error("the card was declined: {reason}")]
    Declined { reason: &'static str },
    /// The provider could not be reached or refused the call; nothing changed.
    #[error("{0}")]
    Provider(String),
    #[error("{BUSY}")]
    Busy,
    #[error(transparent)]
    Unexpected(anyhow::Error),
}

impl From<OrdersError> for PaymentError {
    fn from(e: OrdersError) -> Self {
        use OrdersError as E;
        match e {
            E::Validation(fields) => PaymentError::Validation(fields),
            E::NotFound(what) => PaymentError::NotFound(what),
            E::PaymentClosed(why) => PaymentError::PaymentClosed(why),
            // The service expires a lapsed checkout before it answers; the
            // payment is closed either way.
            e @ E::Lapsed => PaymentError::PaymentClosed(e.to_string()),
            E::WrongProvider(why) => PaymentError::WrongProvider(why),
            E::NotAStripePayment => PaymentError::NotAStripePayment,
            E::ProviderDisabled(why) => PaymentError::ProviderDisabled(why),
            E::NoPayoutWallet => PaymentError::NoPayoutWallet,
            E::AmountNotPayable(why) => PaymentError::AmountNotPayable(why),
            E::IntentMismatch => PaymentError::IntentMismatch,
            E::AmountMismatch(why) => PaymentError::AmountMismatch(why),
            E::InvalidSignature(why) => PaymentError::InvalidSignature(why),
            E::InvalidPayload(why) => PaymentError::InvalidPayload(why),
            E::Declined { reason } => PaymentError::Declined { reason },
            E::Provider(why) => PaymentError::Provider(why),
            E::Busy | E::Contended => PaymentError::Busy,
            E::Unexpected(source) => PaymentError::Unexpected(source),
            // Paying decides none of these (a payment is opened at the
            // provider without failing its caller): one arriving here is a bug.
            e @ (E::IllegalTransition(_)
            | E::OutOfStock(_)
            | E::CartChanged { .. }
            | E::CartClosed(_)
            | E::EmptyCart
            | E::DiscountNotApplicable(_)
            | E::Duplicate(_)
            | E::IdempotencyKeyReused
            | E::NotRefundable(_)) => PaymentError::Unexpected(anyhow::anyhow!("payment refused unexpectedly: {e}")),
        }
    }
}

/// Every way an action on a placed order can refuse: cancelling it (the
/// customer or staff), moving it along its states, fulfilling it,
/// refunding it. Converted from [`OrdersError`] at the service's edge.
#[derive(Debug, thiserror::Error)]
pub enum OrderActionError {
    /// A note, carrier, tracking number or amount that is not acceptable.
    #[error("{0}")]
    Validation(FieldErrors),
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The order's state machine has no such move.
    #[error(transparent)]
    IllegalTransition(IllegalTransition),
    /// Marking paid a payment its provider settles.
    #[error("{0}")]
    WrongProvider(&'static str),
    /// The checkout's payment expired or was cancelled.
    #[error("{0}")]
    PaymentClosed(String),
    #[error("{0}")]
    NotRefundable(String),
    /// A refund's Idempotency-Key seen with another amount or reason.
    #[error("{KEY_REUSED}")]
    IdempotencyKeyReused,
    /// The provider refused or could not be reached for the refund; nothing changed.
    #[error("{0}")]
    Provider(String),
    #[error("{BUSY}")]
    Busy,
    #[error(transparent)]
    Unexpected(anyhow::Error),
}

impl From<OrdersError> for OrderActionError {
    fn from(e: OrdersError) -> Self {
        use OrdersError as E;
        match e {
            E::Validation(fields) => OrderActionError::Validation(fields),
            E::NotFound(what) => OrderActionError::NotFound(what),
            E::IllegalTransition(t) => OrderActionError::IllegalTransition(t),
            E::WrongProvider(why) => OrderActionError::WrongProvider(why),
            E::PaymentClosed(why) => OrderActionError::PaymentClosed(why),
            e @ E::Lapsed => OrderActionError::PaymentClosed(e.to_string()),
            E::NotRefundable(why) => OrderActionError::NotRefundable(why),
            E::IdempotencyKeyReused => OrderActionError::IdempotencyKeyReused,
            E::Provider(why) => OrderActionError::Provider(why),
            E::Busy | E::Contended => OrderActionError::Busy,
            E::Unexpected(source) => OrderActionError::Unexpected(source),
            // Acting on an order decides none of these: one arriving here is a bug.
            e @ (E::OutOfStock(_)
            | E::CartChanged { .. }
            | E::CartClosed(_)
            | E::EmptyCart
            | E::DiscountNotApplicable(_)
            | E::Duplicate(_)
            | E::NotAStripePayment
            | E::ProviderDisabled(_)
            | E::NoPayoutWallet
            | E::AmountNotPayable(_)
            | E::IntentMismatch
            | E::AmountMismatch(_)
            | E::InvalidSignature(_)
            | E::InvalidPayload(_)
            | E::Declined { .. }) => {
                OrderActionError::Unexpected(anyhow::anyhow!("order action refused unexpectedly: {e}"))
            }
        }
    }
}

/// Every way the shop's pricing settings (discount codes, shipping methods,
/// tax rates) can refuse a read or a write.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0}")]
    Validation(FieldErrors),
    #[error("no such {0}")]
    NotFound(&'static str),
    /// A code, method or rate with this unique name exists.
    #[error("{0}")]
    Duplicate(String),
    #[error(transparent)]
    Unexpected(anyhow::Error),
}

impl From<OrdersError> for SettingsError {
    fn from(e: OrdersError) -> Self {
        use OrdersError as E;
        match e {
            E::Validation(fields) => SettingsError::Validation(fields),
            E::NotFound(what) => SettingsError::NotFound(what),
            E::Duplicate(why) => SettingsError::Duplicate(why),
            E::Unexpected(source) => SettingsError::Unexpected(source),
            // Settings decide none of these: one arriving here is a bug.
            e @ (E::OutOfStock(_)
            | E::IllegalTransition(_)
            | E::CartChanged { .. }
            | E::CartClosed(_)
            | E::EmptyCart
            | E::DiscountNotApplicable(_)
            | E::IdempotencyKeyReused
            | E::PaymentClosed(_)
            | E::WrongProvider(_)
            | E::NotAStripePayment
            | E::ProviderDisabled(_)
            | E::NoPayoutWallet
            | E::AmountNotPayable(_)
            | E::IntentMismatch
            | E::AmountMismatch(_)
            | E::NotRefundable(_)
            | E::InvalidSignature(_)
            | E::InvalidPayload(_)
            | E::Declined { .. }
            | E::Provider(_)
            | E::Busy
            | E::Contended
            | E::Lapsed) => SettingsError::Unexpected(anyhow::anyhow!("settings refused unexpectedly: {e}")),
        }
    }
}

impl OrdersError {
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        OrdersError::Validation(FieldErrors::single(field, message))
    }
}

impl From<FieldErrors> for OrdersError {
    fn from(e: FieldErrors) -> Self {
        OrdersError::Validation(e)
    }
}

pub type Result<T, E = OrdersError> = std::result::Result<T, E>;

/// An `Idempotency-Key` seen before with another request body.
pub fn idempotency_reused() -> OrdersError {
    OrdersError::IdempotencyKeyReused
}

impl From<FieldErrors> for SettingsError {
    fn from(e: FieldErrors) -> Self {
        SettingsError::Validation(e)
    }
}

impl From<crate::gateway::GatewayError> for PaymentError {
    fn from(e: crate::gateway::GatewayError) -> Self {
        OrdersError::from(e).into()
    }
}

impl From<crate::gateway::GatewayError> for OrdersError {
    fn from(e: crate::gateway::GatewayError) -> Self {
        use crate::gateway::GatewayError as G;
        match e {
            G::Provider(m) => OrdersError::Provider(m),
            G::InvalidSignature(m) => OrdersError::InvalidSignature(m),
            G::InvalidPayload(m) => OrdersError::InvalidPayload(m),
            G::NotPayable(m) => OrdersError::AmountNotPayable(m),
        }
    }
}
