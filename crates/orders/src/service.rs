//! The use cases. Authorisation (who may see or change which order) is the
//! caller's job except ownership, which these methods check where a
//! customer acts on their own data.

mod carts;
mod checkout;
mod decisions;
mod orders;
mod providers;
mod settings;

pub use crate::error::idempotency_reused;
pub use carts::hash_token;
pub use carts::{CartView, DiscountView, LineView};
pub use checkout::{CheckoutRequest, MAX_IDEMPOTENCY_KEY, PlacedCheckout, check_idempotency_key};
pub use decisions::{CardOutcome, order_event, test_card};
pub use providers::{Providers, WebhookOutcome};
pub use settings::{DiscountInput, ShippingMethodInput, TaxRateInput};

use crate::error::{OrdersError, Result};
use crate::store::OrdersStore;
use async_trait::async_trait;
use kernel::Money;
use kernel::clock::SharedClock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// A variant as the cart and checkout need it; `None` from the catalog when
/// it is unknown or not for sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purchasable {
    pub product_id: Uuid,
    pub variant_id: Uuid,
    pub sku: String,
    pub title: String,
    pub price: Money,
    pub seller_id: Uuid,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariantRef {
    Id(Uuid),
    Sku(String),
}

/// What the catalog tells orders (wired to `catalog::CatalogService`).
#[async_trait]
pub trait CatalogPort: Send + Sync + 'static {
    async fn purchasable(&self, variant: &VariantRef) -> anyhow::Result<Option<Purchasable>>;
    /// The seller's Solana payout wallet, if set.
    async fn payout_wallet(&self, seller_id: Uuid) -> anyhow::Result<Option<String>> {
        let _ = seller_id;
        Ok(None)
    }
}

/// What inventory tells orders: available units per SKU, absent when not tracked.
#[async_trait]
pub trait StockPort: Send + Sync + 'static {
    async fn available(&self, skus: &[String]) -> anyhow::Result<HashMap<String, i64>>;
}

#[derive(Debug, Clone)]
pub struct OrdersConfig {
    /// How long a checkout holds stock waiting for payment.
    pub reservation_ttl: Duration,
    /// Catalogue prices include tax (the tax is worked out of them).
    pub prices_include_tax: bool,
}

impl Default for OrdersConfig {
    fn default() -> Self {
        OrdersConfig { reservation_ttl: Duration::from_secs(900), prices_include_tax: false }
    }
}

/// Who is acting: a signed-in user (with their email) or a guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Customer {
    pub user_id: Uuid,
    pub email: String,
}

/// Shipping methods and tax rates are read by every checkout and written
/// rarely: kept in memory for [`SETTINGS_TTL`], dropped at once by a write
/// through this node (another node sees a change within the TTL).
pub const SETTINGS_TTL: Duration = Duration::from_secs(5);

#[derive(Default)]
struct Caches {
    shipping: std::sync::RwLock<Option<(std::time::Instant, Arc<Vec<crate::ShippingMethod>>)>>,
    tax: std::sync::RwLock<Option<(std::time::Instant, Arc<Vec<crate::TaxRate>>)>>,
    /// Payment or order id → its checkout id (never changes, so never stale).
    checkout_of: std::sync::RwLock<HashMap<Uuid, Uuid>>,
    /// Refunds through a provider run one at a time per checkout (striped
    /// by checkout id), see `change_refunding`.
    refunding: [tokio::sync::Mutex<()>; REFUND_STRIPES],
}

/// How many locks `Caches::refunding` spreads checkouts over.
const REFUND_STRIPES: usize = 32;

/// Most entries kept in `Caches::checkout_of` before it starts over.
const CHECKOUT_OF_CAPACITY: usize = 100_000;

fn cached<T>(slot: &std::sync::RwLock<Option<(std::time::Instant, Arc<T>)>>) -> Option<Arc<T>> {
    let guard = slot.read().ok()?;
    let (at, value) = guard.as_ref()?;
    (at.elapsed() < SETTINGS_TTL).then(|| value.clone())
}

fn keep<T>(slot: &std::sync::RwLock<Option<(std::time::Instant, Arc<T>)>>, value: &Arc<T>) {
    if let Ok(mut guard) = slot.write() {
        *guard = Some((std::time::Instant::now(), value.clone()));
    }
}

fn forget<T>(slot: &std::sync::RwLock<Option<(std::time::Instant, Arc<T>)>>) {
    if let Ok(mut guard) = slot.write() {
        *guard = None;
    }
}

#[derive(Clone)]
pub struct OrdersService {
    caches: Arc<Caches>,
    store: Arc<dyn OrdersStore>,
    catalog: Arc<dyn CatalogPort>,
    stock: Arc<dyn StockPort>,
    clock: SharedClock,
    config: OrdersConfig,
    providers: Providers,
}

impl std::fmt::Debug for OrdersService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrdersService").field("config", &self.config).finish_non_exhaustive()
    }
}

/// Optimistic writes (carts) retry this many times before giving up with 409.
const RETRIES: usize = 8;

impl OrdersService {
    pub fn new(
        store: Arc<dyn OrdersStore>,
        catalog: Arc<dyn CatalogPort>,
        stock: Arc<dyn StockPort>,
        clock: SharedClock,
        config: OrdersConfig,
    ) -> Self {
        OrdersService { caches: Arc::default(), store, catalog, stock, clock, config, providers: Providers::default() }
    }

    /// Enables the providers that move real money (Stripe, Solana Pay).
    pub fn with_providers(mut self, providers: Providers) -> Self {
        self.providers = providers;
        self
    }

    /// Every shipping method (cached, see [`SETTINGS_TTL`]).
    async fn shipping_cached(&self) -> Result<Arc<Vec<crate::ShippingMethod>>> {
        if let Some(hit) = cached(&self.caches.shipping) {
            return Ok(hit);
        }
        let fresh = Arc::new(self.store.shipping_methods().await?);
        keep(&self.caches.shipping, &fresh);
        Ok(fresh)
    }

    /// Every tax rate (cached, see [`SETTINGS_TTL`]).
    async fn tax_cached(&self) -> Result<Arc<Vec<crate::TaxRate>>> {
        if let Some(hit) = cached(&self.caches.tax) {
            return Ok(hit);
        }
        let fresh = Arc::new(self.store.tax_rates().await?);
        keep(&self.caches.tax, &fresh);
        Ok(fresh)
    }

    /// Remembers which checkout a payment or order belongs to.
    fn remember_checkout(&self, ids: impl IntoIterator<Item = Uuid>, checkout_id: Uuid) {
        if let Ok(mut map) = self.caches.checkout_of.write() {
            if map.len() >= CHECKOUT_OF_CAPACITY {
                map.clear();
            }
            map.extend(ids.into_iter().map(|id| (id, checkout_id)));
        }
    }

    fn known_checkout(&self, id: Uuid) -> Option<Uuid> {
        self.caches.checkout_of.read().ok().and_then(|m| m.get(&id).copied())
    }

    fn settings_changed(&self) {
        forget(&self.caches.shipping);
        forget(&self.caches.tax);
    }

    pub fn store(&self) -> &Arc<dyn OrdersStore> {
        &self.store
    }

    pub fn config(&self) -> &OrdersConfig {
        &self.config
    }

    fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }

    async fn available(&self, skus: &[String]) -> Result<HashMap<String, i64>> {
        Ok(self.stock.available(skus).await?)
    }

    async fn purchasable(&self, variant: &VariantRef) -> Result<Option<Purchasable>> {
        Ok(self.catalog.purchasable(variant).await?)
    }
}

/// Runs `attempt` until it stops reporting a lost optimistic race.
async fn retrying<T, F, Fut>(mut attempt: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T>>,
{
    for _ in 0..RETRIES {
        match attempt().await {
            Err(OrdersError::Contended) => tokio_yield().await,
            other => return other,
        }
    }
    Err(OrdersError::Busy)
}

/// Lets the winner of a race finish before retrying.
async fn tokio_yield() {
    struct YieldNow(bool);
    impl std::future::Future for YieldNow {
        type Output = ();
        fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
            if self.0 {
                std::task::Poll::Ready(())
            } else {
                self.0 = true;
                cx.waker().wake_by_ref();
                std::task::Poll::Pending
            }
        }
    }
    YieldNow(false).await;
}
