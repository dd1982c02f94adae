//! Serving: the shop (`crate::shop`) behind HTTP, with the outbox relay and
//! the background tasks (housekeeping, reservation sweeper, Solana poller,
//! the notifications' dispatcher).

use crate::backend::Backend;
use crate::settings::Settings;
use crate::shop::{Shop, server_secret};
use anyhow::Context as _;
use catalog::CatalogService;
use identity::IdentityService;
use kernel::SystemClock;
use kernel::clock::SharedClock;
use media::ImagePolicy;
use messaging::{Bus, InProcessBus, Relay, RelayHandle};
use orders::OrdersService;
use search::SearchIndex;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use web::Service;

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
    /// The broker's consumer tasks (none on the in-process bus; one that
    /// supervises them all on RabbitMQ).
    consumers: Vec<JoinHandle<()>>,
    /// Sends the notifications' pending messages.
    dispatcher: JoinHandle<()>,
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
        if let Err(e) = self.dispatcher.await {
            tracing::error!(error = %e, "notification dispatcher task failed");
        }
        for consumer in self.consumers {
            if let Err(e) = consumer.await {
                tracing::error!(error = %e, "event consumer task failed");
            }
        }
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
    let stop = CancellationToken::new();
    let node = settings.node_id_on(listener.local_addr()?.port());
    let served = &settings.services;
    announce(settings, &shop);
    let (bus, consumers) = open_bus(settings, &node, &shop, clock.clone(), stop.clone())?;
    let relay = Relay::new(shop.backend.outbox(), bus.clone(), clock.clone())
        .with_poll_interval(Duration::from_millis(500))
        .with_holder(&node)
        .with_waker(waker);
    if options.demo {
        crate::seed::demo(&shop, &mut crate::seed::Quiet).await?;
    }
    // The search index is a per-node read model of the catalogue's API and pages.
    let searches = served.contains(Service::Catalog) || served.contains(Service::Storefront);
    if searches && let Some(n) = shop.feed.ensure_fresh().await? {
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
        bus,
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
    let site = if served.contains(Service::Storefront) { site } else { web::no_pages() };
    let app = web::app_with(state, site, served);
    let addr = listener.local_addr()?;
    let token = stop.clone();
    let server = tokio::spawn(web::serve(listener, app, async move { token.cancelled().await }));
    if served.contains(Service::Orders) {
        let every = Duration::from_secs(settings.reservation_sweep_secs);
        spawn_reservation_sweeper(shop.orders.clone(), every, stop.clone());
    }
    spawn_housekeeping(&shop, settings, clock, stop.clone());
    let dispatcher = if served.contains(Service::Notifications) {
        tokio::spawn(shop.dispatcher.clone().run(Duration::from_secs(1), stop.clone()))
    } else {
        tokio::spawn(async {})
    };
    if served.contains(Service::Payments) && settings.solana.rpc_url.is_some() {
        spawn_solana_poller(shop.orders.clone(), Duration::from_secs(settings.solana.poll_secs), stop.clone());
    }
    let Shop { backend, identity, catalog, orders, search, .. } = shop;
    Ok(Running { addr, backend, identity, catalog, orders, search, stop, server, relay, consumers, dispatcher })
}

/// Says which services this process runs and how it reaches the others.
fn announce(settings: &Settings, shop: &Shop) {
    let served = &settings.services;
    let others: Vec<&str> = served.others().map(Service::as_str).collect();
    if others.is_empty() {
        tracing::info!(serves = %served, "serving every service in this process");
    } else {
        tracing::info!(serves = %served, others = %others.join(","),
            "serving these services; the others are reached through the shared database and the broker");
    }
    tracing::info!(keys = %shop.identity.key_source(), "access tokens are checked against");
}

/// A bus and the tasks of its consumers.
type OpenBus = (Arc<dyn Bus>, Vec<JoinHandle<()>>);

/// The bus `settings` choose, with the shop's consumers on it: the
/// in-process bus, or RabbitMQ or Kafka with their consumers' tasks
/// (stopped by `stop`).
fn open_bus(
    settings: &Settings,
    node: &str,
    shop: &Shop,
    clock: SharedClock,
    stop: CancellationToken,
) -> anyhow::Result<OpenBus> {
    let consumers = crate::followers::consumers(shop, &settings.services);
    if let Some(brokers) = settings.bus.kafka_brokers() {
        let kafka = Arc::new(bus_kafka::KafkaBus::new(kafka_settings(settings, &brokers, node))?);
        let tasks = kafka.spawn_consumers(consumers, shop.backend.outbox(), clock, stop);
        tracing::info!(node, brokers, "events go through Kafka");
        return Ok((kafka, tasks));
    }
    match &settings.bus.url {
        Some(url) if settings.bus.is_rabbitmq() => {
            let rabbit = Arc::new(bus_rabbitmq::RabbitBus::new(rabbit_settings(settings, &url.0, node)));
            // Every per-shop group's queue, whether or not its consumer runs
            // here: the exchange drops a message no queue is bound for, and
            // with the services apart the publisher may be a process that
            // runs none of them (Kafka keeps every topic, so it needs none).
            for group in crate::followers::groups().iter().filter(|g| g.reach == messaging::Reach::PerShop) {
                rabbit.register(group);
            }
            let tasks = rabbit.spawn_consumers(consumers, shop.backend.outbox(), clock, stop);
            tracing::info!(node, "events go through RabbitMQ");
            Ok((rabbit, tasks))
        }
        _ => {
            let bus = InProcessBus::new(shop.backend.outbox(), clock);
            for consumer in consumers {
                bus.subscribe(consumer);
            }
            Ok((Arc::new(bus), Vec::new()))
        }
    }
}

/// The Kafka adapter's settings from the shop's, for node `node`.
pub fn kafka_settings(settings: &Settings, brokers: &str, node: &str) -> bus_kafka::KafkaSettings {
    bus_kafka::KafkaSettings {
        max_attempts: settings.bus.max_attempts,
        retry_delay: Duration::from_millis(settings.bus.retry_delay_ms),
        prefix: settings.bus.prefix.clone(),
        ..bus_kafka::KafkaSettings::new(brokers, node)
    }
}

/// The RabbitMQ adapter's settings from the shop's, for node `node`.
pub fn rabbit_settings(settings: &Settings, url: &str, node: &str) -> bus_rabbitmq::RabbitSettings {
    bus_rabbitmq::RabbitSettings {
        max_attempts: settings.bus.max_attempts,
        retry_delay: Duration::from_millis(settings.bus.retry_delay_ms),
        prefix: settings.bus.prefix.clone(),
        ..bus_rabbitmq::RabbitSettings::new(url, node)
    }
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
