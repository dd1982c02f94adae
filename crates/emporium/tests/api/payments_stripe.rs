//! Stripe end to end against a local server speaking Stripe's API
//! (`fake_stripe`): PaymentIntents with idempotency keys, signed webhooks
//! (forged, stale, replayed, out of order, early), refunds both ways and
//! disputes, on both databases.

// Test code: a failed unwrap is a failed test with its location.
#![allow(clippy::unwrap_used)]

use crate::fake_stripe::{FakeStripe, OLD_WEBHOOK_SECRET, SECRET_KEY, WEBHOOK_SECRET, charge, deliver, event};
use crate::helpers::{Db, TestApp};
use crate::on_both_databases;
use crate::shop_helpers::{address, new_key};
use identity::Role;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;

on_both_databases!(
    a_card_payment_through_stripe_settles_once_whatever_the_webhooks_do,
    stripe_refunds_go_through_the_refunds_api_and_outside_ones_are_recorded,
    concurrent_stripe_refunds_are_each_made_once_and_recorded_with_their_own_refund,
    a_timed_out_intent_request_is_retried_with_the_same_key,
    a_webhook_before_the_api_answer_still_pays_once,
    an_expired_checkout_cancels_its_intent_and_a_late_payment_is_refunded
);

pub async fn stripe_shop(db: Db, fake: &FakeStripe, configure: impl FnOnce(&mut emporium::Settings)) -> TestApp {
    let base = fake.base();
    TestApp::spawn_with(db, |s| {
        s.stripe.secret_key = Some(emporium::settings::Secret(SECRET_KEY.into()));
        s.stripe.api_base = base;
        s.stripe.webhook_secrets =
            [WEBHOOK_SECRET, OLD_WEBHOOK_SECRET].iter().map(|k| emporium::settings::Secret((*k).to_owned())).collect();
        s.stripe.timeout_ms = 2_000;
        configure(s);
    })
    .await
}

/// A guest's checkout of `quantity` × SKU at 2,500 with Stripe; returns the answer.
async fn stripe_checkout(app: &TestApp, admin: &str, sku: &str, quantity: i64) -> Value {
    app.stocked(admin, &format!("Product {sku}"), &[(sku, 2500)], 10).await;
    let (res, token) = app.add_to_cart(None, sku, quantity).await;
    res.assert(200);
    let body = json!({"email": "card@example.com", "shipping_address": address(), "payment_provider": "stripe"});
    let res = app.guest_checkout(&token, &new_key(), body).await;
    res.assert(201);
    res.body.clone()
}

fn webhook_url(app: &TestApp) -> String {
    app.url("/api/v1/payments/webhooks/stripe")
}

async fn payment_status(app: &TestApp, payment_id: &str) -> String {
    app.get(&format!("/api/v1/payments/{payment_id}"), None).await.body["status"].as_str().unwrap().to_owned()
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

async fn a_card_payment_through_stripe_settles_once_whatever_the_webhooks_do(db: Db) {
    let fake = FakeStripe::start().await;
    let app = stripe_shop(db, &fake, |_| {}).await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = &admin.access;
    let checkout = stripe_checkout(&app, a, "CARD-1", 2).await;
    let payment = &checkout["payment"];
    let payment_id = payment["id"].as_str().unwrap();
    let order_id = checkout["orders"][0]["id"].as_str().unwrap();
    assert_eq!(payment["provider"], "stripe");
    assert_eq!(payment["next_action"]["type"], "stripe_payment_element");

    // The intent: one POST, form-encoded, pinned version, idempotency key, metadata.
    let posts = fake.seen("POST", "/v1/payment_intents");
    assert_eq!(posts.len(), 1);
    let post = &posts[0];
    assert_eq!(post.version.as_deref(), Some(payments::stripe::API_VERSION));
    assert_eq!(post.idempotency_key.as_deref(), Some(format!("emporium-payment-{payment_id}").as_str()));
    assert_eq!(post.form["amount"], payment["amount"]["amount"].to_string());
    assert_eq!(post.form["currency"], "usd");
    assert_eq!(post.form["metadata[payment_id]"], payment_id);
    assert_eq!(post.form["metadata[checkout_id]"], checkout["checkout_id"].as_str().unwrap());
    let intent = fake.inner.intents.lock().unwrap().values().next().unwrap().clone();
    assert_eq!(payment["next_action"]["client_secret"], intent["client_secret"]);
    assert_eq!(app.level(a, "CARD-1").await, (10, 2));

    let mut paid = intent.clone();
    paid["status"] = json!("succeeded");
    let succeeded = event("payment_intent.succeeded", paid.clone());
    let url = webhook_url(&app);

    // Forged, stale, unsigned: 400, nothing changes.
    assert_eq!(deliver(&url, "whsec_forged", &succeeded, now()).await.status(), 400);
    assert_eq!(deliver(&url, WEBHOOK_SECRET, &succeeded, now() - 301).await.status(), 400);
    let res = reqwest::Client::new().post(&url).json(&succeeded).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "invalid_signature");
    // Signed, but for another amount or currency: refused.
    let mut cheaper = paid.clone();
    cheaper["amount"] = json!(paid["amount"].as_i64().unwrap() - 1);
    let res = deliver(&url, WEBHOOK_SECRET, &event("payment_intent.succeeded", cheaper), now()).await;
    assert_eq!(res.status(), 422);
    assert_eq!(res.json::<Value>().await.unwrap()["error"]["code"], "amount_mismatch");
    let mut euros = paid.clone();
    euros["currency"] = json!("eur");
    assert_eq!(deliver(&url, WEBHOOK_SECRET, &event("payment_intent.succeeded", euros), now()).await.status(), 422);
    // An intent that is not this payment's, naming it in its metadata.
    let mut other = paid.clone();
    other["id"] = json!("pi_someone_else");
    assert_eq!(deliver(&url, WEBHOOK_SECRET, &event("payment_intent.succeeded", other), now()).await.status(), 422);
    assert_eq!(payment_status(&app, payment_id).await, "pending");
    assert_eq!(app.level(a, "CARD-1").await, (10, 2));

    // A decline keeps it payable.
    let mut failed = intent.clone();
    failed["last_payment_error"] = json!({"code": "card_declined", "decline_code": "insufficient_funds", "message": "Your card has insufficient funds."});
    let res = deliver(&url, WEBHOOK_SECRET, &event("payment_intent.payment_failed", failed.clone()), now()).await;
    assert_eq!(res.status(), 200);
    let res = app.get(&format!("/api/v1/payments/{payment_id}"), None).await;
    assert_eq!(
        (res.body["status"].as_str(), res.body["last_error"].as_str()),
        (Some("pending"), Some("insufficient_funds"))
    );

    // Paid, signed with the previous secret (a rotation in progress).
    let res = deliver(&url, OLD_WEBHOOK_SECRET, &succeeded, now()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.json::<Value>().await.unwrap()["result"], "handled");
    assert_eq!(payment_status(&app, payment_id).await, "succeeded");
    assert_eq!(app.get(&format!("/api/v1/admin/orders/{order_id}"), Some(a)).await.body["status"], "paid");
    assert_eq!(app.level(a, "CARD-1").await, (8, 0));

    // Replayed: a duplicate. The same news under a new event id, or late
    // failure and cancellation events: nothing changes.
    let res = deliver(&url, WEBHOOK_SECRET, &succeeded, now()).await;
    assert_eq!(res.json::<Value>().await.unwrap()["result"], "duplicate");
    for late in [
        event("payment_intent.succeeded", paid.clone()),
        event("payment_intent.payment_failed", failed),
        event("payment_intent.canceled", intent.clone()),
    ] {
        assert_eq!(deliver(&url, WEBHOOK_SECRET, &late, now()).await.status(), 200);
    }
    app.settle().await;
    assert_eq!(payment_status(&app, payment_id).await, "succeeded");
    assert_eq!(app.level(a, "CARD-1").await, (8, 0));
    assert_eq!(app.outbox_count("payment.succeeded").await, 1);
    assert_eq!(app.outbox_count("order.paid").await, 1);

    // A dispute flags the order for staff, once.
    let dispute = json!({"id": "dp_1", "object": "dispute", "amount": paid["amount"], "currency": "usd",
        "charge": format!("ch_{}", paid["id"].as_str().unwrap()), "payment_intent": paid["id"], "reason": "fraudulent", "status": "needs_response"});
    for _ in 0..2 {
        assert_eq!(
            deliver(&url, WEBHOOK_SECRET, &event("charge.dispute.created", dispute.clone()), now()).await.status(),
            200
        );
    }
    let order = app.get(&format!("/api/v1/admin/orders/{order_id}"), Some(a)).await;
    let flags = order.body["flags"].as_array().unwrap();
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert_eq!(flags[0]["code"], "dispute");
    assert!(flags[0]["message"].as_str().unwrap().contains("fraudulent"));
    app.shutdown().await;
}

async fn paid_stripe_order(app: &TestApp, fake: &FakeStripe, admin: &str, sku: &str) -> (String, String, Value) {
    let checkout = stripe_checkout(app, admin, sku, 1).await;
    let order_id = checkout["orders"][0]["id"].as_str().unwrap().to_owned();
    let payment_id = checkout["payment"]["id"].as_str().unwrap().to_owned();
    let intent_id = fake
        .inner
        .intents
        .lock()
        .unwrap()
        .values()
        .find(|i| i["metadata"]["payment_id"] == payment_id.as_str())
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut paid = fake.intent(&intent_id);
    paid["status"] = json!("succeeded");
    fake.inner.intents.lock().unwrap().insert(intent_id.clone(), paid.clone());
    let res = deliver(&webhook_url(app), WEBHOOK_SECRET, &event("payment_intent.succeeded", paid.clone()), now()).await;
    assert_eq!(res.status(), 200);
    (order_id, payment_id, paid)
}

async fn stripe_refunds_go_through_the_refunds_api_and_outside_ones_are_recorded(db: Db) {
    let fake = FakeStripe::start().await;
    let app = stripe_shop(db, &fake, |_| {}).await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = &admin.access;
    let (order_id, payment_id, paid) = paid_stripe_order(&app, &fake, a, "REFUND-1").await;
    let intent_id = paid["id"].as_str().unwrap();
    let total = paid["amount"].as_i64().unwrap();

    // A partial refund from the admin: made at Stripe, then recorded.
    let refund = |amount: i64, key: &'static str| app.admin_refund(a, &order_id, amount, "damaged", key);
    let res = refund(700, "r1").await;
    res.assert(201);
    assert_eq!(res.body["refunded_total"]["amount"], 700);
    assert_eq!(fake.refunded(intent_id), 700);
    let post = fake.seen("POST", "/v1/refunds").pop().unwrap();
    assert_eq!((post.form["payment_intent"].as_str(), post.form["amount"].as_str()), (intent_id, "700"));
    assert_eq!(post.form["metadata[order_id]"], order_id);
    assert!(post.idempotency_key.as_deref().unwrap().starts_with("emporium-refund-"));
    // The same request again: nothing new at Stripe or here.
    refund(700, "r1").await.assert(201);
    assert_eq!(fake.refunded(intent_id), 700);
    // Stripe's charge.refunded for the shop's own refund records nothing twice.
    let url = webhook_url(&app);
    assert_eq!(deliver(&url, WEBHOOK_SECRET, &event("charge.refunded", charge(&paid, 700)), now()).await.status(), 200);
    let order = app.get(&format!("/api/v1/admin/orders/{order_id}"), Some(a)).await;
    assert_eq!(order.body["refunded_total"]["amount"], 700);

    // A refund made in Stripe's dashboard is recorded from the webhook, once.
    let outside = fake.dashboard_refund(intent_id, 300);
    let refunded = event("charge.refunded", charge(&paid, 1000));
    for _ in 0..2 {
        assert_eq!(deliver(&url, WEBHOOK_SECRET, &refunded, now()).await.status(), 200);
    }
    assert_eq!(
        deliver(&url, WEBHOOK_SECRET, &event("charge.refunded", charge(&paid, 1000)), now()).await.status(),
        200
    );
    let order = app.get(&format!("/api/v1/admin/orders/{order_id}"), Some(a)).await;
    assert_eq!(order.body["refunded_total"]["amount"], 1000);
    let refunds = order.body["refunds"].as_array().unwrap();
    assert_eq!(refunds.len(), 2);
    let first = fake.inner.refunds.lock().unwrap()[0]["id"].clone();
    assert_eq!(refunds[0]["provider_ref"], first, "the shop's refund names Stripe's");
    assert_eq!(refunds[1]["provider_ref"], outside["id"]);
    assert_eq!(refunds[1]["reason"], "refunded at Stripe");

    // More than is left is refused before Stripe is asked.
    let before = fake.seen("POST", "/v1/refunds").len();
    refund(total - 1000 + 1, "r2").await.assert_error(422, "validation_failed");
    assert_eq!(fake.seen("POST", "/v1/refunds").len(), before);
    // Stripe refusing a refund is a 502 that records nothing.
    fake.inner.fail_next.store(10, Ordering::SeqCst);
    refund(100, "r3").await.assert_error(502, "provider_unavailable");
    fake.inner.fail_next.store(0, Ordering::SeqCst);
    let order = app.get(&format!("/api/v1/admin/orders/{order_id}"), Some(a)).await;
    assert_eq!(order.body["refunded_total"]["amount"], 1000);

    // A customer-style cancel of the paid order refunds the rest at Stripe.
    let res =
        app.post(&format!("/api/v1/admin/orders/{order_id}/transitions"), Some(a), json!({"to": "cancelled"})).await;
    res.assert(200);
    assert_eq!(res.body["refunded_total"]["amount"], total);
    assert_eq!(fake.refunded(intent_id), total);
    let res = app.get(&format!("/api/v1/payments/{payment_id}"), None).await;
    assert_eq!(res.body["status"], "refunded");
    app.shutdown().await;
}

/// Staff refunds of one order sent at once: each is made at Stripe once
/// and recorded with its own Stripe refund. Stripe answers each late, so
/// the requests overlap; refunds keyed by their position in the order
/// would otherwise share one Stripe refund between two records.
async fn concurrent_stripe_refunds_are_each_made_once_and_recorded_with_their_own_refund(db: Db) {
    let fake = FakeStripe::start().await;
    let app = stripe_shop(db, &fake, |_| {}).await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = &admin.access;
    let (order_id, _, paid) = paid_stripe_order(&app, &fake, a, "REFUND-2").await;
    let intent_id = paid["id"].as_str().unwrap();
    fake.inner.stall_ms.store(300, Ordering::SeqCst);
    fake.inner.stall_next.store(3, Ordering::SeqCst);
    let answers =
        futures::future::join_all(["c1", "c2", "c3"].map(|key| app.admin_refund(a, &order_id, 100, "damaged", key)))
            .await;
    for res in &answers {
        res.assert(201);
    }
    let order = app.get(&format!("/api/v1/admin/orders/{order_id}"), Some(a)).await;
    assert_eq!(order.body["refunded_total"]["amount"], 300);
    let mut refs: Vec<String> = order.body["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["provider_ref"].as_str().expect("each refund names Stripe's").to_owned())
        .collect();
    refs.sort();
    refs.dedup();
    assert_eq!(refs.len(), 3, "three refunds, three Stripe refunds: {}", order.text);
    assert_eq!(fake.refunded(intent_id), 300, "Stripe refunded what the shop recorded");
    app.shutdown().await;
}

async fn a_timed_out_intent_request_is_retried_with_the_same_key(db: Db) {
    let fake = FakeStripe::start().await;
    let app = stripe_shop(db, &fake, |s| s.stripe.timeout_ms = 300).await;
    let admin = app.account_with_role(Role::Admin).await;
    // The first answer is lost to a timeout (the intent is made all the
    // same): the retry, with the same key, gets that intent.
    fake.inner.stall_ms.store(1_000, Ordering::SeqCst);
    fake.inner.stall_next.store(1, Ordering::SeqCst);
    let checkout = stripe_checkout(&app, &admin.access, "RETRY-1", 1).await;
    let posts = fake.seen("POST", "/v1/payment_intents");
    assert!(posts.len() >= 2, "{posts:?}");
    assert!(posts.iter().all(|p| p.idempotency_key == posts[0].idempotency_key));
    assert_eq!(fake.intent_count(), 1);
    let intent = fake.inner.intents.lock().unwrap().values().next().unwrap().clone();
    assert_eq!(checkout["payment"]["next_action"]["client_secret"], intent["client_secret"]);

    // Stripe down at checkout: the checkout stands, the payment says to
    // retry, and reading it later opens the intent (still one per payment).
    fake.inner.fail_next.store(100, Ordering::SeqCst);
    let checkout = stripe_checkout(&app, &admin.access, "RETRY-2", 1).await;
    assert_eq!(checkout["payment"]["next_action"]["type"], "retry");
    let payment_id = checkout["payment"]["id"].as_str().unwrap();
    let res = app.get(&format!("/api/v1/payments/{payment_id}"), None).await;
    assert_eq!(res.body["next_action"]["type"], "retry");
    fake.inner.fail_next.store(0, Ordering::SeqCst);
    let res = app.get(&format!("/api/v1/payments/{payment_id}"), None).await;
    assert_eq!(res.body["next_action"]["type"], "stripe_payment_element");
    assert_eq!(fake.intent_count(), 2);
    let again = app.get(&format!("/api/v1/payments/{payment_id}"), None).await;
    assert_eq!(again.body["next_action"]["client_secret"], res.body["next_action"]["client_secret"]);
    assert_eq!(fake.intent_count(), 2);
    app.shutdown().await;
}

async fn a_webhook_before_the_api_answer_still_pays_once(db: Db) {
    let fake = FakeStripe::start().await;
    let app = stripe_shop(db, &fake, |_| {}).await;
    let admin = app.account_with_role(Role::Admin).await;
    *fake.inner.webhook_on_create.lock().unwrap() = Some((webhook_url(&app), WEBHOOK_SECRET.to_owned()));
    let checkout = stripe_checkout(&app, &admin.access, "EARLY-1", 3).await;
    // The webhook arrived (and was answered 200, see the fake) before the
    // create call returned: the payment is already settled.
    assert_eq!(checkout["payment"]["status"], "succeeded");
    assert_eq!(app.level(&admin.access, "EARLY-1").await, (7, 0));
    let order_id = checkout["orders"][0]["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/api/v1/admin/orders/{order_id}"), Some(&admin.access)).await.body["status"], "paid");
    app.settle().await;
    assert_eq!(app.outbox_count("payment.succeeded").await, 1);
    app.shutdown().await;
}

async fn an_expired_checkout_cancels_its_intent_and_a_late_payment_is_refunded(db: Db) {
    let fake = FakeStripe::start().await;
    let app = stripe_shop(db, &fake, |s| {
        s.reservation_ttl_secs = 1;
        s.reservation_sweep_secs = 1;
    })
    .await;
    let admin = app.account_with_role(Role::Admin).await;
    let checkout = stripe_checkout(&app, &admin.access, "LATE-1", 1).await;
    let payment_id = checkout["payment"]["id"].as_str().unwrap();
    let intent = fake.inner.intents.lock().unwrap().values().next().unwrap().clone();
    let intent_id = intent["id"].as_str().unwrap().to_owned();
    // The sweeper expires it and cancels the intent at Stripe.
    let mut cancelled = false;
    for _ in 0..100 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if fake.intent(&intent_id)["status"] == "canceled" {
            cancelled = true;
            break;
        }
    }
    assert!(cancelled, "the intent was not cancelled: {}", fake.intent(&intent_id));
    let res = app.get(&format!("/api/v1/payments/{payment_id}"), None).await;
    assert_eq!(res.body["status"], "expired");
    assert_eq!(app.level(&admin.access, "LATE-1").await, (10, 0));

    // Paid anyway (the buyer's confirmation raced the cancel): the money goes back.
    let mut paid = intent.clone();
    paid["status"] = json!("succeeded");
    let res = deliver(&webhook_url(&app), WEBHOOK_SECRET, &event("payment_intent.succeeded", paid), now()).await;
    assert_eq!(res.status(), 200);
    assert_eq!(fake.refunded(&intent_id), intent["amount"].as_i64().unwrap());
    let res = app.get(&format!("/api/v1/payments/{payment_id}"), None).await;
    assert_eq!(res.body["status"], "expired");
    assert_eq!(app.level(&admin.access, "LATE-1").await, (10, 0));
    app.shutdown().await;
}
