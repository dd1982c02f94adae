//! Wiring: settings → stores → services → HTTP, plus the outbox relay.

use crate::backend::Backend;
use crate::settings::{MediaStoreKind, Settings};
use anyhow::Context as _;
use base64::Engine as _;
use catalog::CatalogService;
use identity::{HashParams, IdentityConfig, IdentityService};
use inventory::InventoryService;
use kernel::SystemClock;
use kernel::clock::SharedClock;
use media::{ImagePolicy, LocalDirStore, ObjectStore, S3Store};
use messaging::{InProcessBus, LogConsumer, Relay, RelayHandle};
use notifications::NotificationService;
use orders::{OrdersConfig, OrdersService, Purchasable, VariantRef};
use rand::RngCore as _;
use search::{CatalogFeed, SearchIndex};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The shop's services over one database, without HTTP: what `serve`
/// runs and what the CLI's `seed` and `search reindex` work with.
#[derive(Clone)]
pub struct Shop {
    pub backend: Backend,
    pub identity: IdentityService,
    pub catalog: CatalogService,
    pub inventory: InventoryService,
    pub orders: OrdersService,
    pub notifications: NotificationService,
    pub search: SearchIndex,
    pub feed: CatalogFeed,
    pub media: Arc<dyn ObjectStore>,
}

impl std::fmt::Debug for Shop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shop").field("backend", &self.backend.name()).finish_non_exhaustive()
    }
}

impl Shop {
    /// Opens (and migrates) the database, the search index and the image
    /// store. Commits that write events ring `outbox_waker` when given.
    pub async fn open(
        settings: &Settings,
        clock: SharedClock,
        outbox_waker: Option<Arc<Notify>>,
    ) -> anyhow::Result<Shop> {
        // Before any HTTP client is built (image storage now; payments and OAuth later).
        media::install_tls_provider();
        let mut backend = Backend::open(settings).await?;
        if let Some(waker) = outbox_waker {
            backend = backend.with_outbox_waker(waker);
        }
        let identity = identity_service(settings, &backend, clock.clone())?;
        let clock_for_mail = clock.clone();
        let inventory = InventoryService::new(backend.inventory(), clock.clone());
        let stock = Arc::new(InventoryStock(inventory.clone()));
        let purchases = Arc::new(OrdersPurchases(backend.orders()));
        let catalog = CatalogService::new(backend.catalog(), clock.clone(), purchases, stock)
            .with_stock_cache_ttl(Duration::from_millis(settings.stock_cache_ttl_ms));
        let orders = OrdersService::new(
            backend.orders(),
            Arc::new(CatalogForOrders(catalog.clone())),
            Arc::new(InventoryForOrders(inventory.clone())),
            clock,
            OrdersConfig {
                reservation_ttl: Duration::from_secs(settings.reservation_ttl_secs),
                prices_include_tax: settings.prices_include_tax,
            },
        )
        .with_providers(providers(settings)?);
        catalog.ensure_default_seller(&settings.shop_name).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        let dir = settings.search_dir.clone();
        let search = tokio::task::spawn_blocking(move || SearchIndex::open(&dir))
            .await?
            .with_context(|| format!("opening the search index in {}", settings.search_dir.display()))?;
        search.set_cache_capacity(settings.search_cache_entries);
        let media: Arc<dyn ObjectStore> = match settings.media_store {
            MediaStoreKind::Local => Arc::new(
                LocalDirStore::new(&settings.media_dir)
                    .with_context(|| format!("opening the image directory {}", settings.media_dir.display()))?,
            ),
            MediaStoreKind::S3 => Arc::new(S3Store::new(settings.s3.config()).context("EMPORIUM_S3_*")?),
        };
        let feed = CatalogFeed::new(catalog.clone(), search.clone());
        let notifications = NotificationService::new(backend.notifications(), clock_for_mail, &settings.shop_name);
        Ok(Shop { backend, identity, catalog, inventory, orders, notifications, search, feed, media })
    }
}

/// Stripe and Solana Pay, as far as `settings` enable them.
fn providers(settings: &Settings) -> anyhow::Result<orders::Providers> {
    let mut providers = orders::Providers::default();
    if let Some(key) = &settings.stripe.secret_key {
        let config = payments::stripe::StripeConfig {
            api_base: settings.stripe.api_base.clone(),
            webhook_secrets: settings.stripe.webhook_secrets.iter().map(|s| s.0.clone()).collect(),
            timeout: Duration::from_millis(settings.stripe.timeout_ms),
            ..payments::stripe::StripeConfig::new(key.0.clone())
        };
        if config.webhook_secrets.is_empty() {
            tracing::warn!("Stripe is on without EMPORIUM_STRIPE_WEBHOOK_SECRET: every webhook will be refused");
        }
        providers.stripe = Some(Arc::new(payments::stripe::Stripe::new(config)?));
    }
    if let Some(url) = &settings.solana.rpc_url {
        let s = &settings.solana;
        let (asset, token_currency) = match (&s.usdc_mint, s.sol_price_minor) {
            (Some(mint), _) => (
                payments::solana::Asset::Token { mint: mint.clone(), decimals: s.token_decimals },
                Some(kernel::Currency::parse(&s.token_currency)?),
            ),
            (None, Some(price)) => (payments::solana::Asset::Sol { price_minor_per_sol: price }, None),
            (None, None) => anyhow::bail!("Solana Pay needs a token mint or a SOL price"),
        };
        providers.solana = Some(Arc::new(orders::SolanaProvider {
            rpc: payments::solana::Rpc::new(url, Duration::from_millis(s.timeout_ms))?,
            asset,
            token_currency,
            label: settings.shop_name.clone(),
        }));
    }
    Ok(providers)
}

/// Checks the chain for pending Solana Pay payments every `every`, until `stop`.
fn spawn_solana_poller(orders: OrdersService, every: Duration, stop: CancellationToken) -> JoinHandle<()> {
    spawn_every(every, stop, move || {
        let orders = orders.clone();
        async move {
            match orders.poll_solana(1000).await {
                Ok(n) if n > 0 => tracing::info!(payments = n, "Solana Pay payments settled"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "Solana Pay poll failed; retrying at the next tick"),
            }
        }
    })
}

/// Runs `tick` now and then every `every` (a late tick is not made up),
/// until `stop`.
fn spawn_every<F, Fut>(every: Duration, stop: CancellationToken, tick: F) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = interval.tick() => {}
            }
            tick().await;
        }
    })
}

/// The catalog asks inventory what can be sold (its `StockLevels` port).
struct InventoryStock(InventoryService);

#[async_trait::async_trait]
impl catalog::StockLevels for InventoryStock {
    async fn available(&self, skus: &[String]) -> anyhow::Result<std::collections::HashMap<String, i64>> {
        self.0.available(skus).await.map_err(|e| anyhow::anyhow!(e))
    }
}

/// Orders ask the catalog what is for sale and at what price.
struct CatalogForOrders(CatalogService);

#[async_trait::async_trait]
impl orders::CatalogPort for CatalogForOrders {
    async fn purchasable(&self, variant: &VariantRef) -> anyhow::Result<Option<Purchasable>> {
        let found = match variant {
            VariantRef::Id(id) => self.0.on_sale(Some(*id), None).await,
            VariantRef::Sku(sku) => self.0.on_sale(None, Some(sku)).await,
        }
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(found.map(|(product, variant)| {
            let name = variant.title(&product.options);
            Purchasable {
                product_id: product.id,
                variant_id: variant.id,
                title: if name == "Default" { product.title.clone() } else { format!("{} — {name}", product.title) },
                sku: variant.sku,
                price: variant.price,
                seller_id: product.seller_id,
            }
        }))
    }

    async fn payout_wallet(&self, seller_id: uuid::Uuid) -> anyhow::Result<Option<String>> {
        let sellers = self.0.sellers().await.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(sellers.into_iter().find(|s| s.id == seller_id).and_then(|s| s.payout_wallet))
    }
}

/// A review is a "verified purchase" when its author has a paid (or later)
/// order containing the product.
struct OrdersPurchases(Arc<dyn orders::OrdersStore>);

#[async_trait::async_trait]
impl catalog::PurchaseVerifier for OrdersPurchases {
    async fn has_purchased(&self, user_id: uuid::Uuid, product_id: uuid::Uuid) -> anyhow::Result<bool> {
        use orders::OrderStatus::{Delivered, Paid, Processing, Shipped};
        let filter = orders::OrderFilter { user_id: Some(user_id), ..orders::OrderFilter::default() };
        for page in 1..=20 {
            let spec = kernel::PageRequest { page: Some(page), per_page: Some(100) }.validate()?;
            let (found, _) = self.0.orders(&filter, spec).await.map_err(|e| anyhow::anyhow!("{e}"))?;
            if found.iter().any(|o| {
                matches!(o.status, Paid | Processing | Shipped | Delivered)
                    && o.lines.iter().any(|l| l.product_id == product_id)
            }) {
                return Ok(true);
            }
            if found.len() < 100 {
                break;
            }
        }
        Ok(false)
    }
}

/// Orders ask inventory what is available (the hold itself happens in the checkout's transaction).
struct InventoryForOrders(InventoryService);

#[async_trait::async_trait]
impl orders::StockPort for InventoryForOrders {
    async fn available(&self, skus: &[String]) -> anyhow::Result<std::collections::HashMap<String, i64>> {
        self.0.available(skus).await.map_err(|e| anyhow::anyhow!(e))
    }
}

/// Housekeeping: deletes published events older than `events_before` (with
/// the consumers' records of them) in batches, and guests' abandoned carts
/// untouched since `carts_before`. How many events and carts went.
pub async fn prune(
    backend: &Backend,
    orders: &OrdersService,
    events_before: time::OffsetDateTime,
    cart_age: Duration,
) -> anyhow::Result<(u64, u64)> {
    const BATCH: u32 = 5_000;
    let outbox = backend.outbox();
    let mut events = 0;
    loop {
        let n = outbox.prune(events_before, BATCH).await?;
        events += n;
        if n < u64::from(BATCH) {
            break;
        }
    }
    let carts = orders.prune_guest_carts(cart_age).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((events, carts))
}

/// Runs [`prune`] now and every hour, until `stop`.
fn spawn_housekeeping(shop: &Shop, settings: &Settings, clock: SharedClock, stop: CancellationToken) -> JoinHandle<()> {
    let (backend, orders) = (shop.backend.clone(), shop.orders.clone());
    let event_age = time::Duration::hours(i64::try_from(settings.outbox_retention_hours).unwrap_or(i64::MAX / 7_200));
    let cart_age = Duration::from_secs(settings.guest_cart_retention_days.saturating_mul(86_400));
    spawn_every(Duration::from_secs(3_600), stop, move || {
        let (backend, orders, clock) = (backend.clone(), orders.clone(), clock.clone());
        async move {
            match prune(&backend, &orders, clock.now() - event_age, cart_age).await {
                Ok((0, 0)) => {}
                Ok((events, carts)) => {
                    tracing::info!(events, carts, "housekeeping: old events and abandoned carts deleted")
                }
                Err(e) => tracing::warn!(error = %e, "housekeeping failed; retrying in an hour"),
            }
        }
    })
}

/// Expires unpaid checkouts whose hold has lapsed, every `every`, until `stop`.
fn spawn_reservation_sweeper(orders: OrdersService, every: Duration, stop: CancellationToken) -> JoinHandle<()> {
    spawn_every(every, stop, move || {
        let orders = orders.clone();
        async move {
            loop {
                match orders.expire_due(100).await {
                    Ok(n) if n > 0 => {
                        tracing::info!(checkouts = n, "expired unpaid checkouts and released their stock")
                    }
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "reservation sweep failed; retrying at the next tick");
                        break;
                    }
                }
            }
        }
    })
}

/// A started shop: where it listens and how to stop it.
#[derive(Debug)]
pub struct Running {
    pub addr: SocketAddr,
    pub backend: Backend,
    pub identity: IdentityService,
    pub catalog: CatalogService,
    pub orders: OrdersService,
    pub search: SearchIndex,
    stop: CancellationToken,
    server: JoinHandle<std::io::Result<()>>,
    relay: RelayHandle,
}

impl Running {
    /// A token that, when cancelled, begins a graceful shutdown.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Runs until the stop token is cancelled, then drains requests in
    /// flight, stops the relay and closes the database.
    pub async fn wait(self) -> anyhow::Result<()> {
        let served = self.server.await;
        self.relay.shutdown().await;
        self.backend.close().await;
        served.context("server task failed")?.context("server failed")?;
        Ok(())
    }

    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.stop.cancel();
        self.wait().await
    }
}

/// Options of `start_with`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartOptions {
    /// Fill an empty shop with the demo catalogue and accounts before serving.
    pub demo: bool,
}

/// Opens the database (migrating it), starts the relay and serves HTTP on
/// `listener`.
pub async fn start(settings: &Settings, listener: TcpListener) -> anyhow::Result<Running> {
    start_with(settings, listener, StartOptions::default()).await
}

pub async fn start_with(settings: &Settings, listener: TcpListener, options: StartOptions) -> anyhow::Result<Running> {
    let clock: SharedClock = Arc::new(SystemClock);
    let waker = Arc::new(Notify::new());
    let shop = Shop::open(settings, clock.clone(), Some(waker.clone())).await?;
    let bus = Arc::new(InProcessBus::new(shop.backend.outbox(), clock.clone()));
    bus.subscribe(Arc::new(LogConsumer));
    bus.subscribe(Arc::new(shop.feed.clone()));
    bus.subscribe(Arc::new(crate::followers::Mailer(shop.notifications.clone())));
    bus.subscribe(Arc::new(crate::followers::SkuFollower {
        catalog: shop.catalog.clone(),
        inventory: shop.inventory.clone(),
    }));
    let relay = Relay::new(shop.backend.outbox(), bus, clock.clone())
        .with_poll_interval(Duration::from_millis(500))
        .with_waker(waker);
    if options.demo {
        crate::seed::demo(&shop, &mut crate::seed::Quiet).await?;
    }
    if let Some(n) = shop.feed.ensure_fresh().await? {
        tracing::info!(documents = n, "search index rebuilt");
    }
    let relay = relay.spawn();

    let web_config = web::WebConfig {
        cors_origins: settings.cors_origins.clone(),
        body_limit_bytes: settings.body_limit_bytes,
        request_timeout: Duration::from_secs(settings.request_timeout_secs),
        auth_rate_limit_per_minute: settings.auth_rate_limit,
        client_address: web::rate_limit::ClientAddress {
            trust_forwarded_for: settings.trust_forwarded_for,
            trusted_proxies: settings.trusted_proxies.clone(),
        },
    };
    let services = web::Services {
        identity: shop.identity.clone(),
        catalog: shop.catalog.clone(),
        inventory: shop.inventory.clone(),
        orders: shop.orders.clone(),
        notifications: shop.notifications.clone(),
        search: shop.search.clone(),
        media: shop.media.clone(),
        image_policy: Arc::new(ImagePolicy { max_bytes: settings.image_max_bytes, ..ImagePolicy::default() }),
    };
    let state = web::AppState::new(services, web_config);
    let site = site::router(
        state.clone(),
        site::SiteConfig {
            shop_name: settings.shop_name.clone(),
            csrf_key: server_secret(settings)?,
            secure_cookies: settings.cookie_secure,
            stripe_publishable_key: settings.stripe.publishable_key.clone(),
            currency: settings.currency.clone(),
        },
    );
    let app = web::app_with(state, site);
    let addr = listener.local_addr()?;
    let stop = CancellationToken::new();
    let token = stop.clone();
    let server = tokio::spawn(web::serve(listener, app, async move { token.cancelled().await }));
    spawn_reservation_sweeper(shop.orders.clone(), Duration::from_secs(settings.reservation_sweep_secs), stop.clone());
    spawn_housekeeping(&shop, settings, clock, stop.clone());
    if settings.solana.rpc_url.is_some() {
        spawn_solana_poller(shop.orders.clone(), Duration::from_secs(settings.solana.poll_secs), stop.clone());
    }
    let Shop { backend, identity, catalog, orders, search, .. } = shop;
    Ok(Running { addr, backend, identity, catalog, orders, search, stop, server, relay })
}

/// The server's secret: `EMPORIUM_JWT_SECRET`, or a key generated once and
/// kept in the data directory. It signs access tokens and CSRF tokens (each
/// under its own label).
fn server_secret(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    match &settings.jwt_secret {
        Some(secret) => Ok(secret.0.as_bytes().to_vec()),
        None => load_or_create_key(&settings.data_dir),
    }
}

/// Builds the identity service for `settings` on `backend`.
pub fn identity_service(settings: &Settings, backend: &Backend, clock: SharedClock) -> anyhow::Result<IdentityService> {
    let secret = server_secret(settings)?;
    let config = IdentityConfig {
        jwt_secret: secret,
        access_ttl: time::Duration::seconds(i64::try_from(settings.access_token_ttl_secs).unwrap_or(900)),
        refresh_ttl: time::Duration::days(i64::try_from(settings.refresh_token_ttl_days).unwrap_or(30)),
        hash: HashParams {
            memory_kib: settings.argon2_memory_kib,
            iterations: settings.argon2_iterations,
            parallelism: settings.argon2_parallelism,
        },
        account_cache_ttl: Duration::from_millis(settings.account_cache_ttl_ms),
    };
    IdentityService::new(backend.identity(), clock, &config)
}

pub const JWT_KEY_FILE: &str = "jwt-signing.key";

/// The token signing key kept in the data directory, generated on first
/// start (64 random bytes, readable by the owner only).
fn load_or_create_key(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    let engine = base64::engine::general_purpose::STANDARD;
    let path = data_dir.join(JWT_KEY_FILE);
    if let Ok(text) = std::fs::read_to_string(&path) {
        let key = engine.decode(text.trim()).with_context(|| format!("{} is not base64", path.display()))?;
        anyhow::ensure!(key.len() >= 32, "{} holds a key shorter than 32 bytes", path.display());
        return Ok(key);
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let mut key = vec![0u8; 64];
    rand::rng().fill_bytes(&mut key);
    write_private(&path, engine.encode(&key).as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a new token signing key");
    Ok(key)
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}
