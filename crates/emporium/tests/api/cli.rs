//! The `emporium` binary itself: subcommands, settings errors, start-up and
//! graceful shutdown.

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn emporium(data_dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_emporium"));
    cmd.arg("--data-dir").arg(data_dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("EMPORIUM_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("EMPORIUM_LOG", "warn");
    cmd
}

#[test]
fn migrate_and_user_create() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = emporium(dir.path()).arg("migrate").output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let db = dir.path().join("emporium.db");
    let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&db).expect("database file").permissions());
    assert_eq!(mode & 0o777, 0o600, "the database file is the owner's alone");

    let create = |email: &str, password: &str, role: &str| {
        emporium(dir.path())
            .args(["user", "create", "--email", email, "--password", password, "--role", role])
            .output()
            .expect("run")
    };
    let out = create("boss@example.com", "a long enough password", "superadmin");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("created superadmin boss@example.com"));

    let out = create("boss@example.com", "a long enough password", "admin");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));

    let out = create("other@example.com", "short", "staff");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 10 characters"));

    let out = create("other@example.com", "a long enough password", "emperor");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("customer, staff, admin, superadmin"));
}

#[test]
fn keys_list_and_rotate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = |args: &[&str]| {
        let out = emporium(dir.path()).args(args).output().expect("run");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(run(&["keys", "list"]).contains("no signing key yet"));
    let first = run(&["keys", "rotate"]);
    let kid = |out: &str| out.lines().next().and_then(|l| l.rsplit(' ').next()).expect("kid").to_owned();
    let (a, b) = (kid(&first), kid(&run(&["keys", "rotate"])));
    assert_ne!(a, b);
    assert_eq!(a.len(), 43, "a base64url SHA-256 thumbprint: {a}");
    let list = run(&["keys", "list"]);
    assert_eq!(list, format!("{b}  current\n{a}  retired, still published\n"));
}

#[test]
fn a_bad_setting_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = emporium(dir.path()).args(["serve", "--services", "orders"]).output().expect("run");
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("EMPORIUM_SERVICES: services run apart need a broker"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = emporium(dir.path()).args(["serve", "--services", "orders,billing"]).output().expect("run");
    assert_eq!(out.status.code(), Some(2), "a usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown service \"billing\""));

    let out = emporium(dir.path()).env("EMPORIUM_AUTH_RATE_LIMIT", "many").arg("migrate").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("EMPORIUM_AUTH_RATE_LIMIT"));

    std::fs::write(dir.path().join("emporium.toml"), "request_timeout_secs = 0\n").expect("write");
    let out = emporium(dir.path()).arg("migrate").output().expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("request_timeout_secs"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `serve --demo` prints where to go and how to sign in, is ready at once,
/// keeps its signing key across restarts, and stops cleanly on SIGTERM.
#[test]
fn serve_demo_starts_ready_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let started = Instant::now();
    let mut child = emporium(dir.path())
        .args(["serve", "--demo", "--addr", &format!("127.0.0.1:{port}")])
        .env("EMPORIUM_LOG", "info")
        .env("EMPORIUM_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().expect("stdout");
    // Drain the logs while it runs: a full pipe would block the server.
    let mut stderr = child.stderr.take().expect("stderr");
    let log_reader = std::thread::spawn(move || {
        let mut logs = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut logs).expect("logs");
        logs
    });
    let mut lines = BufReader::new(stdout).lines();
    let mut printed = String::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        printed.push_str(&line);
        printed.push('\n');
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    assert!(printed.contains(&format!("http://127.0.0.1:{port}")), "{printed}");
    assert!(printed.contains("admin@example.com"), "{printed}");

    let ready = http_get(port, "/health/ready");
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
    eprintln!("ready {:?} after spawn (debug build)", started.elapsed());

    // SIGTERM: graceful shutdown, exit status 0.
    let status = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    let exit = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "exit status {exit:?}");
    let logs = log_reader.join().expect("log reader");
    let json_lines: Vec<serde_json::Value> = logs.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert!(!json_lines.is_empty() && json_lines.len() == logs.lines().count(), "JSON lines only:\n{logs}");
    assert!(json_lines.iter().any(|l| l["message"] == "ready"), "{logs}");
    assert!(json_lines.iter().any(|l| l["message"] == "stopped"), "a clean stop is logged: {logs}");
    // The demo's thousands of events belong at DEBUG: the console shows what a person needs.
    assert!(!json_lines.iter().any(|l| l["target"] == "emporium::events"), "events logged at INFO:\n{logs}");
    assert!(json_lines.len() < 25, "{} log lines at INFO for a demo start:\n{logs}", json_lines.len());
    assert!(dir.path().join("jwt-signing.key").exists(), "signing key kept in the data dir");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").expect("write");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    response
}

/// `events dead` lists what the relay gave up on and `events replay` puts
/// it back in line (the in-process bus; RabbitMQ's dead letters are
/// tested in `broker`).
#[test]
fn events_dead_lists_and_replay_resends_on_the_in_process_bus() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = emporium(dir.path()).args(["events", "dead"]).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("no dead letters (looked in the outbox)"));

    let id = uuid::Uuid::now_v7();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let db = dir.path().join("emporium.db");
    runtime.block_on(async {
        use sqlx::Connection as _;
        let mut conn =
            sqlx::SqliteConnection::connect(&format!("sqlite://{}", db.display())).await.expect("open the database");
        sqlx::query(
            "INSERT INTO outbox (id, topic, aggregate_id, occurred_at, payload, attempts, last_error) \
             VALUES ($1, 'order.paid', $1, $2, $3, 20, 'mailer down')",
        )
        .bind(id)
        .bind(time::OffsetDateTime::now_utc())
        .bind(sqlx::types::Json(serde_json::json!({})))
        .execute(&mut conn)
        .await
        .expect("insert a dead event");
    });
    let out = emporium(dir.path()).args(["events", "dead"]).output().expect("run");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(listed.contains(&format!("{id}  order.paid  outbox  attempts=20  mailer down")), "{listed}");

    let out = emporium(dir.path()).args(["events", "replay", &uuid::Uuid::now_v7().to_string()]).output().expect("run");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no dead letter"));
    let out = emporium(dir.path()).args(["events", "replay", &id.to_string()]).output().expect("run");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = emporium(dir.path()).args(["events", "dead"]).output().expect("run");
    assert!(String::from_utf8_lossy(&out.stdout).contains("no dead letters"), "replayed: back in line");
}

/// The consumer groups the commands know without a shop are the shop's consumers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumer_groups_are_the_consumers() {
    let db = crate::helpers::TestDatabase::new(crate::helpers::Db::Sqlite).await;
    let shop = emporium::Shop::open(&db.settings, std::sync::Arc::new(kernel::SystemClock), None).await.expect("shop");
    let described = |c: &dyn messaging::Consumer| (c.name().to_owned(), c.reach(), c.patterns());
    let consumers: Vec<_> =
        emporium::followers::consumers(&shop, &web::Served::all()).iter().map(|c| described(c.as_ref())).collect();
    let groups: Vec<_> = emporium::followers::groups().iter().map(|g| described(g)).collect();
    assert_eq!(consumers, groups);
}

/// `deploy/env/*.env` as `KEY=value` pairs (comments and blank lines left out).
fn env_file(name: &str) -> Vec<(String, String)> {
    let path = format!("{}/../../deploy/env/{name}.env", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap_or_else(|| panic!("{path}: not KEY=value: {l}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// Each service's unit (`deploy/systemd/emporium@.service`) passes
/// `systemd-analyze verify` without a warning, and its env files are
/// settings the binary accepts, with the address and identity URL the
/// layout says.
#[test]
fn the_shipped_units_and_env_files_are_valid() {
    let services = ["identity", "catalog", "inventory", "orders", "payments", "notifications", "storefront"];
    let data = tempfile::tempdir().expect("tempdir");
    for (i, service) in services.iter().enumerate() {
        let mut env = env_file("common");
        env.extend(env_file(service));
        let settings = emporium::settings::Settings::load(data.path().to_owned(), &env)
            .unwrap_or_else(|e| panic!("{service}.env with common.env: {e}"));
        assert_eq!(settings.addr.port(), 8101 + u16::try_from(i).expect("small"), "{service}");
        assert_eq!(settings.services.to_string(), *service);
        assert_eq!(settings.service_url_identity.is_none(), *service == "identity", "{service}");
        assert!(settings.bus.url.is_some() && settings.database_url.is_some());
    }

    let Some(analyze) =
        ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].into_iter().find(|p| Path::new(p).exists())
    else {
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), "skipped: {} (no systemd-analyze)", module_path!());
        return;
    };
    let units = tempfile::tempdir().expect("tempdir");
    let root = std::fs::canonicalize(concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy")).expect("deploy/");
    let root = root.display();
    let shipped = std::fs::read_to_string(format!("{root}/systemd/emporium@.service")).expect("unit");
    // The paths of an installed machine, pointed at this checkout and this build.
    let unit = shipped
        .replace("/usr/local/bin/emporium", env!("CARGO_BIN_EXE_emporium"))
        .replace("/etc/emporium/", &format!("{root}/env/"));
    assert_ne!(unit, shipped);
    std::fs::write(units.path().join("emporium@.service"), unit).expect("write");
    for service in services {
        let out = Command::new(analyze)
            .arg("verify")
            .arg(units.path().join(format!("emporium@{service}.service")))
            .env("SYSTEMD_UNIT_PATH", format!("{}:", units.path().display()))
            .output()
            .expect("systemd-analyze");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success() && stderr.trim().is_empty(), "emporium@{service}: {stderr}");
    }
}
