//! An S3-compatible bucket as an [`ObjectStore`]: AWS S3, Cloudflare R2, MinIO, Ceph, Garage,
//! Backblaze B2 and the like, spoken to over the S3 REST API with AWS Signature Version 4.
//!
//! Only four calls are needed — `PutObject`, `GetObject`, `DeleteObject` and `HeadObject` — so the
//! signer is written here (HMAC-SHA256 over a canonical request, checked against the worked examples
//! in AWS's documentation) instead of pulling in an SDK and its C crypto build.
//!
//! * Path-style addressing (`https://host/bucket/key`) by default, which every S3-compatible server
//!   accepts; virtual-hosted style (`https://bucket.host/key`) by setting.
//! * Every payload is hashed and the hash signed (`x-amz-content-sha256`), so a body altered in
//!   transit is refused by the server.
//! * Objects are written with `Cache-Control: public, max-age=31536000, immutable`: keys are content
//!   hashes, so a CDN in front of the bucket may cache them forever.
//! * Idempotent calls (all four are: keys are content hashes) are retried on connection errors and
//!   on `5xx`/`429` answers, three attempts with a short backoff.

use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use reqwest::{Method, StatusCode, Url};
use sha2::{Digest, Sha256};

use crate::store::{ObjectStore, StoredObject, content_type_for_key, validate_key};

/// The cache header objects are written with (keys are content hashes, so objects never change).
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

const ATTEMPTS: u32 = 3;
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Where and how to reach the bucket.
#[derive(Clone)]
pub struct S3Config {
    /// `https://s3.eu-west-1.amazonaws.com`, `http://127.0.0.1:9000`, `https://<account>.r2.cloudflarestorage.com`…
    pub endpoint: String,
    pub bucket: String,
    /// Signing region (`us-east-1` for most S3-compatible servers, `auto` for R2).
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Prepended to every key, e.g. `shop1/images/` (may be empty).
    pub prefix: String,
    /// `https://bucket.host/key` instead of `https://host/bucket/key`.
    pub virtual_hosted: bool,
}

impl S3Config {
    /// Checks the settings; the bucket's base URL, ending in `/` (keys go after the prefix).
    pub fn base_url(&self) -> anyhow::Result<Url> {
        let endpoint = Url::parse(self.endpoint.trim_end_matches('/'))
            .with_context(|| format!("S3 endpoint {:?} is not a URL", self.endpoint))?;
        if !matches!(endpoint.scheme(), "http" | "https") || endpoint.host_str().is_none() {
            bail!("S3 endpoint {:?} must be an http:// or https:// URL with a host", self.endpoint);
        }
        let bucket_ok = (3..=63).contains(&self.bucket.len())
            && self.bucket.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-'));
        if !bucket_ok {
            bail!("S3 bucket {:?} must be 3-63 chars of [a-z0-9.-]", self.bucket);
        }
        if self.region.is_empty() || self.access_key_id.is_empty() || self.secret_access_key.is_empty() {
            bail!("S3 needs a region, an access key id and a secret access key");
        }
        let prefix_ok = self.prefix.split('/').all(|segment| segment != "." && segment != "..")
            && self.prefix.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
            && !self.prefix.starts_with('/');
        if !prefix_ok {
            bail!("S3 prefix {:?} must be chars of [A-Za-z0-9._-/], not starting with '/'", self.prefix);
        }
        let mut base = endpoint.clone();
        let path = endpoint.path().trim_end_matches('/');
        if self.virtual_hosted {
            let host = endpoint.host_str().unwrap_or_default();
            if host.trim_matches(|c| c == '[' || c == ']').parse::<std::net::IpAddr>().is_ok() {
                bail!("virtual-hosted style needs an endpoint with a domain name, not {:?}", self.endpoint);
            }
            let host = format!("{}.{}", self.bucket, endpoint.host_str().unwrap_or_default());
            base.set_host(Some(&host)).with_context(|| format!("S3 host {host:?}"))?;
            base.set_path(&format!("{path}/"));
        } else {
            base.set_path(&format!("{path}/{}/", self.bucket));
        }
        Ok(base)
    }
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"[redacted]")
            .field("prefix", &self.prefix)
            .field("virtual_hosted", &self.virtual_hosted)
            .finish()
    }
}

/// An [`ObjectStore`] in an S3-compatible bucket.
#[derive(Debug)]
pub struct S3Store {
    client: reqwest::Client,
    config: S3Config,
    /// The bucket's base URL, ending in `/` (keys are appended after the prefix).
    base: Url,
}

impl S3Store {
    /// Checks the settings and builds the HTTP client; does not contact the server.
    pub fn new(config: S3Config) -> anyhow::Result<S3Store> {
        let base = config.base_url()?;
        crate::install_tls_provider();
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .context("building the S3 HTTP client")?;
        Ok(S3Store { client, config, base })
    }

    /// The URL of `key` in the bucket.
    fn url(&self, key: &str) -> anyhow::Result<Url> {
        validate_key(key)?;
        let joined = format!("{}{}", self.config.prefix, key);
        self.base.join(&uri_encode_path(&joined)).with_context(|| format!("object URL for {key:?}"))
    }

    /// Sends one signed request, retrying idempotent failures.
    async fn send(&self, method: Method, key: &str, body: Option<(&[u8], &str)>) -> anyhow::Result<reqwest::Response> {
        let url = self.url(key)?;
        let payload_hash = body.map_or_else(|| EMPTY_SHA256.to_string(), |(bytes, _)| hex(&Sha256::digest(bytes)));
        let mut last_error = None;
        for attempt in 1..=ATTEMPTS {
            if attempt > 1 {
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt * attempt))).await;
            }
            let amz_date = amz_date(time::OffsetDateTime::now_utc());
            let host = host_header(&url);
            let headers = [("host", host.as_str()), ("x-amz-content-sha256", &payload_hash), ("x-amz-date", &amz_date)];
            let authorization = authorization(
                &Credentials { access_key_id: &self.config.access_key_id, secret: &self.config.secret_access_key },
                &self.config.region,
                "s3",
                &CanonicalRequest {
                    method: method.as_str(),
                    uri: url.path(),
                    query: "",
                    headers: &headers,
                    payload_sha256: &payload_hash,
                },
                &amz_date,
            );
            let mut request = self
                .client
                .request(method.clone(), url.clone())
                .header("x-amz-content-sha256", &payload_hash)
                .header("x-amz-date", &amz_date)
                .header("authorization", authorization);
            if let Some((bytes, content_type)) = body {
                request = request
                    .header("content-type", content_type)
                    .header("cache-control", IMMUTABLE)
                    .body(bytes.to_vec());
            }
            match request.send().await {
                Ok(response)
                    if response.status().is_server_error() || response.status() == StatusCode::TOO_MANY_REQUESTS =>
                {
                    let status = response.status();
                    let detail = s3_error(response).await;
                    tracing::warn!(%status, detail, attempt, key, "S3 answered with a retryable error");
                    last_error = Some(anyhow!("S3 {method} {key}: {status} {detail}"));
                }
                Ok(response) => return Ok(response),
                Err(err) => {
                    tracing::warn!(error = %err, attempt, key, "S3 request failed");
                    last_error = Some(anyhow::Error::new(err).context(format!("S3 {method} {key}")));
                }
            }
        }
        Err(last_error.unwrap_or_else(|| anyhow!("S3 {method} {key} failed")))
    }
}

/// The `Code` and `Message` of an S3 XML error body, for logs.
async fn s3_error(response: reqwest::Response) -> String {
    let body = response.text().await.unwrap_or_default();
    let field = |name: &str| {
        let open = format!("<{name}>");
        let start = body.find(&open)? + open.len();
        let end = body[start..].find(&format!("</{name}>"))? + start;
        Some(body[start..end].to_string())
    };
    match (field("Code"), field("Message")) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code,
        _ => body.chars().take(200).collect(),
    }
}

async fn unexpected(method: &str, key: &str, response: reqwest::Response) -> anyhow::Error {
    let status = response.status();
    anyhow!("S3 {method} {key}: {status} {}", s3_error(response).await)
}

#[async_trait]
impl ObjectStore for S3Store {
    async fn put(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> anyhow::Result<()> {
        let response = self.send(Method::PUT, key, Some((&bytes, content_type))).await?;
        if !response.status().is_success() {
            return Err(unexpected("PUT", key, response).await);
        }
        tracing::debug!(key, len = bytes.len(), "stored object in S3");
        Ok(())
    }

    async fn get(&self, key: &str) -> anyhow::Result<Option<StoredObject>> {
        let response = self.send(Method::GET, key, None).await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(None),
            status if status.is_success() => {
                let content_type = response
                    .headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| v.starts_with("image/"))
                    .map_or_else(|| content_type_for_key(key).to_string(), str::to_string);
                let bytes = response.bytes().await.with_context(|| format!("reading S3 object {key}"))?;
                Ok(Some(StoredObject { bytes: bytes.to_vec(), content_type }))
            }
            _ => Err(unexpected("GET", key, response).await),
        }
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        let response = self.send(Method::DELETE, key, None).await?;
        if response.status().is_success() || response.status() == StatusCode::NOT_FOUND {
            Ok(())
        } else {
            Err(unexpected("DELETE", key, response).await)
        }
    }

    async fn exists(&self, key: &str) -> anyhow::Result<bool> {
        let response = self.send(Method::HEAD, key, None).await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(false),
            status if status.is_success() => Ok(true),
            status => bail!("S3 HEAD {key}: {status}"),
        }
    }
}

/// An access key pair.
#[derive(Clone, Copy)]
pub struct Credentials<'a> {
    pub access_key_id: &'a str,
    pub secret: &'a str,
}

/// The parts of a request that Signature Version 4 signs.
#[derive(Clone, Copy, Debug)]
pub struct CanonicalRequest<'a> {
    pub method: &'a str,
    /// The URI-encoded path, as sent (`/bucket/key`).
    pub uri: &'a str,
    /// The canonical query string (names and values encoded and sorted), empty when none.
    pub query: &'a str,
    /// Signed headers: lower-case names, trimmed values, sorted by name.
    pub headers: &'a [(&'a str, &'a str)],
    /// Hex SHA-256 of the body.
    pub payload_sha256: &'a str,
}

impl CanonicalRequest<'_> {
    /// `host;x-amz-content-sha256;x-amz-date`
    pub fn signed_headers(&self) -> String {
        self.headers.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(";")
    }

    /// The canonical request text that is hashed into the string to sign.
    pub fn text(&self) -> String {
        let mut text = format!("{}\n{}\n{}\n", self.method, self.uri, self.query);
        for (name, value) in self.headers {
            text.push_str(name);
            text.push(':');
            text.push_str(value.trim());
            text.push('\n');
        }
        text.push('\n');
        text.push_str(&self.signed_headers());
        text.push('\n');
        text.push_str(self.payload_sha256);
        text
    }
}

/// The hex signature of `request` made at `amz_date` (`20130524T000000Z`).
pub fn signature(
    credentials: &Credentials<'_>,
    region: &str,
    service: &str,
    request: &CanonicalRequest<'_>,
    amz_date: &str,
) -> String {
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let scope = format!("{date}/{region}/{service}/aws4_request");
    let string_to_sign =
        format!("AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}", hex(&Sha256::digest(request.text().as_bytes())));
    let mut key = hmac(format!("AWS4{}", credentials.secret).as_bytes(), date.as_bytes());
    for part in [region, service, "aws4_request"] {
        key = hmac(&key, part.as_bytes());
    }
    hex(&hmac(&key, string_to_sign.as_bytes()))
}

/// The `Authorization` header value for `request`.
pub fn authorization(
    credentials: &Credentials<'_>,
    region: &str,
    service: &str,
    request: &CanonicalRequest<'_>,
    amz_date: &str,
) -> String {
    let date = amz_date.get(..8).unwrap_or(amz_date);
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{date}/{region}/{service}/aws4_request,SignedHeaders={},Signature={}",
        credentials.access_key_id,
        request.signed_headers(),
        signature(credentials, region, service, request, amz_date)
    )
}

/// `YYYYMMDDTHHMMSSZ` in UTC.
pub fn amz_date(at: time::OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// The `Host` header reqwest sends for `url`: the host, plus the port when it is not the scheme's default.
pub fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    }
}

/// Encodes a path the way SigV4 wants for S3: every byte but `A-Za-z0-9-._~` and `/` as `%XX`.
pub fn uri_encode_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // The worked examples of "Signature Calculations for the Authorization Header" in the Amazon S3
    // API reference (sig-v4-header-based-auth), with their published intermediate values.
    const EXAMPLE: Credentials<'static> =
        Credentials { access_key_id: "AKIAIOSFODNN7EXAMPLE", secret: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY" };

    #[test]
    fn aws_example_get_object() {
        let headers = [
            ("host", "examplebucket.s3.amazonaws.com"),
            ("range", "bytes=0-9"),
            ("x-amz-content-sha256", EMPTY_SHA256),
            ("x-amz-date", "20130524T000000Z"),
        ];
        let request = CanonicalRequest {
            method: "GET",
            uri: "/test.txt",
            query: "",
            headers: &headers,
            payload_sha256: EMPTY_SHA256,
        };
        assert_eq!(
            hex(&Sha256::digest(request.text().as_bytes())),
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972"
        );
        assert_eq!(
            authorization(&EXAMPLE, "us-east-1", "s3", &request, "20130524T000000Z"),
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,\
             SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,\
             Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
        );
    }

    #[test]
    fn aws_example_put_object() {
        let body = b"Welcome to Amazon S3.";
        let payload = hex(&Sha256::digest(body));
        assert_eq!(payload, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
        let headers = [
            ("date", "Fri, 24 May 2013 00:00:00 GMT"),
            ("host", "examplebucket.s3.amazonaws.com"),
            ("x-amz-content-sha256", payload.as_str()),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ];
        let uri = uri_encode_path("/test$file.text");
        assert_eq!(uri, "/test%24file.text");
        let request =
            CanonicalRequest { method: "PUT", uri: &uri, query: "", headers: &headers, payload_sha256: &payload };
        assert_eq!(
            signature(&EXAMPLE, "us-east-1", "s3", &request, "20130524T000000Z"),
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
        );
    }

    #[test]
    fn dates_and_hosts() {
        let at = time::macros::datetime!(2013-05-24 00:00:09 +02:00);
        assert_eq!(amz_date(at), "20130523T220009Z");
        let url = Url::parse("http://127.0.0.1:9000/b/k").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(host_header(&url), "127.0.0.1:9000");
        let url = Url::parse("https://s3.amazonaws.com:443/b/k").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(host_header(&url), "s3.amazonaws.com");
    }

    fn config(endpoint: &str, virtual_hosted: bool) -> S3Config {
        S3Config {
            endpoint: endpoint.to_string(),
            bucket: "shop-media".to_string(),
            region: "us-east-1".to_string(),
            access_key_id: "AK".to_string(),
            secret_access_key: "SK".to_string(),
            prefix: "images/".to_string(),
            virtual_hosted,
        }
    }

    #[test]
    fn object_urls() {
        let store = S3Store::new(config("http://127.0.0.1:9000/", false)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            store.url("ab.jpg").map(|u| u.to_string()).ok(),
            Some("http://127.0.0.1:9000/shop-media/images/ab.jpg".into())
        );
        let store = S3Store::new(config("https://s3.eu-west-1.amazonaws.com", true)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            store.url("ab.jpg").map(|u| u.to_string()).ok(),
            Some("https://shop-media.s3.eu-west-1.amazonaws.com/images/ab.jpg".into())
        );
        assert!(store.url("../etc/passwd").is_err());
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(S3Store::new(config("ftp://x", false)).is_err());
        assert!(S3Store::new(config("not a url", false)).is_err());
        assert!(S3Store::new(config("http://127.0.0.1:9000", true)).is_err(), "virtual-hosted needs a domain");
        assert!(S3Store::new(S3Config { bucket: "Bad_Bucket".into(), ..config("http://h", false) }).is_err());
        assert!(S3Store::new(S3Config { prefix: "../up".into(), ..config("http://h", false) }).is_err());
        assert!(S3Store::new(S3Config { secret_access_key: String::new(), ..config("http://h", false) }).is_err());
    }
}
