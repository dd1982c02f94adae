//! Notifications that reach people: email through a real SMTP server on
//! loopback (aiosmtpd, from PyPI, started by the tests: see
//! `tests/support/smtp_sink.py`), text messages through a local server that
//! answers as Twilio's Messages API does, and the delivery log's statuses.
//! Without Python's aiosmtpd (`pip install aiosmtpd`) these say "skipped";
//! `.ci/run` installs it.

use crate::helpers::{Db, TestApp, unique_email};
use crate::on_both_databases;
use crate::shop_helpers::{address, new_key};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use emporium::settings::{Secret, Settings};
use identity::Role;
use reqwest::Method;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

on_both_databases!(customers_and_staff_get_real_emails_and_texts, a_mail_server_that_was_down_gets_each_message_once);

fn skipped(test: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipped: {test} (Python's aiosmtpd is not installed: pip install aiosmtpd)");
}

/// aiosmtpd on a loopback port, writing what it receives to a file.
pub struct SmtpSink {
    child: Option<Child>,
    pub port: u16,
    file: PathBuf,
    _dir: tempfile::TempDir,
}

impl SmtpSink {
    /// A sink on a free port, or `None` (after saying skipped) without aiosmtpd.
    pub fn start(test: &str) -> Option<SmtpSink> {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
        Self::start_on(test, port)
    }

    pub fn start_on(test: &str, port: u16) -> Option<SmtpSink> {
        let has_aiosmtpd = Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !has_aiosmtpd {
            skipped(test);
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("received.jsonl");
        let mut sink = SmtpSink { child: None, port, file, _dir: dir };
        sink.up();
        Some(sink)
    }

    /// Starts the server (again), keeping what it received.
    pub fn up(&mut self) {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/smtp_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(self.port.to_string())
            .arg(&self.file)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        let out = child.stdout.take().expect("stdout");
        std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line).expect("the sink says ready");
        assert_eq!(line.trim(), "ready", "the SMTP sink did not start");
        self.child = Some(child);
    }

    /// Takes the server down: connections are refused until `up`.
    pub fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn received(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.file)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect()
    }

    /// What it received once it holds `n` messages (up to 20 s), then a
    /// moment more so that a duplicate would show.
    pub async fn wait_for(&self, n: usize) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.received().len() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.received()
    }

    pub fn configure(&self, s: &mut Settings) {
        s.mail.smtp_url = Some(Secret(format!("smtp://127.0.0.1:{}", self.port)));
        s.mail.from = Some("Test Shop <shop@shop.test>".to_owned());
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.down();
    }
}

/// A local server speaking Twilio's Messages API: Basic auth with the
/// account SID and token, a form of `To`, `From`, `Body`; `+15005550001`
/// is refused as Twilio's test credentials refuse it (code 21211).
#[derive(Clone, Default)]
struct FakeTwilio {
    /// (To, From, Body) of each text taken.
    texts: Arc<Mutex<Vec<(String, String, String)>>>,
    addr: Option<std::net::SocketAddr>,
}

const SID: &str = "AC0123456789abcdef";
const TOKEN: &str = "twilio-token";

async fn twilio_messages(
    State(fake): State<FakeTwilio>,
    Path(account): Path<String>,
    headers: HeaderMap,
    body: String,
) -> (StatusCode, axum::Json<Value>) {
    use base64::Engine as _;
    let expected = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{SID}:{TOKEN}")));
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    if account != SID || auth != expected {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"code": 20003, "message": "Authenticate", "status": 401})),
        );
    }
    let form: std::collections::HashMap<String, String> =
        form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let field = |k: &str| form.get(k).cloned().unwrap_or_default();
    if field("To") == "+15005550001" {
        let message = format!("The 'To' number {} is not a valid phone number.", field("To"));
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"code": 21211, "message": message, "status": 400})));
    }
    fake.texts.lock().expect("lock").push((field("To"), field("From"), field("Body")));
    let sid = format!("SM{}", uuid::Uuid::now_v7().simple());
    (StatusCode::CREATED, axum::Json(json!({"sid": sid, "status": "queued", "to": field("To"), "body": field("Body")})))
}

impl FakeTwilio {
    async fn start() -> FakeTwilio {
        let fake = FakeTwilio::default();
        let app = axum::Router::new()
            .route("/2010-04-01/Accounts/{sid}/Messages.json", post(twilio_messages))
            .with_state(fake.clone());
        let addr = crate::helpers::serve_fake(app).await;
        FakeTwilio { addr: Some(addr), ..fake }
    }

    fn configure(&self, s: &mut Settings) {
        s.mail.sms_url = format!("http://{}", self.addr.expect("started"));
        s.mail.sms_account_sid = Some(SID.to_owned());
        s.mail.sms_auth_token = Some(Secret(TOKEN.to_owned()));
        s.mail.sms_from = Some("+15550000".to_owned());
    }
}

/// The delivery log's entries for `q` (a recipient or subject), newest first.
async fn log(app: &TestApp, admin: &str, q: &str) -> Vec<Value> {
    let res = app.get(&format!("/api/v1/admin/notifications?per_page=100&q={q}"), Some(admin)).await;
    res.assert(200);
    res.body["items"].as_array().cloned().unwrap_or_default()
}

/// Waits (up to 20 s) until no message of the log is pending.
async fn until_nothing_pending(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        app.settle().await;
        let pending = app.scalar_i64("SELECT COUNT(*) FROM notifications WHERE status = $1", "pending").await;
        if pending == 0 || Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A checkout of one MAIL-1, by the customer holding `token` or a guest,
/// shipped to an address with `phone`, paid with the test card and shipped
/// by UPS; the order's number.
async fn buy_and_ship(app: &TestApp, admin: &str, token: Option<&str>, email: &str, phone: Option<&str>) -> String {
    let key = new_key();
    let mut headers = vec![("idempotency-key", key.as_str())];
    let add = json!({"sku": "MAIL-1", "quantity": 1});
    let res = app.send(Method::POST, "/api/v1/cart/items", token, &[], Some(add)).await;
    assert!(res.status.is_success(), "{}", res.text);
    let cart_token = res.body["cart_token"].as_str().map(str::to_owned);
    if let Some(t) = &cart_token {
        headers.push(("x-cart-token", t));
    }
    let mut shipping = address();
    if let Some(phone) = phone {
        shipping["phone"] = json!(phone);
    }
    let body = json!({"shipping_address": shipping, "payment_provider": "test", "email": email});
    let res = app.send(Method::POST, "/api/v1/checkout", token, &headers, Some(body)).await;
    res.assert(201);
    let order_id = res.body["orders"][0]["id"].as_str().expect("order id").to_owned();
    let number = res.body["orders"][0]["number"].as_str().expect("number").to_owned();
    app.pay(res.body["payment"]["id"].as_str().expect("payment id"), "4242424242424242").await.assert(200);
    let ship = json!({"carrier": "UPS", "tracking_number": "1Z999"});
    app.post(&format!("/api/v1/admin/orders/{order_id}/fulfillments"), Some(admin), ship).await.assert(201);
    number
}

async fn customers_and_staff_get_real_emails_and_texts(db: Db) {
    let Some(sink) = SmtpSink::start(module_path!()) else { return };
    let twilio = FakeTwilio::start().await;
    let app = TestApp::spawn_with(db, |s| {
        sink.configure(s);
        twilio.configure(s);
        s.mail.staff_email = vec!["ops@shop.test".to_owned()];
        s.public_url = Some("https://shop.test/".to_owned());
    })
    .await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = admin.access.as_str();
    // Stocked above the default alert, then set to 4 with an alert at 2.
    app.stocked(a, "Mail Mug", &[("MAIL-1", 1_250)], 10).await;
    let threshold = json!({"on_hand": 4, "low_stock_threshold": 2});
    app.request(Method::PUT, "/api/v1/admin/inventory/MAIL-1", Some(a), Some(threshold)).await.assert(200);
    let customer = app.register().await;

    // The customer's order goes to a phone; a guest's has none; another
    // guest's phone number the provider refuses. The third unit sold
    // brings the mug down to its alert.
    let number = buy_and_ship(&app, a, Some(&customer.access), &customer.email, Some("+15557654321")).await;
    let guest = unique_email("guest");
    buy_and_ship(&app, a, None, &guest, None).await;
    let refused = unique_email("refused");
    buy_and_ship(&app, a, None, &refused, Some("+15005550001")).await;
    until_nothing_pending(&app).await;

    // Email: the customer's welcome, confirmation, payment and shipping,
    // each guest's last three, one low-stock alert to staff; each once.
    let got = sink.received();
    let to = |who: &str| got.iter().filter(|m| m["to"] == who).collect::<Vec<_>>();
    let mine = to(&customer.email);
    // (Sent at once, several at a time: they may arrive in any order.)
    let subject =
        |s: &str| mine.iter().copied().find(|m| m["subject"] == s).unwrap_or_else(|| panic!("no {s:?}: {got:#?}"));
    assert_eq!(mine.len(), 4, "{got:#?}");
    let welcome = subject("Welcome to Emporium");
    let confirmation = subject(&format!("Order {number} confirmed"));
    subject(&format!("Payment received for order {number}"));
    let shipped = subject(&format!("Order {number} has shipped"));
    assert!(welcome["text"].as_str().is_some_and(|t| t.contains("Visit the shop: https://shop.test/")), "{welcome}");
    assert_eq!((to(&guest).len(), to(&refused).len()), (3, 3), "{got:#?}");
    let sent_emails = "SELECT COUNT(*) FROM notifications WHERE channel = $1 AND status = 'sent'";
    assert_eq!(app.scalar_i64(sent_emails, "email").await, i64::try_from(got.len()).expect("small"), "{got:#?}");
    let ids: std::collections::HashSet<&str> = got.iter().filter_map(|m| m["message_id"].as_str()).collect();
    assert_eq!(ids.len(), got.len(), "every message once");
    for m in &mine {
        assert_eq!(m["from"], "Test Shop <shop@shop.test>");
        assert_eq!(m["content_type"], "multipart/alternative", "{m}");
        assert!(m["message_id"].as_str().is_some_and(|id| id.ends_with("@shop.test>")), "{m}");
    }
    let text = confirmation["text"].as_str().expect("a text part");
    for needle in
        ["1 × $12.50", "Mail Mug", "MAIL-1", "Subtotal: $12.50", "Ada Buyer", "1 Main St", "90001 Los Angeles CA"]
    {
        assert!(text.contains(needle), "the confirmation lacks {needle:?}:\n{text}");
    }
    let html = confirmation["html"].as_str().expect("an HTML part");
    assert!(html.contains("<table") && html.contains("Mail Mug"), "{html}");
    assert!(html.contains("https://shop.test/account/orders/"), "{html}");
    let shipped = shipped["html"].as_str().expect("html");
    assert!(shipped.contains("https://www.ups.com/track?tracknum=1Z999"), "{shipped}");
    let alerts = to("ops@shop.test");
    assert_eq!(alerts.len(), 1, "{got:#?}");
    assert_eq!(alerts[0]["subject"], "Low stock: MAIL-1 (2 left)");

    // Text: the customer's shipping, once; the refused number is failed with
    // the provider's reason, after one try; the guest without a phone is skipped.
    let texts = twilio.texts.lock().expect("lock").clone();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!((texts[0].0.as_str(), texts[0].1.as_str()), ("+15557654321", "+15550000"));
    assert!(texts[0].2.contains(&format!("order {number} has shipped with UPS, tracking 1Z999")), "{}", texts[0].2);

    let entries = log(&app, a, &customer.email).await;
    assert_eq!(entries.len(), 4, "{entries:#?}");
    for n in &entries {
        assert_eq!((n["status"].as_str(), n["transport"].as_str()), (Some("sent"), Some("smtp")), "{n}");
        assert!(n["sent_at"].is_string() && n["html"].is_string(), "{n}");
    }
    let by_status = |status: &'static str| {
        let app = &app;
        async move {
            let res = app.get(&format!("/api/v1/admin/notifications?status={status}"), Some(a)).await;
            res.assert(200);
            res.body["items"].as_array().cloned().unwrap_or_default()
        }
    };
    let sms: Vec<Value> = by_status("sent").await.into_iter().filter(|n| n["channel"] == "sms").collect();
    assert_eq!(sms.len(), 1, "{sms:#?}");
    assert_eq!((sms[0]["recipient"].as_str(), sms[0]["transport"].as_str()), (Some("+15557654321"), Some("sms")));
    let skipped = by_status("skipped").await;
    assert_eq!(skipped.len(), 1, "{skipped:#?}");
    assert_eq!(
        (skipped[0]["channel"].as_str(), skipped[0]["error"].as_str()),
        (Some("sms"), Some("the order has no phone number"))
    );
    let failed = by_status("failed").await;
    assert_eq!(failed.len(), 1, "{failed:#?}");
    let why = failed[0]["error"].as_str().unwrap_or("");
    assert!(why.contains("400") && why.contains("not a valid phone number") && why.contains("21211"), "{why}");
    assert_eq!(failed[0]["attempts"], 1, "a refusal is not tried again");

    // The admin page shows the statuses and the reasons.
    let mut b = crate::site_helpers::Browser::new(&app);
    b.sign_in(&admin.email, crate::helpers::PASSWORD).await;
    b.get("/admin/notifications?status=failed").await.assert(200).assert_contains("not a valid phone number");
    b.get("/admin/notifications?status=skipped").await.assert(200).assert_contains("the order has no phone number");
}

/// SMTP down: the message waits, is tried again with growing waits, and is
/// sent once when the server returns.
async fn a_mail_server_that_was_down_gets_each_message_once(db: Db) {
    let Some(mut sink) = SmtpSink::start(module_path!()) else { return };
    sink.down();
    let app = TestApp::spawn_with(db, |s| {
        sink.configure(s);
        s.mail.retry_delay_ms = 100;
    })
    .await;
    let customer = app.register().await;
    app.settle().await;
    let welcome = "SELECT COALESCE(MAX(CAST(attempts AS BIGINT)), 0) FROM notifications WHERE recipient = $1 AND status = 'pending'";
    let deadline = Instant::now() + Duration::from_secs(20);
    while app.scalar_i64(welcome, &customer.email).await < 2 {
        assert!(Instant::now() < deadline, "the welcome was not tried again");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let errors = app.texts("SELECT error FROM notifications WHERE recipient = $1", &customer.email).await;
    assert!(errors.iter().all(|e| !e.is_empty()), "the log says why it waits: {errors:?}");
    assert!(sink.received().is_empty());

    sink.up();
    let got = sink.wait_for(1).await;
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0]["to"], customer.email.as_str());
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(sink.received().len(), 1, "sent once");
    let sent = "SELECT COUNT(*) FROM notifications WHERE recipient = $1 AND status = 'sent' AND attempts >= 2";
    assert_eq!(app.scalar_i64(sent, &customer.email).await, 1);
}
