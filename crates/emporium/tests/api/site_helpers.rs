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
        // Every page a test sees gets the automated accessibility check.
        let html =
            headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with("text/html"));
        if html {
            let problems = accessibility_problems(&body);
            assert!(problems.is_empty(), "accessibility problems (status {status}): {problems:#?}");
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

/// One start tag: its name, attributes, and where it ends in the page.
struct Tag {
    name: String,
    attrs: BTreeMap<String, String>,
    end: usize,
}

/// The start and end tags of `html`, in order (end tags have names
/// starting with `/`). Enough HTML for the pages we render ourselves.
fn tags(html: &str) -> Vec<Tag> {
    let bytes = html.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(offset) = html[i..].find('<') {
        let start = i + offset + 1;
        if html[start..].starts_with("!--") {
            i = html[start..].find("-->").map_or(html.len(), |e| start + e + 3);
            continue;
        }
        let name_end = html[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '/' || c == '!'))
            .map_or(html.len(), |e| start + e);
        let name = html[start..name_end].to_ascii_lowercase();
        let mut attrs = BTreeMap::new();
        let mut j = name_end;
        while j < bytes.len() && bytes[j] != b'>' {
            if bytes[j].is_ascii_whitespace() || bytes[j] == b'/' {
                j += 1;
                continue;
            }
            let key_end =
                html[j..].find(|c: char| c == '=' || c == '>' || c.is_ascii_whitespace()).map_or(html.len(), |e| j + e);
            let key = html[j..key_end].to_ascii_lowercase();
            j = key_end;
            let mut value = String::new();
            if bytes.get(j) == Some(&b'=') {
                j += 1;
                if let Some(&quote) = bytes.get(j).filter(|q| **q == b'"' || **q == b'\'') {
                    let close = html[j + 1..].find(char::from(quote)).map_or(html.len(), |e| j + 1 + e);
                    value = html[j + 1..close].to_owned();
                    j = close + 1;
                } else {
                    let close =
                        html[j..].find(|c: char| c == '>' || c.is_ascii_whitespace()).map_or(html.len(), |e| j + e);
                    value = html[j..close].to_owned();
                    j = close;
                }
            }
            attrs.insert(key, value);
        }
        let end = (j + 1).min(html.len());
        out.push(Tag { name: name.clone(), attrs, end });
        i = end;
        if name == "script" || name == "style" {
            i = html[i..].find(&format!("</{name}")).map_or(html.len(), |e| i + e);
        }
    }
    out
}

/// The text a person (or a screen reader) gets from `inner`: its words,
/// and the alt text of its images.
fn accessible_text(inner: &str) -> String {
    let mut text = String::new();
    let mut rest = inner;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let close = rest[open..].find('>').map_or(rest.len(), |e| open + e + 1);
        let tag = &rest[open..close];
        if let Some(alt) = tag.split("alt=\"").nth(1).and_then(|a| a.split('"').next()) {
            text.push_str(alt);
        }
        rest = &rest[close..];
    }
    text.push_str(rest);
    text.trim().to_owned()
}

/// What an automated look at a page finds that keeps people on screen
/// readers or keyboards out: a page without a language, an image without
/// alt text, a form control without a label, a link or button without a
/// name, an id used twice (a label can point at only one).
pub fn accessibility_problems(html: &str) -> Vec<String> {
    let tags = tags(html);
    let mut problems = Vec::new();
    if html.contains("<html")
        && !tags.iter().any(|t| t.name == "html" && t.attrs.get("lang").is_some_and(|l| !l.is_empty()))
    {
        problems.push("<html> has no lang".to_owned());
    }
    let labelled: Vec<&str> =
        tags.iter().filter(|t| t.name == "label").filter_map(|t| t.attrs.get("for").map(String::as_str)).collect();
    let mut ids = BTreeMap::new();
    let mut in_label = 0usize;
    for (n, tag) in tags.iter().enumerate() {
        let attr = |k: &str| tag.attrs.get(k).map(String::as_str);
        if let Some(id) = attr("id") {
            *ids.entry(id.to_owned()).or_insert(0) += 1;
        }
        let named = attr("aria-label").is_some_and(|l| !l.trim().is_empty()) || attr("aria-labelledby").is_some();
        match tag.name.as_str() {
            "label" => in_label += 1,
            "/label" => in_label = in_label.saturating_sub(1),
            "img" if attr("alt").is_none() => problems.push(format!("an image without alt: {:?}", attr("src"))),
            "input" | "select" | "textarea" => {
                let kind = attr("type").unwrap_or("text");
                let exempt = matches!(kind, "hidden" | "submit" | "button" | "reset" | "image");
                let has_label = attr("id").is_some_and(|id| labelled.contains(&id)) || in_label > 0 || named;
                if !exempt && !has_label {
                    problems.push(format!("a {} without a label: name={:?}", tag.name, attr("name")));
                }
            }
            "a" | "button" if !named => {
                let close = format!("</{}", tag.name);
                let inner_end = tags[n + 1..]
                    .iter()
                    .find(|t| t.name == close[1..])
                    .map_or(html.len(), |t| html[..t.end].rfind('<').unwrap_or(html.len()));
                if accessible_text(&html[tag.end..inner_end.max(tag.end)]).is_empty() {
                    problems.push(format!("a {} without a name: {:?}", tag.name, attr("href").or(attr("name"))));
                }
            }
            _ => {}
        }
    }
    problems.extend(ids.into_iter().filter(|(_, n)| *n > 1).map(|(id, n)| format!("id {id:?} used {n} times")));
    problems
}

#[test]
fn the_accessibility_check_finds_what_it_looks_for() {
    let bad = r#"<html><body><img src="/x.jpg"><input name="q"><select id="s"></select>
        <a href="/cart"> </a><button type="submit"><img src="/i.svg" alt=""></button><p id="d"></p><p id="d"></p>"#;
    let problems = accessibility_problems(bad);
    for expected in [
        "no lang",
        "image without alt",
        "input without a label",
        "select without a label",
        "a a without a name",
        "a button without a name",
        "\"d\" used 2 times",
    ] {
        assert!(problems.iter().any(|p| p.contains(expected)), "{expected:?} not in {problems:#?}");
    }
    assert_eq!(problems.len(), 7, "{problems:#?}");
    let good = r#"<html lang="en"><label for="q">Search</label><input id="q" name="q"><input type="hidden" name="_csrf">
        <label class="inline"><input type="radio" name="r"> Card</label><a href="/"><img src="/l.png" alt="Home"></a>
        <button aria-label="Close">×</button><!-- <img src="ignored"> --><select aria-label="Sort"></select>"#;
    assert_eq!(accessibility_problems(good), Vec::<String>::new());
}
