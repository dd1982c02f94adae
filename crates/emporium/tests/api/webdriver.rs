//! A small WebDriver client (the W3C protocol over HTTP, JSON in and out)
//! driving Debian's headless Chromium through chromedriver. Tests that use
//! it report "skipped" when no Chromium or chromedriver is installed.

use serde_json::{Value, json};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

fn find_binary(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(path) = std::env::var(env) {
        return Some(PathBuf::from(path)).filter(|p| p.exists());
    }
    candidates.iter().map(PathBuf::from).find(|p| p.exists())
}

pub struct Driver {
    http: reqwest::Client,
    base: String,
    child: Child,
    /// Where screenshots go: `target/screenshots/`.
    pub shots: PathBuf,
}

impl Drop for Driver {
    /// Ends chromedriver and every Chromium it started (its process
    /// group), even after a failed test: a browser left behind would eat
    /// the CPU of everything that runs after it.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Driver {
    /// Starts chromedriver and a headless Chromium session `width` pixels
    /// wide, or `None` (after saying "skipped") when they are not installed.
    pub async fn start(test: &str, width: u32) -> Option<Driver> {
        media::install_tls_provider();
        let chromium = find_binary("EMPORIUM_CHROMIUM", &["/usr/bin/chromium", "/usr/bin/chromium-browser"]);
        let driver = find_binary("EMPORIUM_CHROMEDRIVER", &["/usr/bin/chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "skipped: {test} (no Chromium: install chromium and chromium-driver)");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            // Its own process group, so that Drop can end the browsers with it.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
        std::fs::create_dir_all(&shots).expect("screenshot dir");
        let mut me = Driver { http, base, child, shots };
        let mut options = json!({
            "binary": chromium.to_string_lossy(),
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     format!("--window-size={width},1000"), "--hide-scrollbars", "--force-device-scale-factor=1"]
        });
        if width < 500 {
            // A desktop window cannot be this narrow: emulate a phone instead.
            options["mobileEmulation"] = json!({"deviceMetrics": {"width": width, "height": 844, "pixelRatio": 1},
                "userAgent": "Mozilla/5.0 (Linux; Android 14) Mobile"});
        }
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": options}}});
        let answer = me.call(reqwest::Method::POST, "/session", Some(caps)).await;
        let session = answer["sessionId"].as_str().expect("session id").to_owned();
        me.base = format!("{}/session/{session}", me.base);
        Some(me)
    }

    pub const TAB: &'static str = "\u{E004}";
    pub const ENTER: &'static str = "\u{E007}";

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        let request = if method == reqwest::Method::GET {
            self.http.get(url)
        } else {
            self.http.request(method.clone(), url).json(&body.unwrap_or_else(|| json!({})))
        };
        let response = request.send().await.expect("webdriver request");
        let status = response.status();
        let value: Value = response.json().await.expect("webdriver json");
        assert!(status.is_success(), "webdriver {method} {path}: {status} {value}");
        value.get("value").cloned().unwrap_or(Value::Null)
    }

    /// Closes the browser session (Chromium quits), then chromedriver.
    pub async fn quit(self) {
        let _ = self.http.delete(&self.base).send().await;
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    /// Presses and releases one key, as a keyboard would (`TAB`, `ENTER`).
    pub async fn press(&self, key: &str) {
        let actions = json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
            {"type": "keyDown", "value": key}, {"type": "keyUp", "value": key}]}]});
        self.call(reqwest::Method::POST, "/actions", Some(actions)).await;
    }

    /// The focused element's tag and text, e.g. `A: Skip to content`.
    pub async fn focused(&self) -> String {
        let script = "const e = document.activeElement; return e ? e.tagName + ': ' + e.textContent.trim() : '';";
        let value =
            self.call(reqwest::Method::POST, "/execute/sync", Some(json!({"script": script, "args": []}))).await;
        value.as_str().unwrap_or_default().to_owned()
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap_or_default().to_owned()
    }

    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None).await.as_str().unwrap_or_default().to_owned()
    }

    async fn try_find(&self, css: &str) -> Option<String> {
        let response = self
            .http
            .post(format!("{}/element", self.base))
            .json(&json!({"using": "css selector", "value": css}))
            .send()
            .await
            .ok()?;
        let ok = response.status().is_success();
        let value: Value = response.json().await.ok()?;
        if !ok {
            return None;
        }
        value["value"][ELEMENT].as_str().map(str::to_owned)
    }

    /// The first element matching `css`, waiting up to ten seconds for it.
    pub async fn find(&self, css: &str) -> String {
        let started = Instant::now();
        loop {
            if let Some(id) = self.try_find(css).await {
                return id;
            }
            assert!(started.elapsed() < Duration::from_secs(10), "no element {css} on {}", self.url().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page's source contains `text`.
    pub async fn wait_for_text(&self, text: &str) {
        let started = Instant::now();
        while !self.source().await.contains(text) {
            assert!(started.elapsed() < Duration::from_secs(10), "{text:?} never appeared on {}", self.url().await);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), None).await;
    }

    pub async fn clear(&self, css: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/clear"), None).await;
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({"text": text}))).await;
    }

    pub async fn fill(&self, css: &str, text: &str) {
        self.clear(css).await;
        self.type_into(css, text).await;
    }

    /// Saves the viewport as `target/screenshots/{name}.png`.
    pub async fn screenshot(&self, name: &str) {
        use base64::Engine as _;
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let png = base64::engine::general_purpose::STANDARD.decode(data.as_str().unwrap_or_default()).expect("png");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("write screenshot");
    }
}
