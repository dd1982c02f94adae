use crate::rate_limit::{ClientAddress, RateLimiter};
use catalog::CatalogService;
use identity::{Action, IdentityService, Resource, User};
use inventory::InventoryService;
use media::{ImagePolicy, ObjectStore};
use metrics_exporter_prometheus::PrometheusHandle;
use notifications::NotificationService;
use orders::OrdersService;
use search::SearchIndex;
use std::sync::Arc;
use std::time::Duration;

/// What the HTTP layer needs to know from the settings.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Origins allowed by CORS; empty means cross-origin requests are refused.
    pub cors_origins: Vec<String>,
    pub body_limit_bytes: usize,
    pub request_timeout: Duration,
    /// Auth endpoint requests per minute per client IP; 0 turns it off.
    pub auth_rate_limit_per_minute: u32,
    /// Where the client's IP is read from (the peer, or `X-Forwarded-For`
    /// behind trusted proxies).
    pub client_address: ClientAddress,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            cors_origins: Vec::new(),
            body_limit_bytes: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            auth_rate_limit_per_minute: 30,
            client_address: ClientAddress::default(),
        }
    }
}

/// The services behind the HTTP API.
#[derive(Clone)]
pub struct Services {
    pub identity: IdentityService,
    pub catalog: CatalogService,
    pub inventory: InventoryService,
    pub orders: OrdersService,
    pub notifications: NotificationService,
    pub search: SearchIndex,
    pub media: Arc<dyn ObjectStore>,
    pub image_policy: Arc<ImagePolicy>,
    /// The event bus, for `/health/ready` to report its broker.
    pub bus: Arc<dyn messaging::Bus>,
}

#[derive(Clone)]
pub struct AppState {
    pub identity: IdentityService,
    pub catalog: CatalogService,
    pub inventory: InventoryService,
    pub orders: OrdersService,
    pub notifications: NotificationService,
    pub search: SearchIndex,
    pub media: Arc<dyn ObjectStore>,
    pub image_policy: Arc<ImagePolicy>,
    pub bus: Arc<dyn messaging::Bus>,
    pub config: Arc<WebConfig>,
    pub auth_limiter: Arc<RateLimiter>,
    pub metrics: PrometheusHandle,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("config", &self.config).finish_non_exhaustive()
    }
}

impl AppState {
    pub fn new(services: Services, config: WebConfig) -> Self {
        AppState {
            identity: services.identity,
            catalog: services.catalog,
            inventory: services.inventory,
            orders: services.orders,
            notifications: services.notifications,
            search: services.search,
            media: services.media,
            image_policy: services.image_policy,
            bus: services.bus,
            auth_limiter: Arc::new(RateLimiter::per_minute(config.auth_rate_limit_per_minute)),
            config: Arc::new(config),
            metrics: crate::metrics::handle(),
        }
    }

    /// 403 unless `user`'s role may do `action` on `resource`.
    pub fn authorize(&self, user: &User, resource: Resource, action: Action) -> Result<(), crate::ApiError> {
        Ok(self.identity.authorize(user, resource, action)?)
    }
}
