//! The shipped gateway, `deploy/nginx/emporium.conf`, run by Debian's nginx
//! in front of every service in a process of its own (and two catalog
//! replicas), on PostgreSQL and RabbitMQ: every path a service documents
//! reaches that service, replicas share the load, request ids are the
//! gateway's, internal paths are refused, sign-in is rate limited with a
//! JSON 429, and a service that is down is a JSON 503. Skipped without
//! nginx, PostgreSQL or RabbitMQ.

use crate::helpers::{TestApp, postgres_url};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const SHIPPED: &str = include_str!("../../../../deploy/nginx/emporium.conf");

/// The services with the ports the shipped file names for them.
const UPSTREAMS: [(&str, u16); 7] = [
    ("identity", 8101),
    ("catalog", 8102),
    ("inventory", 8103),
    ("orders", 8104),
    ("payments", 8105),
    ("notifications", 8106),
    ("storefront", 8107),
];

fn skipped(what: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipped: {} ({what})", module_path!());
}

fn nginx_binary() -> Option<String> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"].into_iter().find(|p| Path::new(p).exists()).map(str::to_owned)
}

/// nginx running the shipped configuration with the test's ports; stopped
/// when dropped.
struct Gateway {
    child: Child,
    addr: SocketAddr,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Gateway {
    /// SIGQUIT, so the master takes its worker with it (a killed master
    /// leaves the worker listening), then SIGKILL if it is still there.
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-QUIT").arg(self.child.id().to_string()).status();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gateway {
    /// `upstreams`: each service's replicas.
    fn start(nginx: &str, upstreams: &HashMap<&str, Vec<SocketAddr>>) -> Gateway {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let log = dir.path().join("access.log");
        let mut conf = SHIPPED
            .replace("listen 127.0.0.1:8088;", &format!("listen 127.0.0.1:{port};"))
            .replace("/var/log/nginx/emporium.access.log", &log.display().to_string());
        for (service, shipped_port) in UPSTREAMS {
            let servers: String = upstreams[service].iter().map(|a| format!("server {a}; ")).collect();
            let shipped = format!("server 127.0.0.1:{shipped_port};");
            assert!(conf.contains(&shipped), "the shipped file names {service} at :{shipped_port}");
            conf = conf.replace(&shipped, servers.trim_end());
        }
        std::fs::write(dir.path().join("emporium.conf"), conf).expect("write");
        let d = dir.path().display();
        let main = format!(
            "daemon off;\nuser root;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 512; }}\n\
             http {{\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include {d}/emporium.conf;\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), main).expect("write");
        let conf_path = dir.path().join("nginx.conf");
        let check = Command::new(nginx).arg("-t").arg("-c").arg(&conf_path).arg("-p").arg(dir.path()).output();
        let check = check.expect("nginx -t");
        assert!(check.status.success(), "nginx -t: {}", String::from_utf8_lossy(&check.stderr));
        let child = Command::new(nginx)
            .arg("-c")
            .arg(&conf_path)
            .arg("-p")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start nginx");
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let mut gateway = Gateway { child, addr, log, _dir: dir };
        let start = Instant::now();
        while std::net::TcpStream::connect(addr).is_err() {
            let exited = gateway.child.try_wait().expect("nginx");
            assert!(exited.is_none(), "nginx exited ({exited:?}): was port {port} taken meanwhile?");
            assert!(start.elapsed() < Duration::from_secs(10), "nginx did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
        gateway
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The log once `done` holds of it (nginx writes a request's line after
    /// the answer has gone, so a client can be ahead of it), or as it is
    /// after 10 s.
    async fn logged_when(&self, done: impl Fn(&[(String, String, String)]) -> bool) -> Vec<(String, String, String)> {
        let start = Instant::now();
        loop {
            let logged = self.logged();
            if done(&logged) || start.elapsed() > Duration::from_secs(10) {
                return logged;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `(request path, request id, upstream)` of every logged request.
    fn logged(&self) -> Vec<(String, String, String)> {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .filter_map(|line| {
                let request = line.split('"').nth(1)?;
                let path = request.split(' ').nth(1)?.to_owned();
                let field = |name: &str| line.split(' ').find_map(|w| w.strip_prefix(name)).unwrap_or("").to_owned();
                Some((path, field("rid="), field("upstream=")))
            })
            .collect()
    }
}

/// The documented paths of `app`'s own OpenAPI document, with each
/// `{param}` filled in.
async fn documented_paths(app: &TestApp) -> Vec<String> {
    let doc = app.get("/api/openapi.json", None).await;
    doc.assert(200);
    let paths = doc.body["paths"].as_object().expect("paths");
    paths
        .keys()
        .map(|p| {
            p.split('/')
                .map(|seg| if seg.starts_with('{') { uuid::Uuid::now_v7().to_string() } else { seg.to_owned() })
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_gateway_routes_every_path_to_its_service() {
    let Some(nginx) = nginx_binary() else { return skipped("no nginx: apt-get install nginx-light") };
    let Some(rabbit) = std::env::var("EMPORIUM_TEST_RABBITMQ_URL").ok().filter(|u| !u.is_empty()) else {
        return skipped("EMPORIUM_TEST_RABBITMQ_URL is not set");
    };
    if postgres_url().is_none() {
        return skipped("EMPORIUM_TEST_POSTGRES_URL is not set");
    }
    // Eight processes on one PostgreSQL beside the other tests.
    let identity = TestApp::spawn_identity_apart(&rabbit, |s| s.database_pool_size = 3).await;
    let mut apps: Vec<(&str, TestApp)> = Vec::new();
    for (service, node) in [
        ("catalog", "catalog-1"),
        ("catalog", "catalog-2"),
        ("inventory", "inventory-1"),
        ("orders", "orders-1"),
        ("payments", "payments-1"),
        ("notifications", "notifications-1"),
        ("storefront", "storefront-1"),
    ] {
        apps.push((service, identity.spawn_service_beside(node, service).await));
    }
    let mut upstreams: HashMap<&str, Vec<SocketAddr>> = HashMap::from([("identity", vec![identity.addr])]);
    for (service, app) in &apps {
        upstreams.entry(service).or_default().push(app.addr);
    }
    let gateway = Gateway::start(&nginx, &upstreams);
    let client = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");

    // Every path each service documents goes to that service (a catalog
    // path to either replica), and nothing else does.
    let mut expected: Vec<(String, HashSet<String>)> = Vec::new();
    let serving = std::iter::once(("identity", &identity)).chain(apps.iter().map(|(s, a)| (*s, a)));
    for (service, app) in serving {
        let replicas: HashSet<String> = upstreams[service].iter().map(ToString::to_string).collect();
        for path in documented_paths(app).await {
            expected.push((path, replicas.clone()));
        }
    }
    expected.push(("/".to_owned(), upstreams["storefront"].iter().map(ToString::to_string).collect()));
    assert!(expected.len() > 60, "the services document their paths: {}", expected.len());
    for (n, (path, _)) in expected.iter().enumerate() {
        if n % 40 == 39 {
            // Within the API's rate limit (50/s, burst 100).
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let res = client.get(gateway.url(path)).send().await.expect("through the gateway");
        assert!(res.status().as_u16() < 500, "GET {path} through the gateway: {}", res.status());
    }
    let logged =
        gateway.logged_when(|log| expected.iter().all(|(path, _)| log.iter().any(|(p, _, _)| p == path))).await;
    let logged: HashMap<String, String> = logged.into_iter().map(|(p, _, up)| (p, up)).collect();
    for (path, replicas) in &expected {
        let upstream = logged.get(path).unwrap_or_else(|| panic!("{path} not in the gateway's log"));
        assert!(replicas.contains(upstream), "{path} went to {upstream}, not to one of {replicas:?}");
    }

    // Two catalog replicas share the reads.
    for _ in 0..10 {
        client.get(gateway.url("/api/v1/products?per_page=1")).send().await.expect("get");
    }
    let products = |log: &[(String, String, String)]| {
        log.iter().filter(|(p, _, _)| p == "/api/v1/products?per_page=1").count() == 10
    };
    let catalog_hits: HashSet<String> = gateway
        .logged_when(products)
        .await
        .into_iter()
        .filter(|(p, _, _)| p == "/api/v1/products?per_page=1")
        .map(|(_, _, up)| up)
        .collect();
    assert_eq!(catalog_hits.len(), 2, "both replicas served: {catalog_hits:?}");

    // The request id is the gateway's, whatever the client sent, and the
    // service answers with it.
    let res =
        client.get(gateway.url("/api/v1/categories")).header("x-request-id", "spoofed").send().await.expect("get");
    let rid = res.headers()["x-request-id"].to_str().expect("ascii").to_owned();
    assert!(rid.len() == 32 && rid.chars().all(|c| c.is_ascii_hexdigit()), "nginx's $request_id: {rid}");
    let with_rid =
        |log: &[(String, String, String)]| log.iter().any(|(p, r, _)| p == "/api/v1/categories" && *r == rid);
    assert!(with_rid(&gateway.logged_when(with_rid).await), "the log names request {rid}");

    // A customer signs up and uses the shop, all through the gateway.
    let email = crate::helpers::unique_email("gateway");
    let signed_up = client
        .post(gateway.url("/api/v1/auth/register"))
        .json(&json!({"email": email, "password": crate::helpers::PASSWORD, "full_name": "Gate Way"}))
        .send()
        .await
        .expect("register");
    assert_eq!(signed_up.status(), 201);
    let token = signed_up.json::<Value>().await.expect("json")["access_token"].as_str().expect("token").to_owned();
    for path in ["/api/v1/users/me", "/api/v1/cart", "/api/v1/orders", "/api/v1/users/me/wishlist"] {
        let res = client.get(gateway.url(path)).bearer_auth(&token).send().await.expect("get");
        assert_eq!(res.status(), 200, "GET {path} signed in through the gateway");
    }

    // Refused at the gateway: internal paths, the metrics, unknown API paths.
    for path in ["/internal/stock/reserve", "/metrics", "/api/v1/nothing-here"] {
        let res = client.get(gateway.url(path)).send().await.expect("get");
        assert_eq!(res.status(), 404, "{path}");
    }
    let unknown = client.get(gateway.url("/api/v1/nothing-here")).send().await.expect("get");
    assert_eq!(unknown.json::<Value>().await.expect("json")["error"]["code"], "not_found");
    let internal = gateway
        .logged_when(|log| log.iter().any(|(p, _, _)| p == "/internal/stock/reserve"))
        .await
        .into_iter()
        .find(|(p, _, _)| p == "/internal/stock/reserve");
    assert_eq!(internal.map(|(_, _, up)| up).as_deref(), Some("-"), "no service saw the internal path");

    // Sign-in is rate limited per client: a JSON 429 with Retry-After.
    let mut limited = None;
    for _ in 0..40 {
        let res = client
            .post(gateway.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": "wrong password!!"}))
            .send()
            .await
            .expect("login");
        if res.status() == 429 {
            limited = Some(res);
            break;
        }
    }
    let limited = limited.expect("some sign-in was limited");
    assert_eq!(limited.headers()["retry-after"], "1");
    assert_eq!(limited.json::<Value>().await.expect("json")["error"]["code"], "rate_limited");

    // A service that is down is a JSON 503 from the gateway.
    let position = apps.iter().position(|(s, _)| *s == "inventory").expect("inventory");
    let (_, inventory) = apps.remove(position);
    inventory.shutdown().await;
    let res = client.get(gateway.url("/api/v1/admin/inventory")).send().await.expect("get");
    assert_eq!(res.status(), 503);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(res.json::<Value>().await.expect("json")["error"]["code"], "service_unavailable");

    drop(gateway);
    for (_, app) in apps {
        app.shutdown().await;
    }
    identity.shutdown().await;
}

/// Seven consecutive free ports on loopback (the cluster's services).
fn free_run(n: u16) -> u16 {
    for _ in 0..50 {
        let base = 20_000 + u16::try_from(rand::random::<u32>() % 20_000).expect("fits");
        let all_free = (base..base + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if all_free {
            return base;
        }
    }
    panic!("no run of {n} free ports");
}

/// `deploy/cluster up`, `status` and `down`: the whole topology from one
/// command, reached through its gateway, and gone afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_cluster_brings_the_topology_up_and_down() {
    let Some(_) = nginx_binary() else { return skipped("no nginx: apt-get install nginx-light") };
    let Some(rabbit) = std::env::var("EMPORIUM_TEST_RABBITMQ_URL").ok().filter(|u| !u.is_empty()) else {
        return skipped("EMPORIUM_TEST_RABBITMQ_URL is not set");
    };
    let Some(pg) = postgres_url() else { return skipped("EMPORIUM_TEST_POSTGRES_URL is not set") };
    let dir = tempfile::tempdir().expect("tempdir");
    let database = format!("emporium_cluster_{}", &kernel::new_id().simple().to_string()[20..]);
    let database_url = format!("{}/{database}", pg.rsplit_once('/').expect("a database in the URL").0);
    let first = free_run(7);
    let gateway = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/cluster");
    let cluster = |args: &[&str]| {
        let mut cmd = Command::new(script);
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("EMPORIUM_")) {
            cmd.env_remove(key);
        }
        cmd.args(args)
            .env("EMPORIUM_BIN", env!("CARGO_BIN_EXE_emporium"))
            .env("EMPORIUM_CLUSTER_DIR", dir.path())
            .env("EMPORIUM_CLUSTER_DATABASE_URL", &database_url)
            .env("EMPORIUM_CLUSTER_RABBITMQ_URL", &rabbit)
            .env("EMPORIUM_CLUSTER_PORT", gateway.to_string())
            .env("EMPORIUM_CLUSTER_SERVICE_PORT", first.to_string())
            .env("EMPORIUM_BUS_PREFIX", format!("test-{}", kernel::new_id().simple()))
            .env("EMPORIUM_LOG", "warn")
            .env("EMPORIUM_ARGON2_MEMORY_KIB", "1024")
            .env("EMPORIUM_ARGON2_ITERATIONS", "1")
            .output()
            .expect("run deploy/cluster")
    };
    let text = |out: &std::process::Output| {
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    };

    let up = cluster(&["up", "--bus", "rabbitmq"]);
    assert!(up.status.success(), "up: {}", text(&up));
    assert!(text(&up).contains(&format!("open http://127.0.0.1:{gateway}")), "{}", text(&up));
    let again = cluster(&["up"]);
    assert!(!again.status.success() && text(&again).contains("already up"), "{}", text(&again));

    let client = reqwest::Client::new();
    let url = |path: &str| format!("http://127.0.0.1:{gateway}{path}");
    let products = client.get(url("/api/v1/products")).send().await.expect("get");
    assert_eq!(products.status(), 200);
    let email = crate::helpers::unique_email("cluster");
    let res = client
        .post(url("/api/v1/auth/register"))
        .json(&json!({"email": email, "password": crate::helpers::PASSWORD, "full_name": "Clu Ster"}))
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), 201);
    let token = res.json::<Value>().await.expect("json")["access_token"].as_str().expect("token").to_owned();
    for path in ["/api/v1/users/me", "/api/v1/cart"] {
        let res = client.get(url(path)).bearer_auth(&token).send().await.expect("get");
        assert_eq!(res.status(), 200, "{path}");
    }

    let status = cluster(&["status"]);
    assert!(status.status.success(), "{}", text(&status));
    let status_text = text(&status);
    assert_eq!(status_text.lines().filter(|l| l.contains(" ready")).count(), 8, "{status_text}");

    let down = cluster(&["down"]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(text(&down).contains("stopped 8 processes"), "{}", text(&down));
    let status = cluster(&["status"]);
    assert!(!status.status.success(), "nothing runs: {}", text(&status));
    assert_eq!(text(&status).lines().filter(|l| l.ends_with("stopped")).count(), 8, "{}", text(&status));
    let start = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", gateway)).is_ok() {
        assert!(start.elapsed() < Duration::from_secs(10), "the gateway still listens after down");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for port in first..first + 7 {
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "a service still listens on {port}");
    }
    let _ = Command::new("psql")
        .arg(&pg)
        .arg("-qc")
        .arg(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        .status();
}
