//! Stripe over its REST API (<https://docs.stripe.com/api>): form-encoded
//! bodies, `Authorization: Bearer <secret key>`, a pinned `Stripe-Version`,
//! amounts in the currency's smallest unit, and an `Idempotency-Key` on every
//! POST. A request that times out, cannot connect, or gets a 409 (the same key
//! still in flight), 429 or 5xx is sent again with the same key, so Stripe
//! answers a retry with the first request's result and never makes a second
//! object.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::collections::BTreeMap;
use std::time::Duration;

/// The API version every request asks for, so Stripe's answers keep the
/// shapes this module reads.
pub const API_VERSION: &str = "2024-06-20";
pub const DEFAULT_API_BASE: &str = "https://api.stripe.com";
/// Stripe's default: a signature older (or newer) than this is refused.
pub const SIGNATURE_TOLERANCE_SECS: i64 = 300;

#[derive(Debug, Clone)]
pub struct StripeConfig {
    pub secret_key: String,
    /// `https://api.stripe.com` unless a test points it at a local server.
    pub api_base: String,
    /// Webhook signing secrets (`whsec_…`); two during a rotation.
    pub webhook_secrets: Vec<String>,
    /// Per attempt.
    pub timeout: Duration,
    /// Attempts per request (same idempotency key each time).
    pub attempts: u32,
}

impl StripeConfig {
    pub fn new(secret_key: impl Into<String>) -> Self {
        StripeConfig {
            secret_key: secret_key.into(),
            api_base: DEFAULT_API_BASE.to_owned(),
            webhook_secrets: Vec::new(),
            timeout: Duration::from_secs(10),
            attempts: 3,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    /// Stripe answered with an error object (a card error, a bad request…).
    #[error("Stripe refused the request ({status}): {message}")]
    Api { status: u16, kind: String, code: Option<String>, message: String },
    /// No answer after every attempt: a timeout, a refused connection or a 5xx.
    #[error("Stripe could not be reached: {0}")]
    Unreachable(String),
    #[error("Stripe's answer could not be read: {0}")]
    Decode(String),
}

/// `last_payment_error` of a PaymentIntent.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct PaymentError {
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct PaymentIntent {
    pub id: String,
    pub amount: i64,
    /// Lower-case ISO code, as Stripe writes it.
    pub currency: String,
    pub status: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub last_payment_error: Option<PaymentError>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    #[serde(default)]
    pub payment_intent: Option<String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Charge {
    pub id: String,
    pub amount: i64,
    pub amount_refunded: i64,
    pub currency: String,
    #[serde(default)]
    pub payment_intent: Option<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct Dispute {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub charge: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// A webhook event: `data.object` is read according to `type`.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub created: i64,
    pub data: EventData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

impl Event {
    pub fn object<T: serde::de::DeserializeOwned>(&self) -> Result<T, StripeError> {
        serde_json::from_value(self.data.object.clone()).map_err(|e| StripeError::Decode(e.to_string()))
    }
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorObject,
}

#[derive(Debug, Deserialize)]
struct ErrorObject {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

/// A new PaymentIntent.
#[derive(Debug, Clone)]
pub struct NewPaymentIntent {
    pub amount: i64,
    /// ISO 4217, any case (sent lower-case).
    pub currency: String,
    pub description: String,
    pub metadata: BTreeMap<String, String>,
    pub receipt_email: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Stripe {
    config: StripeConfig,
    http: reqwest::Client,
}

impl Stripe {
    pub fn new(config: StripeConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(config.timeout).build()?;
        Ok(Stripe { config, http })
    }

    pub fn config(&self) -> &StripeConfig {
        &self.config
    }

    /// `POST /v1/payment_intents`, with card and wallet methods chosen by
    /// the Payment Element (`automatic_payment_methods[enabled]`).
    pub async fn create_payment_intent(
        &self,
        intent: &NewPaymentIntent,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeError> {
        let mut form = vec![
            ("amount".to_owned(), intent.amount.to_string()),
            ("currency".to_owned(), intent.currency.to_ascii_lowercase()),
            ("automatic_payment_methods[enabled]".to_owned(), "true".to_owned()),
            ("description".to_owned(), intent.description.clone()),
        ];
        if let Some(email) = &intent.receipt_email {
            form.push(("receipt_email".to_owned(), email.clone()));
        }
        form.extend(intent.metadata.iter().map(|(k, v)| (format!("metadata[{k}]"), v.clone())));
        self.post("/v1/payment_intents", &form, idempotency_key).await
    }

    /// `POST /v1/payment_intents/{id}/cancel`.
    pub async fn cancel_payment_intent(
        &self,
        id: &str,
        reason: &str,
        idempotency_key: &str,
    ) -> Result<PaymentIntent, StripeError> {
        let form = vec![("cancellation_reason".to_owned(), reason.to_owned())];
        self.post(&format!("/v1/payment_intents/{id}/cancel"), &form, idempotency_key).await
    }

    /// `POST /v1/refunds` for part or all of a PaymentIntent's charge.
    pub async fn create_refund(
        &self,
        payment_intent: &str,
        amount: i64,
        metadata: &BTreeMap<String, String>,
        idempotency_key: &str,
    ) -> Result<Refund, StripeError> {
        let mut form =
            vec![("payment_intent".to_owned(), payment_intent.to_owned()), ("amount".to_owned(), amount.to_string())];
        form.extend(metadata.iter().map(|(k, v)| (format!("metadata[{k}]"), v.clone())));
        self.post("/v1/refunds", &form, idempotency_key).await
    }

    /// `GET /v1/refunds?payment_intent=…`: the intent's refunds, newest first
    /// (up to 100, more than a shop makes for one payment).
    pub async fn list_refunds(&self, payment_intent: &str) -> Result<Vec<Refund>, StripeError> {
        #[derive(Deserialize)]
        struct List {
            data: Vec<Refund>,
        }
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("payment_intent", payment_intent)
            .append_pair("limit", "100")
            .finish();
        let list: List = self.send(reqwest::Method::GET, &format!("/v1/refunds?{query}"), None).await?;
        Ok(list.data)
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        form: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<T, StripeError> {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(form).finish();
        self.send(reqwest::Method::POST, path, Some((body, idempotency_key))).await
    }

    /// Sends a request (a POST with its form body and idempotency key),
    /// retrying what Stripe says may be retried with the same key.
    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        method: reqwest::Method,
        path: &str,
        post: Option<(String, &str)>,
    ) -> Result<T, StripeError> {
        let url = format!("{}{}", self.config.api_base.trim_end_matches('/'), path);
        let mut last = String::new();
        for attempt in 0..self.config.attempts.max(1) {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 * 2u64.pow(attempt - 1))).await;
            }
            let mut request = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&self.config.secret_key)
                .header("Stripe-Version", API_VERSION);
            if let Some((body, key)) = &post {
                request = request
                    .header("Idempotency-Key", *key)
                    .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(body.clone());
            }
            let response = match request.send().await {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(path, attempt, error = %e, "Stripe request failed; retrying with the same idempotency key");
                    last = e.to_string();
                    continue;
                }
            };
            let status = response.status();
            let bytes = match response.bytes().await {
                Ok(b) => b,
                Err(e) => {
                    last = e.to_string();
                    continue;
                }
            };
            if status.is_success() {
                return serde_json::from_slice(&bytes).map_err(|e| StripeError::Decode(e.to_string()));
            }
            let error = serde_json::from_slice::<ErrorBody>(&bytes).map(|b| b.error).ok();
            if status.as_u16() == 409 || status.as_u16() == 429 || status.is_server_error() {
                tracing::warn!(path, attempt, %status, "Stripe asked to retry; retrying with the same idempotency key");
                last = format!("HTTP {status}");
                continue;
            }
            let error = error.unwrap_or(ErrorObject { kind: "api_error".into(), code: None, message: None });
            return Err(StripeError::Api {
                status: status.as_u16(),
                kind: error.kind,
                code: error.code,
                message: error.message.unwrap_or_else(|| format!("HTTP {status}")),
            });
        }
        Err(StripeError::Unreachable(last))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no Stripe-Signature header, or one without t= and v1=")]
    Malformed,
    #[error("no v1 signature matches a webhook secret")]
    NoMatch,
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
}

type HmacSha256 = Hmac<Sha256>;

/// The `v1` signature of `payload` sent at `timestamp`: hex HMAC-SHA256 of
/// `"{timestamp}.{payload}"` keyed with the endpoint's secret.
pub fn sign(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    hex(&mac.finalize().into_bytes())
}

/// A `Stripe-Signature` header value for `payload` (used by tests and fakes).
pub fn signature_header(secret: &str, timestamp: i64, payload: &[u8]) -> String {
    format!("t={timestamp},v1={}", sign(secret, timestamp, payload))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Checks a `Stripe-Signature` header as Stripe documents it: the header
/// carries `t=<unix seconds>` and one or more `v1=<hex>` (other schemes such
/// as `v0` are ignored); any `v1` made with any of `secrets` over
/// `"{t}.{payload}"` passes, compared in constant time, if `t` is within
/// `tolerance_secs` of `now`.
pub fn verify_signature(
    header: &str,
    payload: &[u8],
    secrets: &[String],
    now: i64,
    tolerance_secs: i64,
) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.extend(unhex(s)),
            _ => {}
        }
    }
    let Some(timestamp) = timestamp else { return Err(SignatureError::Malformed) };
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let matched = secrets.iter().any(|secret| {
        signatures.iter().any(|sig| {
            let Ok(mut mac) = HmacSha256::new_from_slice(secret.as_bytes()) else { return false };
            mac.update(timestamp.to_string().as_bytes());
            mac.update(b".");
            mac.update(payload);
            mac.verify_slice(sig).is_ok()
        })
    });
    if !matched {
        return Err(SignatureError::NoMatch);
    }
    if (now - timestamp).abs() > tolerance_secs {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_secret";

    #[test]
    fn a_signature_made_with_the_secret_passes() {
        let payload = br#"{"id":"evt_1"}"#;
        let header = signature_header(SECRET, 1_700_000_000, payload);
        assert_eq!(verify_signature(&header, payload, &[SECRET.into()], 1_700_000_100, 300), Ok(()));
    }

    #[test]
    fn any_of_several_signatures_and_secrets_passes() {
        let payload = b"{}";
        let good = sign("whsec_new", 1_700_000_000, payload);
        let header = format!("t=1700000000,v1={},v1={good},v0=abcd", "00".repeat(32));
        let secrets = vec!["whsec_old".to_owned(), "whsec_new".to_owned()];
        assert_eq!(verify_signature(&header, payload, &secrets, 1_700_000_000, 300), Ok(()));
        assert_eq!(verify_signature(&header, payload, &secrets[..1], 1_700_000_000, 300), Err(SignatureError::NoMatch));
    }

    #[test]
    fn tampering_staleness_and_malformed_headers_fail() {
        let payload = br#"{"amount":100}"#;
        let header = signature_header(SECRET, 1_700_000_000, payload);
        let secrets = [SECRET.to_owned()];
        assert_eq!(
            verify_signature(&header, br#"{"amount":999}"#, &secrets, 1_700_000_000, 300),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(verify_signature(&header, payload, &secrets, 1_700_000_301, 300), Err(SignatureError::Stale));
        assert_eq!(verify_signature(&header, payload, &secrets, 1_699_999_699, 300), Err(SignatureError::Stale));
        assert_eq!(verify_signature(&header, payload, &secrets, 1_700_000_300, 300), Ok(()));
        for bad in ["", "t=1700000000", "v1=abcd", "t=x,v1=00", "garbage"] {
            assert!(verify_signature(bad, payload, &secrets, 1_700_000_000, 300).is_err(), "{bad}");
        }
        // The v0 scheme is not accepted on its own.
        let v0 = header.replace("v1=", "v0=");
        assert_eq!(verify_signature(&v0, payload, &secrets, 1_700_000_000, 300), Err(SignatureError::Malformed));
    }

    #[test]
    fn the_signature_matches_stripes_documented_scheme() {
        // HMAC-SHA256("whsec_test_secret", "1700000000.{}") computed independently
        // (python3 -c 'import hmac,hashlib;print(hmac.new(b"whsec_test_secret",
        // b"1700000000.{}",hashlib.sha256).hexdigest())').
        assert_eq!(
            sign(SECRET, 1_700_000_000, b"{}"),
            "ceb8863f7208fa249a6cd8f951e993c7563412aca65866f6272283debe143ab3"
        );
    }
}
