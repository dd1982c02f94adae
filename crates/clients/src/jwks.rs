//! Identity's published token keys, fetched from its
//! `/.well-known/jwks.json`: how a process that does not run identity checks
//! access tokens alone. The verifier (`identity::TokenVerifier`) decides when
//! to fetch; this only fetches.

use anyhow::Context as _;
use identity::{KeySource, PublicKeys};
use std::time::Duration;

/// The path identity serves its key set at.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// A fetch gives up after this long (the verifier goes on with the keys it
/// has).
const TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct IdentityKeys {
    url: String,
    http: reqwest::Client,
}

impl IdentityKeys {
    /// The keys of the identity service at `base_url` (`http://host:port`).
    pub fn new(base_url: &str) -> anyhow::Result<IdentityKeys> {
        // reqwest is built without a TLS provider of its own; an Err means
        // one is installed already, which is what we want.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(TIMEOUT)
            .build()
            .context("building the HTTP client for identity's keys")?;
        Ok(IdentityKeys { url: format!("{}{JWKS_PATH}", base_url.trim_end_matches('/')), http })
    }

    pub fn url(&self) -> &str {
        &self.url
    }
}

#[async_trait::async_trait]
impl KeySource for IdentityKeys {
    fn describe(&self) -> String {
        self.url.clone()
    }

    async fn fetch(&self) -> anyhow::Result<PublicKeys> {
        let response = self.http.get(&self.url).send().await.with_context(|| format!("GET {}", self.url))?;
        let status = response.status();
        anyhow::ensure!(status.is_success(), "GET {} answered {status}", self.url);
        let body = response.bytes().await.with_context(|| format!("reading {}", self.url))?;
        PublicKeys::of_jwks_json(&body).with_context(|| format!("{} is not a JWK Set", self.url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_set_is_found_under_the_base_url() {
        let keys = IdentityKeys::new("http://127.0.0.1:8101/").expect("client");
        assert_eq!(keys.url(), "http://127.0.0.1:8101/.well-known/jwks.json");
        assert_eq!(keys.describe(), keys.url());
    }
}
