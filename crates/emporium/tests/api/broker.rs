//! Events through a real broker, the same tests on each: RabbitMQ
//! (`EMPORIUM_TEST_RABBITMQ_URL`) and Kafka (`EMPORIUM_TEST_KAFKA_URL`, a
//! Kafka-protocol broker such as tansu): two nodes of one shop, consumers
//! per shop and per node, retries, dead letters, and a broker that is down
//! or goes away in the middle of a burst.

use crate::helpers::{Db, FreshBackend, PASSWORD, TestApp, postgres_url, unique_email};
use async_trait::async_trait;
use bus_kafka::{KafkaBus, KafkaSettings};
use bus_rabbitmq::{RabbitBus, RabbitSettings};
use emporium::settings::Secret;
use identity::Role;
use kernel::{Event, SystemClock};
use messaging::{Consumer, Reach, Relay};
use serde_json::json;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// The brokers the tests run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broker {
    RabbitMq,
    Kafka,
}

impl Broker {
    fn variable(self) -> &'static str {
        match self {
            Broker::RabbitMq => "EMPORIUM_TEST_RABBITMQ_URL",
            Broker::Kafka => "EMPORIUM_TEST_KAFKA_URL",
        }
    }

    /// The broker's URL, or `None` after saying `test` was skipped.
    fn url(self, test: &str) -> Option<String> {
        let url = std::env::var(self.variable()).ok().filter(|u| !u.is_empty());
        if url.is_none() {
            skipped(test, self.variable());
        }
        url
    }

    /// A URL where nothing listens.
    fn nowhere(self) -> &'static str {
        match self {
            Broker::RabbitMq => "amqp://guest:guest@127.0.0.1:1/%2f",
            Broker::Kafka => "kafka://127.0.0.1:1",
        }
    }
}

fn skipped(test: &str, what: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipped: {test} ({what} is not set)");
}

/// Each test on each broker and each database.
macro_rules! on_each_broker {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use super::Broker;
                use crate::helpers::Db;
                async fn run(db: Db, broker: Broker) {
                    if db == Db::Postgres && crate::helpers::postgres_url().is_none() {
                        crate::helpers::skipped(concat!(module_path!(), "::postgres"));
                        return;
                    }
                    super::$name(db, broker).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn rabbitmq_sqlite() { run(Db::Sqlite, Broker::RabbitMq).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn rabbitmq_postgres() { run(Db::Postgres, Broker::RabbitMq).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn kafka_sqlite() { run(Db::Sqlite, Broker::Kafka).await }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn kafka_postgres() { run(Db::Postgres, Broker::Kafka).await }
            }
        )*
    };
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

/// A node's bus on the test's broker: 3 attempts, 200 ms apart.
#[derive(Clone)]
enum Node {
    Rabbit(Arc<RabbitBus>),
    Kafka(Arc<KafkaBus>),
}

/// A dead letter, as either broker lists it.
#[derive(Debug)]
struct Dead {
    id: String,
    attempts: i64,
    error: Option<String>,
    event_id: Option<uuid::Uuid>,
}

impl Node {
    fn new(url: &str, prefix: &str, name: &str) -> Node {
        let (max_attempts, retry_delay) = (3, Duration::from_millis(200));
        match KafkaSettings::brokers_of(url) {
            Some(brokers) => Node::Kafka(Arc::new(
                KafkaBus::new(KafkaSettings {
                    prefix: prefix.to_owned(),
                    max_attempts,
                    retry_delay,
                    ..KafkaSettings::new(&brokers, name)
                })
                .expect("a Kafka client"),
            )),
            None => Node::Rabbit(Arc::new(RabbitBus::new(RabbitSettings {
                prefix: prefix.to_owned(),
                max_attempts,
                retry_delay,
                ..RabbitSettings::new(url, name)
            }))),
        }
    }

    fn bus(&self) -> Arc<dyn messaging::Bus> {
        match self {
            Node::Rabbit(b) => b.clone(),
            Node::Kafka(b) => b.clone(),
        }
    }

    fn spawn_consumers(
        &self,
        consumers: Vec<Arc<dyn Consumer>>,
        store: Arc<dyn messaging::OutboxStore>,
        stop: CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let clock = Arc::new(SystemClock);
        match self {
            Node::Rabbit(b) => b.spawn_consumers(consumers, store, clock, stop),
            Node::Kafka(b) => b.spawn_consumers(consumers, store, clock, stop),
        }
    }

    /// Reaches the broker, declaring its queues or topics.
    async fn ready(&self) {
        self.bus().check().await.expect("a broker's bus").expect("the node reaches its broker");
        if let Node::Kafka(b) = self {
            b.ensure_topics().await.expect("the topics");
        }
    }

    async fn dead_letters(&self, consumer: &dyn Consumer) -> Vec<Dead> {
        let dead =
            |id, attempts, error, event: Option<Event>| Dead { event_id: event.map(|e| e.id), id, attempts, error };
        match self {
            Node::Rabbit(b) => b
                .dead_letters(&[b.queues_of(consumer)])
                .await
                .expect("list dead letters")
                .into_iter()
                .map(|d| dead(d.id, d.attempts, d.error, d.event))
                .collect(),
            Node::Kafka(b) => b
                .dead_letters(&[b.group_of(consumer)])
                .await
                .expect("list dead letters")
                .into_iter()
                .map(|d| dead(d.id, d.attempts, d.error, d.event))
                .collect(),
        }
    }

    async fn replay(&self, consumer: &dyn Consumer, id: &str) -> bool {
        match self {
            Node::Rabbit(b) => b.replay(&[b.queues_of(consumer)], id).await.expect("replay"),
            Node::Kafka(b) => b.replay(&[b.group_of(consumer)], id).await.expect("replay"),
        }
    }
}

/// Two nodes of one shop on RabbitMQ, each running a per-shop recorder
/// (`shared`) and a per-node one (`local`) made by `make`, with their
/// queues declared.
struct TwoNodes {
    prefix: String,
    a: Node,
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
        let shared = [make("shared", Reach::PerShop), make("shared", Reach::PerShop)];
        let local = [make("local", Reach::PerNode), make("local", Reach::PerNode)];
        let mut tasks = Vec::new();
        let mut nodes = Vec::new();
        for (i, name) in ["a", "b"].into_iter().enumerate() {
            let bus = Node::new(url, &prefix, name);
            let consumers: Vec<Arc<dyn Consumer>> = vec![shared[i].clone(), local[i].clone()];
            tasks.extend(bus.spawn_consumers(consumers, store.clone(), stop.clone()));
            // Each node declares its queues before it publishes.
            bus.ready().await;
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

on_each_broker!(
    the_shop_starts_and_serves_with_the_broker_down,
    per_shop_consumers_get_each_event_once_and_per_node_ones_on_every_node,
    a_failing_event_is_retried_then_dead_lettered_and_can_be_replayed,
    a_broker_that_goes_away_mid_burst_loses_nothing
);

async fn the_shop_starts_and_serves_with_the_broker_down(db: Db, broker: Broker) {
    // Nothing listens on port 1.
    let app = TestApp::spawn_with(db, |s| {
        s.bus.url = Some(Secret(broker.nowhere().into()));
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

async fn per_shop_consumers_get_each_event_once_and_per_node_ones_on_every_node(db: Db, broker: Broker) {
    let Some(url) = broker.url(module_path!()) else { return };
    let fresh = FreshBackend::open(db).await;
    // Raw counts: a per-shop queue per node, or a shared per-node one, would show.
    let nodes = TwoNodes::start(&url, &fresh.backend.outbox(), Recorder::raw).await;
    let [local_a, local_b] = &nodes.local;

    let sent = events(300);
    let (confirmed, error) = nodes.a.bus().publish_batch(&sent).await;
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
    // Each node's own consumer saw all of them; in the order they were
    // published (Kafka keeps the order per aggregate: per partition).
    let order: Vec<_> = sent.iter().map(|e| e.id).collect();
    for local in [local_a, local_b] {
        let seen = local.seen();
        assert_eq!(seen.len(), 300);
        match broker {
            Broker::RabbitMq => assert_eq!(seen, order),
            Broker::Kafka => assert_eq!(seen.iter().copied().collect::<HashSet<_>>(), all),
        }
    }
    nodes.stop().await;
}

async fn a_failing_event_is_retried_then_dead_lettered_and_can_be_replayed(db: Db, broker: Broker) {
    let Some(url) = broker.url(module_path!()) else { return };
    let fresh = FreshBackend::open(db).await;
    let prefix = prefix();
    let bus = Node::new(&url, &prefix, "a");
    // Named as the shop's mailer, so that `emporium events dead` (which
    // looks in the shop's groups) finds its dead letters.
    let flaky = Recorder::new("notifications", Reach::PerShop);
    flaky.fail.store(true, Ordering::SeqCst);
    let stop = CancellationToken::new();
    let tasks = bus.spawn_consumers(vec![flaky.clone()], fresh.backend.outbox(), stop.clone());
    bus.ready().await;

    // One aggregate's three events (one partition on Kafka).
    let mut sent = events(3);
    let order = kernel::new_id();
    for e in &mut sent {
        e.aggregate_id = order;
    }
    sent[1].payload = json!({ "fail": true });
    let (confirmed, error) = bus.bus().publish_batch(&sent).await;
    assert_eq!((confirmed, error.is_none()), (3, true));
    // The two good ones go through; the bad one is tried three times
    // (200 ms apart) and then lands in the dead letters.
    let start = Instant::now();
    let dead = loop {
        let dead = bus.dead_letters(flaky.as_ref()).await;
        if !dead.is_empty() {
            break dead;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "never dead-lettered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    wait_for("the good events", Duration::from_secs(10), || flaky.seen().len() == 2).await;
    assert_eq!(flaky.seen(), [sent[0].id, sent[2].id]);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].id, sent[1].id.to_string());
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].event_id, Some(sent[1].id));
    assert!(dead[0].error.as_deref().unwrap_or_default().contains("refused on purpose"), "{:?}", dead[0].error);
    // Listing left it there.
    assert_eq!(bus.dead_letters(flaky.as_ref()).await.len(), 1);

    // What `emporium events dead` prints, and `events replay` does.
    let mut settings = emporium::Settings::defaults(std::env::temp_dir());
    settings.bus.url = Some(Secret(url.clone()));
    settings.bus.prefix = prefix.clone();
    settings.bus.node_id = Some("a".into());
    let listed = emporium::dead_letters::list(&settings).await.expect("events dead");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!((listed[0].id.as_str(), listed[0].topic.as_str()), (sent[1].id.to_string().as_str(), "test.happened"));
    assert_eq!(listed[0].attempts, 3);
    assert!(listed[0].place.contains(".notifications"), "{}", listed[0].place);
    flaky.fail.store(false, Ordering::SeqCst);
    assert!(!bus.replay(flaky.as_ref(), &kernel::new_id().to_string()).await, "no such dead letter");
    assert!(emporium::dead_letters::replay(&settings, &sent[1].id.to_string()).await.expect("events replay"));
    wait_for("the replayed event", Duration::from_secs(20), || flaky.seen().len() == 3).await;
    assert_eq!(flaky.seen()[2], sent[1].id);
    assert!(bus.dead_letters(flaky.as_ref()).await.is_empty(), "replayed means gone from the dead letters");
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

/// A tansu broker of the test's own, on a port and a file of its own, so
/// that the test can restart it without disturbing the others.
struct OwnTansu {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<std::process::Child>,
}

impl OwnTansu {
    fn start() -> OwnTansu {
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a port").local_addr().expect("addr").port();
        let mut own = OwnTansu { port, dir: tempfile::tempdir().expect("tempdir"), child: None };
        own.up();
        own
    }

    fn url(&self) -> String {
        format!("kafka://127.0.0.1:{}", self.port)
    }

    fn up(&mut self) {
        let listener = format!("tcp://127.0.0.1:{}", self.port);
        let child = std::process::Command::new("tansu")
            .args(["broker", "--listener-url", &listener, "--advertised-listener-url", &listener])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .current_dir(self.dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("tansu runs (cargo install tansu --locked --features libsql)");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(20), "tansu did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills it, as a crash does.
    fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for OwnTansu {
    fn drop(&mut self) {
        self.down();
    }
}

/// RabbitMQ closes every connection of the test (as a restart does); the
/// Kafka broker, one of the test's own, is killed and started again.
async fn a_broker_that_goes_away_mid_burst_loses_nothing(db: Db, broker: Broker) {
    let Some(url) = broker.url(module_path!()) else { return };
    let mut own = (broker == Broker::Kafka).then(OwnTansu::start);
    let url = own.as_ref().map_or(url, OwnTansu::url);
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
    let relay = Relay::new(store.clone(), nodes.a.bus(), Arc::new(SystemClock))
        .with_poll_interval(Duration::from_millis(50))
        .spawn();
    let mut drops = 0;
    for _ in 0..2 {
        wait_for("some progress", Duration::from_secs(60), || nodes.shared_seen().len() > 100 * (drops + 1)).await;
        match own.as_mut() {
            None => drops += usize::from(drop_connections(&nodes.prefix) > 0),
            Some(tansu) => {
                tokio::task::block_in_place(|| {
                    tansu.down();
                    std::thread::sleep(Duration::from_millis(500));
                    tansu.up();
                });
                drops += 1;
            }
        }
    }
    let counts = || {
        let distinct = |seen: Vec<uuid::Uuid>| seen.into_iter().collect::<HashSet<_>>().len();
        (distinct(nodes.shared_seen()), distinct(local_a.seen()), distinct(local_b.seen()))
    };
    let start = Instant::now();
    while counts() != (1000, 1000, 1000) {
        let pending = store.pending_events(1000).await.map(|p| p.len()).unwrap_or(usize::MAX);
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "not every event everywhere: {:?}, {pending} pending",
            counts()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(drops >= 1, "no connection was dropped: is this RabbitMQ local?");
    let _ = &own;
    let shared = nodes.shared_seen();
    assert_eq!(shared.len(), 1000, "a per-shop consumer handled each event exactly once");
    assert_eq!(shared.iter().collect::<HashSet<_>>().len(), 1000);
    assert!(store.pending_events(10).await.expect("pending").is_empty(), "the outbox drained");
    relay.shutdown().await;
    nodes.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_of_one_shop_see_each_others_changes_on_rabbitmq() {
    two_nodes_of_one_shop_see_each_others_changes(Broker::RabbitMq).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_of_one_shop_see_each_others_changes_on_kafka() {
    two_nodes_of_one_shop_see_each_others_changes(Broker::Kafka).await
}

/// Two `serve` processes of one shop on one PostgreSQL and one broker: a
/// product created through node A is found by search on node B, and a
/// customer who registers gets one welcome message.
async fn two_nodes_of_one_shop_see_each_others_changes(broker: Broker) {
    let Some(url) = broker.url(module_path!()) else { return };
    if postgres_url().is_none() {
        return skipped(module_path!(), "EMPORIUM_TEST_POSTGRES_URL");
    }
    let prefix = prefix();
    let a = TestApp::spawn_with(Db::Postgres, |s| {
        s.bus.url = Some(Secret(url.clone()));
        s.bus.prefix = prefix.clone();
        s.bus.node_id = Some("node-a".into());
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

/// `serve --services`: identity in one process, everything else in another,
/// on one PostgreSQL and RabbitMQ. Each serves only its own routes (the
/// others are JSON 404s, the pages only where the storefront runs), tokens
/// signed by identity are checked by the other against identity's published
/// keys, and an event written by one process is handled by the consumer
/// that lives in the other (the welcome email of a sign-up on identity).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_apart_serve_their_own_routes_and_reach_each_other() {
    let Some(url) = Broker::RabbitMq.url(module_path!()) else { return };
    if postgres_url().is_none() {
        return skipped(module_path!(), "EMPORIUM_TEST_POSTGRES_URL");
    }
    let identity = TestApp::spawn_identity_apart(&url, |_| {}).await;
    // A customer signs up before any process that consumes the event has
    // started: identity alone publishes it, and the notifications queue
    // must still get it.
    let customer = identity.register().await;
    let start = Instant::now();
    while identity
        .scalar_i64("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL AND topic = $1", "user.registered")
        .await
        > 0
    {
        assert!(start.elapsed() < Duration::from_secs(15), "identity published the sign-up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let shop =
        identity.spawn_service_beside("shop-1", "catalog,inventory,orders,payments,notifications,storefront").await;

    // Routes: each process answers its own paths, and 404s the others'.
    identity.get("/.well-known/jwks.json", None).await.assert(200);
    // (the pages' own 404 outside `/api`, where the storefront runs)
    shop.get("/.well-known/jwks.json", None).await.assert(404);
    identity.get("/api/v1/products", None).await.assert_error(404, "not_found");
    identity.get("/api/v1/cart", None).await.assert_error(404, "not_found");
    shop.get("/api/v1/products", None).await.assert(200);
    shop.post("/api/v1/auth/login", None, json!({"email": "a@b.c", "password": "x"}))
        .await
        .assert_error(404, "not_found");
    let page = identity.client.get(identity.url("/")).header("accept", "text/html").send().await.expect("get");
    assert_eq!(page.status(), 404, "no pages without the storefront");
    let page = shop.client.get(shop.url("/")).header("accept", "text/html").send().await.expect("get");
    assert_eq!(page.status(), 200);
    for (app, present, absent) in
        [(&identity, "/api/v1/auth/login", "/api/v1/checkout"), (&shop, "/api/v1/checkout", "/api/v1/auth/login")]
    {
        let doc = app.get("/api/openapi.json", None).await;
        assert!(doc.body["paths"].get(present).is_some(), "{present} in {}", app.url(""));
        assert!(doc.body["paths"].get(absent).is_none(), "{absent} not in {}", app.url(""));
    }

    // The customer uses the shop with identity's token.
    let cart = shop.get("/api/v1/cart", Some(&customer.access)).await;
    cart.assert(200);
    shop.get("/api/v1/orders", Some(&customer.access)).await.assert(200);
    shop.get("/api/v1/orders", Some("not a token")).await.assert_error(401, "invalid_token");

    // `user.registered`, published by identity before the other process
    // ran, is handled by notifications there: one welcome message.
    let start = Instant::now();
    let welcomes = loop {
        let n = shop
            .scalar_i64(
                "SELECT COUNT(*) FROM notifications WHERE recipient = $1 AND template = 'welcome'",
                &customer.email,
            )
            .await;
        if n > 0 || start.elapsed() > Duration::from_secs(15) {
            break n;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(welcomes, 1, "the welcome went out once, from the notifications process");
    shop.shutdown().await;
    identity.shutdown().await;
}

/// A customer suspended on identity is refused by another process within
/// the event's delivery time: `user.updated` makes every node forget the
/// account, though each remembers accounts for ten minutes here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suspension_on_identity_reaches_another_process_through_its_event() {
    let Some(url) = Broker::RabbitMq.url(module_path!()) else { return };
    if postgres_url().is_none() {
        return skipped(module_path!(), "EMPORIUM_TEST_POSTGRES_URL");
    }
    let identity = TestApp::spawn_identity_apart(&url, |s| s.account_cache_ttl_ms = 600_000).await;
    let orders = identity.spawn_service_beside("orders-1", "orders").await;
    let admin = identity.account_with_role(Role::Admin).await;
    let customer = identity.register().await;
    // Remembered by the orders process from here on.
    orders.get("/api/v1/orders", Some(&customer.access)).await.assert(200);
    orders.get("/api/v1/orders", Some(&customer.access)).await.assert(200);

    identity.admin_update_user(&admin.access, &customer.id, json!({"suspended": true})).await.assert(200);
    let start = Instant::now();
    loop {
        let res = orders.get("/api/v1/orders", Some(&customer.access)).await;
        if res.status == 403 {
            res.assert_error(403, "account_suspended");
            break;
        }
        res.assert(200);
        assert!(start.elapsed() < Duration::from_secs(15), "the suspension never reached the orders process");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    orders.shutdown().await;
    identity.shutdown().await;
}
