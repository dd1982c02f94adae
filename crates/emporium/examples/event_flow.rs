//! Events from commit to handled, and emails from the log to an SMTP
//! server, for `bench/events.py`.
//!
//! ```text
//! event_flow events BUS_URL|inprocess DATABASE_URL COUNT RATE
//! event_flow mail SMTP_URL|null DATABASE_URL COUNT
//! ```
//!
//! `events`: a shop database, the outbox relay and one per-shop consumer
//! (keeping the deduplication record, as the shop's do) on the bus given.
//! COUNT events are committed to the outbox, RATE per second (0: as fast as
//! one writer can, in transactions of 100), each carrying its commit time;
//! the consumer notes when it handles each. Prints one JSON object: events
//! handled per second (first commit to last handled) and the commit →
//! handled latency's p50, p99 and max in milliseconds. RATE -1 is a
//! backlog: every event is committed before the relay starts, and the rate
//! runs from its start (the latencies then mean nothing).
//!
//! `mail`: COUNT order confirmations recorded in the delivery log at once,
//! then sent by the dispatcher through SMTP (or a sender that does nothing:
//! the queue's own cost). Prints emails per second and the record → sent
//! latency's p50 and p99.

// A benchmark tool: a failed unwrap on bad arguments is a clear enough answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use async_trait::async_trait;
use emporium::Backend;
use emporium::settings::{Secret, Settings};
use kernel::{Event, SystemClock};
use messaging::{Bus, Consumer, InProcessBus, Reach, Relay};
use notifications::{Dispatcher, Notification, NotificationService, RetryPolicy, SendError, Sender, Senders};
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

fn now_us() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000).unwrap()
}

/// Notes, per event, the time from its commit to now.
struct Timer {
    latencies_us: Mutex<Vec<i64>>,
    last_us: Mutex<i64>,
}

#[async_trait]
impl Consumer for Timer {
    fn name(&self) -> &str {
        "bench-timer"
    }
    fn wants(&self, topic: &str) -> bool {
        topic == "bench.happened"
    }
    fn reach(&self) -> Reach {
        Reach::PerShop
    }
    fn patterns(&self) -> Vec<&'static str> {
        vec!["bench.#"]
    }
    async fn handle(&self, event: &Event) -> anyhow::Result<()> {
        self.handle_batch(&[event]).await
    }
    async fn handle_batch(&self, events: &[&Event]) -> anyhow::Result<()> {
        let now = now_us();
        let mut l = self.latencies_us.lock().unwrap();
        l.extend(events.iter().map(|e| now - e.payload["t"].as_i64().unwrap_or(now)));
        *self.last_us.lock().unwrap() = now;
        Ok(())
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

async fn settings(database_url: &str) -> (Settings, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Settings::defaults(dir.path().to_owned());
    s.database_url = Some(Secret(database_url.to_owned()));
    (s, dir)
}

/// Commits `events` to the outbox in one transaction, stamping each with the time.
async fn commit(backend: &Backend, events: &mut [Event]) {
    let sql = "INSERT INTO outbox (id, topic, aggregate_id, occurred_at, payload) VALUES ($1, $2, $3, $4, $5)";
    let Backend::Postgres(store) = backend else { panic!("the benchmark runs on PostgreSQL") };
    let mut tx = store.pool().begin().await.unwrap();
    for e in events.iter_mut() {
        e.payload = json!({ "t": now_us() });
        sqlx::query(sql)
            .bind(e.id)
            .bind(&e.topic)
            .bind(e.aggregate_id)
            .bind(e.occurred_at)
            .bind(sqlx::types::Json(&e.payload))
            .execute(&mut *tx)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

async fn events(bus_url: &str, database_url: &str, count: usize, rate: f64) {
    let (mut settings, _dir) = settings(database_url).await;
    let backend = Backend::open(&settings).await.unwrap();
    let store = backend.outbox();
    let clock = Arc::new(SystemClock);
    let timer = Arc::new(Timer { latencies_us: Mutex::default(), last_us: Mutex::default() });
    let stop = CancellationToken::new();
    let node = format!("bench-{}", kernel::new_id().simple());
    settings.bus.prefix = node.clone();
    let mut tasks = Vec::new();
    let bus: Arc<dyn Bus> = if bus_url == "inprocess" {
        let bus = InProcessBus::new(store.clone(), clock.clone());
        bus.subscribe(timer.clone());
        Arc::new(bus)
    } else if let Some(brokers) = bus_kafka::KafkaSettings::brokers_of(bus_url) {
        let kafka =
            Arc::new(bus_kafka::KafkaBus::new(emporium::server::kafka_settings(&settings, &brokers, &node)).unwrap());
        tasks = kafka.spawn_consumers(vec![timer.clone()], store.clone(), clock.clone(), stop.clone());
        kafka.ensure_topics().await.unwrap();
        kafka
    } else {
        let rabbit =
            Arc::new(bus_rabbitmq::RabbitBus::new(emporium::server::rabbit_settings(&settings, bus_url, &node)));
        tasks = rabbit.spawn_consumers(vec![timer.clone()], store.clone(), clock.clone(), stop.clone());
        rabbit.check().await.unwrap().unwrap();
        rabbit
    };
    let waker = Arc::new(tokio::sync::Notify::new());
    let backend = backend.with_outbox_waker(waker.clone());
    let relay =
        Relay::new(store.clone(), bus, clock).with_poll_interval(Duration::from_millis(500)).with_waker(waker.clone());
    // Give consumers a moment to join (Kafka's group, RabbitMQ's queue).
    tokio::time::sleep(Duration::from_secs(2)).await;

    let backlog = rate < 0.0;
    let chunk = if rate > 0.0 { 10 } else { 100 };
    let (mut waiting, mut running) = if backlog { (Some(relay), None) } else { (None, Some(relay.spawn())) };
    let started = Instant::now();
    let mut first_us = now_us();
    let mut sent = 0;
    while sent < count {
        let n = chunk.min(count - sent);
        let mut batch: Vec<Event> = (0..n)
            .map(|_| Event::new("bench.happened", kernel::new_id(), time::OffsetDateTime::now_utc(), json!({})))
            .collect();
        commit(&backend, &mut batch).await;
        waker.notify_one();
        sent += n;
        if rate > 0.0 {
            let due = started + Duration::from_secs_f64(sent as f64 / rate);
            tokio::time::sleep_until(due.into()).await;
        }
    }
    if let Some(relay) = waiting.take() {
        // A backlog: every row was committed before the relay starts.
        first_us = now_us();
        running = Some(relay.spawn());
    }
    let relay = running.expect("a relay");
    let deadline = Instant::now() + Duration::from_secs(120);
    while timer.latencies_us.lock().unwrap().len() < count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut lat: Vec<f64> = timer.latencies_us.lock().unwrap().iter().map(|us| *us as f64 / 1000.0).collect();
    lat.sort_by(f64::total_cmp);
    let last_us = *timer.last_us.lock().unwrap();
    let seconds = (last_us - first_us) as f64 / 1e6;
    println!(
        "{}",
        json!({
            "bus": bus_url.split(':').next(),
            "count": count,
            "handled": lat.len(),
            "rate_asked": rate,
            "events_per_s": lat.len() as f64 / seconds,
            "p50_ms": percentile(&lat, 50.0),
            "p99_ms": percentile(&lat, 99.0),
            "max_ms": lat.last().copied().unwrap_or(f64::NAN),
        })
    );
    relay.shutdown().await;
    stop.cancel();
    for t in tasks {
        let _ = t.await;
    }
    backend.close().await;
}

/// A sender that takes every message at once: the queue's own cost.
struct Null;

#[async_trait]
impl Sender for Null {
    fn transport(&self) -> &'static str {
        "null"
    }
    async fn send(&self, _: &Notification) -> Result<(), SendError> {
        Ok(())
    }
}

async fn mail(smtp_url: &str, database_url: &str, count: usize) {
    let (settings, _dir) = settings(database_url).await;
    let backend = Backend::open(&settings).await.unwrap();
    let clock = Arc::new(SystemClock);
    let sender: Arc<dyn Sender> = if smtp_url == "null" {
        Arc::new(Null)
    } else {
        Arc::new(senders::SmtpSender::new(&senders::SmtpConfig::new(smtp_url, "Bench <bench@shop.test>")).unwrap())
    };
    let senders = Senders { email: Some(sender), sms: None };
    let dispatcher = Dispatcher::new(backend.notifications(), senders.clone(), clock.clone(), RetryPolicy::default());
    let service = NotificationService::new(backend.notifications(), clock, "Bench Shop")
        .with_public_url("https://shop.test")
        .with_senders(senders, dispatcher.waker());
    let order = |i: usize| {
        json!({"order_id": kernel::new_id(), "number": format!("B-{i}"), "email": format!("buyer{i}@example.com"),
            "user_id": null, "status": "pending_payment",
            "total": {"amount": 2_500, "currency": "USD"}, "subtotal": {"amount": 2_000, "currency": "USD"},
            "shipping_total": {"amount": 500, "currency": "USD"},
            "lines": [{"title": "Bench tee", "sku": "BT-1", "quantity": 1,
                       "unit_price": {"amount": 2_000, "currency": "USD"}, "total": {"amount": 2_000, "currency": "USD"}}],
            "shipping_address": {"full_name": "Bea Bench", "line1": "1 Main St", "city": "Springfield",
                                 "postal_code": "12345", "country": "US"}})
    };
    let list: Vec<Event> = (0..count)
        .map(|i| Event::new("order.placed", kernel::new_id(), time::OffsetDateTime::now_utc(), order(i)))
        .collect();
    for chunk in list.chunks(200) {
        let refs: Vec<&Event> = chunk.iter().collect();
        service.handle_batch(&refs).await.unwrap();
    }
    let started = Instant::now();
    let stop = CancellationToken::new();
    let task = tokio::spawn(dispatcher.clone().run(Duration::from_millis(200), stop.clone()));
    let Backend::Postgres(store) = &backend else { panic!("the benchmark runs on PostgreSQL") };
    loop {
        let pending: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM notifications WHERE status = 'pending'")
            .fetch_one(store.pool())
            .await
            .unwrap();
        if pending == 0 || started.elapsed() > Duration::from_secs(300) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    stop.cancel();
    let _ = task.await;
    let rows: Vec<(time::OffsetDateTime, Option<time::OffsetDateTime>)> =
        sqlx::query_as("SELECT created_at, sent_at FROM notifications WHERE status = 'sent'")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let mut lat: Vec<f64> = rows.iter().filter_map(|(c, s)| s.map(|s| (s - *c).as_seconds_f64() * 1000.0)).collect();
    lat.sort_by(f64::total_cmp);
    println!(
        "{}",
        json!({
            "sender": if smtp_url == "null" { "null" } else { "smtp" },
            "count": count,
            "sent": rows.len(),
            "emails_per_s": rows.len() as f64 / seconds,
            "p50_ms": percentile(&lat, 50.0),
            "p99_ms": percentile(&lat, 99.0),
        })
    );
    backend.close().await;
}

#[tokio::main]
async fn main() {
    media::install_tls_provider();
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("events") => events(&args[2], &args[3], args[4].parse().unwrap(), args[5].parse().unwrap()).await,
        Some("mail") => mail(&args[2], &args[3], args[4].parse().unwrap()).await,
        _ => eprintln!(
            "usage: event_flow events BUS DATABASE_URL COUNT RATE | event_flow mail SMTP_URL|null DATABASE_URL COUNT"
        ),
    }
}
