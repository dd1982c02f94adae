//! Typed settings: defaults, then `emporium.toml` in the data directory,
//! then `EMPORIUM_*` environment variables, then command-line flags. A bad
//! value stops start-up with a message naming the variable or key.

use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// A secret that never prints.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// `postgres://…` selects PostgreSQL; unset means SQLite in `data_dir`.
    pub database_url: Option<Secret>,
    /// PostgreSQL connections per process.
    pub database_pool_size: u32,
    /// The server's HMAC key (browser CSRF tokens). Generated and kept in
    /// the data directory when unset; set it when several nodes share a
    /// shop. Access tokens are signed with identity's Ed25519 keys instead.
    pub jwt_secret: Option<Secret>,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_days: u64,
    pub auth_rate_limit: u32,
    pub cors_origins: Vec<String>,
    pub body_limit_bytes: usize,
    pub request_timeout_secs: u64,
    pub trust_forwarded_for: bool,
    /// The proxies in front of the shop, as CIDRs: `X-Forwarded-For` hops
    /// from these are skipped (empty: the socket peer is the one proxy).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Mark the browser's cookies `Secure` (set it when the shop is served over HTTPS).
    pub cookie_secure: bool,
    /// The shop's currency, used when staff type prices on the admin pages.
    pub currency: String,
    pub log: String,
    pub log_format: LogFormat,
    pub argon2_memory_kib: u32,
    pub argon2_iterations: u32,
    pub argon2_parallelism: u32,
    /// How long an account read for authenticating a request may be reused.
    pub account_cache_ttl_ms: u64,
    /// How long a SKU's availability read for a product page may be reused
    /// (a `stock.changed` event evicts it sooner; 0 turns the cache off).
    pub stock_cache_ttl_ms: u64,
    /// Name of the shop's default seller, set when the shop is first created.
    pub shop_name: String,
    /// Largest accepted image upload.
    pub image_max_bytes: usize,
    /// Where uploaded images are kept (default `<data_dir>/media`).
    pub media_dir: PathBuf,
    /// Where the search index lives (default `<data_dir>/search`).
    pub search_dir: PathBuf,
    /// Search results kept in memory (0 turns the cache off).
    pub search_cache_entries: usize,
    /// How long a checkout holds stock waiting for payment.
    pub reservation_ttl_secs: u64,
    /// How often the sweeper looks for unpaid checkouts past their hold.
    pub reservation_sweep_secs: u64,
    /// Published events are deleted after this many hours (hourly housekeeping).
    pub outbox_retention_hours: u64,
    /// Guests' carts untouched this many days, and named by no checkout, are deleted.
    pub guest_cart_retention_days: u64,
    /// Catalogue prices include tax (worked out of them at checkout).
    pub prices_include_tax: bool,
    /// Where image bytes are stored: the local `media_dir` or an S3-compatible bucket.
    pub media_store: MediaStoreKind,
    /// The bucket when `media_store` is `s3`.
    pub s3: S3Settings,
    /// `EMPORIUM_STRIPE_*`: Stripe is enabled when the secret key is set.
    pub stripe: StripeSettings,
    /// `EMPORIUM_SOLANA_*`: Solana Pay is enabled when the RPC URL is set.
    pub solana: SolanaSettings,
    /// `EMPORIUM_BUS_*`: where events go between contexts and nodes.
    pub bus: BusSettings,
    /// Where the shop is reached from outside (links in emails); default
    /// `http://<addr>`.
    pub public_url: Option<String>,
    /// `EMPORIUM_SERVICE_URL_IDENTITY`: check access tokens against the keys
    /// this identity service publishes at `/.well-known/jwks.json` instead
    /// of reading them from the local database.
    pub service_url_identity: Option<String>,
    /// `EMPORIUM_SERVICES` (`serve --services`): which services this process
    /// runs; all of them by default.
    pub services: web::Served,
    /// `EMPORIUM_SMTP_URL`, `EMPORIUM_MAIL_*`, `EMPORIUM_SMS_*`: how
    /// notifications leave.
    pub mail: MailSettings,
}

/// Notifications' servers. Without an SMTP URL, email only goes to the
/// delivery log (and the console); without an SMS account, texts do too.
#[derive(Debug, Clone)]
pub struct MailSettings {
    pub smtp_url: Option<Secret>,
    /// The sender, `Shop <shop@example.com>`: required with an SMTP URL.
    pub from: Option<String>,
    /// Where staff alerts go; empty: every active admin.
    pub staff_email: Vec<String>,
    /// The wait after a message's first failed try (doubled after each next one).
    pub retry_delay_ms: u64,
    /// Tries before a message is failed.
    pub max_attempts: u32,
    /// Twilio's Messages API, or a provider speaking its wire format.
    pub sms_url: String,
    pub sms_account_sid: Option<String>,
    pub sms_auth_token: Option<Secret>,
    pub sms_from: Option<String>,
}

/// The event bus: unset URL, the in-process bus; `amqp://…`, RabbitMQ;
/// `kafka://host:port[,host:port…]`, Kafka.
#[derive(Debug, Clone)]
pub struct BusSettings {
    pub url: Option<Secret>,
    /// The first word of the broker's exchange, queue and topic names, so
    /// that several shops can share one broker.
    pub prefix: String,
    /// This node's name in the broker (its per-node queues): stable across
    /// restarts. Default: the host's name and the port it serves.
    pub node_id: Option<String>,
    /// Failed handlings before an event goes to the dead letters.
    pub max_attempts: u32,
    /// How long a failed event waits before it is handled again.
    pub retry_delay_ms: u64,
}

impl BusSettings {
    pub fn is_rabbitmq(&self) -> bool {
        self.url.as_ref().is_some_and(|u| u.0.starts_with("amqp://") || u.0.starts_with("amqps://"))
    }

    /// The bootstrap servers of a `kafka://host:port[,host:port…]` URL.
    pub fn kafka_brokers(&self) -> Option<String> {
        self.url.as_ref().and_then(|u| bus_kafka::KafkaSettings::brokers_of(&u.0))
    }
}

#[derive(Debug, Clone)]
pub struct StripeSettings {
    pub secret_key: Option<Secret>,
    /// `pk_…`: the storefront's Payment Element needs it.
    pub publishable_key: Option<String>,
    pub api_base: String,
    /// Comma-separated in the setting: a second secret is accepted during a rotation.
    pub webhook_secrets: Vec<Secret>,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone)]
pub struct SolanaSettings {
    pub rpc_url: Option<String>,
    /// Pay in this SPL token (USDC's mint, say) instead of SOL.
    pub usdc_mint: Option<String>,
    pub token_decimals: u32,
    /// The currency one token is worth one unit of.
    pub token_currency: String,
    /// Paying in SOL: minor units of the shop's currency per SOL.
    pub sol_price_minor: Option<u64>,
    pub poll_secs: u64,
    pub timeout_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaStoreKind {
    Local,
    S3,
}

/// `EMPORIUM_S3_*`: an S3-compatible bucket (AWS S3, R2, MinIO, Ceph, Garage…).
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    pub endpoint: String,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: Option<Secret>,
    pub prefix: String,
    pub virtual_hosted: bool,
}

impl S3Settings {
    pub fn config(&self) -> media::S3Config {
        media::S3Config {
            endpoint: self.endpoint.clone(),
            bucket: self.bucket.clone(),
            region: self.region.clone(),
            access_key_id: self.access_key_id.clone(),
            secret_access_key: self.secret_access_key.as_ref().map(|s| s.0.clone()).unwrap_or_default(),
            prefix: self.prefix.clone(),
            virtual_hosted: self.virtual_hosted,
        }
    }
}

impl Settings {
    pub fn defaults(data_dir: PathBuf) -> Settings {
        Settings {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: data_dir.clone(),
            database_url: None,
            database_pool_size: store_postgres::DEFAULT_POOL_SIZE,
            jwt_secret: None,
            access_token_ttl_secs: 900,
            refresh_token_ttl_days: 30,
            auth_rate_limit: 30,
            cors_origins: Vec::new(),
            body_limit_bytes: 1024 * 1024,
            request_timeout_secs: 30,
            trust_forwarded_for: false,
            trusted_proxies: Vec::new(),
            cookie_secure: false,
            currency: "USD".to_owned(),
            log: "info".to_owned(),
            log_format: LogFormat::Text,
            argon2_memory_kib: 19 * 1024,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            account_cache_ttl_ms: 2000,
            stock_cache_ttl_ms: 1000,
            shop_name: "Emporium".to_owned(),
            image_max_bytes: 10 * 1024 * 1024,
            media_dir: data_dir.join("media"),
            search_dir: data_dir.join("search"),
            search_cache_entries: 1024,
            reservation_ttl_secs: 900,
            reservation_sweep_secs: 10,
            outbox_retention_hours: 168,
            guest_cart_retention_days: 30,
            prices_include_tax: false,
            media_store: MediaStoreKind::Local,
            s3: S3Settings { region: "us-east-1".to_owned(), ..S3Settings::default() },
            stripe: StripeSettings {
                secret_key: None,
                publishable_key: None,
                api_base: payments::stripe::DEFAULT_API_BASE.to_owned(),
                webhook_secrets: Vec::new(),
                timeout_ms: 10_000,
            },
            solana: SolanaSettings {
                rpc_url: None,
                usdc_mint: None,
                token_decimals: 6,
                token_currency: "USD".to_owned(),
                sol_price_minor: None,
                poll_secs: 5,
                timeout_ms: 10_000,
            },
            bus: BusSettings {
                url: None,
                prefix: "emporium".to_owned(),
                node_id: None,
                max_attempts: 5,
                retry_delay_ms: 5_000,
            },
            public_url: None,
            service_url_identity: None,
            services: web::Served::all(),
            mail: MailSettings {
                smtp_url: None,
                from: None,
                staff_email: Vec::new(),
                retry_delay_ms: 2_000,
                max_attempts: 20,
                sms_url: "https://api.twilio.com".to_owned(),
                sms_account_sid: None,
                sms_auth_token: None,
                sms_from: None,
            },
        }
    }

    /// Where the shop is reached from outside, without a trailing slash.
    pub fn public_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.addr),
        }
    }

    /// This node's name among the shop's nodes (see [`BusSettings::node_id`]).
    pub fn node_id(&self) -> String {
        self.node_id_on(self.addr.port())
    }

    /// [`Settings::node_id`] for a node serving on `port`.
    pub fn node_id_on(&self, port: u16) -> String {
        if let Some(id) = &self.bus.node_id {
            return id.clone();
        }
        let host = std::fs::read_to_string("/etc/hostname")
            .ok()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| "localhost".to_owned());
        format!("{host}-{port}")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// `EMPORIUM_AUTH_RATE_LIMIT: invalid value "lots": expected …`, or the
    /// same naming a key of the file.
    #[error("{source_name}: {message}")]
    Invalid { source_name: String, message: String },
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

impl SettingsError {
    fn invalid(source_name: &str, reason: &str) -> SettingsError {
        SettingsError::Invalid { source_name: source_name.into(), message: reason.into() }
    }
}

pub const FILE_NAME: &str = "emporium.toml";

/// Every setting as the file writes it (`auth_rate_limit = 5`) and the
/// environment does (`EMPORIUM_AUTH_RATE_LIMIT=5`), each parsed and checked
/// by its type as it is read, so a bad value is refused naming its source.
/// Unset means the default (or the file's value, under the environment).
#[derive(Debug, Default, Deserialize)]
struct Layered {
    addr: Option<Parsed<SocketAddr, AddrRule>>,
    database_url: Option<Hidden>,
    database_pool_size: Option<Number<1, 1000>>,
    jwt_secret: Option<Hidden>,
    access_token_ttl_secs: Option<Number<1, 86_400>>,
    refresh_token_ttl_days: Option<Number<1, 365>>,
    auth_rate_limit: Option<Number<0, 1_000_000>>,
    cors_origins: Option<List>,
    body_limit_bytes: Option<Number<1024, { 1 << 30 }>>,
    request_timeout_secs: Option<Number<1, 3600>>,
    trust_forwarded_for: Option<Flag>,
    trusted_proxies: Option<List>,
    cookie_secure: Option<Flag>,
    currency: Option<Text>,
    log: Option<Text>,
    log_format: Option<Text>,
    argon2_memory_kib: Option<Number<1024, { 4 << 20 }>>,
    argon2_iterations: Option<Number<1, 100>>,
    argon2_parallelism: Option<Number<1, 64>>,
    account_cache_ttl_ms: Option<Number<0, 60_000>>,
    stock_cache_ttl_ms: Option<Number<0, 60_000>>,
    shop_name: Option<Text>,
    image_max_bytes: Option<Number<1024, { 100 << 20 }>>,
    media_dir: Option<Text>,
    search_dir: Option<Text>,
    search_cache_entries: Option<Number<0, 1_000_000>>,
    reservation_ttl_secs: Option<Number<1, { 7 * 86_400 }>>,
    reservation_sweep_secs: Option<Number<1, 3600>>,
    outbox_retention_hours: Option<Number<1, { 10 * 8_760 }>>,
    guest_cart_retention_days: Option<Number<1, 3_650>>,
    prices_include_tax: Option<Flag>,
    media_store: Option<Text>,
    s3_endpoint: Option<Text>,
    s3_bucket: Option<Text>,
    s3_region: Option<Text>,
    s3_access_key_id: Option<Text>,
    s3_secret_access_key: Option<Hidden>,
    s3_prefix: Option<Text>,
    s3_virtual_hosted: Option<Flag>,
    stripe_secret_key: Option<Hidden>,
    stripe_publishable_key: Option<Text>,
    stripe_api_base: Option<Parsed<String, HttpUrl>>,
    stripe_webhook_secret: Option<HiddenList>,
    stripe_timeout_ms: Option<Number<100, 120_000>>,
    solana_rpc_url: Option<Parsed<String, OptionalHttpUrl>>,
    solana_usdc_mint: Option<Text>,
    solana_token_decimals: Option<Number<0, 18>>,
    solana_token_currency: Option<Text>,
    solana_sol_price_minor: Option<Number<1, { u64::MAX / 2 }>>,
    solana_poll_secs: Option<Number<1, 3600>>,
    solana_timeout_ms: Option<Number<100, 120_000>>,
    bus_url: Option<Hidden>,
    bus_prefix: Option<Text>,
    node_id: Option<Text>,
    bus_max_attempts: Option<Number<1, 100>>,
    bus_retry_delay_ms: Option<Number<100, 3_600_000>>,
    public_url: Option<Parsed<String, OptionalHttpUrl>>,
    service_url_identity: Option<Parsed<String, OptionalHttpUrl>>,
    services: Option<Text>,
    smtp_url: Option<Hidden>,
    mail_from: Option<Text>,
    staff_email: Option<List>,
    mail_retry_delay_ms: Option<Number<10, 3_600_000>>,
    mail_max_attempts: Option<Number<1, 100>>,
    sms_url: Option<Parsed<String, HttpUrl>>,
    sms_account_sid: Option<Text>,
    sms_auth_token: Option<Hidden>,
    sms_from: Option<Text>,
    /// Keys this struct does not name: an error in the file, ignored in the
    /// environment (other programs' `EMPORIUM_*` variables, the tests').
    #[serde(flatten)]
    unknown: std::collections::BTreeMap<String, figment::value::Value>,
}

impl Settings {
    /// Loads settings for `data_dir`: the defaults, then `emporium.toml` in
    /// it, then the `EMPORIUM_*` variables of `env`.
    pub fn load(data_dir: PathBuf, env: &[(String, String)]) -> Result<Settings, SettingsError> {
        use figment::providers::{Format as _, Toml};
        let mut settings = Settings::defaults(data_dir);
        let path = settings.data_dir.join(FILE_NAME);
        let file = match std::fs::read_to_string(&path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(SettingsError::File { path: path.display().to_string(), message: e.to_string() }),
        };
        let file_error = |message: String| SettingsError::File { path: path.display().to_string(), message };
        let mut figment = figment::Figment::new();
        if let Some(text) = &file {
            toml::from_str::<toml::Table>(text).map_err(|e| file_error(e.to_string()))?;
            figment = figment.merge(Toml::string(text));
        }
        let figment = figment.merge(Environment(env.to_vec()));
        let layered: Layered = figment.extract().map_err(|e| {
            let key = e.path.join(".");
            let message = e.kind.to_string();
            match e.metadata.as_ref().map(|m| m.name.as_ref()) {
                Some(ENVIRONMENT) => SettingsError::invalid(&format!("EMPORIUM_{}", key.to_uppercase()), &message),
                _ => SettingsError::invalid(&format!("{} key `{key}`", path.display()), &message),
            }
        })?;
        for key in layered.unknown.keys() {
            if figment.find_metadata(key).is_some_and(|m| m.name != ENVIRONMENT) {
                return Err(file_error(format!("unknown key `{key}`")));
            }
        }
        settings.apply(layered, &|key: &str| match figment.find_metadata(key) {
            Some(m) if m.name == ENVIRONMENT => format!("EMPORIUM_{}", key.to_uppercase()),
            _ => format!("{} key `{key}`", path.display()),
        })?;
        settings.validate()?;
        Ok(settings)
    }

    /// Takes every value `layered` sets. The checks that need more than the
    /// value's type (a known currency, a Solana address) name `origin(key)`.
    /// Long on purpose: one short assignment per setting, in the order of
    /// `Layered`; split up, they would only be harder to check against it.
    fn apply(&mut self, l: Layered, origin: &dyn Fn(&str) -> String) -> Result<(), SettingsError> {
        let bad = |key: &str, value: &str, reason: &str| {
            SettingsError::invalid(&origin(key), &format!("invalid value {value:?}: {reason}"))
        };
        let set = |slot: &mut u64, n: Option<u64>| {
            if let Some(n) = n {
                *slot = n;
            }
        };
        if let Some(v) = l.addr {
            self.addr = v.0;
        }
        if let Some(Hidden(url)) = l.database_url {
            self.database_url = (!url.is_empty()).then_some(Secret(url));
        }
        if let Some(n) = l.database_pool_size {
            self.database_pool_size = n.narrow();
        }
        if let Some(Hidden(secret)) = l.jwt_secret {
            if secret.len() < 32 {
                return Err(SettingsError::invalid(
                    &origin("jwt_secret"),
                    "invalid value \"[redacted]\": must be at least 32 characters",
                ));
            }
            self.jwt_secret = Some(Secret(secret));
        }
        set(&mut self.access_token_ttl_secs, l.access_token_ttl_secs.map(|n| n.0));
        set(&mut self.refresh_token_ttl_days, l.refresh_token_ttl_days.map(|n| n.0));
        if let Some(n) = l.auth_rate_limit {
            self.auth_rate_limit = n.narrow();
        }
        if let Some(List(origins)) = l.cors_origins {
            if let Some(o) = origins.iter().find(|o| !(o.starts_with("http://") || o.starts_with("https://"))) {
                return Err(bad(
                    "cors_origins",
                    &origins.join(","),
                    &format!("origin {o:?} must start with http:// or https://"),
                ));
            }
            self.cors_origins = origins;
        }
        if let Some(n) = l.body_limit_bytes {
            self.body_limit_bytes = n.narrow();
        }
        set(&mut self.request_timeout_secs, l.request_timeout_secs.map(|n| n.0));
        if let Some(Flag(b)) = l.trust_forwarded_for {
            self.trust_forwarded_for = b;
        }
        if let Some(List(proxies)) = l.trusted_proxies {
            self.trusted_proxies = proxies
                .iter()
                .map(|p| p.parse::<ipnet::IpNet>().or_else(|_| p.parse::<std::net::IpAddr>().map(Into::into)))
                .collect::<Result<_, _>>()
                .map_err(|_| {
                    bad("trusted_proxies", &proxies.join(","), "expected addresses or CIDRs, e.g. 10.0.0.0/8,127.0.0.1")
                })?;
        }
        if let Some(Flag(b)) = l.cookie_secure {
            self.cookie_secure = b;
        }
        if let Some(Text(code)) = l.currency {
            let code = code.to_uppercase();
            kernel::Currency::parse(&code)
                .map_err(|_| bad("currency", &code, "expected an ISO 4217 currency code, e.g. USD"))?;
            self.currency = code;
        }
        if let Some(Text(log)) = l.log {
            self.log = log;
        }
        if let Some(Text(format)) = l.log_format {
            self.log_format = match format.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => return Err(bad("log_format", &format, "expected text or json")),
            };
        }
        if let Some(n) = l.argon2_memory_kib {
            self.argon2_memory_kib = n.narrow();
        }
        if let Some(n) = l.argon2_iterations {
            self.argon2_iterations = n.narrow();
        }
        if let Some(n) = l.argon2_parallelism {
            self.argon2_parallelism = n.narrow();
        }
        set(&mut self.account_cache_ttl_ms, l.account_cache_ttl_ms.map(|n| n.0));
        set(&mut self.stock_cache_ttl_ms, l.stock_cache_ttl_ms.map(|n| n.0));
        if let Some(Text(name)) = l.shop_name {
            if name.is_empty() || name.chars().count() > 200 {
                return Err(bad("shop_name", &name, "must be 1 to 200 characters"));
            }
            self.shop_name = name;
        }
        if let Some(n) = l.image_max_bytes {
            self.image_max_bytes = n.narrow();
        }
        if let Some(Text(dir)) = l.media_dir {
            self.media_dir = PathBuf::from(dir);
        }
        if let Some(Text(dir)) = l.search_dir {
            self.search_dir = PathBuf::from(dir);
        }
        if let Some(n) = l.search_cache_entries {
            self.search_cache_entries = n.narrow();
        }
        set(&mut self.reservation_ttl_secs, l.reservation_ttl_secs.map(|n| n.0));
        set(&mut self.reservation_sweep_secs, l.reservation_sweep_secs.map(|n| n.0));
        set(&mut self.outbox_retention_hours, l.outbox_retention_hours.map(|n| n.0));
        set(&mut self.guest_cart_retention_days, l.guest_cart_retention_days.map(|n| n.0));
        if let Some(Flag(b)) = l.prices_include_tax {
            self.prices_include_tax = b;
        }
        if let Some(Text(kind)) = l.media_store {
            self.media_store = match kind.as_str() {
                "local" => MediaStoreKind::Local,
                "s3" => MediaStoreKind::S3,
                _ => return Err(bad("media_store", &kind, "expected local or s3")),
            };
        }
        let s3 = &mut self.s3;
        for (slot, value) in [
            (&mut s3.endpoint, l.s3_endpoint),
            (&mut s3.bucket, l.s3_bucket),
            (&mut s3.region, l.s3_region),
            (&mut s3.access_key_id, l.s3_access_key_id),
            (&mut s3.prefix, l.s3_prefix),
        ] {
            if let Some(Text(v)) = value {
                *slot = v;
            }
        }
        if let Some(Hidden(key)) = l.s3_secret_access_key {
            s3.secret_access_key = (!key.is_empty()).then_some(Secret(key));
        }
        if let Some(Flag(b)) = l.s3_virtual_hosted {
            s3.virtual_hosted = b;
        }
        if let Some(Hidden(key)) = l.stripe_secret_key {
            self.stripe.secret_key = (!key.trim().is_empty()).then(|| Secret(key.trim().to_owned()));
        }
        if let Some(Text(key)) = l.stripe_publishable_key {
            self.stripe.publishable_key = Some(key).filter(|k| !k.is_empty());
        }
        if let Some(url) = l.stripe_api_base {
            self.stripe.api_base = url.0.trim_end_matches('/').to_owned();
        }
        if let Some(HiddenList(secrets)) = l.stripe_webhook_secret {
            self.stripe.webhook_secrets = secrets.into_iter().map(Secret).collect();
        }
        set(&mut self.stripe.timeout_ms, l.stripe_timeout_ms.map(|n| n.0));
        if let Some(url) = l.solana_rpc_url {
            self.solana.rpc_url = Some(url.0).filter(|u| !u.is_empty());
        }
        if let Some(Text(mint)) = l.solana_usdc_mint {
            if !mint.is_empty() && !payments::solana::is_address(&mint) {
                return Err(bad("solana_usdc_mint", &mint, "must be a base58 Solana address"));
            }
            self.solana.usdc_mint = Some(mint).filter(|m| !m.is_empty());
        }
        if let Some(n) = l.solana_token_decimals {
            self.solana.token_decimals = n.narrow();
        }
        if let Some(Text(code)) = l.solana_token_currency {
            kernel::Currency::parse(&code).map_err(|e| bad("solana_token_currency", &code, &e.to_string()))?;
            self.solana.token_currency = code;
        }
        if let Some(n) = l.solana_sol_price_minor {
            self.solana.sol_price_minor = Some(n.0);
        }
        set(&mut self.solana.poll_secs, l.solana_poll_secs.map(|n| n.0));
        set(&mut self.solana.timeout_ms, l.solana_timeout_ms.map(|n| n.0));
        if let Some(Hidden(url)) = l.bus_url {
            let url = url.trim().to_owned();
            self.bus.url = (!url.is_empty()).then_some(Secret(url));
        }
        let name_like = |id: &str| {
            !id.is_empty()
                && id.len() <= 100
                && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if let Some(Text(prefix)) = l.bus_prefix {
            if !name_like(&prefix) {
                return Err(bad("bus_prefix", &prefix, "must be 1 to 100 letters, digits, '-', '_' or '.'"));
            }
            self.bus.prefix = prefix;
        }
        if let Some(Text(id)) = l.node_id {
            if !name_like(&id) {
                return Err(bad("node_id", &id, "must be 1 to 100 letters, digits, '-', '_' or '.'"));
            }
            self.bus.node_id = Some(id);
        }
        if let Some(n) = l.bus_max_attempts {
            self.bus.max_attempts = n.narrow();
        }
        set(&mut self.bus.retry_delay_ms, l.bus_retry_delay_ms.map(|n| n.0));
        if let Some(url) = l.public_url {
            self.public_url = Some(url.0).filter(|u| !u.is_empty());
        }
        if let Some(Text(list)) = l.services {
            self.services = list.parse().map_err(|e: String| bad("services", &list, &e))?;
        }
        if let Some(url) = l.service_url_identity {
            self.service_url_identity = Some(url.0.trim_end_matches('/').to_owned()).filter(|u| !u.is_empty());
        }
        let mail = &mut self.mail;
        if let Some(Hidden(url)) = l.smtp_url {
            let url = url.trim().to_owned();
            if !(url.is_empty() || url.starts_with("smtp://") || url.starts_with("smtps://")) {
                return Err(SettingsError::invalid(
                    &origin("smtp_url"),
                    "invalid value \"[redacted]\": expected smtp://host:port or smtps://user:pass@host:465",
                ));
            }
            mail.smtp_url = (!url.is_empty()).then_some(Secret(url));
        }
        if let Some(Text(from)) = l.mail_from {
            if !from.is_empty() && !from.contains('@') {
                return Err(bad("mail_from", &from, "expected an address, e.g. Shop <shop@example.com>"));
            }
            mail.from = Some(from).filter(|f| !f.is_empty());
        }
        if let Some(List(staff)) = l.staff_email {
            if let Some(a) = staff.iter().find(|a| !a.contains('@')) {
                return Err(bad("staff_email", a, "expected email addresses, comma-separated"));
            }
            mail.staff_email = staff;
        }
        set(&mut mail.retry_delay_ms, l.mail_retry_delay_ms.map(|n| n.0));
        if let Some(n) = l.mail_max_attempts {
            mail.max_attempts = n.narrow();
        }
        if let Some(url) = l.sms_url {
            mail.sms_url = url.0.trim_end_matches('/').to_owned();
        }
        if let Some(Text(sid)) = l.sms_account_sid {
            mail.sms_account_sid = Some(sid).filter(|s| !s.is_empty());
        }
        if let Some(Hidden(token)) = l.sms_auth_token {
            mail.sms_auth_token = (!token.is_empty()).then_some(Secret(token));
        }
        if let Some(Text(from)) = l.sms_from {
            mail.sms_from = Some(from).filter(|f| !f.is_empty());
        }
        Ok(())
    }

    /// A subset of the services needs a broker (on the in-process bus a
    /// process's events reach only its own consumers) and PostgreSQL.
    pub fn check_services(&self) -> Result<(), SettingsError> {
        if !self.services.is_all() && self.bus.url.is_none() {
            return Err(SettingsError::invalid(
                "EMPORIUM_SERVICES",
                "services run apart need a broker (EMPORIUM_BUS_URL, amqp:// or kafka://): on the in-process bus \
                 a process's events reach only its own consumers",
            ));
        }
        if !self.services.is_all() && self.database_url.is_none() {
            return Err(SettingsError::invalid(
                "EMPORIUM_SERVICES",
                "services run apart share one PostgreSQL database for now (EMPORIUM_DATABASE_URL): the embedded \
                 SQLite database belongs to one process's data directory",
            ));
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if let Some(url) = &self.database_url
            && !(url.0.starts_with("postgres://") || url.0.starts_with("postgresql://"))
        {
            return Err(SettingsError::invalid(
                "EMPORIUM_DATABASE_URL",
                "invalid value \"[redacted]\": must be a postgres:// URL (leave it unset for the embedded SQLite \
                 database)",
            ));
        }
        if self.bus.url.is_some() && !self.bus.is_rabbitmq() && self.bus.kafka_brokers().is_none() {
            return Err(SettingsError::invalid(
                "EMPORIUM_BUS_URL",
                "invalid value \"[redacted]\": expected amqp:// or amqps:// (RabbitMQ) or \
                 kafka://host:port[,host:port…] (Kafka); leave it unset for the in-process bus",
            ));
        }
        self.check_services()?;
        if self.mail.smtp_url.is_some() && self.mail.from.is_none() {
            return Err(SettingsError::invalid(
                "EMPORIUM_MAIL_FROM",
                "must be set when EMPORIUM_SMTP_URL is (the sender, e.g. Shop <shop@example.com>)",
            ));
        }
        if self.mail.sms_account_sid.is_some() {
            for (name, missing) in [
                ("EMPORIUM_SMS_AUTH_TOKEN", self.mail.sms_auth_token.is_none()),
                ("EMPORIUM_SMS_FROM", self.mail.sms_from.is_none()),
            ] {
                if missing {
                    return Err(SettingsError::invalid(name, "must be set when EMPORIUM_SMS_ACCOUNT_SID is"));
                }
            }
        }
        if self.solana.rpc_url.is_some() && self.solana.usdc_mint.is_none() && self.solana.sol_price_minor.is_none() {
            return Err(SettingsError::invalid(
                "EMPORIUM_SOLANA_RPC_URL",
                "Solana Pay needs EMPORIUM_SOLANA_USDC_MINT (pay in that token) or \
                 EMPORIUM_SOLANA_SOL_PRICE_MINOR (pay in SOL at that price)",
            ));
        }
        if self.media_store == MediaStoreKind::S3 {
            let s3 = &self.s3;
            let missing = [
                ("EMPORIUM_S3_ENDPOINT", s3.endpoint.is_empty()),
                ("EMPORIUM_S3_BUCKET", s3.bucket.is_empty()),
                ("EMPORIUM_S3_REGION", s3.region.is_empty()),
                ("EMPORIUM_S3_ACCESS_KEY_ID", s3.access_key_id.is_empty()),
                ("EMPORIUM_S3_SECRET_ACCESS_KEY", s3.secret_access_key.is_none()),
            ];
            if let Some((name, _)) = missing.iter().find(|(_, missing)| *missing) {
                return Err(SettingsError::invalid(name, "must be set when EMPORIUM_MEDIA_STORE is s3"));
            }
            s3.config().base_url().map_err(|e| SettingsError::invalid("EMPORIUM_S3_*", &e.to_string()))?;
        }
        Ok(())
    }
}

/// The name the environment's values carry (see `Environment`).
const ENVIRONMENT: &str = "environment";

/// The `EMPORIUM_*` variables of the process, keys lower-cased after the
/// prefix, values as written: a string stays a string (`EMPORIUM_SHOP_NAME=007`
/// is not the number 7); each type below parses its own.
struct Environment(Vec<(String, String)>);

impl figment::Provider for Environment {
    fn metadata(&self) -> figment::Metadata {
        figment::Metadata::named(ENVIRONMENT)
    }

    fn data(&self) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        let dict = self
            .0
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("EMPORIUM_")?.to_ascii_lowercase(), v.clone().into())))
            .collect();
        Ok(figment::Profile::Default.collect(dict))
    }
}

/// A scalar read as text (a TOML number or boolean as written), trimmed.
#[derive(Debug)]
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = <figment::value::Value as Deserialize>::deserialize(d)?;
        scalar(&value)
            .map(|s| Text(s.trim().to_owned()))
            .ok_or_else(|| serde::de::Error::custom("must be a string, number or boolean"))
    }
}

/// A secret, as written (not trimmed: its edges may be part of it); its
/// value never appears in an error or a debug print.
struct Hidden(String);

impl fmt::Debug for Hidden {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Hidden {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = <figment::value::Value as Deserialize>::deserialize(d)?;
        scalar(&value).map(Hidden).ok_or_else(|| serde::de::Error::custom("must be a string"))
    }
}

/// A comma-separated list (or a TOML list of strings), blanks dropped.
#[derive(Debug)]
struct List(Vec<String>);

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use figment::value::Value;
        let items: Vec<String> = match <Value as Deserialize>::deserialize(d)? {
            Value::Array(_, items) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| serde::de::Error::custom("must be a list of strings"))?,
            other => scalar(&other)
                .ok_or_else(|| serde::de::Error::custom("must be a string or a list of strings"))?
                .split(',')
                .map(str::to_owned)
                .collect(),
        };
        Ok(List(items.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).map(str::to_owned).collect()))
    }
}

/// `List` of secrets.
struct HiddenList(Vec<String>);

impl fmt::Debug for HiddenList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for HiddenList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        List::deserialize(d).map(|List(v)| HiddenList(v)).map_err(|_| serde::de::Error::custom("must be a string"))
    }
}

/// A whole number from `MIN` to `MAX`, from a number or a string.
#[derive(Debug, Clone, Copy)]
struct Number<const MIN: u64, const MAX: u64>(u64);

impl<const MIN: u64, const MAX: u64> Number<MIN, MAX> {
    /// The value in the setting's own type; the bounds make it fit.
    fn narrow<T: TryFrom<u64> + Default>(self) -> T {
        T::try_from(self.0).unwrap_or_default()
    }
}

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Number<MIN, MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = <figment::value::Value as Deserialize>::deserialize(d)?;
        let text = scalar(&value).unwrap_or_default();
        match text.trim().parse::<u64>() {
            Ok(n) if (MIN..=MAX).contains(&n) => Ok(Number(n)),
            _ => Err(serde::de::Error::custom(format!(
                "invalid value {text:?}: expected a whole number from {MIN} to {MAX}"
            ))),
        }
    }
}

/// `true`/`false` (also `1`/`0`, `yes`/`no`, `on`/`off`).
#[derive(Debug)]
struct Flag(bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = <figment::value::Value as Deserialize>::deserialize(d)?;
        let text = scalar(&value).unwrap_or_default();
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Flag(true)),
            "false" | "0" | "no" | "off" => Ok(Flag(false)),
            _ => Err(serde::de::Error::custom(format!("invalid value {text:?}: expected true or false"))),
        }
    }
}

/// A value parsed from text by rule `R`, which says what it expects.
#[derive(Debug)]
struct Parsed<T, R>(T, std::marker::PhantomData<R>);

trait Rule<T> {
    const EXPECTED: &'static str;
    fn parse(text: &str) -> Option<T>;
}

#[derive(Debug)]
struct AddrRule;
impl Rule<SocketAddr> for AddrRule {
    const EXPECTED: &'static str = "expected host:port, e.g. 127.0.0.1:8080";
    fn parse(text: &str) -> Option<SocketAddr> {
        text.parse().ok()
    }
}

#[derive(Debug)]
struct HttpUrl;
impl Rule<String> for HttpUrl {
    const EXPECTED: &'static str = "must be an http:// or https:// URL";
    fn parse(text: &str) -> Option<String> {
        (text.starts_with("http://") || text.starts_with("https://")).then(|| text.to_owned())
    }
}

/// `HttpUrl`, or empty for none.
#[derive(Debug)]
struct OptionalHttpUrl;
impl Rule<String> for OptionalHttpUrl {
    const EXPECTED: &'static str = HttpUrl::EXPECTED;
    fn parse(text: &str) -> Option<String> {
        if text.is_empty() { Some(String::new()) } else { HttpUrl::parse(text) }
    }
}

impl<'de, T, R: Rule<T>> Deserialize<'de> for Parsed<T, R> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let Text(text) = Text::deserialize(d)?;
        R::parse(&text)
            .map(|v| Parsed(v, std::marker::PhantomData))
            .ok_or_else(|| serde::de::Error::custom(format!("invalid value {text:?}: {}", R::EXPECTED)))
    }
}

/// A string, number or boolean as text; `None` for a list or a table.
fn scalar(value: &figment::value::Value) -> Option<String> {
    use figment::value::Value;
    match value {
        Value::String(_, s) => Some(s.clone()),
        Value::Char(_, c) => Some(c.to_string()),
        Value::Bool(_, b) => Some(b.to_string()),
        Value::Num(_, n) => Some(match n.to_u128() {
            Some(u) => u.to_string(),
            None => {
                n.to_i128().map_or_else(|| n.to_f64().map(|f| f.to_string()).unwrap_or_default(), |i| i.to_string())
            }
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(FILE_NAME), "auth_rate_limit = 5\naddr = \"127.0.0.1:9000\"\n").expect("write");
        let s = Settings::load(dir.path().to_owned(), &env(&[("EMPORIUM_AUTH_RATE_LIMIT", "7")])).expect("load");
        assert_eq!(s.auth_rate_limit, 7, "environment beats file");
        assert_eq!(s.addr.port(), 9000, "file beats default");
        assert_eq!(s.access_token_ttl_secs, 900, "default kept");
    }

    #[test]
    fn bad_values_name_their_source() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err =
            Settings::load(dir.path().to_owned(), &env(&[("EMPORIUM_AUTH_RATE_LIMIT", "lots")])).expect_err("invalid");
        assert!(err.to_string().starts_with("EMPORIUM_AUTH_RATE_LIMIT: invalid value \"lots\""), "{err}");

        let err = Settings::load(dir.path().to_owned(), &env(&[("EMPORIUM_DATABASE_URL", "mysql://x")]))
            .expect_err("invalid");
        assert!(err.to_string().contains("EMPORIUM_DATABASE_URL") && !err.to_string().contains("mysql"), "{err}");

        std::fs::write(dir.path().join(FILE_NAME), "colour = \"blue\"\n").expect("write");
        let err = Settings::load(dir.path().to_owned(), &[]).expect_err("unknown key");
        assert!(err.to_string().contains("colour"), "{err}");
    }

    #[test]
    fn every_key_is_accepted_in_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = "shop_name = \"Corner Shop\"\nimage_max_bytes = 2048\ncors_origins = [\"https://a.example\", \"https://b.example\"]\n\
                    media_store = \"s3\"\ns3_endpoint = \"https://s3.example.com\"\ns3_bucket = \"shop\"\n\
                    s3_access_key_id = \"AK\"\ns3_secret_access_key = \"SK\"\ns3_virtual_hosted = true\n";
        std::fs::write(dir.path().join(FILE_NAME), file).expect("write");
        let s = Settings::load(dir.path().to_owned(), &[]).expect("load");
        assert_eq!(s.shop_name, "Corner Shop");
        assert_eq!(s.image_max_bytes, 2048);
        assert_eq!(s.cors_origins, ["https://a.example", "https://b.example"]);
        assert_eq!(s.media_store, MediaStoreKind::S3);
        assert_eq!((s.s3.bucket.as_str(), s.s3.region.as_str(), s.s3.virtual_hosted), ("shop", "us-east-1", true));
    }

    #[test]
    fn s3_needs_its_settings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Settings::load(dir.path().to_owned(), &env(&[("EMPORIUM_MEDIA_STORE", "s3")])).expect_err("missing");
        assert!(err.to_string().starts_with("EMPORIUM_S3_ENDPOINT"), "{err}");
        let err = Settings::load(dir.path().to_owned(), &env(&[("EMPORIUM_MEDIA_STORE", "ftp")])).expect_err("bad");
        assert!(err.to_string().contains("expected local or s3"), "{err}");
        let err = Settings::load(
            dir.path().to_owned(),
            &env(&[
                ("EMPORIUM_MEDIA_STORE", "s3"),
                ("EMPORIUM_S3_ENDPOINT", "http://127.0.0.1:9000"),
                ("EMPORIUM_S3_BUCKET", "Not_A_Bucket"),
                ("EMPORIUM_S3_ACCESS_KEY_ID", "AK"),
                ("EMPORIUM_S3_SECRET_ACCESS_KEY", "very-secret"),
            ]),
        )
        .expect_err("bad bucket");
        assert!(err.to_string().contains("Not_A_Bucket") && !err.to_string().contains("very-secret"), "{err}");
    }

    #[test]
    fn mail_sms_and_bus_settings_are_checked_together() {
        let dir = tempfile::tempdir().expect("tempdir");
        let load = |pairs: &[(&str, &str)]| Settings::load(dir.path().to_owned(), &env(pairs));
        let err = load(&[("EMPORIUM_SMTP_URL", "smtp://127.0.0.1:2525")]).expect_err("no sender");
        assert!(err.to_string().starts_with("EMPORIUM_MAIL_FROM: must be set"), "{err}");
        let err = load(&[("EMPORIUM_SMTP_URL", "http://mail.example")]).expect_err("not SMTP");
        assert!(err.to_string().starts_with("EMPORIUM_SMTP_URL: invalid value \"[redacted]\""), "{err}");
        let err = load(&[("EMPORIUM_SMS_ACCOUNT_SID", "AC1"), ("EMPORIUM_SMS_FROM", "+1555")]).expect_err("no token");
        assert!(err.to_string().starts_with("EMPORIUM_SMS_AUTH_TOKEN: must be set"), "{err}");
        let err = load(&[("EMPORIUM_STAFF_EMAIL", "ops@shop.test,nobody")]).expect_err("not an address");
        assert!(err.to_string().starts_with("EMPORIUM_STAFF_EMAIL:"), "{err}");
        let s = load(&[
            ("EMPORIUM_SMTP_URL", "smtps://u:p@mail.example:465"),
            ("EMPORIUM_MAIL_FROM", "Shop <shop@example.com>"),
            ("EMPORIUM_STAFF_EMAIL", "ops@shop.test, boss@shop.test"),
            ("EMPORIUM_PUBLIC_URL", "https://shop.example/"),
            ("EMPORIUM_BUS_URL", "kafka://k1:9092,k2:9092"),
            ("EMPORIUM_SERVICE_URL_IDENTITY", "http://10.0.0.5:8101/"),
        ])
        .expect("good settings");
        assert_eq!(s.service_url_identity.as_deref(), Some("http://10.0.0.5:8101"));
        assert!(s.services.is_all());
        let apart = load(&[
            ("EMPORIUM_SERVICES", "orders,inventory"),
            ("EMPORIUM_BUS_URL", "amqp://h:5672/%2f"),
            ("EMPORIUM_DATABASE_URL", "postgres://h/shop"),
        ])
        .expect("services");
        assert_eq!(apart.services.to_string(), "inventory,orders");
        let err = load(&[("EMPORIUM_SERVICES", "orders")]).expect_err("no broker");
        assert!(err.to_string().starts_with("EMPORIUM_SERVICES: services run apart need a broker"), "{err}");
        let err =
            load(&[("EMPORIUM_SERVICES", "orders"), ("EMPORIUM_BUS_URL", "amqp://h:5672/%2f")]).expect_err("SQLite");
        assert!(err.to_string().contains("one PostgreSQL database"), "{err}");
        let err = load(&[("EMPORIUM_SERVICES", "orders,billing")]).expect_err("unknown");
        assert!(err.to_string().contains("unknown service \"billing\""), "{err}");
        let err = load(&[("EMPORIUM_SERVICE_URL_IDENTITY", "10.0.0.5:8101")]).expect_err("no scheme");
        assert!(err.to_string().starts_with("EMPORIUM_SERVICE_URL_IDENTITY:"), "{err}");
        assert_eq!(s.mail.staff_email, ["ops@shop.test", "boss@shop.test"]);
        assert_eq!(s.public_url(), "https://shop.example");
        assert_eq!(s.bus.kafka_brokers().as_deref(), Some("k1:9092,k2:9092"));
        assert!(!s.bus.is_rabbitmq());
        let err = load(&[("EMPORIUM_BUS_URL", "kafka://nohost")]).expect_err("no port");
        assert!(err.to_string().contains("kafka://host:port"), "{err}");
        assert_eq!(load(&[]).expect("defaults").public_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn environment_values_are_taken_as_written() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Settings::load(
            dir.path().to_owned(),
            &env(&[
                ("EMPORIUM_SHOP_NAME", "007"),
                ("EMPORIUM_COOKIE_SECURE", "yes"),
                ("EMPORIUM_CORS_ORIGINS", "https://a.example, https://b.example"),
                ("EMPORIUM_TRUSTED_PROXIES", "10.0.0.0/8,127.0.0.1"),
                ("EMPORIUM_TEST_POSTGRES_URL", "postgres://not/ours"),
            ]),
        )
        .expect("load");
        assert_eq!(s.shop_name, "007", "a string stays a string");
        assert!(s.cookie_secure);
        assert_eq!(s.cors_origins, ["https://a.example", "https://b.example"]);
        assert_eq!(s.trusted_proxies.len(), 2);
        assert!(s.database_url.is_none(), "another program's EMPORIUM_ variable is ignored");
    }

    #[test]
    fn a_bad_secret_is_named_but_never_shown() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = Settings::load(dir.path().to_owned(), &env(&[("EMPORIUM_JWT_SECRET", "tooshortsecret")]))
            .expect_err("short");
        assert!(err.to_string().starts_with("EMPORIUM_JWT_SECRET: "), "{err}");
        assert!(!err.to_string().contains("tooshortsecret"), "{err}");
        std::fs::write(dir.path().join(FILE_NAME), "stripe_timeout_ms = 5\n").expect("write");
        let err = Settings::load(dir.path().to_owned(), &[]).expect_err("too small");
        let text = err.to_string();
        assert!(text.contains("stripe_timeout_ms") && text.contains("from 100 to 120000"), "{text}");
        std::fs::write(dir.path().join(FILE_NAME), "auth_rate_limit = [1, 2]\n").expect("write");
        let err = Settings::load(dir.path().to_owned(), &[]).expect_err("a list");
        assert!(err.to_string().contains("auth_rate_limit"), "{err}");
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret("hunter2hunter2hunter2hunter2hunter2".into());
        assert_eq!(format!("{s:?}"), "[redacted]");
    }
}
