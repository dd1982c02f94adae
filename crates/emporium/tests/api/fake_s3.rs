//! A local server speaking the part of the S3 REST API the shop uses (path-style `PutObject`,
//! `GetObject`, `HeadObject`, `DeleteObject`), which checks every request's Signature Version 4 the
//! way S3 does: the credential scope, the signed headers, the payload hash against the body, and the
//! signature recomputed from the request as received. Errors are S3's XML error documents.
//! The signer it checks against is verified separately on AWS's published examples (`media::s3`).

// Test code: a failed unwrap is a failed test with its location.
#![allow(clippy::unwrap_used)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use media::s3::{CanonicalRequest, Credentials, hex, signature};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

pub const ACCESS_KEY: &str = "EMPORIUMTESTKEY";
pub const SECRET_KEY: &str = "emporium/test/secret/key";
pub const BUCKET: &str = "shop-media";
pub const REGION: &str = "eu-central-1";

#[derive(Clone, Debug)]
pub struct Object {
    pub bytes: Vec<u8>,
    pub content_type: String,
    pub cache_control: String,
}

#[derive(Default)]
pub struct Inner {
    pub objects: Mutex<HashMap<String, Object>>,
    /// `(method, path, status)` of every request, in order.
    pub log: Mutex<Vec<(String, String, u16)>>,
    /// The next this-many requests answer 503 SlowDown.
    pub fail_next: AtomicU32,
}

#[derive(Clone)]
pub struct FakeS3 {
    pub addr: SocketAddr,
    pub inner: Arc<Inner>,
}

impl FakeS3 {
    pub async fn start() -> FakeS3 {
        let inner = Arc::new(Inner::default());
        let addr = crate::helpers::serve_fake(Router::new().fallback(handle).with_state(inner.clone())).await;
        FakeS3 { addr, inner }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn object(&self, key: &str) -> Option<Object> {
        self.inner.objects.lock().unwrap().get(key).cloned()
    }

    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.inner.objects.lock().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    pub fn log(&self) -> Vec<(String, String, u16)> {
        self.inner.log.lock().unwrap().clone()
    }
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    (status, [("content-type", "application/xml")], body).into_response()
}

async fn handle(
    State(inner): State<Arc<Inner>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let response = answer(&inner, &method, &uri, &headers, &body);
    inner.log.lock().unwrap().push((method.to_string(), uri.path().to_string(), response.status().as_u16()));
    response
}

fn answer(inner: &Inner, method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
    if let Err(response) = check_signature(method, uri, headers, body) {
        return response;
    }
    if inner.fail_next.load(Ordering::SeqCst) > 0 {
        inner.fail_next.fetch_sub(1, Ordering::SeqCst);
        return error(StatusCode::SERVICE_UNAVAILABLE, "SlowDown", "Please reduce your request rate.");
    }
    let path = uri.path().trim_start_matches('/');
    let Some((bucket, key)) = path.split_once('/') else {
        return error(StatusCode::BAD_REQUEST, "InvalidRequest", "path-style object requests only");
    };
    if bucket != BUCKET {
        return error(StatusCode::NOT_FOUND, "NoSuchBucket", "The specified bucket does not exist");
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let mut objects = inner.objects.lock().unwrap();
    match *method {
        Method::PUT => {
            let object = Object {
                bytes: body.to_vec(),
                content_type: header("content-type"),
                cache_control: header("cache-control"),
            };
            let etag = format!("\"{}\"", hex(&Sha256::digest(body))[..32].to_owned());
            objects.insert(key.to_string(), object);
            (StatusCode::OK, [("etag", etag)]).into_response()
        }
        Method::GET | Method::HEAD => match objects.get(key) {
            Some(object) => {
                let headers =
                    [("content-type", object.content_type.clone()), ("cache-control", object.cache_control.clone())];
                if *method == Method::HEAD {
                    (StatusCode::OK, headers).into_response()
                } else {
                    (StatusCode::OK, headers, object.bytes.clone()).into_response()
                }
            }
            None if *method == Method::HEAD => StatusCode::NOT_FOUND.into_response(),
            None => error(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist."),
        },
        Method::DELETE => {
            objects.remove(key);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "method not allowed"),
    }
}

/// Checks the `Authorization` header as S3 does; `Err` is the S3 error answer.
#[allow(clippy::result_large_err)]
fn check_signature(method: &Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Result<(), Response> {
    let denied = |code: &str, message: &str| error(StatusCode::FORBIDDEN, code, message);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let auth = header("authorization").ok_or_else(|| denied("AccessDenied", "Access Denied"))?;
    let rest = auth
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| denied("InvalidRequest", "only AWS4-HMAC-SHA256 is supported"))?;
    let mut parts = HashMap::new();
    for part in rest.split(',') {
        let (name, value) = part.trim().split_once('=').ok_or_else(|| denied("AuthorizationHeaderMalformed", &auth))?;
        parts.insert(name.to_string(), value.to_string());
    }
    let (credential, signed, given) =
        match (parts.get("Credential"), parts.get("SignedHeaders"), parts.get("Signature")) {
            (Some(c), Some(s), Some(g)) => (c.clone(), s.clone(), g.clone()),
            _ => return Err(denied("AuthorizationHeaderMalformed", &auth)),
        };
    let scope: Vec<&str> = credential.split('/').collect();
    let amz_date = header("x-amz-date").ok_or_else(|| denied("AccessDenied", "x-amz-date is required"))?;
    if scope.len() != 5 || scope[0] != ACCESS_KEY {
        return Err(denied("InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."));
    }
    if scope[1] != &amz_date[..8.min(amz_date.len())]
        || scope[2] != REGION
        || scope[3] != "s3"
        || scope[4] != "aws4_request"
    {
        return Err(denied("AuthorizationHeaderMalformed", "bad credential scope"));
    }
    let now = media::s3::amz_date(time::OffsetDateTime::now_utc());
    let skew = |d: &str| {
        time::PrimitiveDateTime::parse(
            d,
            time::macros::format_description!("[year][month][day]T[hour][minute][second]Z"),
        )
    };
    match (skew(&amz_date), skew(&now)) {
        (Ok(a), Ok(b)) if (a - b).whole_minutes().abs() <= 15 => {}
        _ => {
            return Err(denied(
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            ));
        }
    }
    let payload =
        header("x-amz-content-sha256").ok_or_else(|| denied("InvalidRequest", "x-amz-content-sha256 is required"))?;
    if payload != hex(&Sha256::digest(body)) {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        ));
    }
    let names: Vec<&str> = signed.split(';').collect();
    if !names.contains(&"host") || !names.contains(&"x-amz-date") || !names.contains(&"x-amz-content-sha256") {
        return Err(denied("AccessDenied", "host, x-amz-date and x-amz-content-sha256 must be signed"));
    }
    let values: Vec<(&str, String)> = names.iter().map(|n| (*n, header(n).unwrap_or_default())).collect();
    let pairs: Vec<(&str, &str)> = values.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let request = CanonicalRequest {
        method: method.as_str(),
        uri: uri.path(),
        query: uri.query().unwrap_or_default(),
        headers: &pairs,
        payload_sha256: &payload,
    };
    let expected =
        signature(&Credentials { access_key_id: ACCESS_KEY, secret: SECRET_KEY }, REGION, "s3", &request, &amz_date);
    if expected != given {
        return Err(denied(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        ));
    }
    Ok(())
}
