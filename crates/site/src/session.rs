//! Cookies, the signed-in session and CSRF.
//!
//! - `em_visitor`: a random id given to every browser on its first page.
//!   The CSRF token is an HMAC of it, so a token is worthless for any other
//!   browser, and a request without the cookie cannot carry a valid token.
//! - `em_session`: the sign-in, a refresh token of its own family that is
//!   never rotated (see `IdentityService::session_user`); logging out
//!   revokes it.
//! - `em_cart`: a guest's cart token; it is merged into the account's cart
//!   at sign-in.
//!
//! All three are httpOnly and SameSite=Lax (and Secure when configured).
//! Every POST must carry the token, as the `_csrf` form field, the
//! `X-CSRF-Token` header (htmx sends it from the `<body hx-headers>`) or, for
//! file uploads, the `_csrf` query parameter; without it the answer is 403
//! and nothing changes.

use crate::Site;
use crate::page::{Chrome, PageError};
use axum::body::Body;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use identity::{Role, User};
use rand::RngCore as _;
use sha2::Sha256;

pub const VISITOR_COOKIE: &str = "em_visitor";
pub const SESSION_COOKIE: &str = "em_session";
pub const CART_COOKIE: &str = "em_cart";
pub const CSRF_FIELD: &str = "_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Largest form body read while looking for the CSRF field (uploads put
/// their token in the query string instead).
const MAX_FORM_BYTES: usize = 256 * 1024;

/// A fresh random value for a cookie: 32 bytes, base64url.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

/// A `Set-Cookie` value; `max_age` zero deletes the cookie.
pub fn set_cookie(site: &Site, name: &str, value: &str, max_age: i64) -> HeaderValue {
    let secure = if site.config.secure_cookies { "; Secure" } else { "" };
    let value = format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static("invalid=1; Max-Age=0"))
}

pub fn csrf_token(site: &Site, visitor: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&site.config.csrf_key) else { return String::new() };
    mac.update(b"emporium csrf v1:");
    mac.update(visitor.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn csrf_valid(site: &Site, visitor: &str, presented: &str) -> bool {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&site.config.csrf_key) else { return false };
    mac.update(b"emporium csrf v1:");
    mac.update(visitor.as_bytes());
    match URL_SAFE_NO_PAD.decode(presented.trim()) {
        Ok(bytes) => mac.verify_slice(&bytes).is_ok(),
        Err(_) => false,
    }
}

/// The browser's visitor id, put in the request by [`visitor_layer`].
#[derive(Debug, Clone)]
struct VisitorId(String);

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

fn form_field(body: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(body).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// A refusal sent before the request's body was read (an upload without
/// its token, say): the connection closes after it, so no client sends its
/// next request down a connection that still holds unread bytes.
fn refuse_unread(error: PageError) -> Response {
    let mut response = error.into_response();
    response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
    response
}

/// Gives each browser its visitor cookie and refuses an unsafe request
/// without the visitor's CSRF token (403, nothing done). The API under
/// `/api` is left alone: it authenticates with bearer tokens, not cookies.
pub async fn visitor_layer(State(site): State<Site>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/api/") {
        return next.run(request).await;
    }
    let existing = cookie(request.headers(), VISITOR_COOKIE).map(str::to_owned);
    let (mut parts, body) = request.into_parts();
    let body = if is_safe(&parts.method) {
        body
    } else {
        let Some(visitor) = existing.as_deref() else {
            return refuse_unread(PageError::forbidden_csrf());
        };
        let mut presented = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
        if presented.is_none() {
            presented = parts.uri.query().and_then(|q| form_field(q.as_bytes(), CSRF_FIELD));
        }
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        let body = if is_form {
            let Ok(bytes) = axum::body::to_bytes(body, MAX_FORM_BYTES).await else {
                return refuse_unread(PageError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "That form was too large to send.",
                ));
            };
            if presented.is_none() {
                presented = form_field(&bytes, CSRF_FIELD);
            }
            Body::from(bytes)
        } else {
            body
        };
        if !presented.is_some_and(|p| csrf_valid(&site, visitor, &p)) {
            return refuse_unread(PageError::forbidden_csrf());
        }
        body
    };
    let fresh = existing.is_none();
    let visitor = existing.unwrap_or_else(random_token);
    parts.extensions.insert(VisitorId(visitor.clone()));
    let mut response = next.run(Request::from_parts(parts, body)).await;
    if fresh {
        response.headers_mut().append(header::SET_COOKIE, set_cookie(&site, VISITOR_COOKIE, &visitor, 400 * 86_400));
    }
    response
}

/// Who is asking: the signed-in user (if any), the CSRF token for the forms
/// on the page and the guest cart token.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub user: Option<User>,
    pub csrf: String,
    pub session: Option<String>,
    pub cart_token: Option<String>,
}

impl Visitor {
    pub fn customer(&self) -> Option<orders::Customer> {
        self.user.as_ref().map(|u| orders::Customer { user_id: u.id, email: u.email.as_str().to_owned() })
    }

    /// The signed-in user, or a redirect to the sign-in page that comes back to `back`.
    pub fn require_user(&self, back: &str) -> Result<&User, PageError> {
        self.user.as_ref().ok_or_else(|| PageError::login(back))
    }

    /// Staff only: anonymous visitors are sent to sign in, customers get 403.
    pub fn require_staff(&self, back: &str) -> Result<&User, PageError> {
        let user = self.require_user(back)?;
        if user.role == Role::Customer {
            return Err(PageError::new(StatusCode::FORBIDDEN, "The admin is for the shop's staff only."));
        }
        Ok(user)
    }
}

impl FromRequestParts<Site> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, site: &Site) -> Result<Self, Self::Rejection> {
        let visitor = parts.extensions.get::<VisitorId>().map(|v| v.0.clone()).unwrap_or_default();
        let session = cookie(&parts.headers, SESSION_COOKIE).map(str::to_owned);
        let user = match &session {
            // A revoked, expired or suspended session is simply signed out.
            Some(token) => site.app.identity.session_user(token).await.ok(),
            None => None,
        };
        Ok(Visitor {
            user,
            csrf: csrf_token(site, &visitor),
            session,
            cart_token: cookie(&parts.headers, CART_COOKIE).map(str::to_owned),
        })
    }
}

/// The page frame for `visitor` (their name, staff links, form token).
impl Chrome {
    pub fn new(site: &Site, visitor: &Visitor, title: impl Into<String>) -> Chrome {
        Chrome {
            shop: site.config.shop_name.clone(),
            title: title.into(),
            csrf: visitor.csrf.clone(),
            user_name: visitor.user.as_ref().map(|u| u.full_name.clone()),
            is_staff: visitor.user.as_ref().is_some_and(|u| u.role != identity::Role::Customer),
            notice: None,
            q: String::new(),
            admin: false,
        }
    }

    pub fn admin(site: &Site, visitor: &Visitor, title: impl Into<String>) -> Chrome {
        Chrome { admin: true, ..Chrome::new(site, visitor, title) }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_cookies() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("a=1; em_visitor=abc ; b="));
        headers.append(header::COOKIE, HeaderValue::from_static("em_cart=xyz"));
        assert_eq!(cookie(&headers, "em_visitor"), Some("abc"));
        assert_eq!(cookie(&headers, "em_cart"), Some("xyz"));
        assert_eq!(cookie(&headers, "b"), None);
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn form_fields() {
        assert_eq!(form_field(b"a=1&_csrf=x%2By&b=2", "_csrf").as_deref(), Some("x+y"));
        assert_eq!(form_field(b"a=1", "_csrf"), None);
    }
}
