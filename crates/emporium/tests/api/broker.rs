//! Events through a real RabbitMQ (`EMPORIUM_TEST_RABBITMQ_URL`): two
//! nodes of one shop, consumers per shop and per node, retries, dead
//! letters, and a broker that is down or drops every connection.

use crate::helpers::{Db, FreshBackend, PASSWORD, TestApp, postgres_url, unique_email};
use crate::on_both_databases;
use async_trait::async_trait;
use bus_rabbitmq::{RabbitBus, RabbitSettings};
use emporium::settings::Secret;
use identity::Role;
use kernel::{Event, SystemClock};
use messaging::{Bus as _, Consumer, Reach, Relay};
use serde_json::json;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn rabbitmq_url() -> Option<String> {
    std::env::var("EMPORIUM_TEST_RABBITMQ_URL").ok().filter(|u| !u.is_empty())
}

fn skipped(test: &str, what: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipped: {test} ({what} is not set)");
}

/// A prefix of its own, so that tests running at once share no queue.
fn prefix() -> String {
    format!("test-{}", kernel::new_id().simple())
}

/// Records every event it handles; fails, while `fail` is set, on those whose payload says `fail`.
struct Recorder {
    name: &'static str,
    reach: Reach,
    fail: AtomicBool,
    /// Counts raw deliveries (no deduplication record): a repeat shows.
    keeps_no_record: bool,
    seen: Mutex<Vec<uuid::Uuid>>,
}

impl Recorder {
    fn new(name: &'static str, reach: Reach) -> Arc<Recorder> {
        Arc::new(Recorder { name, reach, fail: AtomicBool::new(false), keeps_no_record: false, seen: Mutex::default() })
    }
    /// A recorder that sees every delivery, repeats included.
    fn raw(name: &'static str, reach: Reach) -> Arc<Recorder> {
        Arc::new(Recorder { name, reach, fail: AtomicBool::new(false), keeps_no_record: true, seen: Mutex::default() })
    }
    fn seen(&self) -> Vec<uuid::Uuid> {
        self.seen.lock().expect("lock").clone()
    }
}

#[async_trait]
impl Consumer for Recorder {
    fn name(&self) -> &str {
        self.name
    }
    fn wants(&self, topic: &str) -> bool {
        topic.starts_with("test.")
    }
    fn reach(&self) -> Reach {
        self.reach
    }
    fn patterns(&self) -> Vec<&'static str> {
        vec!["test.#"]
    }
    fn naturally_idempotent(&self) -> bool {
        self.keeps_no_record
    }
    async fn handle(&self, event: &Event) -> anyhow::Result<()> {
        self.handle_batch(&[event]).await
    }
    /// All or nothing, as the trait asks: a batch with a refused event records none.
    async fn handle_batch(&self, events: &[&Event]) -> anyhow::Result<()> {
        if self.fail.load(Ordering::SeqCst) && events.iter().any(|e| e.payload["fail"] == true) {
            anyhow::bail!("refused on purpose");
        }
        self.seen.lock().expect("lock").extend(events.iter().map(|e| e.id));
        Ok(())
    }
}

fn events(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| Event::new("test.happened", kernel::new_id(), time::OffsetDateTime::now_utc(), json!({ "n": i })))
        .collect()
}

async fn wait_for(what: &str, within: Duration, done: impl Fn() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn node(url: &str, prefix: &str, name: &str) -> Arc<RabbitBus> {
    let settings = RabbitSettings {
        prefix: prefix.to_owned(),
        max_attempts: 3,
        retry_delay: Duration::from_millis(200),
        ..RabbitSettings::new(url, name)
    };
    Arc::new(RabbitBus::new(settings))
}

/// Two nodes of one shop on RabbitMQ, each running a per-shop recorder
/// (`shared`) and a per-node one (`local`) made by `make`, with their
/// queues declared.
struct TwoNodes {
    prefix: String,
    a: Arc<RabbitBus>,
    shared: [Arc<Recorder>; 2],
    local: [Arc<Recorder>; 2],
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl TwoNodes {
    async fn start(
        url: &str,
        store: &Arc<dyn messaging::OutboxStore>,
        make: fn(&'static str, Reach) -> Arc<Recorder>,
    ) -> TwoNodes {
        let prefix = prefix();
        let stop = CancellationToken::new();
        let clock = Arc::new(SystemClock);
        let shared = [make("shared", Reach::PerShop), make("shared", Reach::PerShop)];
        let local = [make("local", Reach::PerNode), make("local", Reach::PerNode)];
        let mut tasks = Vec::new();
        let mut nodes = Vec::new();
        for (i, name) in ["a", "b"].into_iter().enumerate() {
            let bus = node(url, &prefix, name);
            let consumers: Vec<Arc<dyn Consumer>> = vec![shared[i].clone(), local[i].clone()];
            tasks.extend(bus.spawn_consumers(consumers, store.clone(), clock.clone(), stop.clone()));
            // Each node declares its queues before it publishes.
            bus.check().await.expect("a bus").expect("the node reaches RabbitMQ");
            nodes.push(bus);
        }
        TwoNodes { prefix, a: nodes.swap_remove(0), shared, local, stop, tasks }
    }

    /// Every delivery to the per-shop group, both nodes together.
    fn shared_seen(&self) -> Vec<uuid::Uuid> {
        [self.shared[0].seen(), self.shared[1].seen()].concat()
    }

    async fn stop(self) {
        self.stop.cancel();
        for task in self.tasks {
            task.await.expect("consumer task");
        }
    }
}

on_both_databases!(
    the_shop_starts_and_serves_with_the_broker_down,
    per_shop_consumers_get_each_event_once_and_per_node_ones_on_every_node,
    a_failing_event_is_retried_then_dead_lettered_and_can_be_replayed,
    a_broker_that_drops_every_connection_mid_burst_loses_nothing
);

async fn the_shop_starts_and_serves_with_the_broker_down(db: Db) {
    // Nothing listens on port 1.
    let app = TestApp::spawn_with(db, |s| {
        s.bus.url = Some(Secret("amqp://guest:guest@127.0.0.1:1/%2f".into()));
        s.bus.prefix = prefix();
    })
    .await;
    let account = app.register().await;
    app.me(&account.access).await.assert(200);
    let ready = app.get("/health/ready", None).await;
    ready.assert(200);
    assert_eq!(ready.body["status"], "degraded", "{}", ready.text);
    assert_eq!(ready.body["checks"], json!({"database": "ok", "broker": "unavailable"}));
    // The event waits in the outbox, and the broker's absence is not counted
    // against it (the in-process relay gives an event up after 20 failures;
    // a broker outage must never make it give one up).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let waiting = "SELECT COUNT(*) FROM outbox WHERE topic = $1 AND published_at IS NULL AND attempts = 0";
    assert_eq!(app.scalar_i64(waiting, "user.registered").await, 1);
}

async fn per_shop_consumers_get_each_event_once_and_per_node_ones_on_every_node(db: Db) {
    let Some(url) = rabbitmq_url() else { return skipped(module_path!(), "EMPORIUM_TEST_RABBITMQ_URL") };
    let fresh = FreshBackend::open(db).await;
    // Raw counts: a per-shop queue per node, or a shared per-node one, would show.
    let nodes = TwoNodes::start(&url, &fresh.backend.outbox(), Recorder::raw).await;
    let [local_a, local_b] = &nodes.local;

    let sent = events(300);
    let (confirmed, error) = nodes.a.publish_batch(&sent).await;
    assert!(error.is_none(), "{error:?}");
    assert_eq!(confirmed, 300);
    let all: HashSet<_> = sent.iter().map(|e| e.id).collect();
    wait_for("every event", Duration::from_secs(20), || {
        nodes.shared_seen().len() >= 300 && local_a.seen().len() >= 300 && local_b.seen().len() >= 300
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let shared = nodes.shared_seen();
    assert_eq!(shared.len(), 300, "a per-shop consumer handles each event once across the nodes");
    assert_eq!(shared.iter().copied().collect::<HashSet<_>>(), all);
    // Each node's own consumer saw all of them, in the order they were published.
    let order: Vec<_> = sent.iter().map(|e| e.id).collect();
    assert_eq!(local_a.seen(), order);
    assert_eq!(local_b.seen(), order);
    nodes.stop().await;
}

async fn a_failing_event_is_retried_then_dead_lettered_and_can_be_replayed(db: Db) {
    let Some(url) = rabbitmq_url() else { return skipped(module_path!(), "EMPORIUM_TEST_RABBITMQ_URL") };
    let fresh = FreshBackend::open(db).await;
    let prefix = prefix();
    let bus = node(&url, &prefix, "a");
    let flaky = Recorder::new("flaky", Reach::PerShop);
    flaky.fail.store(true, Ordering::SeqCst);
    let stop = CancellationToken::new();
    let tasks = bus.spawn_consumers(vec![flaky.clone()], fresh.backend.outbox(), Arc::new(SystemClock), stop.clone());
    bus.check().await.expect("a bus").expect("RabbitMQ answers");

    let mut sent = events(3);
    sent[1].payload = json!({ "fail": true });
    let (confirmed, error) = bus.publish_batch(&sent).await;
    assert_eq!((confirmed, error.is_none()), (3, true));
    let queues = [bus.queues_of(flaky.as_ref())];
    // The two good ones go through; the bad one is tried three times
    // (200 ms apart) and then lands in the dead letters.
    let start = Instant::now();
    let dead = loop {
        let dead = bus.dead_letters(&queues).await.expect("list dead letters");
        if !dead.is_empty() {
            break dead;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "never dead-lettered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(flaky.seen(), [sent[0].id, sent[2].id]);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, sent[1].id.to_string());
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].event.as_ref().map(|e| e.id), Some(sent[1].id));
    assert!(dead[0].error.as_deref().unwrap_or_default().contains("refused on purpose"), "{:?}", dead[0].error);
    // Listing left it there.
    assert_eq!(bus.dead_letters(&queues).await.expect("list again").len(), 1);

    flaky.fail.store(false, Ordering::SeqCst);
    assert!(!bus.replay(&queues, &kernel::new_id().to_string()).await.expect("replay"), "no such dead letter");
    assert!(bus.replay(&queues, &sent[1].id.to_string()).await.expect("replay"));
    wait_for("the replayed event", Duration::from_secs(10), || flaky.seen().len() == 3).await;
    assert_eq!(flaky.seen()[2], sent[1].id);
    assert!(bus.dead_letters(&queues).await.expect("list").is_empty(), "replayed means gone from the dead letters");
    stop.cancel();
    for task in tasks {
        task.await.expect("consumer task");
    }
}

/// Closes every connection RabbitMQ holds whose name starts with `prefix`,
/// as a broker restart does (`rabbitmqctl`, on this machine's broker).
fn drop_connections(prefix: &str) -> usize {
    let out = std::process::Command::new("rabbitmqctl")
        .args(["list_connections", "-q", "--no-table-headers", "pid", "client_properties"])
        .output()
        .expect("rabbitmqctl runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut closed = 0;
    for line in text.lines().filter(|l| l.contains(prefix)) {
        let Some(pid) = line.split_whitespace().next() else { continue };
        let status = std::process::Command::new("rabbitmqctl")
            .args(["close_connection", pid, "a broker restart, in a test"])
            .status()
            .expect("rabbitmqctl runs");
        closed += usize::from(status.success());
    }
    closed
}

async fn a_broker_that_drops_every_connection_mid_burst_loses_nothing(db: Db) {
    let Some(url) = rabbitmq_url() else { return skipped(module_path!(), "EMPORIUM_TEST_RABBITMQ_URL") };
    let fresh = FreshBackend::open(db).await;
    let store = fresh.backend.outbox();
    let nodes = TwoNodes::start(&url, &store, Recorder::new).await;
    let [local_a, local_b] = &nodes.local;

    // 1,000 events in the outbox, drained by node a's relay while the
    // broker drops every connection of this test, twice.
    let sent = events(1000);
    for event in &sent {
        crate::events::insert_event(&fresh.backend, event).await;
    }
    let relay = Relay::new(store.clone(), nodes.a.clone(), Arc::new(SystemClock))
        .with_poll_interval(Duration::from_millis(50))
        .spawn();
    let mut drops = 0;
    for _ in 0..2 {
        wait_for("some progress", Duration::from_secs(20), || nodes.shared_seen().len() > 100 * (drops + 1)).await;
        drops += usize::from(drop_connections(&nodes.prefix) > 0);
    }
    wait_for("every event everywhere", Duration::from_secs(60), || {
        nodes.shared_seen().iter().collect::<HashSet<_>>().len() >= 1000
            && local_a.seen().iter().collect::<HashSet<_>>().len() >= 1000
            && local_b.seen().iter().collect::<HashSet<_>>().len() >= 1000
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(drops >= 1, "no connection was dropped: is this RabbitMQ local?");
    let shared = nodes.shared_seen();
    assert_eq!(shared.len(), 1000, "a per-shop consumer handled each event exactly once");
    assert_eq!(shared.iter().collect::<HashSet<_>>().len(), 1000);
    assert!(store.pending_events(10).await.expect("pending").is_empty(), "the outbox drained");
    relay.shutdown().await;
    nodes.stop().await;
}

/// Two `serve` processes of one shop on one PostgreSQL and one RabbitMQ: a
/// product created through node A is found by search on node B, and a
/// customer who registers gets one welcome message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_of_one_shop_see_each_others_changes() {
    let Some(url) = rabbitmq_url() else { return skipped(module_path!(), "EMPORIUM_TEST_RABBITMQ_URL") };
    if postgres_url().is_none() {
        return skipped(module_path!(), "EMPORIUM_TEST_POSTGRES_URL");
    }
    let prefix = prefix();
    let a = TestApp::spawn_with(Db::Postgres, |s| {
        s.bus.url = Some(Secret(url.clone()));
        s.bus.prefix = prefix.clone();
        s.bus.node_id = Some("node-a".into());
        s.jwt_secret = Some(Secret("a shared signing key of forty characters!".into()));
    })
    .await;
    let b = a.spawn_beside(|s| s.bus.node_id = Some("node-b".into())).await;
    let admin = a.account_with_role(Role::Admin).await;
    let product = crate::catalog_helpers::product_body("Aurora Lantern", None, &[("AUR-1", 2500, "One")]);
    a.product(&admin.access, product).await;
    let start = Instant::now();
    loop {
        let found = b.get("/api/v1/products?q=aurora", None).await;
        found.assert(200);
        if found.body["items"].as_array().is_some_and(|items| items.len() == 1) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "node B's search did not find node A's product: {}",
            found.text
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let email = unique_email("welcome");
    b.register_raw(&email, PASSWORD, "Wendy Welcome").await.assert(201);
    let welcomes = "SELECT COUNT(*) FROM notifications WHERE template = 'welcome' AND recipient = $1";
    let start = Instant::now();
    while a.scalar_i64(welcomes, &email).await == 0 {
        assert!(start.elapsed() < Duration::from_secs(5), "no welcome message");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(a.scalar_i64(welcomes, &email).await, 1, "one welcome message, not two");
    let ready = b.get("/health/ready", None).await;
    assert_eq!(ready.body["checks"], json!({"database": "ok", "broker": "ok"}), "{}", ready.text);
}
