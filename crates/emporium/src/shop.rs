//! The shop's services over one database, wired together: stores →
//! services, and the ports between contexts. No HTTP and no background tasks
//! (`server` adds those).

use crate::backend::Backend;
use crate::settings::{MediaStoreKind, Settings};
use anyhow::Context as _;
use base64::Engine as _;
use catalog::CatalogService;
use identity::{HashParams, IdentityConfig, IdentityService};
use inventory::InventoryService;
use kernel::clock::SharedClock;
use media::{LocalDirStore, ObjectStore, S3Store};
use notifications::{Dispatcher, FixedStaff, NotificationService, RetryPolicy, Senders, StaffDirectory};
use orders::{OrdersConfig, OrdersService, Purchasable, VariantRef};
use rand::RngCore as _;
use search::{CatalogFeed, SearchIndex};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

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
    /// Sends what `notifications` records for a server (`server` runs it).
    pub dispatcher: Dispatcher,
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
        let (notifications, dispatcher) = notification_service(settings, &backend, clock_for_mail)?;
        Ok(Shop { backend, identity, catalog, inventory, orders, notifications, dispatcher, search, feed, media })
    }
}

/// The notifications context with the servers `settings` configure, and
/// the dispatcher that sends through them.
fn notification_service(
    settings: &Settings,
    backend: &Backend,
    clock: SharedClock,
) -> anyhow::Result<(NotificationService, Dispatcher)> {
    let mail = &settings.mail;
    let mut senders = Senders::default();
    if let (Some(url), Some(from)) = (&mail.smtp_url, &mail.from) {
        let sender = senders::SmtpSender::new(&senders::SmtpConfig::new(&url.0, from)).context("EMPORIUM_SMTP_URL")?;
        senders.email = Some(Arc::new(sender));
    }
    if let (Some(sid), Some(token), Some(from)) = (&mail.sms_account_sid, &mail.sms_auth_token, &mail.sms_from) {
        let sms = senders::TwilioSms::new(senders::TwilioConfig {
            api_base: mail.sms_url.clone(),
            account_sid: sid.clone(),
            auth_token: token.0.clone(),
            from: from.clone(),
            timeout: Duration::from_secs(10),
        })?;
        senders.sms = Some(Arc::new(sms));
    }
    let staff: Arc<dyn StaffDirectory> = if mail.staff_email.is_empty() {
        Arc::new(Admins(backend.identity()))
    } else {
        Arc::new(FixedStaff(mail.staff_email.clone()))
    };
    let policy = RetryPolicy {
        first_delay: Duration::from_millis(mail.retry_delay_ms),
        max_attempts: mail.max_attempts,
        ..RetryPolicy::default()
    };
    let dispatcher = Dispatcher::new(backend.notifications(), senders.clone(), clock.clone(), policy);
    let service = NotificationService::new(backend.notifications(), clock, &settings.shop_name)
        .with_public_url(&settings.public_url())
        .with_staff(staff)
        .with_senders(senders, dispatcher.waker());
    Ok((service, dispatcher))
}

/// Staff alerts go to every active admin when no `EMPORIUM_STAFF_EMAIL` is set.
struct Admins(Arc<dyn identity::IdentityStore>);

#[async_trait::async_trait]
impl StaffDirectory for Admins {
    async fn staff_emails(&self) -> anyhow::Result<Vec<String>> {
        let filter = identity::UserFilter { role: Some(identity::Role::Admin), suspended: Some(false), q: None };
        let page = kernel::PageSpec { page: 1, per_page: kernel::page::MAX_PER_PAGE };
        let (admins, _) = self.0.list_users(&filter, page).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(admins.into_iter().map(|u| u.email.to_string()).collect())
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
        providers.solana = Some(Arc::new(payments::SolanaPay {
            rpc: payments::solana::Rpc::new(url, Duration::from_millis(s.timeout_ms))?,
            asset,
            token_currency,
            label: settings.shop_name.clone(),
        }));
    }
    Ok(providers)
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

/// The server's secret: `EMPORIUM_JWT_SECRET`, or a key generated once and
/// kept in the data directory. It keys the browser's CSRF tokens; access
/// tokens are signed by identity's Ed25519 keys (`identity::keys`).
pub(crate) fn server_secret(settings: &Settings) -> anyhow::Result<Vec<u8>> {
    match &settings.jwt_secret {
        Some(secret) => Ok(secret.0.as_bytes().to_vec()),
        None => load_or_create_key(&settings.data_dir),
    }
}

/// Builds the identity service for `settings` on `backend`.
pub fn identity_service(settings: &Settings, backend: &Backend, clock: SharedClock) -> anyhow::Result<IdentityService> {
    let config = IdentityConfig {
        access_ttl: time::Duration::seconds(i64::try_from(settings.access_token_ttl_secs).unwrap_or(900)),
        refresh_ttl: time::Duration::days(i64::try_from(settings.refresh_token_ttl_days).unwrap_or(30)),
        hash: HashParams {
            memory_kib: settings.argon2_memory_kib,
            iterations: settings.argon2_iterations,
            parallelism: settings.argon2_parallelism,
        },
        account_cache_ttl: Duration::from_millis(settings.account_cache_ttl_ms),
    };
    let identity = IdentityService::new(backend.identity(), clock, &config)?;
    Ok(match &settings.service_url_identity {
        Some(url) => identity.with_key_source(Arc::new(clients::IdentityKeys::new(url)?)),
        None => identity,
    })
}

pub const JWT_KEY_FILE: &str = "jwt-signing.key";

/// The server's HMAC key kept in the data directory (the CSRF tokens'),
/// generated on first start (64 random bytes, readable by the owner only).
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
    tracing::info!(path = %path.display(), "generated a new server key");
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
