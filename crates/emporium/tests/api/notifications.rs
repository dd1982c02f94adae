//! Notifications: the messages a customer gets as their account and order
//! move along, each recorded once in the delivery log that the admin API
//! and the admin page show, and blanked when the account is erased.

use crate::helpers::{Db, PASSWORD, TestApp};
use crate::on_both_databases;
use crate::shop_helpers::{checkout_body, new_key};
use crate::site_helpers::Browser;
use identity::Role;
use kernel::Event;
use notifications::NotificationService;
use reqwest::Method;
use serde_json::{Value, json};
use std::sync::Arc;

on_both_databases!(
    customers_get_each_message_once,
    a_repeated_event_sends_nothing_twice,
    two_dispatchers_on_one_log_send_each_message_once,
    a_lapsed_claim_records_nothing_over_the_next
);

fn templates(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|n| n["template"].as_str()).collect())
        .unwrap_or_default()
}

async fn customers_get_each_message_once(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = admin.access.as_str();
    app.stocked(a, "Mail Mug", &[("MUG-1", 1_250)], 10).await;
    let customer = app.register().await;

    // The customer buys two mugs; staff ship them and refund five dollars.
    let add = json!({"sku": "MUG-1", "quantity": 2});
    let res = app.send(Method::POST, "/api/v1/cart/items", Some(&customer.access), &[], Some(add)).await;
    assert!(res.status.is_success(), "{}", res.text);
    let key = new_key();
    let headers = [("idempotency-key", key.as_str())];
    let res =
        app.send(Method::POST, "/api/v1/checkout", Some(&customer.access), &headers, Some(checkout_body(None))).await;
    res.assert(201);
    let order_id = res.body["orders"][0]["id"].as_str().expect("order id").to_owned();
    let number = res.body["orders"][0]["number"].as_str().expect("number").to_owned();
    let payment = res.body["payment"]["id"].as_str().expect("payment id").to_owned();
    app.pay(&payment, "4242424242424242").await.assert(200);
    let ship = json!({"carrier": "UPS", "tracking_number": "1Z999"});
    app.post(&format!("/api/v1/admin/orders/{order_id}/fulfillments"), Some(a), ship).await.assert(201);
    app.admin_refund(a, &order_id, 500, "a chipped mug", &new_key()).await.assert(201);
    app.settle().await;

    // The log holds, newest first, one message per step, to the customer.
    let mine = format!("/api/v1/admin/notifications?q={}", customer.email);
    let log = app.get(&mine, Some(a)).await;
    log.assert(200);
    assert_eq!(
        templates(&log.body),
        ["order_refunded", "order_shipped", "order_paid", "order_confirmation", "welcome"]
    );
    let items = log.body["items"].as_array().expect("items");
    for n in items {
        assert_eq!(n["recipient"], customer.email.as_str());
        assert_eq!((n["status"].as_str(), n["channel"].as_str()), (Some("logged"), Some("email")));
        assert_eq!(n["user_id"], customer.id.as_str());
    }
    assert_eq!(items[3]["subject"], format!("Order {number} confirmed"));
    assert_eq!(items[2]["subject"], format!("Payment received for order {number}"));
    assert!(items[1]["body"].as_str().is_some_and(|b| b.contains("Tracking number: 1Z999")), "{}", items[1]);
    assert!(items[0]["body"].as_str().is_some_and(|b| b.contains("refunded $5.00")), "{}", items[0]);
    // Nothing was sent twice, and nothing went to the wrong person.
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM notifications WHERE recipient = $1", &customer.email).await, 5);
    // The shipping text was skipped: the order has no phone number.
    let texts = "SELECT COUNT(*) FROM notifications WHERE channel = 'sms' AND status = 'skipped' AND user_id IS NOT NULL \
                 AND error = $1";
    assert_eq!(app.scalar_i64(texts, "the order has no phone number").await, 1);

    // Filters and pages; bad ones are 422 and nobody but staff may look.
    let shipped = app.get(&format!("{mine}&template=order_shipped"), Some(a)).await;
    assert_eq!(shipped.body["total"], 1);
    assert_eq!(
        app.get(&format!("{mine}&status=logged&per_page=1&page=2"), Some(a)).await.body["items"][0]["template"],
        "order_shipped"
    );
    assert_eq!(app.get(&format!("{mine}&status=failed"), Some(a)).await.body["total"], 0);
    app.get("/api/v1/admin/notifications?status=lost", Some(a)).await.assert_error(422, "validation_failed");
    app.get("/api/v1/admin/notifications?per_page=0", Some(a)).await.assert_error(422, "validation_failed");
    app.get("/api/v1/admin/notifications", Some(&customer.access)).await.assert_error(403, "forbidden");
    app.get("/api/v1/admin/notifications", None).await.assert_error(401, "unauthenticated");
    let staff = app.account_with_role(Role::Staff).await;
    app.get(&mine, Some(&staff.access)).await.assert(200);

    // The admin page shows the same log, filtered, with the message text.
    let mut b = Browser::new(&app);
    b.sign_in(&admin.email, PASSWORD).await;
    let page = b.get(&format!("/admin/notifications?q={}&template=order_shipped", customer.email)).await;
    page.assert(200).assert_contains(&format!("Order {number} has shipped")).assert_contains("Tracking number: 1Z999");
    page.assert_lacks("confirmed");
    b.get("/admin/notifications?status=lost").await.assert(422).assert_contains("Status must be");
    let mut c = Browser::new(&app);
    c.sign_in(&customer.email, PASSWORD).await;
    c.get("/admin/notifications").await.assert(403);

    // Erasing the account blanks its messages' address and text.
    app.delete("/api/v1/users/me", Some(&customer.access)).await.assert(204);
    app.settle().await;
    assert_eq!(app.get(&mine, Some(a)).await.body["total"], 0);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM notifications WHERE recipient = $1", &customer.email).await, 0);
    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM notifications WHERE recipient = $1 AND body = ''", "redacted").await,
        6,
        "five emails and the skipped text"
    );
}

/// Delivery is at least once: the same event handled again (a redelivery
/// after a crash) records and sends nothing more.
async fn a_repeated_event_sends_nothing_twice(db: Db) {
    let app = TestApp::spawn(db).await;
    let service =
        NotificationService::new(app.running().backend.notifications(), Arc::new(kernel::SystemClock), "Test Shop");
    let order = json!({"number": "EM-42", "email": "twice@example.com", "user_id": null,
        "total": {"amount": 1_000, "currency": "USD"}});
    let event = Event::new("order.paid", uuid::Uuid::now_v7(), time::OffsetDateTime::now_utc(), order);
    let (first, second) = tokio::join!(service.handle(&event), service.handle(&event));
    first.expect("handled");
    second.expect("handled");
    service.handle(&event).await.expect("handled again");
    let count = |sql| app.scalar_i64(sql, "twice@example.com");
    assert_eq!(count("SELECT COUNT(*) FROM notifications WHERE recipient = $1").await, 1);
    // Another event for the same order is another message.
    let later =
        Event::new("order.cancelled", event.aggregate_id, time::OffsetDateTime::now_utc(), event.payload.clone());
    service.handle(&later).await.expect("handled");
    assert_eq!(count("SELECT COUNT(*) FROM notifications WHERE recipient = $1").await, 2);
    // A relay batch: one insert for its messages, a repeat inside it counted
    // once, and an erasure after a message blanks that message.
    let user = uuid::Uuid::now_v7();
    let mine = json!({"number": "EM-43", "email": "batch@example.com", "user_id": user,
        "total": {"amount": 500, "currency": "USD"}});
    let paid = Event::new("order.paid", uuid::Uuid::now_v7(), time::OffsetDateTime::now_utc(), mine.clone());
    let shipped = Event::new("order.shipped", paid.aggregate_id, time::OffsetDateTime::now_utc(), mine);
    let erased = Event::new("user.deleted", user, time::OffsetDateTime::now_utc(), json!({"user_id": user}));
    service.handle_batch(&[&paid, &paid, &shipped]).await.expect("handled");
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM notifications WHERE recipient = $1", "batch@example.com").await, 2);
    let later = Event::new("order.cancelled", paid.aggregate_id, time::OffsetDateTime::now_utc(), paid.payload.clone());
    service.handle_batch(&[&shipped, &erased, &later]).await.expect("handled");
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM notifications WHERE recipient = $1", "batch@example.com").await, 1);
    // Its two emails and the shipping text (skipped: no phone number).
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM notifications WHERE recipient = $1", "redacted").await, 3);

    // An event without an address, or one no message answers, records nothing.
    let stock = Event::new("stock.low", uuid::Uuid::now_v7(), time::OffsetDateTime::now_utc(), json!({"sku": "X"}));
    service.handle(&stock).await.expect("handled");
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM notifications WHERE $1 = $1", "x").await, 6);
}

/// Counts the sends of each message; slow enough that claims overlap.
#[derive(Default)]
struct Counting {
    sends: std::sync::Mutex<std::collections::HashMap<uuid::Uuid, usize>>,
}

#[async_trait::async_trait]
impl notifications::Sender for Counting {
    fn transport(&self) -> &'static str {
        "counting"
    }
    async fn send(&self, n: &notifications::Notification) -> Result<(), notifications::SendError> {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
        *self.sends.lock().expect("lock").entry(n.id).or_default() += 1;
        Ok(())
    }
}

fn order_events(n: usize) -> Vec<Event> {
    (0..n)
        .map(|i| {
            let order = json!({"number": format!("EM-{i}"), "email": format!("d{i}@example.com"), "user_id": null,
                "total": {"amount": 1_000, "currency": "USD"}});
            Event::new("order.paid", uuid::Uuid::now_v7(), time::OffsetDateTime::now_utc(), order)
        })
        .collect()
}

/// Two nodes' dispatchers on one delivery log, at once: every message is
/// sent, and none twice (claims skip what the other holds).
async fn two_dispatchers_on_one_log_send_each_message_once(db: Db) {
    use notifications::{Dispatcher, RetryPolicy, Senders};
    let app = TestApp::spawn(db).await;
    let store = app.running().backend.notifications();
    let clock: kernel::clock::SharedClock = Arc::new(kernel::SystemClock);
    let counting = Arc::new(Counting::default());
    let senders = Senders { email: Some(counting.clone()), sms: None };
    let node = || Dispatcher::new(store.clone(), senders.clone(), clock.clone(), RetryPolicy::default());
    let (a, b) = (node(), node());
    let service =
        NotificationService::new(store.clone(), clock.clone(), "Test Shop").with_senders(senders.clone(), a.waker());
    let events = order_events(300);
    let refs: Vec<&Event> = events.iter().collect();
    service.handle_batch(&refs).await.expect("recorded");
    let pending = "SELECT COUNT(*) FROM notifications WHERE status = $1 AND template = 'order_paid'";
    assert_eq!(app.scalar_i64(pending, "pending").await, 300);
    let drain = |d: Dispatcher| async move { while d.run_once().await.expect("a round") > 0 {} };
    tokio::join!(drain(a), drain(b));
    let sends = counting.sends.lock().expect("lock").clone();
    assert_eq!(sends.len(), 300, "every message sent");
    assert!(sends.values().all(|n| *n == 1), "none twice: {:?}", sends.values().filter(|n| **n > 1).count());
    assert_eq!(app.scalar_i64(pending, "sent").await, 300);
}

/// A node whose claim lapsed (it was too slow, or died) records nothing
/// over the node that claimed the message next.
async fn a_lapsed_claim_records_nothing_over_the_next(db: Db) {
    use notifications::Outcome;
    let app = TestApp::spawn(db).await;
    let store = app.running().backend.notifications();
    let service = NotificationService::new(store.clone(), Arc::new(kernel::SystemClock), "Test Shop").with_senders(
        notifications::Senders { email: Some(Arc::new(Counting::default())), sms: None },
        Arc::new(tokio::sync::Notify::new()),
    );
    let event = order_events(1).remove(0);
    service.handle(&event).await.expect("recorded");
    let t0 = time::OffsetDateTime::now_utc() + time::Duration::seconds(1);
    let first = store
        .claim_due(&[notifications::Channel::Email], t0, t0 + time::Duration::seconds(1), 10)
        .await
        .expect("claim");
    assert_eq!((first.len(), first[0].attempts), (1, 1));
    assert!(
        store
            .claim_due(&[notifications::Channel::Email], t0, t0 + time::Duration::seconds(1), 10)
            .await
            .expect("claim")
            .is_empty(),
        "held"
    );
    // The claim lapses; another node takes it.
    let t1 = t0 + time::Duration::seconds(2);
    let second = store
        .claim_due(&[notifications::Channel::Email], t1, t1 + time::Duration::seconds(60), 10)
        .await
        .expect("claim");
    assert_eq!((second.len(), second[0].attempts), (1, 2));
    let id = second[0].id;
    // The first node's late answer is refused; the second's is kept.
    let late = Outcome::Retry { at: t1, error: "late".into() };
    assert!(!store.settle(id, 1, &late).await.expect("settle"));
    assert!(store.settle(id, 2, &Outcome::Sent { at: t1 }).await.expect("settle"));
    let sent = "SELECT COUNT(*) FROM notifications WHERE status = 'sent' AND error IS NULL AND recipient = $1";
    assert_eq!(app.scalar_i64(sent, "d0@example.com").await, 1);
}
