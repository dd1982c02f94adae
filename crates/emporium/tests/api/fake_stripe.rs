//! A local server speaking the part of Stripe's REST API the shop uses, in
//! Stripe's formats (<https://docs.stripe.com/api>): form-encoded POST
//! bodies with bracketed `metadata[...]` keys, `Authorization: Bearer`,
//! `Stripe-Version`, JSON objects (`payment_intent`, `refund`, `list`) and
//! error objects. Like Stripe, it keeps each POST's answer under its
//! `Idempotency-Key` and answers a repeat with it (a repeat with other
//! parameters is 400 `idempotency_error`), so a client's retry after a
//! timeout makes nothing twice. It can also be told to fail or stall the next
//! requests, and to deliver a signed webhook before answering.

// Test code: a failed unwrap is a failed test with its location.
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub const SECRET_KEY: &str = "sk_test_emporium";
pub const WEBHOOK_SECRET: &str = "whsec_emporium_current";
pub const OLD_WEBHOOK_SECRET: &str = "whsec_emporium_previous";

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub idempotency_key: Option<String>,
    pub version: Option<String>,
    pub form: BTreeMap<String, String>,
}

/// A request's parameters and the answer it got.
type Remembered = (BTreeMap<String, String>, Value);

#[derive(Default)]
pub struct Inner {
    pub intents: Mutex<BTreeMap<String, Value>>,
    pub refunds: Mutex<Vec<Value>>,
    /// Idempotency key → (the request's parameters, the answer).
    idempotent: Mutex<HashMap<String, Remembered>>,
    pub seen: Mutex<Vec<Seen>>,
    /// The next this-many POSTs answer 500 without doing anything.
    pub fail_next: AtomicU32,
    /// The next this-many POSTs do their work, then stall this long before answering.
    pub stall_next: AtomicU32,
    pub stall_ms: AtomicU64,
    /// When set, a new PaymentIntent is paid at once and this webhook
    /// `(url, secret)` gets `payment_intent.succeeded` before the create call is answered.
    pub webhook_on_create: Mutex<Option<(String, String)>>,
    counter: AtomicU32,
}

#[derive(Clone)]
pub struct FakeStripe {
    pub addr: SocketAddr,
    pub inner: Arc<Inner>,
}

impl FakeStripe {
    pub async fn start() -> FakeStripe {
        let inner = Arc::new(Inner::default());
        let addr = crate::helpers::serve_fake(Router::new().fallback(handle).with_state(inner.clone())).await;
        FakeStripe { addr, inner }
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn intent(&self, id: &str) -> Value {
        self.inner.intents.lock().unwrap().get(id).cloned().unwrap_or(Value::Null)
    }

    pub fn intent_count(&self) -> usize {
        self.inner.intents.lock().unwrap().len()
    }

    pub fn seen(&self, method: &str, path_prefix: &str) -> Vec<Seen> {
        self.inner
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.method == method && s.path.starts_with(path_prefix))
            .cloned()
            .collect()
    }

    /// A refund made in Stripe's dashboard, not through the shop.
    pub fn dashboard_refund(&self, intent: &str, amount: i64) -> Value {
        let refund = json!({"id": format!("re_dash_{}", self.inner.counter.fetch_add(1, Ordering::SeqCst)),
            "object": "refund", "amount": amount, "currency": "usd", "status": "succeeded",
            "payment_intent": intent, "metadata": {}});
        self.inner.refunds.lock().unwrap().push(refund.clone());
        refund
    }

    /// `amount_refunded` of the intent's charge.
    pub fn refunded(&self, intent: &str) -> i64 {
        self.inner
            .refunds
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r["payment_intent"] == intent)
            .map(|r| r["amount"].as_i64().unwrap())
            .sum()
    }
}

fn error(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, axum::Json(json!({"error": {"type": kind, "message": message}}))).into_response()
}

fn metadata(form: &BTreeMap<String, String>) -> Value {
    let map: serde_json::Map<String, Value> = form
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("metadata[")?.strip_suffix(']')?.to_owned(), json!(v))))
        .collect();
    Value::Object(map)
}

/// A Stripe event wrapping `object`.
pub fn event(kind: &str, object: Value) -> Value {
    json!({"id": format!("evt_{}", uuid::Uuid::new_v4().simple()), "object": "event", "api_version": payments::stripe::API_VERSION,
           "created": time::OffsetDateTime::now_utc().unix_timestamp(), "type": kind, "livemode": false,
           "data": {"object": object}})
}

/// The charge of a paid intent, as `charge.refunded` carries it.
pub fn charge(intent: &Value, amount_refunded: i64) -> Value {
    json!({"id": format!("ch_{}", intent["id"].as_str().unwrap()), "object": "charge", "amount": intent["amount"],
           "amount_refunded": amount_refunded, "currency": intent["currency"], "payment_intent": intent["id"],
           "refunded": amount_refunded >= intent["amount"].as_i64().unwrap()})
}

/// Posts `event` to `url` signed with `secret` at `timestamp`, as Stripe does.
pub async fn deliver(url: &str, secret: &str, event: &Value, timestamp: i64) -> reqwest::Response {
    let payload = serde_json::to_vec(event).unwrap();
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("stripe-signature", payments::stripe::signature_header(secret, timestamp, &payload))
        .body(payload)
        .send()
        .await
        .unwrap()
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let form: BTreeMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
    let path = uri.path().to_owned();
    inner.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        path: uri.to_string(),
        idempotency_key: header("idempotency-key"),
        version: header("stripe-version"),
        form: form.clone(),
    });
    if header("authorization").as_deref() != Some(&format!("Bearer {SECRET_KEY}")) {
        return error(StatusCode::UNAUTHORIZED, "invalid_request_error", "Invalid API Key provided");
    }
    if method == Method::GET && path == "/v1/refunds" {
        let query: BTreeMap<String, String> =
            form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()).into_owned().collect();
        let data: Vec<Value> = inner
            .refunds
            .lock()
            .unwrap()
            .iter()
            .filter(|r| query.get("payment_intent").is_none_or(|pi| r["payment_intent"] == pi.as_str()))
            .rev()
            .cloned()
            .collect();
        return axum::Json(json!({"object": "list", "data": data, "has_more": false, "url": "/v1/refunds"}))
            .into_response();
    }
    if method != Method::POST {
        return error(StatusCode::NOT_FOUND, "invalid_request_error", "Unrecognized request URL");
    }
    if inner.fail_next.load(Ordering::SeqCst) > 0 {
        inner.fail_next.fetch_sub(1, Ordering::SeqCst);
        return error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "An unknown error occurred");
    }
    let Some(key) = header("idempotency-key") else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "this fake wants an Idempotency-Key on every POST",
        );
    };
    let earlier = inner.idempotent.lock().unwrap().get(&key).cloned();
    let answer = match earlier {
        Some((params, _)) if params != form => {
            return error(
                StatusCode::BAD_REQUEST,
                "idempotency_error",
                "Keys for idempotent requests can only be used with the same parameters they were first used with.",
            );
        }
        Some((_, answer)) => answer,
        None => {
            let answer = match act(&inner, &path, &form).await {
                Ok(answer) => answer,
                Err(response) => return response,
            };
            inner.idempotent.lock().unwrap().insert(key, (form, answer.clone()));
            answer
        }
    };
    if inner.stall_next.load(Ordering::SeqCst) > 0 {
        inner.stall_next.fetch_sub(1, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(inner.stall_ms.load(Ordering::SeqCst))).await;
    }
    axum::Json(answer).into_response()
}

async fn act(inner: &Inner, path: &str, form: &BTreeMap<String, String>) -> Result<Value, Response> {
    let n = inner.counter.fetch_add(1, Ordering::SeqCst);
    let amount = |f: &BTreeMap<String, String>| f.get("amount").and_then(|a| a.parse::<i64>().ok());
    if path == "/v1/payment_intents" {
        let (Some(amount), Some(currency)) = (amount(form), form.get("currency")) else {
            return Err(error(StatusCode::BAD_REQUEST, "invalid_request_error", "Missing required param: amount."));
        };
        let id = format!("pi_fake{n}");
        let mut intent = json!({"id": id, "object": "payment_intent", "amount": amount, "currency": currency,
            "status": "requires_payment_method", "client_secret": format!("{id}_secret_{n}"),
            "metadata": metadata(form), "last_payment_error": null});
        let hook = inner.webhook_on_create.lock().unwrap().clone();
        if let Some((url, secret)) = hook {
            intent["status"] = json!("succeeded");
            inner.intents.lock().unwrap().insert(id.clone(), intent.clone());
            let mut object = intent.clone();
            object["client_secret"] = Value::Null;
            let res = deliver(
                &url,
                &secret,
                &event("payment_intent.succeeded", object),
                time::OffsetDateTime::now_utc().unix_timestamp(),
            )
            .await;
            assert_eq!(res.status(), 200, "the early webhook was refused");
        }
        inner.intents.lock().unwrap().insert(id, intent.clone());
        return Ok(intent);
    }
    if let Some(id) = path.strip_prefix("/v1/payment_intents/").and_then(|p| p.strip_suffix("/cancel")) {
        let mut intents = inner.intents.lock().unwrap();
        let Some(intent) = intents.get_mut(id) else {
            return Err(error(StatusCode::NOT_FOUND, "invalid_request_error", "No such payment_intent"));
        };
        if intent["status"] == "succeeded" || intent["status"] == "canceled" {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "This PaymentIntent's status does not allow cancel.",
            ));
        }
        intent["status"] = json!("canceled");
        intent["cancellation_reason"] = json!(form.get("cancellation_reason"));
        return Ok(intent.clone());
    }
    if path == "/v1/refunds" {
        let (Some(amount), Some(pi)) = (amount(form), form.get("payment_intent")) else {
            return Err(error(StatusCode::BAD_REQUEST, "invalid_request_error", "Missing required param."));
        };
        let charged = inner.intents.lock().unwrap().get(pi).and_then(|i| i["amount"].as_i64()).unwrap_or(0);
        let already: i64 = inner
            .refunds
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r["payment_intent"] == pi.as_str())
            .map(|r| r["amount"].as_i64().unwrap())
            .sum();
        if already + amount > charged {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "Refund amount is greater than unrefunded amount on charge",
            ));
        }
        let refund = json!({"id": format!("re_fake{n}"), "object": "refund", "amount": amount, "currency": "usd",
            "status": "succeeded", "payment_intent": pi, "metadata": metadata(form)});
        inner.refunds.lock().unwrap().push(refund.clone());
        return Ok(refund);
    }
    Err(error(StatusCode::NOT_FOUND, "invalid_request_error", "Unrecognized request URL"))
}
