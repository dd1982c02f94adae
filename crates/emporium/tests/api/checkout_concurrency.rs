//! The checkout under load against a real database: no overselling, one
//! checkout per idempotency key, one settlement per payment, and the stock
//! books balance after random mixes of everything.

// Test code: a failed unwrap is a failed test with its location.
#![allow(clippy::unwrap_used)]

use crate::helpers::{Db, Response, TestApp};
use crate::on_both_databases;
use crate::shop_helpers::{checkout_body, new_key};
use futures::future::join_all;
use identity::Role;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use std::collections::BTreeMap;
use std::time::Duration;

on_both_databases!(
    two_hundred_buyers_for_twenty_units,
    one_idempotency_key_sent_twenty_times_is_one_checkout,
    one_payment_confirmed_twenty_times_settles_once,
    random_mixes_keep_the_stock_books_balanced,
    a_cart_changed_after_the_checkout_read_it_is_placed_as_it_is_now
);

fn statuses(results: &[Response]) -> BTreeMap<(u16, String), usize> {
    let mut out = BTreeMap::new();
    for r in results {
        let code = if r.status.is_success() { String::new() } else { r.code().to_owned() };
        *out.entry((r.status.as_u16(), code)).or_insert(0) += 1;
    }
    out
}

async fn two_hundred_buyers_for_twenty_units(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    app.stocked(&admin.access, "Limited Print", &[("PRINT-1", 5000)], 20).await;
    // Every buyer's cart holds one unit (all fit while nothing is held yet)…
    let carts = join_all((0..200).map(|_| app.add_to_cart(None, "PRINT-1", 1))).await;
    let tokens: Vec<String> = carts
        .iter()
        .map(|(res, token)| {
            res.assert(200);
            token.clone()
        })
        .collect();
    // …then all check out at once.
    let results =
        join_all(
            tokens.iter().enumerate().map(|(i, token)| {
                let app = &app;
                async move {
                    app.guest_checkout(token, &new_key(), checkout_body(Some(&format!("buyer{i}@example.com")))).await
                }
            }),
        )
        .await;
    let counts = statuses(&results);
    assert_eq!(counts.get(&(201, String::new())), Some(&20), "{counts:?}");
    assert_eq!(counts.get(&(409, "out_of_stock".to_owned())), Some(&180), "{counts:?}");
    assert_eq!((app.level(&admin.access, "PRINT-1").await), (20, 20));
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM orders WHERE status = $1", "pending_payment").await, 20);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM reservations WHERE status = $1", "open").await, 20);
    // Everyone pays at once: all 20 settle and the stock reaches exactly zero.
    let payments: Vec<String> = results
        .iter()
        .filter(|r| r.status == 201)
        .map(|r| r.body["payment"]["id"].as_str().unwrap().to_owned())
        .collect();
    let paid = join_all(payments.iter().map(|p| app.pay(p, "4242424242424242"))).await;
    assert!(paid.iter().all(|r| r.status == 200), "{:?}", statuses(&paid));
    assert_eq!(app.level(&admin.access, "PRINT-1").await, (0, 0));
    // Sold out: the search index follows the stock.
    assert_eq!(app.search("?in_stock=true").await["total"], 0);
    assert_eq!(app.search("?q=limited").await["items"][0]["in_stock"], false);
}

async fn one_idempotency_key_sent_twenty_times_is_one_checkout(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    app.stocked(&admin.access, "Kettle", &[("KETTLE-1", 3000)], 50).await;
    let (_, token) = app.add_to_cart(None, "KETTLE-1", 2).await;
    let key = new_key();
    let results =
        join_all((0..20).map(|_| app.guest_checkout(&token, &key, checkout_body(Some("same@example.com"))))).await;
    assert!(results.iter().all(|r| r.status == 201), "{:?}", statuses(&results));
    let ids: std::collections::BTreeSet<&str> =
        results.iter().map(|r| r.body["checkout_id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 1, "one checkout for one key");
    assert_eq!(results.iter().filter(|r| r.body["replayed"] == false).count(), 1);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM checkouts WHERE $1 = $1", "x").await, 1);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM orders WHERE $1 = $1", "x").await, 1);
    assert_eq!(app.level(&admin.access, "KETTLE-1").await, (50, 2));
}

async fn one_payment_confirmed_twenty_times_settles_once(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    app.stocked(&admin.access, "Lantern", &[("LANTERN-1", 4000)], 10).await;
    let (_, token) = app.add_to_cart(None, "LANTERN-1", 3).await;
    let res = app.guest_checkout(&token, &new_key(), checkout_body(Some("pay@example.com"))).await;
    res.assert(201);
    let payment = res.body["payment"]["id"].as_str().unwrap().to_owned();
    let results = join_all((0..20).map(|_| app.pay(&payment, "4242424242424242"))).await;
    assert!(results.iter().all(|r| r.status == 200 && r.body["status"] == "succeeded"), "{:?}", statuses(&results));
    assert_eq!(app.level(&admin.access, "LANTERN-1").await, (7, 0));
    app.settle().await;
    assert_eq!(app.outbox_count("payment.succeeded").await, 1);
    assert_eq!(app.outbox_count("order.paid").await, 1);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM stock_movements WHERE reason = $1", "sale").await, 1);
}

/// Random mixes of checkouts, payments (good and declined cards),
/// cancellations and expiries, eight at a time. After every round and at
/// the end: `on_hand + sold = initial` and `reserved = Σ open reservations`
/// for every variant, and no level is negative.
async fn random_mixes_keep_the_stock_books_balanced(db: Db) {
    let app = TestApp::spawn_with(db, |s| {
        s.reservation_ttl_secs = 1;
        s.reservation_sweep_secs = 1;
    })
    .await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = admin.access.as_str();
    const SKUS: [&str; 3] = ["MIX-A", "MIX-B", "MIX-C"];
    const INITIAL: i64 = 12;
    app.stocked(a, "Mixed", &[(SKUS[0], 1000), (SKUS[1], 1500), (SKUS[2], 700)], INITIAL).await;
    let seed: u64 = std::env::var("EMPORIUM_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed);
    let mut rng = StdRng::seed_from_u64(seed);
    let mut payments: Vec<(String, String)> = Vec::new(); // (payment id, order id)
    let check = |label: String| {
        let app = &app;
        async move {
            for sku in SKUS {
                // Each figure in one statement, so the sweeper running meanwhile cannot split the reads.
                let books = app
                    .scalar_i64(
                        "SELECT CAST(on_hand + COALESCE((SELECT SUM(quantity) FROM reservations \
                         WHERE status = 'committed' AND sku = $1), 0) AS BIGINT) FROM stock_levels WHERE sku = $1",
                        sku,
                    )
                    .await;
                let unexplained = app
                    .scalar_i64(
                        "SELECT CAST(reserved - COALESCE((SELECT SUM(quantity) FROM reservations \
                         WHERE status = 'open' AND sku = $1), 0) AS BIGINT) FROM stock_levels WHERE sku = $1",
                        sku,
                    )
                    .await;
                let broken = app
                    .scalar_i64(
                        "SELECT COUNT(*) FROM stock_levels WHERE sku = $1 AND (reserved < 0 OR on_hand < reserved)",
                        sku,
                    )
                    .await;
                assert_eq!(books, INITIAL, "{label} {sku}: on_hand + sold");
                assert_eq!(unexplained, 0, "{label} {sku}: reserved − open holds");
                assert_eq!(broken, 0, "{label} {sku}: 0 ≤ reserved ≤ on_hand");
            }
        }
    };
    for round in 0..6 {
        let mut ops = Vec::new();
        for _ in 0..8 {
            let pick = rng.random_range(0..10);
            let sku = SKUS[rng.random_range(0..SKUS.len())];
            let quantity = rng.random_range(1..=4);
            let target = (!payments.is_empty()).then(|| payments[rng.random_range(0..payments.len())].clone());
            ops.push((pick, sku, quantity, target));
        }
        let results = join_all(ops.into_iter().map(|(pick, sku, quantity, target)| {
            let app = &app;
            async move {
                match (pick, target) {
                    (0..=4, _) | (_, None) => {
                        let (res, token) = app.add_to_cart(None, sku, quantity).await;
                        if res.status != 200 {
                            return (res, None);
                        }
                        let res = app.guest_checkout(&token, &new_key(), checkout_body(Some("mix@example.com"))).await;
                        let made = (res.status == 201).then(|| {
                            (
                                res.body["payment"]["id"].as_str().unwrap().to_owned(),
                                res.body["orders"][0]["id"].as_str().unwrap().to_owned(),
                            )
                        });
                        (res, made)
                    }
                    (5..=6, Some((payment, _))) => (app.pay(&payment, "4242424242424242").await, None),
                    (7, Some((payment, _))) => (app.pay(&payment, "4000000000000002").await, None),
                    (_, Some((_, order))) => {
                        let path = format!("/api/v1/admin/orders/{order}/transitions");
                        (app.post(&path, Some(a), serde_json::json!({"to": "cancelled"})).await, None)
                    }
                }
            }
        }))
        .await;
        for (res, made) in results {
            assert!(!res.status.is_server_error(), "round {round}: {}", res.text);
            if let Some(made) = made {
                payments.push(made);
            }
        }
        check(format!("round {round}")).await;
        if round % 2 == 1 {
            // Let some holds lapse and the sweeper expire them.
            tokio::time::sleep(Duration::from_millis(1300)).await;
        }
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    check("after expiry".into()).await;
    let open = app.scalar_i64("SELECT COUNT(*) FROM reservations WHERE status = $1", "open").await;
    assert_eq!(open, 0, "every unpaid hold expired (seed {seed})");
}

/// A change to a checkout decided on a state that another change then
/// replaced is not written over it: the store decides again on the
/// checkout as it is now. PostgreSQL only: there a change is decided
/// without a lock and written guarded by the checkout's version, so the
/// second change can commit while the first is deciding (on SQLite the
/// first holds the write lock while it decides, and the second would wait
/// for it forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_decided_on_a_replaced_state_is_decided_again_on_postgres() {
    use orders::CheckoutState;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let Some((app, checkout_id)) =
        placed_on_postgres("a_change_decided_on_a_replaced_state_is_decided_again_on_postgres").await
    else {
        return;
    };
    let store = app.running().backend.orders();

    let calls = AtomicUsize::new(0);
    let after = store
        .change_checkout(checkout_id, &|state: &CheckoutState| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                // Another change commits after this decision's read.
                tokio::task::block_in_place(|| {
                    tokio::runtime::Handle::current()
                        .block_on(store.change_checkout(checkout_id, &|s: &CheckoutState| flagged(s, "first")))
                })
                .unwrap();
            }
            flagged(state, "second")
        })
        .await
        .unwrap();

    assert_eq!(calls.load(Ordering::SeqCst), 2, "decided again after the other change");
    let stored = store.order(after.orders[0].id).await.unwrap().unwrap();
    let codes: Vec<&str> = stored.flags.iter().map(|f| f.code.as_str()).collect();
    assert_eq!(codes, ["first", "second"], "neither change is lost");
    assert_eq!(after.orders[0].flags, stored.flags);
}

/// A process decides a checkout's next change on the state it kept from
/// its own last write, without reading it back. When another process has
/// changed the checkout since, that decision is not written: the version
/// it kept has moved, so the store reads the checkout and decides again,
/// and both changes stand. PostgreSQL only (where changes are written this way).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_kept_by_one_process_never_overwrites_another_process_change_on_postgres() {
    use orders::OrdersStore as _;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let Some((app, checkout_id)) =
        placed_on_postgres("a_state_kept_by_one_process_never_overwrites_another_process_change_on_postgres").await
    else {
        return;
    };
    let here = app.running().backend.orders();
    let elsewhere = another_process(&app).await;

    let codes = |flags: &[orders::OrderFlag]| flags.iter().map(|f| f.code.clone()).collect::<Vec<_>>();
    let calls = AtomicUsize::new(0);

    // This process placed the checkout and kept it: its first change is
    // decided once, on exactly what is stored.
    let first = here
        .change_checkout(checkout_id, &|s| {
            calls.fetch_add(1, Ordering::SeqCst);
            flagged(s, "placed")
        })
        .await
        .unwrap();
    assert_eq!(calls.swap(0, Ordering::SeqCst), 1);
    assert_eq!(Some(&first), here.checkout(checkout_id).await.unwrap().as_ref(), "the kept state is exact");

    // Another process flags the order.
    let other = elsewhere.change_checkout(checkout_id, &|s| flagged(s, "elsewhere")).await.unwrap();
    assert_eq!(codes(&other.orders[0].flags), ["placed", "elsewhere"]);

    let after = here
        .change_checkout(checkout_id, &|s| {
            calls.fetch_add(1, Ordering::SeqCst);
            flagged(s, "here")
        })
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 2, "decided on the kept state, then again on a fresh read");
    assert_eq!(codes(&after.orders[0].flags), ["placed", "elsewhere", "here"]);
    assert_eq!(Some(&after), here.checkout(checkout_id).await.unwrap().as_ref(), "the answer is what is stored");

    // Its next change uses what it kept after that write: decided once.
    calls.store(0, Ordering::SeqCst);
    let again = here
        .change_checkout(checkout_id, &|s| {
            calls.fetch_add(1, Ordering::SeqCst);
            flagged(s, "again")
        })
        .await
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(codes(&again.orders[0].flags), ["placed", "elsewhere", "here", "again"]);
    assert_eq!(Some(&again), here.checkout(checkout_id).await.unwrap().as_ref());
}

/// A guest cart this process wrote last is kept for its checkout, which
/// then does not read it. A kept copy that another process has changed
/// since is never trusted: the placement checks its version, and a refusal
/// decided on it (here: an empty cart) is decided again on the cart as it
/// is now. PostgreSQL only (where carts are kept).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kept_cart_changed_by_another_process_is_checked_out_as_it_is_now_on_postgres() {
    use orders::OrdersStore as _;
    let Some((app, admin)) =
        lamp_shop_on_postgres("a_kept_cart_changed_by_another_process_is_checked_out_as_it_is_now_on_postgres", 50)
            .await
    else {
        return;
    };
    let here = app.running().backend.orders();
    let elsewhere = another_process(&app).await;

    // A cart just written is kept, as stored.
    let (_, other_token) = app.add_to_cart(None, "LAMP-1", 1).await;
    let hash = orders::hash_token(&other_token);
    let stored = elsewhere.cart_by_token(&hash).await.unwrap().unwrap();
    // Another process moves the cart on: this one still hands out its copy.
    let mut moved = stored.clone();
    moved.lines[0].quantity = 3;
    elsewhere.save_carts(&[moved]).await.unwrap();
    let kept = here.cart_for_checkout(&hash).await.unwrap().unwrap();
    assert_eq!(kept, stored, "the copy this process wrote, exactly as stored");
    let read = here.cart_for_checkout(&hash).await.unwrap().unwrap();
    assert_eq!((read.version, read.lines[0].quantity), (stored.version + 1, 3), "handed out once, then read");

    // This process empties a cart (and keeps it empty); another puts two lamps in it.
    let (res, token) = app.add_to_cart(None, "LAMP-1", 1).await;
    let line_id = res.body["lines"][0]["id"].as_str().unwrap().to_owned();
    let hash = orders::hash_token(&token);
    let line = elsewhere.cart_by_token(&hash).await.unwrap().unwrap().lines[0].clone();
    app.send(
        reqwest::Method::DELETE,
        &format!("/api/v1/cart/items/{line_id}"),
        None,
        &[("x-cart-token", &token)],
        None,
    )
    .await
    .assert(200);
    let mut cart = elsewhere.cart_by_token(&hash).await.unwrap().unwrap();
    assert!(cart.lines.is_empty());
    cart.lines.push(orders::CartLine { quantity: 2, ..line });
    elsewhere.save_carts(&[cart]).await.unwrap();

    let res = app.guest_checkout(&token, &new_key(), checkout_body(Some("lamp@example.com"))).await;
    res.assert(201);
    assert_eq!(res.body["orders"][0]["lines"][0]["quantity"], 2, "{}", res.text);
    assert_eq!(app.level(&admin, "LAMP-1").await, (50, 2), "two held, none for the other cart");
}

/// A shop on PostgreSQL with `units` lamps (`LAMP-1`) in stock, and its
/// admin's access token; `None` (the test `name` said skipped) without
/// PostgreSQL.
async fn lamp_shop_on_postgres(name: &str, units: i64) -> Option<(TestApp, String)> {
    if crate::helpers::postgres_url().is_none() {
        crate::helpers::skipped(&format!("checkout_concurrency::{name}"));
        return None;
    }
    let app = TestApp::spawn(Db::Postgres).await;
    let admin = app.account_with_role(Role::Admin).await;
    app.stocked(&admin.access, "Lamp", &[("LAMP-1", 4000)], units).await;
    Some((app, admin.access))
}

/// A second store on the app's database, standing for another process.
async fn another_process(app: &TestApp) -> store_postgres::PostgresStore {
    let url = &app.settings.database_url.as_ref().unwrap().0;
    store_postgres::PostgresStore::connect(url).await.unwrap()
}

/// A shop on PostgreSQL with one guest checkout of one lamp placed, and
/// that checkout's id; `None` (the test `name` said skipped) without PostgreSQL.
async fn placed_on_postgres(name: &str) -> Option<(TestApp, uuid::Uuid)> {
    let (app, _) = lamp_shop_on_postgres(name, 5).await?;
    let (_, token) = app.add_to_cart(None, "LAMP-1", 1).await;
    let res = app.guest_checkout(&token, &new_key(), checkout_body(Some("lamp@example.com"))).await;
    res.assert(201);
    let checkout_id = res.body["checkout_id"].as_str().unwrap().parse().unwrap();
    Some((app, checkout_id))
}

/// A change adding a flag with `code` to the checkout's first order.
fn flagged(state: &orders::CheckoutState, code: &str) -> orders::Result<orders::store::Change> {
    let mut order = state.orders[0].clone();
    order.flags.push(orders::OrderFlag {
        code: code.to_owned(),
        message: code.to_owned(),
        reference: None,
        at: order.updated_at,
    });
    Ok(orders::store::Change { orders: vec![order], ..orders::store::Change::default() })
}

/// A cart that changes after its checkout read it is not placed as it was
/// read: the placement checks the cart's version, and the service prices
/// the cart again as it is now. Both placements are covered: in one
/// statement on PostgreSQL (no discount) and in a transaction (with a
/// discount code; SQLite always).
async fn a_cart_changed_after_the_checkout_read_it_is_placed_as_it_is_now(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    app.stocked(&admin.access, "Lamp", &[("LAMP-1", 4000)], 50).await;
    app.post(
        "/api/v1/admin/discounts",
        Some(&admin.access),
        serde_json::json!({"code": "ten", "kind": "percentage", "value": 10}),
    )
    .await
    .assert(201);
    let orders = &app.running().orders;

    for discount in [false, true] {
        let (_, token) = app.add_to_cart(None, "LAMP-1", 1).await;
        if discount {
            app.send(
                reqwest::Method::POST,
                "/api/v1/cart/discount",
                None,
                &[("x-cart-token", &token)],
                Some(serde_json::json!({"code": "TEN"})),
            )
            .await
            .assert(200);
        }
        // The checkout has read the cart (one lamp); then two more are added.
        let read = orders.guest_cart(&token).await.unwrap().unwrap();
        app.add_to_cart(Some(&token), "LAMP-1", 2).await.0.assert(200);

        let request: orders::CheckoutRequest = serde_json::from_value(checkout_body(Some("lamp@example.com"))).unwrap();
        let placed = orders.checkout(None, &read, &new_key(), request).await.unwrap();
        let order = serde_json::to_value(&placed.orders[0]).unwrap();
        assert_eq!(order["lines"][0]["quantity"], 3, "discount {discount}: {order}");
        let held = if discount { 6 } else { 3 };
        assert_eq!(app.level(&admin.access, "LAMP-1").await, (50, held), "three more held");
    }
}
