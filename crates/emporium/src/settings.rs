//! Typed settings: defaults, then `emporium.toml` in the data directory,
//! then `EMPORIUM_*` environment variables, then command-line flags. A bad
//! value stops start-up with a message naming the variable or key.

use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

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
    /// HS256 key for access tokens. Generated and kept in the data
    /// directory when unset; set it when several nodes share a shop.
    /// PostgreSQL connections per process.
    pub database_pool_size: u32,
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
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{source_name}: invalid value {value:?}: {reason}")]
    Invalid { source_name: String, value: String, reason: String },
    #[error("{path}: {message}")]
    File { path: String, message: String },
}

/// Every setting as `(key, value)` pairs from one layer, so the file and the
/// environment share one parser.
type Layer = Vec<(String, String, String)>; // (key, value, where it came from)

pub const FILE_NAME: &str = "emporium.toml";

impl Settings {
    /// Loads settings for `data_dir` from the file and `env`.
    pub fn load(data_dir: PathBuf, env: &[(String, String)]) -> Result<Settings, SettingsError> {
        let mut settings = Settings::defaults(data_dir);
        let file = read_file(&settings.data_dir.join(FILE_NAME))?;
        settings.apply(file)?;
        let env_layer: Layer = env
            .iter()
            .filter_map(|(k, v)| {
                let key = k.strip_prefix("EMPORIUM_")?.to_ascii_lowercase();
                KEYS.contains(&key.as_str()).then(|| (key, v.clone(), k.clone()))
            })
            .collect();
        settings.apply(env_layer)?;
        settings.validate()?;
        Ok(settings)
    }

    fn apply(&mut self, layer: Layer) -> Result<(), SettingsError> {
        for (key, value, origin) in layer {
            let bad = |reason: &str| SettingsError::Invalid {
                source_name: origin.clone(),
                value: if key.contains("secret") || key == "database_url" {
                    "[redacted]".into()
                } else {
                    value.clone()
                },
                reason: reason.to_owned(),
            };
            match key.as_str() {
                "addr" => self.addr = value.parse().map_err(|_| bad("expected host:port, e.g. 127.0.0.1:8080"))?,
                "database_url" => {
                    self.database_url = (!value.is_empty()).then(|| Secret(value.clone()));
                }
                "jwt_secret" => {
                    if value.len() < 32 {
                        return Err(bad("must be at least 32 characters"));
                    }
                    self.jwt_secret = Some(Secret(value.clone()));
                }
                "access_token_ttl_secs" => {
                    self.access_token_ttl_secs = number(&value, 1, 86_400).map_err(|r| bad(&r))?
                }
                "refresh_token_ttl_days" => {
                    self.refresh_token_ttl_days = number(&value, 1, 365).map_err(|r| bad(&r))?
                }
                "auth_rate_limit" => self.auth_rate_limit = number(&value, 0, 1_000_000).map_err(|r| bad(&r))?,
                "cors_origins" => {
                    self.cors_origins =
                        value.split(',').map(str::trim).filter(|o| !o.is_empty()).map(str::to_owned).collect();
                    if let Some(o) =
                        self.cors_origins.iter().find(|o| !(o.starts_with("http://") || o.starts_with("https://")))
                    {
                        return Err(bad(&format!("origin {o:?} must start with http:// or https://")));
                    }
                }
                "body_limit_bytes" => self.body_limit_bytes = number(&value, 1024, 1 << 30).map_err(|r| bad(&r))?,
                "request_timeout_secs" => self.request_timeout_secs = number(&value, 1, 3600).map_err(|r| bad(&r))?,
                "trust_forwarded_for" => self.trust_forwarded_for = boolean(&value).map_err(|r| bad(&r))?,
                "trusted_proxies" => {
                    self.trusted_proxies = value
                        .split(',')
                        .map(str::trim)
                        .filter(|p| !p.is_empty())
                        .map(|p| p.parse::<ipnet::IpNet>().or_else(|_| p.parse::<std::net::IpAddr>().map(Into::into)))
                        .collect::<Result<_, _>>()
                        .map_err(|_| bad("expected addresses or CIDRs, e.g. 10.0.0.0/8,127.0.0.1"))?;
                }
                "cookie_secure" => self.cookie_secure = boolean(&value).map_err(|r| bad(&r))?,
                "currency" => {
                    let code = value.trim().to_uppercase();
                    kernel::Currency::parse(&code)
                        .map_err(|_| bad("expected a three-letter currency code, e.g. USD"))?;
                    self.currency = code;
                }
                "log" => self.log = value.clone(),
                "log_format" => {
                    self.log_format = match value.as_str() {
                        "text" => LogFormat::Text,
                        "json" => LogFormat::Json,
                        _ => return Err(bad("expected text or json")),
                    }
                }
                "argon2_memory_kib" => self.argon2_memory_kib = number(&value, 1024, 4 << 20).map_err(|r| bad(&r))?,
                "argon2_iterations" => self.argon2_iterations = number(&value, 1, 100).map_err(|r| bad(&r))?,
                "argon2_parallelism" => self.argon2_parallelism = number(&value, 1, 64).map_err(|r| bad(&r))?,
                "database_pool_size" => self.database_pool_size = number(&value, 1, 1000).map_err(|r| bad(&r))?,
                "account_cache_ttl_ms" => self.account_cache_ttl_ms = number(&value, 0, 60_000).map_err(|r| bad(&r))?,
                "stock_cache_ttl_ms" => self.stock_cache_ttl_ms = number(&value, 0, 60_000).map_err(|r| bad(&r))?,
                "shop_name" => {
                    if value.trim().is_empty() || value.chars().count() > 200 {
                        return Err(bad("must be 1 to 200 characters"));
                    }
                    self.shop_name = value.trim().to_owned();
                }
                "image_max_bytes" => self.image_max_bytes = number(&value, 1024, 100 << 20).map_err(|r| bad(&r))?,
                "media_dir" => self.media_dir = PathBuf::from(&value),
                "search_dir" => self.search_dir = PathBuf::from(&value),
                "search_cache_entries" => {
                    self.search_cache_entries = number(&value, 0, 1_000_000).map_err(|r| bad(&r))?
                }
                "reservation_ttl_secs" => {
                    self.reservation_ttl_secs = number(&value, 1, 7 * 86_400).map_err(|r| bad(&r))?
                }
                "reservation_sweep_secs" => {
                    self.reservation_sweep_secs = number(&value, 1, 3600).map_err(|r| bad(&r))?
                }
                "outbox_retention_hours" => {
                    self.outbox_retention_hours = number(&value, 1, 10 * 8_760).map_err(|r| bad(&r))?
                }
                "guest_cart_retention_days" => {
                    self.guest_cart_retention_days = number(&value, 1, 3_650).map_err(|r| bad(&r))?
                }
                "prices_include_tax" => self.prices_include_tax = boolean(&value).map_err(|r| bad(&r))?,
                "media_store" => {
                    self.media_store = match value.trim() {
                        "local" => MediaStoreKind::Local,
                        "s3" => MediaStoreKind::S3,
                        _ => return Err(bad("expected local or s3")),
                    }
                }
                "s3_endpoint" => self.s3.endpoint = value.trim().to_owned(),
                "s3_bucket" => self.s3.bucket = value.trim().to_owned(),
                "s3_region" => self.s3.region = value.trim().to_owned(),
                "s3_access_key_id" => self.s3.access_key_id = value.trim().to_owned(),
                "s3_secret_access_key" => {
                    self.s3.secret_access_key = (!value.is_empty()).then(|| Secret(value.clone()));
                }
                "s3_prefix" => self.s3.prefix = value.trim().to_owned(),
                "s3_virtual_hosted" => self.s3.virtual_hosted = boolean(&value).map_err(|r| bad(&r))?,
                "stripe_secret_key" => {
                    self.stripe.secret_key = (!value.trim().is_empty()).then(|| Secret(value.trim().to_owned()))
                }
                "stripe_publishable_key" => {
                    self.stripe.publishable_key = Some(value.trim().to_owned()).filter(|v| !v.is_empty())
                }
                "stripe_api_base" => {
                    if !(value.starts_with("http://") || value.starts_with("https://")) {
                        return Err(bad("must be an http:// or https:// URL"));
                    }
                    self.stripe.api_base = value.trim_end_matches('/').to_owned();
                }
                "stripe_webhook_secret" => {
                    self.stripe.webhook_secrets = value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(|s| Secret(s.to_owned()))
                        .collect();
                }
                "stripe_timeout_ms" => self.stripe.timeout_ms = number(&value, 100, 120_000).map_err(|r| bad(&r))?,
                "solana_rpc_url" => {
                    if !(value.is_empty() || value.starts_with("http://") || value.starts_with("https://")) {
                        return Err(bad("must be an http:// or https:// URL"));
                    }
                    self.solana.rpc_url = (!value.is_empty()).then(|| value.clone());
                }
                "solana_usdc_mint" => {
                    let mint = value.trim();
                    if !mint.is_empty() && !payments::solana::is_address(mint) {
                        return Err(bad("must be a base58 Solana address"));
                    }
                    self.solana.usdc_mint = (!mint.is_empty()).then(|| mint.to_owned());
                }
                "solana_token_decimals" => self.solana.token_decimals = number(&value, 0, 18).map_err(|r| bad(&r))?,
                "solana_token_currency" => {
                    kernel::Currency::parse(value.trim()).map_err(|e| bad(&e.to_string()))?;
                    self.solana.token_currency = value.trim().to_owned();
                }
                "solana_sol_price_minor" => {
                    self.solana.sol_price_minor = Some(number(&value, 1, u64::MAX / 2).map_err(|r| bad(&r))?)
                }
                "solana_poll_secs" => self.solana.poll_secs = number(&value, 1, 3600).map_err(|r| bad(&r))?,
                "solana_timeout_ms" => self.solana.timeout_ms = number(&value, 100, 120_000).map_err(|r| bad(&r))?,
                _ => {}
            }
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), SettingsError> {
        if let Some(url) = &self.database_url
            && !(url.0.starts_with("postgres://") || url.0.starts_with("postgresql://"))
        {
            return Err(SettingsError::Invalid {
                source_name: "EMPORIUM_DATABASE_URL".into(),
                value: "[redacted]".into(),
                reason: "must be a postgres:// URL (leave it unset for the embedded SQLite database)".into(),
            });
        }
        if self.solana.rpc_url.is_some() && self.solana.usdc_mint.is_none() && self.solana.sol_price_minor.is_none() {
            return Err(SettingsError::Invalid {
                source_name: "EMPORIUM_SOLANA_RPC_URL".into(),
                value: String::new(),
                reason: "Solana Pay needs EMPORIUM_SOLANA_USDC_MINT (pay in that token) or \
                         EMPORIUM_SOLANA_SOL_PRICE_MINOR (pay in SOL at that price)"
                    .into(),
            });
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
                return Err(SettingsError::Invalid {
                    source_name: (*name).into(),
                    value: String::new(),
                    reason: "must be set when EMPORIUM_MEDIA_STORE is s3".into(),
                });
            }
            s3.config().base_url().map_err(|e| SettingsError::Invalid {
                source_name: "EMPORIUM_S3_*".into(),
                value: String::new(),
                reason: e.to_string(),
            })?;
        }
        Ok(())
    }
}

const KEYS: &[&str] = &[
    "addr",
    "stripe_secret_key",
    "stripe_publishable_key",
    "stripe_api_base",
    "stripe_webhook_secret",
    "stripe_timeout_ms",
    "solana_rpc_url",
    "solana_usdc_mint",
    "solana_token_decimals",
    "solana_token_currency",
    "solana_sol_price_minor",
    "solana_poll_secs",
    "solana_timeout_ms",
    "database_url",
    "database_pool_size",
    "jwt_secret",
    "access_token_ttl_secs",
    "refresh_token_ttl_days",
    "auth_rate_limit",
    "cors_origins",
    "body_limit_bytes",
    "request_timeout_secs",
    "trust_forwarded_for",
    "trusted_proxies",
    "cookie_secure",
    "currency",
    "log",
    "log_format",
    "argon2_memory_kib",
    "argon2_iterations",
    "argon2_parallelism",
    "account_cache_ttl_ms",
    "stock_cache_ttl_ms",
    "shop_name",
    "image_max_bytes",
    "media_dir",
    "search_dir",
    "search_cache_entries",
    "reservation_ttl_secs",
    "reservation_sweep_secs",
    "outbox_retention_hours",
    "guest_cart_retention_days",
    "prices_include_tax",
    "media_store",
    "s3_endpoint",
    "s3_bucket",
    "s3_region",
    "s3_access_key_id",
    "s3_secret_access_key",
    "s3_prefix",
    "s3_virtual_hosted",
];

fn number<T: FromStr + PartialOrd + fmt::Display + Copy>(value: &str, min: T, max: T) -> Result<T, String> {
    match value.trim().parse::<T>() {
        Ok(n) if n >= min && n <= max => Ok(n),
        _ => Err(format!("expected a whole number from {min} to {max}")),
    }
}

fn boolean(value: &str) -> Result<bool, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".into()),
    }
}

/// Reads `emporium.toml`: every key must be one of [`KEYS`]; strings, numbers and booleans are taken
/// as written, arrays of strings are joined with commas (as in the environment).
fn read_file(path: &Path) -> Result<Layer, SettingsError> {
    let file_error = |message: String| SettingsError::File { path: path.display().to_string(), message };
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(file_error(e.to_string())),
    };
    let table: toml::Table = toml::from_str(&text).map_err(|e| file_error(e.to_string()))?;
    let mut layer = Layer::new();
    for (key, value) in table {
        if !KEYS.contains(&key.as_str()) {
            return Err(file_error(format!("unknown key `{key}`")));
        }
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(n) => n.to_string(),
            toml::Value::Float(n) => n.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Array(items) => {
                let strings: Option<Vec<String>> = items.into_iter().map(|v| v.as_str().map(str::to_owned)).collect();
                strings.ok_or_else(|| file_error(format!("`{key}` must be a list of strings")))?.join(",")
            }
            _ => return Err(file_error(format!("`{key}` must be a string, number, boolean or list of strings"))),
        };
        layer.push((key.clone(), value, format!("{} key `{key}`", path.display())));
    }
    Ok(layer)
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
    fn secrets_never_print() {
        let s = Secret("hunter2hunter2hunter2hunter2hunter2".into());
        assert_eq!(format!("{s:?}"), "[redacted]");
    }
}
