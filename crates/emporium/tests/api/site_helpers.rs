//! A browser for the HTML pages: keeps cookies, reads the CSRF token off
//! each page and sends it with forms, and does not follow redirects (so a
//! test sees them).

use crate::helpers::TestApp;
use reqwest::header::{COOKIE, HeaderMap, LOCATION, SET_COOKIE};
use std::collections::BTreeMap;

pub struct Page {
    pub status: u16,
    pub body: String,
    pub headers: HeaderMap,
}

impl Page {
    pub fn location(&self) -> &str {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    #[track_caller]
    pub fn assert(&self, status: u16) -> &Page {
        assert_eq!(self.status, status, "unexpected status; body: {}", &self.body[..self.body.len().min(3000)]);
        self
    }

    #[track_caller]
    pub fn assert_contains(&self, text: &str) -> &Page {
        assert!(self.body.contains(text), "page lacks {text:?}; body: {}", &self.body[..self.body.len().min(4000)]);
        self
    }

    #[track_caller]
    pub fn assert_lacks(&self, text: &str) -> &Page {
        assert!(!self.body.contains(text), "page has {text:?}");
        self
    }

    #[track_caller]
    pub fn assert_redirect(&self, prefix: &str) -> &Page {
        assert!((300..400).contains(&self.status), "expected a redirect, got {}: {}", self.status, self.body);
        assert!(self.location().starts_with(prefix), "redirected to {}, expected {prefix}", self.location());
        self
    }

    /// The `Set-Cookie` header that sets `name`.
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with(&format!("{name}=")))
            .map(str::to_owned)
    }

    /// The text between `before` and the next `after`, after the first `before`.
    pub fn between(&self, before: &str, after: &str) -> Option<String> {
        let start = self.body.find(before)? + before.len();
        let end = self.body[start..].find(after)? + start;
        Some(self.body[start..end].to_owned())
    }
}

pub struct Browser<'a> {
    app: &'a TestApp,
    client: reqwest::Client,
    pub cookies: BTreeMap<String, String>,
    pub csrf: String,
}

impl<'a> Browser<'a> {
    pub fn new(app: &'a TestApp) -> Browser<'a> {
        let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Browser { app, client, cookies: BTreeMap::new(), csrf: String::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = if self.cookies.is_empty() { request } else { request.header(COOKIE, self.cookie_header()) };
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        for value in headers.get_all(SET_COOKIE).iter().filter_map(|v| v.to_str().ok()) {
            let first = value.split(';').next().unwrap_or("");
            if let Some((name, val)) = first.split_once('=') {
                if val.is_empty() || value.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), val.to_owned());
                }
            }
        }
        let body = response.text().await.unwrap_or_default();
        if let Some(token) = csrf_in(&body) {
            self.csrf = token;
        }
        Page { status, body, headers }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let request = self.client.get(self.app.url(path));
        self.send(request).await
    }

    /// A form post with the page's CSRF token.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut all: Vec<(&str, &str)> = fields.to_vec();
        let csrf = self.csrf.clone();
        all.push(("_csrf", &csrf));
        self.post_raw(path, &all).await
    }

    /// A form post exactly as given (no CSRF token added).
    pub async fn post_raw(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let request = self.form_request(path, fields);
        self.send(request).await
    }

    fn form_request(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::RequestBuilder {
        let body = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
        self.client.post(self.app.url(path)).header("content-type", "application/x-www-form-urlencoded").body(body)
    }

    /// A form post with the token in the `X-CSRF-Token` header, as htmx sends it.
    pub async fn post_with_header(&mut self, path: &str, fields: &[(&str, &str)], token: &str) -> Page {
        let request = self.form_request(path, fields).header("x-csrf-token", token);
        self.send(request).await
    }

    /// Follows a redirect.
    pub async fn follow(&mut self, page: &Page) -> Page {
        let to = page.location().to_owned();
        assert!(to.starts_with('/'), "not a local redirect: {to:?} (status {})", page.status);
        self.get(&to).await
    }

    /// A multipart upload with the CSRF token in the query string, as the page's form sends it.
    pub async fn upload(&mut self, path: &str, file: Vec<u8>, alt: &str, with_csrf: bool) -> Page {
        let form = reqwest::multipart::Form::new()
            .part(
                "file",
                reqwest::multipart::Part::bytes(file).file_name("photo.jpg").mime_str("image/jpeg").expect("mime"),
            )
            .text("alt", alt.to_owned());
        let url = if with_csrf {
            let token: String = form_urlencoded::byte_serialize(self.csrf.as_bytes()).collect();
            format!("{}?_csrf={token}", self.app.url(path))
        } else {
            self.app.url(path)
        };
        let request = self.client.post(url).multipart(form);
        self.send(request).await
    }

    /// Signs in through the form (first loading it for a token).
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        self.get("/login").await.assert(200);
        self.post("/login", &[("email", email), ("password", password)]).await
    }
}

pub fn csrf_in(body: &str) -> Option<String> {
    let marker = "name=\"_csrf\" value=\"";
    let start = body.find(marker)? + marker.len();
    let end = body[start..].find('"')? + start;
    Some(body[start..end].to_owned())
}
