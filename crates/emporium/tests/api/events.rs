//! The outbox and its relay, on the real databases: events are written with
//! the change, published at least once, and handled once per consumer.

use crate::helpers::{Db, FreshBackend, TestApp};
use crate::on_both_databases;
use async_trait::async_trait;
use kernel::{Event, SystemClock};
use messaging::{Consumer, InProcessBus, Relay};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

on_both_databases!(
    registration_publishes_user_registered,
    consumers_handle_each_event_once,
    failed_deliveries_are_retried_not_lost,
    a_drain_is_one_batch_per_consumer_and_stops_at_a_failing_event,
    an_event_committed_late_is_still_published,
    two_relays_on_one_database_send_each_row_once,
    a_backlog_drains_oldest_first_at_the_bus_speed
);

struct Counting {
    handled: AtomicUsize,
    fail: AtomicBool,
}

impl Counting {
    fn new() -> Arc<Counting> {
        Arc::new(Counting { handled: AtomicUsize::new(0), fail: AtomicBool::new(false) })
    }
}

#[async_trait]
impl Consumer for Counting {
    fn name(&self) -> &str {
        "test-counter"
    }
    fn wants(&self, topic: &str) -> bool {
        topic.starts_with("user.")
    }
    async fn handle(&self, _event: &Event) -> anyhow::Result<()> {
        if self.fail.load(Ordering::SeqCst) {
            anyhow::bail!("consumer is down");
        }
        self.handled.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

async fn published(app: &TestApp) -> i64 {
    app.scalar_i64("SELECT COUNT(*) FROM outbox WHERE topic = $1 AND published_at IS NOT NULL", "user.registered").await
}

async fn registration_publishes_user_registered(db: Db) {
    let app = TestApp::spawn(db).await;
    let account = app.register().await;
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM outbox WHERE topic = $1", "user.registered").await, 1);
    // The running relay publishes it promptly (woken by the commit).
    let mut waited = 0;
    while published(&app).await == 0 && waited < 100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert_eq!(published(&app).await, 1, "the relay published the event");
    let events = app.running().backend.outbox().pending_events(10).await.expect("pending");
    assert!(events.is_empty(), "nothing left pending");
    drop(account);
}

async fn consumers_handle_each_event_once(db: Db) {
    let app = TestApp::spawn(db).await;
    let store = app.running().backend.outbox();
    let bus = InProcessBus::new(store.clone(), Arc::new(SystemClock));
    let counter = Counting::new();
    bus.subscribe(counter.clone());
    let event = Event::new("user.registered", kernel::new_id(), time::OffsetDateTime::now_utc(), serde_json::json!({}));
    use messaging::Bus as _;
    bus.publish(&event).await.expect("first delivery");
    bus.publish(&event).await.expect("redelivery");
    bus.publish(&event).await.expect("redelivery");
    assert_eq!(counter.handled.load(Ordering::SeqCst), 1, "a redelivered event is handled once");
    let other = Event::new("user.deleted", kernel::new_id(), time::OffsetDateTime::now_utc(), serde_json::json!({}));
    bus.publish(&other).await.expect("delivery");
    assert_eq!(counter.handled.load(Ordering::SeqCst), 2);
}

/// A database with no app on it, and a relay (driven by hand) into a bus
/// whose one consumer counts `user.*` events.
async fn counted_relay(db: Db) -> (FreshBackend, Arc<Counting>, Relay) {
    let fresh = FreshBackend::open(db).await;
    let store = fresh.backend.outbox();
    let bus = Arc::new(InProcessBus::new(store.clone(), Arc::new(SystemClock)));
    let counter = Counting::new();
    bus.subscribe(counter.clone());
    let relay = Relay::new(store, bus, Arc::new(SystemClock));
    (fresh, counter, relay)
}

async fn failed_deliveries_are_retried_not_lost(db: Db) {
    // A database with no app (and so no relay of its own) on it: this test
    // drives the relay by hand.
    let (fresh, counter, relay) = counted_relay(db).await;
    let store = fresh.backend.outbox();

    // Write an event the way a context does: through the identity store,
    // then make the consumer fail.
    counter.fail.store(true, Ordering::SeqCst);
    let event = Event::new("user.test", kernel::new_id(), time::OffsetDateTime::now_utc(), serde_json::json!({"n": 1}));
    insert_event(&fresh.backend, &event).await;
    assert_eq!(relay.drain_once().await.expect("pass"), 0, "nothing published while the consumer fails");
    assert!(store.pending_events(100).await.expect("pending").iter().any(|e| e.id == event.id), "still pending");
    assert_eq!(fresh.scalar_i64("SELECT attempts FROM outbox WHERE topic = $1", "user.test").await, 1);

    counter.fail.store(false, Ordering::SeqCst);
    let mut delivered = false;
    for _ in 0..5 {
        relay.drain_once().await.expect("pass");
        if !store.pending_events(100).await.expect("pending").iter().any(|e| e.id == event.id) {
            delivered = true;
            break;
        }
    }
    assert!(delivered, "delivered once the consumer recovered");
    assert_eq!(counter.handled.load(Ordering::SeqCst), 1);
}

/// Handles `batch.*` events in batches, failing on those marked `poison` while `fail` is set.
struct Batching {
    name: &'static str,
    fail: AtomicBool,
    batches: Mutex<Vec<usize>>,
    handled: Mutex<Vec<uuid::Uuid>>,
}

impl Batching {
    fn new(name: &'static str) -> Arc<Batching> {
        Arc::new(Batching { name, fail: AtomicBool::new(true), batches: Mutex::default(), handled: Mutex::default() })
    }
    fn poisoned(&self, event: &Event) -> bool {
        self.name == "test-fragile" && self.fail.load(Ordering::SeqCst) && event.payload["poison"] == true
    }
    fn handled(&self) -> Vec<uuid::Uuid> {
        self.handled.lock().expect("lock").clone()
    }
}

#[async_trait]
impl Consumer for Batching {
    fn name(&self) -> &str {
        self.name
    }
    fn wants(&self, topic: &str) -> bool {
        topic.starts_with("batch.")
    }
    async fn handle(&self, event: &Event) -> anyhow::Result<()> {
        self.handle_batch(&[event]).await
    }
    async fn handle_batch(&self, events: &[&Event]) -> anyhow::Result<()> {
        if events.iter().any(|e| self.poisoned(e)) {
            anyhow::bail!("poisoned event");
        }
        self.batches.lock().expect("lock").push(events.len());
        self.handled.lock().expect("lock").extend(events.iter().map(|e| e.id));
        Ok(())
    }
}

async fn a_drain_is_one_batch_per_consumer_and_stops_at_a_failing_event(db: Db) {
    let fresh = FreshBackend::open(db).await;
    let store = fresh.backend.outbox();
    let bus = Arc::new(InProcessBus::new(store.clone(), Arc::new(SystemClock)));
    let (healthy, fragile) = (Batching::new("test-healthy"), Batching::new("test-fragile"));
    bus.subscribe(healthy.clone());
    bus.subscribe(fragile.clone());
    let relay = Relay::new(store.clone(), bus, Arc::new(SystemClock));
    let mut ids = Vec::new();
    for n in 0..5 {
        let payload = serde_json::json!({ "poison": n == 2 });
        let event = Event::new("batch.test", kernel::new_id(), time::OffsetDateTime::now_utc(), payload);
        insert_event(&fresh.backend, &event).await;
        ids.push(event.id);
    }
    // The healthy consumer gets all five in one batch; the fragile one's batch
    // fails, so it gets them one by one and stops at the poisoned third.
    assert_eq!(relay.drain_once().await.expect("pass"), 2, "published up to the failing event");
    assert_eq!(*healthy.batches.lock().expect("lock"), [5]);
    assert_eq!(healthy.handled(), ids);
    assert_eq!(fragile.handled(), ids[..2]);
    let pending: Vec<_> = store.pending_events(100).await.expect("pending").iter().map(|e| e.id).collect();
    assert_eq!(pending, ids[2..]);
    assert_eq!(
        fresh.scalar_i64("SELECT COUNT(*) FROM outbox WHERE attempts = 1 AND topic = $1", "batch.test").await,
        1
    );

    // Once it recovers, the rest reach the fragile consumer, and the healthy one sees nothing twice.
    fragile.fail.store(false, Ordering::SeqCst);
    assert_eq!(relay.drain_once().await.expect("pass"), 3);
    assert_eq!(fragile.handled(), ids);
    assert_eq!(healthy.handled(), ids, "no event handled twice");
    assert!(store.pending_events(100).await.expect("pending").is_empty());
}

pub async fn insert_event(backend: &emporium::Backend, event: &Event) {
    let sql = "INSERT INTO outbox (id, topic, aggregate_id, occurred_at, payload) VALUES ($1, $2, $3, $4, $5)";
    crate::with_pool!(backend, |pool| sqlx::query(sql)
        .bind(event.id)
        .bind(&event.topic)
        .bind(event.aggregate_id)
        .bind(event.occurred_at)
        .bind(sqlx::types::Json(&event.payload))
        .execute(pool)
        .await
        .map(|_| ())
        .expect("insert event"));
}

async fn an_event_committed_late_is_still_published(db: Db) {
    let (fresh, counter, relay) = counted_relay(db).await;
    let relay = relay.with_full_scan_every(Duration::from_millis(300));
    let store = fresh.backend.outbox();
    assert_eq!(relay.drain_once().await.expect("first pass scans everything"), 0);

    // An event made a minute ago whose transaction commits only now, and a fresh one.
    let minute_ago = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970")
        - Duration::from_secs(60);
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, minute_ago.as_secs(), minute_ago.subsec_nanos());
    let now = time::OffsetDateTime::now_utc();
    let late =
        Event { id: uuid::Uuid::new_v7(ts), ..Event::new("user.late", kernel::new_id(), now, serde_json::json!({})) };
    let fresh_event = Event::new("user.fresh", kernel::new_id(), now, serde_json::json!({}));
    insert_event(&fresh.backend, &late).await;
    insert_event(&fresh.backend, &fresh_event).await;

    // The next drain looks at recent ids only; the late one waits for the next full scan.
    assert_eq!(relay.drain_once().await.expect("pass"), 1);
    let pending: Vec<_> = store.pending_events(100).await.expect("pending").iter().map(|e| e.id).collect();
    assert_eq!(pending, [late.id]);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(relay.drain_once().await.expect("pass"), 1);
    assert!(store.pending_events(100).await.expect("pending").is_empty());
    assert_eq!(counter.handled.load(Ordering::SeqCst), 2);

    // A late event that fails holds back the fresh ones after it: after a failed
    // delivery the scans stay full, so the window cannot skip past it.
    let stuck =
        Event { id: uuid::Uuid::new_v7(ts), ..Event::new("user.stuck", kernel::new_id(), now, serde_json::json!({})) };
    let behind = Event::new("user.behind", kernel::new_id(), now, serde_json::json!({}));
    insert_event(&fresh.backend, &stuck).await;
    insert_event(&fresh.backend, &behind).await;
    counter.fail.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(relay.drain_once().await.expect("full pass"), 0);
    assert_eq!(relay.drain_once().await.expect("full again after the failure"), 0);
    assert_eq!(store.pending_events(100).await.expect("pending").len(), 2);
    counter.fail.store(false, Ordering::SeqCst);
    assert_eq!(relay.drain_once().await.expect("pass"), 2);
    assert_eq!(counter.handled.load(Ordering::SeqCst), 4);
}

on_both_databases!(housekeeping_deletes_old_events_and_abandoned_guest_carts, pruning_keeps_unpublished_events);

/// However old, an event not yet published (a consumer keeps failing) stays.
async fn pruning_keeps_unpublished_events(db: Db) {
    let fresh = FreshBackend::open(db).await;
    let store = fresh.backend.outbox();
    let event = Event::new("user.test", kernel::new_id(), time::OffsetDateTime::now_utc(), serde_json::json!({}));
    insert_event(&fresh.backend, &event).await;
    let later = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    assert_eq!(store.prune(later, 100).await.expect("prune"), 0);
    assert_eq!(store.pending_events(10).await.expect("pending").len(), 1);
    store.mark_published(&[event.id], time::OffsetDateTime::now_utc()).await.expect("mark");
    store.mark_processed("a-consumer", event.id, time::OffsetDateTime::now_utc()).await.expect("processed");
    assert_eq!(store.prune(later, 100).await.expect("prune"), 1);
    assert_eq!(fresh.scalar_i64("SELECT COUNT(*) FROM outbox WHERE $1 = $1", "x").await, 0);
    assert!(!store.is_processed("a-consumer", event.id).await.expect("read"), "its consumer record went too");
}

/// Hourly housekeeping keeps the outbox and the carts table from growing
/// forever, and touches nothing still in use.
async fn housekeeping_deletes_old_events_and_abandoned_guest_carts(db: Db) {
    use crate::shop_helpers::{checkout_body, new_key};
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(identity::Role::Admin).await;
    app.stocked(&admin.access, "Old Lamp", &[("LAMP-1", 2_000)], 5).await;
    let (_, abandoned) = app.add_to_cart(None, "LAMP-1", 1).await;
    let (_, bought) = app.add_to_cart(None, "LAMP-1", 1).await;
    app.guest_checkout(&bought, &new_key(), checkout_body(Some("keep@example.com"))).await.assert(201);
    let customer = app.register().await;
    let add = serde_json::json!({"sku": "LAMP-1", "quantity": 1});
    let res = app.send(reqwest::Method::POST, "/api/v1/cart/items", Some(&customer.access), &[], Some(add)).await;
    assert!(res.status.is_success(), "{}", res.text);
    app.settle().await;
    let carts = || app.scalar_i64("SELECT COUNT(*) FROM carts WHERE $1 = $1", "x");
    let events = || app.scalar_i64("SELECT COUNT(*) FROM outbox WHERE $1 = $1", "x");
    let (carts_before, events_before) = (carts().await, events().await);
    assert!(carts_before >= 3 && events_before > 0);

    // With today's cut-offs nothing is old enough.
    let running = app.running();
    let now = time::OffsetDateTime::now_utc();
    let month = std::time::Duration::from_secs(30 * 86_400);
    assert_eq!(
        emporium::prune(&running.backend, &running.orders, now - time::Duration::days(7), month).await.expect("prune"),
        (0, 0)
    );
    assert_eq!((carts().await, events().await), (carts_before, events_before));

    // Everything published so far is older than a cut-off in the future; of
    // the carts only the guest's without a checkout goes.
    let later = now + time::Duration::seconds(5);
    let (gone_events, gone_carts) =
        emporium::prune(&running.backend, &running.orders, later, std::time::Duration::ZERO).await.expect("prune");
    assert_eq!(gone_events, u64::try_from(events_before).unwrap_or(0));
    assert_eq!(gone_carts, 1);
    assert_eq!(events().await, 0);
    // The abandoned cart's token no longer finds a cart; the others still work.
    let res = app.send(reqwest::Method::GET, "/api/v1/cart", None, &[("x-cart-token", &abandoned)], None).await;
    assert!(res.body["lines"].as_array().is_none_or(Vec::is_empty), "{}", res.text);
    let res = app.send(reqwest::Method::GET, "/api/v1/cart", Some(&customer.access), &[], None).await;
    assert_eq!(res.body["lines"][0]["sku"], "LAMP-1");
}

/// Counts every delivery, repeats included (it keeps no record).
struct Tally {
    seen: Mutex<Vec<uuid::Uuid>>,
}

impl Tally {
    fn new() -> Arc<Tally> {
        Arc::new(Tally { seen: Mutex::default() })
    }
    fn seen(&self) -> Vec<uuid::Uuid> {
        self.seen.lock().expect("lock").clone()
    }
}

#[async_trait]
impl Consumer for Tally {
    fn name(&self) -> &str {
        "test-tally"
    }
    fn wants(&self, topic: &str) -> bool {
        topic.starts_with("tally.")
    }
    fn naturally_idempotent(&self) -> bool {
        true
    }
    async fn handle(&self, event: &Event) -> anyhow::Result<()> {
        self.seen.lock().expect("lock").push(event.id);
        Ok(())
    }
}

/// `n` events written to the outbox 200 to a statement, made a millisecond
/// apart from ten minutes ago on (as a backlog left by a crash is); their ids.
async fn insert_many(backend: &emporium::Backend, n: usize) -> Vec<uuid::Uuid> {
    let now = time::OffsetDateTime::now_utc();
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970")
        - Duration::from_secs(600);
    let events: Vec<Event> = (0..n)
        .map(|i| {
            let at = since + Duration::from_millis(i as u64);
            let ts = uuid::Timestamp::from_unix(uuid::NoContext, at.as_secs(), at.subsec_nanos());
            let event = Event::new("tally.test", kernel::new_id(), now, serde_json::json!({ "n": i }));
            Event { id: uuid::Uuid::new_v7(ts), ..event }
        })
        .collect();
    for chunk in events.chunks(200) {
        let rows = (0..chunk.len())
            .map(|i| format!("(${}, ${}, ${}, ${}, ${})", 5 * i + 1, 5 * i + 2, 5 * i + 3, 5 * i + 4, 5 * i + 5))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("INSERT INTO outbox (id, topic, aggregate_id, occurred_at, payload) VALUES {rows}");
        crate::with_pool!(backend, |pool| {
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.clone()));
            for e in chunk {
                q = q
                    .bind(e.id)
                    .bind(&e.topic)
                    .bind(e.aggregate_id)
                    .bind(e.occurred_at)
                    .bind(sqlx::types::Json(&e.payload));
            }
            q.execute(pool).await.map(|_| ()).expect("insert events")
        });
    }
    events.iter().map(|e| e.id).collect()
}

async fn two_relays_on_one_database_send_each_row_once(db: Db) {
    let fresh = FreshBackend::open(db).await;
    let store = fresh.backend.outbox();
    let relay_on = |tally: &Arc<Tally>, node: &str| {
        let bus = Arc::new(InProcessBus::new(store.clone(), Arc::new(SystemClock)));
        bus.subscribe(tally.clone());
        Relay::new(store.clone(), bus, Arc::new(SystemClock)).with_holder(node)
    };
    let (tally_a, tally_b) = (Tally::new(), Tally::new());
    let (a, b) = (relay_on(&tally_a, "node-a"), relay_on(&tally_b, "node-b"));
    let ids = insert_many(&fresh.backend, 500).await;
    // Both drain, turn about, until nothing is left: the lease lets one send.
    for _ in 0..20 {
        a.drain_once().await.expect("a drains");
        b.drain_once().await.expect("b drains");
    }
    assert!(store.pending_events(10).await.expect("pending").is_empty(), "drained");
    let (seen_a, seen_b) = (tally_a.seen(), tally_b.seen());
    assert_eq!(seen_a.len() + seen_b.len(), 500, "each row sent once");
    assert!(seen_b.is_empty(), "the lease holder sent them all");
    assert_eq!(seen_a, ids);
}

async fn a_backlog_drains_oldest_first_at_the_bus_speed(db: Db) {
    // 10,000 rows pending, as after a crash; the relay starts afterwards.
    let fresh = FreshBackend::open(db).await;
    let store = fresh.backend.outbox();
    let ids = insert_many(&fresh.backend, 10_000).await;
    let tally = Tally::new();
    let bus = Arc::new(InProcessBus::new(store.clone(), Arc::new(SystemClock)));
    bus.subscribe(tally.clone());
    let started = std::time::Instant::now();
    let relay = Relay::new(store.clone(), bus, Arc::new(SystemClock)).spawn();
    // One scan of 100 rows every 5 s (the old relay) would take over eight minutes.
    while tally.seen().len() < ids.len() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the backlog did not drain: {} of 10,000",
            tally.seen().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let took = started.elapsed();
    relay.shutdown().await;
    assert_eq!(tally.seen(), ids, "oldest first, each once");
    println!("backlog of 10,000 drained in {took:?}: {:.0} rows/s", 10_000.0 / took.as_secs_f64());
}
