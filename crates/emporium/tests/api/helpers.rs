//! `TestApp`: the real app on port 0 over a fresh database, with one helper
//! per endpoint.

use emporium::{Running, Settings};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::atomic::{AtomicU32, Ordering};
use tempfile::TempDir;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Generates `mod <test> { sqlite, postgres }` for each async test function
/// taking a `Db`.
#[macro_export]
macro_rules! on_both_databases {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::helpers::Db::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    if $crate::helpers::postgres_url().is_none() {
                        $crate::helpers::skipped(concat!(module_path!(), "::postgres"));
                        return;
                    }
                    super::$name($crate::helpers::Db::Postgres).await
                }
            }
        )*
    };
}

/// Says a test was skipped, past libtest's output capture (which only
/// catches the print macros), so the run shows it.
pub fn skipped(test: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipped: {test} (EMPORIUM_TEST_POSTGRES_URL is not set)");
}

pub fn postgres_url() -> Option<String> {
    std::env::var("EMPORIUM_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty())
}

/// A database created for one test and dropped when the test ends.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create() -> PgDatabase {
        use sqlx::Connection as _;
        let admin_url = postgres_url().expect("EMPORIUM_TEST_POSTGRES_URL");
        let name = format!("emporium_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = sqlx::PgConnection::connect(&admin_url).await.expect("connect to EMPORIUM_TEST_POSTGRES_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create db");
        conn.close().await.ok();
        let url = with_database(&admin_url, &name);
        PgDatabase { admin_url, name, url }
    }
}

/// `url` with its database path replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..].find('/').map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let name = self.name.clone();
        // Drop runs outside async context: use a runtime of our own on a
        // separate thread.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                use sqlx::Connection as _;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin_url).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut conn).await;
                }
            });
        })
        .join();
    }
}

/// Settings for a test over a database of its own: a data directory in a
/// temporary folder, and for PostgreSQL a database created for the test.
pub struct TestDatabase {
    pub settings: Settings,
    pg: Option<PgDatabase>,
    dir: TempDir,
}

impl TestDatabase {
    pub async fn new(db: Db) -> TestDatabase {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut settings = Settings::defaults(dir.path().to_owned());
        // Cheap hashing keeps the suite fast; the production parameters are
        // exercised by the benchmarks and the binary tests.
        settings.argon2_memory_kib = 1024;
        settings.argon2_iterations = 1;
        settings.auth_rate_limit = 0;
        let pg = match db {
            Db::Sqlite => None,
            Db::Postgres => Some(PgDatabase::create().await),
        };
        if let Some(pg) = &pg {
            settings.database_url = Some(emporium::settings::Secret(pg.url.clone()));
        }
        TestDatabase { settings, pg, dir }
    }
}

/// Evaluates `$body` with `$pool` bound to the backend's pool, whichever
/// database it is.
#[macro_export]
macro_rules! with_pool {
    ($backend:expr, |$pool:ident| $body:expr) => {
        match $backend {
            emporium::Backend::Sqlite(store) => {
                let $pool = store.pool();
                $body
            }
            emporium::Backend::Postgres(store) => {
                let $pool = store.pool();
                $body
            }
        }
    };
}

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub client: reqwest::Client,
    pub settings: Settings,
    running: Option<Running>,
    // Dropped after `running`: the database outlives the app.
    _pg: Option<PgDatabase>,
    _dir: TempDir,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
    pub text: String,
}

impl Response {
    /// The `error.code` of a contract-shaped error.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("<no error code>")
    }

    pub fn assert(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "unexpected status; body: {}", self.text);
        self
    }

    /// Asserts a contract-shaped error with `status` and `code`.
    pub fn assert_error(&self, status: u16, code: &str) -> &Self {
        self.assert(status);
        assert_eq!(self.code(), code, "body: {}", self.text);
        assert!(self.body["error"]["message"].is_string(), "error without message: {}", self.text);
        self
    }
}

/// A registered user's credentials and tokens.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub access: String,
    pub refresh: String,
}

pub const PASSWORD: &str = "correct horse battery";

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub fn unique_email(prefix: &str) -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{n}-{}@example.com", &uuid::Uuid::now_v7().simple().to_string()[20..])
}

impl TestApp {
    pub async fn spawn(db: Db) -> TestApp {
        Self::spawn_with(db, |_| {}).await
    }

    pub async fn spawn_with(db: Db, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let TestDatabase { mut settings, pg, dir } = TestDatabase::new(db).await;
        configure(&mut settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        // Starting the shop installs the TLS provider our HTTP client needs.
        let running = emporium::start(&settings, listener).await.expect("start app");
        TestApp {
            addr: running.addr,
            client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client"),
            settings,
            running: Some(running),
            _pg: pg,
            _dir: dir,
        }
    }

    /// Another node of this shop: the same settings (database, bus, media),
    /// a data directory (search index) of its own, then `configure`.
    pub async fn spawn_beside(&self, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut settings = self.settings.clone();
        settings.data_dir = dir.path().to_path_buf();
        settings.search_dir = dir.path().join("search");
        configure(&mut settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let running = emporium::start(&settings, listener).await.expect("start the second node");
        TestApp {
            addr: running.addr,
            client: self.client.clone(),
            settings,
            running: Some(running),
            _pg: None,
            _dir: dir,
        }
    }

    /// The identity service alone (`--services identity`, node
    /// `identity-1`) on PostgreSQL and the broker at `bus_url` with a bus
    /// prefix of its own, then `configure`: the first process of a split
    /// shop, for [`TestApp::spawn_service_beside`].
    pub async fn spawn_identity_apart(bus_url: &str, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let prefix = format!("test-{}", kernel::new_id().simple());
        Self::spawn_with(Db::Postgres, |s| {
            s.bus.url = Some(emporium::settings::Secret(bus_url.to_owned()));
            s.bus.prefix = prefix;
            s.bus.node_id = Some("identity-1".into());
            s.services = "identity".parse().expect("services");
            configure(s);
        })
        .await
    }

    /// `services` in a process of its own (node `node`) beside this
    /// identity process, checking tokens against its published keys.
    pub async fn spawn_service_beside(&self, node: &str, services: &str) -> TestApp {
        self.spawn_beside(|s| {
            s.bus.node_id = Some(node.into());
            s.services = services.parse().expect("services");
            s.service_url_identity = Some(self.url(""));
        })
        .await
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("running")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn request(&self, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        read(req.send().await.expect("request")).await
    }

    /// A request with extra headers (cart token, idempotency key…).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Value>,
    ) -> Response {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        read(req.send().await.expect("request")).await
    }

    /// Sends `raw` as the body with the given content type.
    pub async fn raw(&self, method: Method, path: &str, content_type: &str, raw: impl Into<reqwest::Body>) -> Response {
        let req = self.client.request(method, self.url(path)).header("content-type", content_type).body(raw);
        read(req.send().await.expect("request")).await
    }

    /// `raw`, signed in with `token`.
    pub async fn raw_with_token(
        &self,
        method: Method,
        path: &str,
        token: &str,
        content_type: &str,
        raw: impl Into<reqwest::Body>,
    ) -> Response {
        let req = self.client.request(method, self.url(path)).bearer_auth(token).header("content-type", content_type);
        read(req.body(raw).send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.request(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Response {
        self.request(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Response {
        self.request(Method::DELETE, path, token, None).await
    }

    // --- identity -------------------------------------------------------

    pub async fn register_raw(&self, email: &str, password: &str, full_name: &str) -> Response {
        self.post("/api/v1/auth/register", None, json!({"email": email, "password": password, "full_name": full_name}))
            .await
    }

    /// Registers a fresh customer.
    pub async fn register(&self) -> Account {
        let email = unique_email("customer");
        let res = self.register_raw(&email, PASSWORD, "Test Customer").await;
        res.assert(201);
        account(&res, &email)
    }

    pub async fn login_raw(&self, email: &str, password: &str) -> Response {
        self.post("/api/v1/auth/login", None, json!({"email": email, "password": password})).await
    }

    pub async fn login(&self, email: &str, password: &str) -> Account {
        let res = self.login_raw(email, password).await;
        res.assert(200);
        account(&res, email)
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.post("/api/v1/auth/refresh", None, json!({"refresh_token": refresh_token})).await
    }

    pub async fn logout(&self, refresh_token: &str) -> Response {
        self.post("/api/v1/auth/logout", None, json!({"refresh_token": refresh_token})).await
    }

    pub async fn me(&self, token: &str) -> Response {
        self.get("/api/v1/users/me", Some(token)).await
    }

    /// Creates an account with `role` the way an operator does (the same
    /// service the CLI uses) and signs it in.
    pub async fn account_with_role(&self, role: identity::Role) -> Account {
        let email = unique_email(role.as_str());
        self.running()
            .identity
            .create_user(
                identity::Registration { email: email.clone(), password: PASSWORD.into(), full_name: "Staff".into() },
                role,
            )
            .await
            .expect("create user");
        self.login(&email, PASSWORD).await
    }

    pub async fn add_address(&self, token: &str, body: Value) -> Response {
        self.post("/api/v1/users/me/addresses", Some(token), body).await
    }

    pub async fn addresses(&self, token: &str) -> Vec<Value> {
        let res = self.get("/api/v1/users/me/addresses", Some(token)).await;
        res.assert(200);
        res.body.as_array().cloned().expect("array")
    }

    pub async fn admin_users(&self, token: &str, query: &str) -> Response {
        self.get(&format!("/api/v1/admin/users{query}"), Some(token)).await
    }

    pub async fn admin_update_user(&self, token: &str, id: &str, body: Value) -> Response {
        self.patch(&format!("/api/v1/admin/users/{id}"), Some(token), body).await
    }

    /// The current token signing key in the app's database: its `kid` and
    /// the PKCS#8 DER of its Ed25519 seed, ready for `EncodingKey::from_ed_der`.
    pub async fn signing_key(&self) -> (String, Vec<u8>) {
        use sqlx::Row as _;
        const SQL: &str = "SELECT kid, private_key FROM token_signing_keys WHERE retired_at IS NULL";
        let (kid, seed): (String, Vec<u8>) = with_pool!(&self.running().backend, |pool| {
            let row = sqlx::query(SQL).fetch_one(pool).await.expect("a current signing key");
            (row.get(0), row.get(1))
        });
        (kid, identity::keys::pkcs8(&seed))
    }

    /// Runs `sql` (one scalar result) against the app's own database.
    pub async fn scalar_i64(&self, sql: &'static str, bind: &str) -> i64 {
        scalar_i64(&self.running().backend, sql, bind).await
    }

    /// Runs `sql` (one text column, one text bind) against the app's own database.
    pub async fn texts(&self, sql: &'static str, bind: &str) -> Vec<String> {
        texts(&self.running().backend, sql, bind).await
    }

    /// Stops the app, lets `between` change things on disk (the settings say
    /// where), and starts it again on the same data and database.
    pub async fn restart_with(&mut self, between: impl FnOnce(&Settings)) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.expect("clean shutdown");
        }
        between(&self.settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let running = emporium::start(&self.settings, listener).await.expect("restart app");
        self.addr = running.addr;
        self.running = Some(running);
    }

    pub async fn shutdown(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.expect("clean shutdown");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(running) = &self.running {
            running.stop_token().cancel();
        }
    }
}

async fn read(res: reqwest::Response) -> Response {
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Response { status, headers, body, text }
}

pub fn account(res: &Response, email: &str) -> Account {
    Account {
        id: res.body["user"]["id"].as_str().expect("user.id").to_owned(),
        email: email.to_owned(),
        access: res.body["access_token"].as_str().expect("access_token").to_owned(),
        refresh: res.body["refresh_token"].as_str().expect("refresh_token").to_owned(),
    }
}

pub fn address_body(name: &str) -> Value {
    json!({
        "full_name": name,
        "line1": "1 Infinite Loop",
        "city": "Cupertino",
        "region": "CA",
        "postal_code": "95014",
        "country": "US",
        "phone": "+1 408 996 1010"
    })
}

#[test]
fn database_urls() {
    assert_eq!(with_database("postgres://u@localhost:5432/postgres", "x"), "postgres://u@localhost:5432/x");
    assert_eq!(with_database("postgres://localhost", "x"), "postgres://localhost/x");
    assert_eq!(with_database("postgres://h/db?sslmode=disable", "x"), "postgres://h/x?sslmode=disable");
}

pub async fn scalar_i64(backend: &emporium::Backend, sql: &'static str, bind: &str) -> i64 {
    use sqlx::Row as _;
    with_pool!(backend, |pool| sqlx::query(sql).bind(bind).fetch_one(pool).await.expect("query").get::<i64, _>(0))
}

/// The first column of every row of `sql` (one text bind), as text.
pub async fn texts(backend: &emporium::Backend, sql: &'static str, bind: &str) -> Vec<String> {
    use sqlx::Row as _;
    with_pool!(backend, |pool| sqlx::query(sql)
        .bind(bind)
        .fetch_all(pool)
        .await
        .expect("query")
        .iter()
        .map(|row| row.get::<String, _>(0))
        .collect())
}

/// A migrated database with no app on it, for tests of the stores and the
/// relay themselves.
pub struct FreshBackend {
    pub backend: emporium::Backend,
    _pg: Option<PgDatabase>,
    _dir: TempDir,
}

impl FreshBackend {
    pub async fn open(db: Db) -> FreshBackend {
        let TestDatabase { settings, pg, dir } = TestDatabase::new(db).await;
        let backend = emporium::Backend::open(&settings).await.expect("open backend");
        FreshBackend { backend, _pg: pg, _dir: dir }
    }

    pub async fn scalar_i64(&self, sql: &'static str, bind: &str) -> i64 {
        scalar_i64(&self.backend, sql, bind).await
    }
}

/// Serves `app` on a free loopback port in the background (the local fake
/// servers of outside services); returns its address.
pub async fn serve_fake(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let addr = listener.local_addr().expect("a bound address");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("the fake server runs") });
    addr
}
