//! Cart → checkout → payment → fulfilment → refund over HTTP, and every
//! refusal on the way, on both databases.

// Test code: a failed unwrap is a failed test with its location.
#![allow(clippy::unwrap_used)]

use crate::helpers::{Db, TestApp};
use crate::on_both_databases;
use crate::shop_helpers::{address, checkout_body, new_key};
use identity::Role;
use reqwest::Method;
use serde_json::json;
use std::time::Duration;

on_both_databases!(
    a_guest_buys_and_the_order_runs_to_a_refund,
    customers_merge_carts_and_cancel_orders,
    bad_requests_are_refused_and_change_nothing,
    unpaid_checkouts_expire_and_release_stock,
    paying_a_lapsed_checkout_expires_it_first,
    two_sellers_make_two_orders_under_one_payment,
    discount_limits_hold_at_checkout,
    a_sku_given_to_another_variant_is_bought_as_that_variant,
    a_new_checkout_of_a_cart_releases_the_earlier_ones_holds,
    stock_events_of_a_sale_say_what_the_ledger_says,
    a_refused_checkout_leaves_nothing_and_its_key_can_be_used_again
);

async fn a_guest_buys_and_the_order_runs_to_a_refund(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = &admin.access;
    app.stocked(a, "Linen Shirt", &[("SHIRT-M", 1500)], 10).await;
    app.post(
        "/api/v1/admin/tax-rates",
        Some(a),
        json!({"country": "US", "region": "CA", "rate_bp": 725, "name": "CA"}),
    )
    .await
    .assert(201);
    app.post(
        "/api/v1/admin/shipping-methods",
        Some(a),
        json!({"code": "standard", "name": "Standard", "price": {"amount": 500, "currency": "USD"}, "free_above": 5000}),
    )
    .await
    .assert(201);
    app.post("/api/v1/admin/discounts", Some(a), json!({"code": "ten", "kind": "percentage", "value": 10}))
        .await
        .assert(201);

    // A guest cart: the token comes back once, as JSON and as a header.
    let res = app.get("/api/v1/cart", None).await;
    res.assert(200);
    let token = res.body["cart_token"].as_str().unwrap().to_owned();
    assert_eq!(res.headers["x-cart-token"].to_str().unwrap(), token);
    let (res, _) = app.add_to_cart(Some(&token), "SHIRT-M", 2).await;
    res.assert(200);
    assert!(res.body["cart_token"].is_null());
    let (res, _) = app.add_to_cart(Some(&token), "SHIRT-M", 1).await;
    assert_eq!(res.body["lines"][0]["quantity"], 3);
    let line = res.body["lines"][0]["id"].as_str().unwrap().to_owned();
    let res = app.set_line_quantity(&token, &line, 2).await;
    res.assert(200);
    assert_eq!((res.body["subtotal"]["amount"].as_i64(), res.body["item_count"].as_i64()), (Some(3000), Some(2)));
    let res = app
        .send(Method::POST, "/api/v1/cart/discount", None, &[("x-cart-token", &token)], Some(json!({"code": "TEN"})))
        .await;
    res.assert(200);
    assert_eq!(res.body["discount_total"]["amount"], 300);

    // Checkout: 3000 − 300 discount + 500 shipping = 3200, CA tax 7.25 % = 232.
    let key = new_key();
    let body = checkout_body(Some("ada@example.com"));
    let res = app.guest_checkout(&token, &key, body.clone()).await;
    res.assert(201);
    let checkout_id = res.body["checkout_id"].as_str().unwrap().to_owned();
    let order = &res.body["orders"][0];
    assert_eq!(res.body["orders"].as_array().unwrap().len(), 1);
    assert_eq!(order["status"], "pending_payment");
    assert!(order["number"].as_str().unwrap().parse::<u64>().unwrap() > 1000);
    let money = |field: &str| order[field]["amount"].as_i64().unwrap();
    assert_eq!(
        [money("subtotal"), money("discount_total"), money("shipping_total"), money("tax_total"), money("total")],
        [3000, 300, 500, 232, 3432]
    );
    assert_eq!(res.body["payment"]["amount"]["amount"], 3432);
    assert_eq!(res.body["payment"]["next_action"]["type"], "confirm_card");
    let order_id = order["id"].as_str().unwrap().to_owned();
    let payment = res.body["payment"]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.level(a, "SHIRT-M").await, (10, 2));

    // The same key and body: the same checkout. Another body: 422.
    let again = app.guest_checkout(&token, &key, body.clone()).await;
    again.assert(201);
    assert_eq!(
        (again.body["checkout_id"].as_str(), again.body["replayed"].as_bool()),
        (Some(checkout_id.as_str()), Some(true))
    );
    app.guest_checkout(&token, &key, checkout_body(Some("other@example.com")))
        .await
        .assert_error(422, "idempotency_key_reused");
    assert_eq!(app.level(a, "SHIRT-M").await, (10, 2));

    // Declines are 402 and leave it payable; then the good card.
    let res = app.pay(&payment, "4000000000000002").await;
    res.assert_error(402, "payment_declined");
    assert_eq!(res.body["error"]["details"]["reason"], "card_declined");
    app.pay(&payment, "4000000000009995").await.assert_error(402, "payment_declined");
    let res = app.get(&format!("/api/v1/payments/{payment}"), None).await;
    assert_eq!(
        (res.body["status"].as_str(), res.body["last_error"].as_str()),
        (Some("pending"), Some("insufficient_funds"))
    );
    let res = app.pay(&payment, "4242 4242 4242 4242").await;
    res.assert(200);
    assert_eq!(res.body["status"], "succeeded");
    assert_eq!(app.level(a, "SHIRT-M").await, (8, 0));
    // Paying again changes nothing.
    app.pay(&payment, "4242424242424242").await.assert(200);
    assert_eq!(app.level(a, "SHIRT-M").await, (8, 0));
    // The replay now shows the paid checkout; the cart is spent.
    let again = app.guest_checkout(&token, &key, body).await;
    assert_eq!(again.body["orders"][0]["status"], "paid");
    let (res, _) = app.add_to_cart(Some(&token), "SHIRT-M", 1).await;
    assert!(res.body["cart_token"].is_string(), "a converted cart's token opens a new cart");

    // Staff run the order.
    let order_path = format!("/api/v1/admin/orders/{order_id}");
    let res = app.get("/api/v1/admin/orders?status=paid&q=ada@", Some(a)).await;
    res.assert(200);
    assert_eq!(res.body["total"], 1);
    let number = res.body["items"][0]["number"].as_str().unwrap().to_owned();
    assert_eq!(app.get(&format!("/api/v1/admin/orders?q=%23{number}"), Some(a)).await.body["total"], 1);
    let res = app
        .post(&format!("{order_path}/fulfillments"), Some(a), json!({"carrier": "UPS", "tracking_number": "1Z999"}))
        .await;
    res.assert(201);
    assert_eq!(res.body["status"], "shipped");
    assert_eq!(res.body["fulfillments"][0]["tracking_number"], "1Z999");
    let steps: Vec<&str> = res.body["timeline"].as_array().unwrap().iter().map(|t| t["to"].as_str().unwrap()).collect();
    assert_eq!(steps, ["pending_payment", "paid", "processing", "shipped"]);
    app.post(&format!("{order_path}/transitions"), Some(a), json!({"to": "paid"}))
        .await
        .assert_error(409, "illegal_transition");
    app.post(&format!("{order_path}/transitions"), Some(a), json!({"to": "cancelled"}))
        .await
        .assert_error(409, "illegal_transition");
    app.post(&format!("{order_path}/transitions"), Some(a), json!({"to": "delivered", "note": "signed for"}))
        .await
        .assert(200);
    app.post(&format!("{order_path}/transitions"), Some(a), json!({"to": "returned"})).await.assert(200);

    // Refunds: partial, never more than paid, idempotent with a key, full → refunded.
    let refund = |amount: i64, key: &'static str| app.admin_refund(a, &order_id, amount, "returned", key);
    let res = refund(1000, "r1").await;
    res.assert(201);
    assert_eq!(
        (res.body["refunded_total"]["amount"].as_i64(), res.body["status"].as_str()),
        (Some(1000), Some("returned"))
    );
    refund(1000, "r1").await.assert(201);
    refund(999, "r1").await.assert_error(422, "idempotency_key_reused");
    refund(2433, "r2").await.assert_error(422, "validation_failed");
    let res = refund(2432, "r3").await;
    res.assert(201);
    assert_eq!(
        (res.body["refunded_total"]["amount"].as_i64(), res.body["status"].as_str()),
        (Some(3432), Some("refunded"))
    );
    assert_eq!(res.body["refunds"].as_array().unwrap().len(), 2);
    let res = app.get(&format!("/api/v1/payments/{payment}"), None).await;
    assert_eq!(res.body["status"], "refunded");

    // Every step was published.
    app.settle().await;
    for (topic, n) in [
        ("order.placed", 1),
        ("payment.failed", 2),
        ("payment.succeeded", 1),
        ("order.paid", 1),
        ("cart.converted", 1),
        ("order.shipped", 1),
        ("order.delivered", 1),
        ("order.refunded", 2),
        ("payment.refunded", 2),
    ] {
        assert_eq!(app.outbox_count(topic).await, n, "{topic}");
    }
    let ledger = app.get("/api/v1/admin/inventory/SHIRT-M/movements", Some(a)).await;
    let reasons: Vec<&str> =
        ledger.body["items"].as_array().unwrap().iter().map(|m| m["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["sale", "reservation", "set"]);
}

async fn customers_merge_carts_and_cancel_orders(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = &admin.access;
    let mug = app.stocked(a, "Mug", &[("MUG-1", 900), ("MUG-2", 1100)], 5).await;
    let customer = app.register().await;
    let c = customer.access.as_str();

    // The customer's cart holds 2 × MUG-1; a guest cart holds 4 × MUG-1 and 1 × MUG-2.
    app.send(Method::POST, "/api/v1/cart/items", Some(c), &[], Some(json!({"sku": "MUG-1", "quantity": 2})))
        .await
        .assert(200);
    let (_, token) = app.add_to_cart(None, "MUG-1", 4).await;
    app.add_to_cart(Some(&token), "MUG-2", 1).await.0.assert(200);
    // Signing in with the guest token merges: 2 + 4 capped at the 5 available.
    let res = app
        .send(
            Method::POST,
            "/api/v1/auth/login",
            None,
            &[("x-cart-token", &token)],
            Some(json!({"email": customer.email, "password": crate::helpers::PASSWORD})),
        )
        .await;
    res.assert(200);
    let cart = app.get("/api/v1/cart", Some(c)).await;
    let lines: Vec<(String, i64)> = cart.body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["sku"].as_str().unwrap().to_owned(), l["quantity"].as_i64().unwrap()))
        .collect();
    assert_eq!(lines, [("MUG-1".to_owned(), 5), ("MUG-2".to_owned(), 1)]);
    // The guest token now opens a fresh cart.
    assert!(app.add_to_cart(Some(&token), "MUG-2", 1).await.0.body["cart_token"].is_string());

    // Checkout as the customer: the account's email is used.
    let res = app
        .send(
            Method::POST,
            "/api/v1/checkout",
            Some(c),
            &[("idempotency-key", "k-1")],
            Some(json!({"shipping_address": address(), "payment_provider": "test"})),
        )
        .await;
    res.assert(201);
    let order = res.body["orders"][0].clone();
    assert_eq!(order["email"], customer.email);
    let order_id = order["id"].as_str().unwrap();
    assert_eq!(app.level(a, "MUG-1").await, (5, 5));
    let mine = app.get("/api/v1/orders", Some(c)).await;
    assert_eq!(mine.body["total"], 1);
    // Someone else cannot see or cancel it.
    let other = app.register().await;
    app.get(&format!("/api/v1/orders/{order_id}"), Some(&other.access)).await.assert_error(404, "not_found");
    app.post(&format!("/api/v1/orders/{order_id}/cancel"), Some(&other.access), json!({}))
        .await
        .assert_error(404, "not_found");

    // Cancelling the unpaid order releases its holds and closes the payment.
    let res =
        app.post(&format!("/api/v1/orders/{order_id}/cancel"), Some(c), json!({"reason": "changed my mind"})).await;
    res.assert(200);
    assert_eq!(res.body["status"], "cancelled");
    assert_eq!(app.level(a, "MUG-1").await, (5, 0));
    let payment = res.body["payment_id"].as_str().unwrap().to_owned();
    app.pay(&payment, "4242424242424242").await.assert_error(409, "payment_closed");

    // A paid order cancelled before shipping: units back on hand, refunded in full.
    let res = app
        .send(
            Method::POST,
            "/api/v1/checkout",
            Some(c),
            &[("idempotency-key", "k-2")],
            Some(json!({"shipping_address": address(), "payment_provider": "test"})),
        )
        .await;
    res.assert(201);
    let order_id = res.body["orders"][0]["id"].as_str().unwrap().to_owned();
    app.pay(res.body["payment"]["id"].as_str().unwrap(), "4242424242424242").await.assert(200);
    assert_eq!(app.level(a, "MUG-1").await, (0, 0));
    let res = app.post(&format!("/api/v1/orders/{order_id}/cancel"), Some(c), json!({})).await;
    res.assert(200);
    assert_eq!(res.body["refunded_total"], res.body["total"]);
    assert_eq!(app.level(a, "MUG-1").await, (5, 0));
    // Cancelled is final.
    app.post(&format!("/api/v1/orders/{order_id}/cancel"), Some(c), json!({}))
        .await
        .assert_error(409, "illegal_transition");

    // Manual payments are marked paid by staff; only staff, only manual.
    app.send(Method::POST, "/api/v1/cart/items", Some(c), &[], Some(json!({"sku": "MUG-2", "quantity": 1})))
        .await
        .assert(200);
    let res = app
        .send(
            Method::POST,
            "/api/v1/checkout",
            Some(c),
            &[("idempotency-key", "k-3")],
            Some(json!({"shipping_address": address(), "payment_provider": "manual"})),
        )
        .await;
    res.assert(201);
    assert_eq!(res.body["payment"]["next_action"]["type"], "manual");
    let order_id = res.body["orders"][0]["id"].as_str().unwrap().to_owned();
    app.pay(res.body["payment"]["id"].as_str().unwrap(), "4242424242424242").await.assert_error(409, "wrong_provider");
    app.post(&format!("/api/v1/admin/orders/{order_id}/transitions"), Some(c), json!({"to": "paid"}))
        .await
        .assert_error(403, "forbidden");
    let res = app.post(&format!("/api/v1/admin/orders/{order_id}/transitions"), Some(a), json!({"to": "paid"})).await;
    res.assert(200);
    assert_eq!(res.body["status"], "paid");
    assert_eq!(res.body["timeline"][1]["by"], admin.id);
    // A paid order makes the customer's review a verified purchase; others' are not.
    let reviews = format!("/api/v1/products/{}/reviews", mug["id"].as_str().unwrap());
    let review = json!({"rating": 5, "title": "Good mug", "body": "Holds tea."});
    let res = app.post(&reviews, Some(c), review.clone()).await;
    res.assert(201);
    assert_eq!(res.body["verified_purchase"], true);
    let res = app.post(&reviews, Some(&other.access), review).await;
    res.assert(201);
    assert_eq!(res.body["verified_purchase"], false);
}

async fn bad_requests_are_refused_and_change_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = &admin.access;
    let product = app.stocked(a, "Lamp", &[("LAMP-1", 2000), ("LAMP-2", 2500)], 3).await;
    let (_, token) = app.add_to_cart(None, "LAMP-1", 1).await;
    let cart = |t: &str| {
        let t = t.to_owned();
        let app = &app;
        async move { app.send(Method::GET, "/api/v1/cart", None, &[("x-cart-token", &t)], None).await }
    };

    for quantity in [0, 100, -1] {
        app.add_to_cart(Some(&token), "LAMP-2", quantity).await.0.assert_error(422, "validation_failed");
    }
    app.add_to_cart(Some(&token), "NOPE", 1).await.0.assert_error(404, "not_found");
    let (res, _) = app.add_to_cart(Some(&token), "LAMP-1", 3).await;
    res.assert_error(409, "out_of_stock");
    assert_eq!(res.body["error"]["details"]["lines"][0]["available"], 3);
    // Raising the line above the stock is refused the same way.
    let line = cart(&token).await.body["lines"][0]["id"].as_str().unwrap().to_owned();
    let res = app.set_line_quantity(&token, &line, 4).await;
    res.assert_error(409, "out_of_stock");
    let short = &res.body["error"]["details"]["lines"][0];
    assert_eq!(
        (short["sku"].as_str(), short["requested"].as_i64(), short["available"].as_i64()),
        (Some("LAMP-1"), Some(4), Some(3))
    );
    app.send(Method::POST, "/api/v1/cart/items", None, &[("x-cart-token", &token)], Some(json!({"quantity": 1})))
        .await
        .assert_error(422, "validation_failed");
    app.send(Method::POST, "/api/v1/cart/discount", None, &[("x-cart-token", &token)], Some(json!({"code": "NOSUCH"})))
        .await
        .assert_error(422, "discount_not_applicable");
    app.post(
        "/api/v1/admin/discounts",
        Some(a),
        json!({"code": "BIG", "kind": "fixed", "value": 500, "currency": "USD", "min_subtotal": 5000}),
    )
    .await
    .assert(201);
    app.post("/api/v1/admin/discounts", Some(a), json!({"code": "big", "kind": "percentage", "value": 5}))
        .await
        .assert_error(409, "duplicate");
    app.post("/api/v1/admin/discounts", Some(a), json!({"code": "X", "kind": "percentage", "value": 150}))
        .await
        .assert_error(422, "validation_failed");
    // The list finds codes by part of their name.
    let found = app.get("/api/v1/admin/discounts?q=bi", Some(a)).await;
    assert_eq!((found.body["total"].as_i64(), found.body["items"][0]["code"].as_str()), (Some(1), Some("BIG")));
    assert_eq!(app.get("/api/v1/admin/discounts?q=nothing%25", Some(a)).await.body["total"], 0);
    assert_eq!(app.get("/api/v1/admin/discounts", Some(a)).await.body["total"], 1);
    let res = app
        .send(Method::POST, "/api/v1/cart/discount", None, &[("x-cart-token", &token)], Some(json!({"code": "big"})))
        .await;
    res.assert_error(422, "discount_not_applicable");
    assert_eq!(cart(&token).await.body["lines"][0]["quantity"], 1);
    assert!(cart(&token).await.body["discount"].is_null());

    // Checkout refusals.
    let key = new_key();
    let res = app
        .send(
            Method::POST,
            "/api/v1/checkout",
            None,
            &[("x-cart-token", &token)],
            Some(checkout_body(Some("g@example.com"))),
        )
        .await;
    res.assert_error(422, "validation_failed");
    app.guest_checkout(&token, &key, checkout_body(None)).await.assert_error(422, "validation_failed");
    let mut bad = checkout_body(Some("g@example.com"));
    bad["shipping_address"]["country"] = json!("USA");
    bad["payment_provider"] = json!("cash");
    let res = app.guest_checkout(&token, &key, bad).await;
    res.assert_error(422, "validation_failed");
    let fields = res.body["error"]["details"]["fields"].as_object().unwrap();
    assert!(fields.contains_key("shipping_address.country") && fields.contains_key("payment_provider"), "{fields:?}");
    let (_, empty) = app.add_to_cart(None, "LAMP-2", 1).await;
    let line = cart(&empty).await.body["lines"][0]["id"].as_str().unwrap().to_owned();
    app.send(Method::DELETE, &format!("/api/v1/cart/items/{line}"), None, &[("x-cart-token", &empty)], None)
        .await
        .assert(200);
    app.guest_checkout(&empty, &new_key(), checkout_body(Some("g@example.com"))).await.assert_error(422, "empty_cart");

    // Stock gone since the item was added: 409 naming the SKU, nothing held, no order.
    let (_, t2) = app.add_to_cart(None, "LAMP-2", 2).await;
    app.add_to_cart(Some(&token), "LAMP-2", 2).await.0.assert(200);
    app.set_stock(a, "LAMP-2", 1).await;
    let res = app.guest_checkout(&token, &new_key(), checkout_body(Some("g@example.com"))).await;
    res.assert_error(409, "out_of_stock");
    let short = &res.body["error"]["details"]["lines"];
    assert_eq!((short.as_array().unwrap().len(), short[0]["sku"].as_str()), (1, Some("LAMP-2")));
    assert_eq!(app.level(a, "LAMP-1").await, (3, 0));
    assert_eq!(app.get("/api/v1/admin/orders", Some(a)).await.body["total"], 0);

    // A price moved: 409 cart_changed once, then the cart shows the new price and checkout goes through.
    app.set_stock(a, "LAMP-2", 10).await;
    let variant = product["variants"][1]["id"].as_str().unwrap();
    let pid = product["id"].as_str().unwrap();
    app.patch(
        &format!("/api/v1/admin/products/{pid}/variants/{variant}"),
        Some(a),
        json!({"price": {"amount": 2700, "currency": "USD"}}),
    )
    .await
    .assert(200);
    let view = cart(&t2).await;
    assert_eq!(
        (view.body["lines"][0]["price_changed"].as_bool(), view.body["lines"][0]["current_price"]["amount"].as_i64()),
        (Some(true), Some(2700))
    );
    let res = app.guest_checkout(&t2, &new_key(), checkout_body(Some("g@example.com"))).await;
    res.assert_error(409, "cart_changed");
    assert_eq!(res.body["error"]["details"]["lines"][0]["now"]["amount"], 2700);
    let res = app.guest_checkout(&t2, &new_key(), checkout_body(Some("g@example.com"))).await;
    res.assert(201);
    assert_eq!(res.body["orders"][0]["subtotal"]["amount"], 5400);

    // Payments.
    let payment = res.body["payment"]["id"].as_str().unwrap().to_owned();
    app.pay(&payment, "1234").await.assert_error(422, "validation_failed");
    app.pay(&payment, "4242424242424241").await.assert_error(422, "validation_failed");
    app.pay(&uuid::Uuid::now_v7().to_string(), "4242424242424242").await.assert_error(404, "not_found");
    app.post("/api/v1/payments/not-a-uuid/confirm", None, json!({"card_number": "4242424242424242"}))
        .await
        .assert_error(404, "not_found");
    assert_eq!(app.level(a, "LAMP-2").await, (10, 2));

    // Roles: pricing is for admins, orders for staff.
    let staff = app.account_with_role(Role::Staff).await;
    app.post("/api/v1/admin/tax-rates", Some(&staff.access), json!({"country": "US", "rate_bp": 5}))
        .await
        .assert_error(403, "forbidden");
    app.get("/api/v1/admin/orders", Some(&staff.access)).await.assert(200);
    let customer = app.register().await;
    app.get("/api/v1/admin/orders", Some(&customer.access)).await.assert_error(403, "forbidden");
    app.get("/api/v1/admin/orders?status=lost", Some(a)).await.assert_error(422, "validation_failed");
    app.post("/api/v1/admin/tax-rates", Some(a), json!({"country": "us", "rate_bp": 20_000}))
        .await
        .assert_error(422, "validation_failed");
    app.get("/api/v1/orders", None).await.assert_error(401, "unauthenticated");
    app.send(Method::GET, "/api/v1/cart", Some("not-a-token"), &[], None).await.assert_error(401, "invalid_token");
}

async fn unpaid_checkouts_expire_and_release_stock(db: Db) {
    let app = TestApp::spawn_with(db, |s| {
        s.reservation_ttl_secs = 1;
        s.reservation_sweep_secs = 1;
    })
    .await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = &admin.access;
    app.stocked(a, "Tent", &[("TENT-1", 9900)], 2).await;
    let (_, token) = app.add_to_cart(None, "TENT-1", 2).await;
    let res = app.guest_checkout(&token, &new_key(), checkout_body(Some("late@example.com"))).await;
    res.assert(201);
    let payment = res.body["payment"]["id"].as_str().unwrap().to_owned();
    let order = res.body["orders"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.level(a, "TENT-1").await, (2, 2));
    // The sweeper expires it within a couple of seconds.
    let mut status = String::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        status = app.get(&format!("/api/v1/admin/orders/{order}"), Some(a)).await.body["status"]
            .as_str()
            .unwrap()
            .to_owned();
        if status == "cancelled" {
            break;
        }
    }
    assert_eq!(status, "cancelled");
    assert_eq!(app.level(a, "TENT-1").await, (2, 0));
    let res = app.get(&format!("/api/v1/payments/{payment}"), None).await;
    assert_eq!(res.body["status"], "expired");
    app.pay(&payment, "4242424242424242").await.assert_error(409, "payment_closed");
    app.settle().await;
    assert_eq!(app.outbox_count("reservation.expired").await, 1);
    assert_eq!(app.outbox_count("order.cancelled").await, 1);
}

/// A payment overdue but not yet swept: the request that finds it expires
/// it (orders cancelled, stock released) and is refused, and nothing acts
/// on the lapsed holds.
async fn paying_a_lapsed_checkout_expires_it_first(db: Db) {
    let app = TestApp::spawn_with(db, |s| {
        s.reservation_ttl_secs = 1;
        // The sweeper does not come by during the test.
        s.reservation_sweep_secs = 3600;
    })
    .await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = &admin.access;
    app.stocked(a, "Lamp", &[("LAMP-1", 4900)], 3).await;
    let (_, token) = app.add_to_cart(None, "LAMP-1", 2).await;
    let res = app.guest_checkout(&token, &new_key(), checkout_body(Some("slow@example.com"))).await;
    res.assert(201);
    let payment = res.body["payment"]["id"].as_str().unwrap().to_owned();
    let order = res.body["orders"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.level(a, "LAMP-1").await, (3, 2));
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(app.get(&format!("/api/v1/payments/{payment}"), None).await.body["status"], "pending", "not swept");

    app.pay(&payment, "4242424242424242").await.assert_error(409, "payment_closed");
    assert_eq!(app.get(&format!("/api/v1/payments/{payment}"), None).await.body["status"], "expired");
    assert_eq!(app.get(&format!("/api/v1/admin/orders/{order}"), Some(a)).await.body["status"], "cancelled");
    assert_eq!(app.level(a, "LAMP-1").await, (3, 0));
    // Asked again, the answer is the same and nothing is written twice.
    app.pay(&payment, "4242424242424242").await.assert_error(409, "payment_closed");
    app.settle().await;
    assert_eq!(app.outbox_count("reservation.expired").await, 1);
    assert_eq!(app.outbox_count("order.cancelled").await, 1);
    assert_eq!(app.outbox_count("payment.succeeded").await, 0);
}

async fn two_sellers_make_two_orders_under_one_payment(db: Db) {
    let app = TestApp::spawn_with(db, |s| s.prices_include_tax = true).await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = &admin.access;
    let seller = app.post("/api/v1/admin/sellers", Some(a), json!({"name": "Potter & Co"})).await;
    seller.assert(201);
    app.stocked(a, "House Tea", &[("TEA-1", 1000)], 10).await;
    let mut body = crate::catalog_helpers::product_body("Clay Cup", None, &[("CUP-1", 3000, "One")]);
    body["seller_id"] = seller.body["id"].clone();
    app.product(a, body).await;
    app.set_stock(a, "CUP-1", 10).await;
    app.post("/api/v1/admin/tax-rates", Some(a), json!({"country": "DE", "rate_bp": 1900})).await.assert(201);
    app.post(
        "/api/v1/admin/shipping-methods",
        Some(a),
        json!({"code": "parcel", "name": "Parcel", "price": {"amount": 400, "currency": "USD"}}),
    )
    .await
    .assert(201);
    app.post(
        "/api/v1/admin/discounts",
        Some(a),
        json!({"code": "FIVE", "kind": "fixed", "value": 500, "currency": "USD"}),
    )
    .await
    .assert(201);
    let (_, token) = app.add_to_cart(None, "TEA-1", 1).await;
    app.add_to_cart(Some(&token), "CUP-1", 1).await.0.assert(200);
    app.send(Method::POST, "/api/v1/cart/discount", None, &[("x-cart-token", &token)], Some(json!({"code": "five"})))
        .await
        .assert(200);
    let mut body = checkout_body(Some("two@example.com"));
    body["shipping_address"]["country"] = json!("DE");
    body["shipping_method"] = json!("parcel");
    let res = app.guest_checkout(&token, &new_key(), body).await;
    res.assert(201);
    let orders = res.body["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 2, "one order per seller");
    assert_ne!(orders[0]["seller_id"], orders[1]["seller_id"]);
    assert_ne!(orders[0]["number"], orders[1]["number"]);
    // 500 off split 1000 : 3000 → 125 and 375; shipping per order; 19 % inside the prices.
    let amounts = |field: &str| orders.iter().map(|o| o[field]["amount"].as_i64().unwrap()).collect::<Vec<_>>();
    assert_eq!(amounts("discount_total"), [125, 375]);
    assert_eq!(amounts("shipping_total"), [400, 400]);
    assert_eq!(amounts("total"), [1275, 3025]);
    assert_eq!(amounts("tax_total"), [204, 483]); // 1275 × 19/119 = 203.57; 3025 × 19/119 = 482.98
    assert_eq!(res.body["payment"]["amount"]["amount"], 1275 + 3025);
    let payment = res.body["payment"]["id"].as_str().unwrap();
    app.pay(payment, "4242424242424242").await.assert(200);
    let paid = app.get("/api/v1/admin/orders?status=paid", Some(a)).await;
    assert_eq!(paid.body["total"], 2);
    assert_eq!((app.level(a, "TEA-1").await, app.level(a, "CUP-1").await), ((9, 0), (9, 0)));
}

async fn discount_limits_hold_at_checkout(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = &admin.access;
    app.stocked(a, "Soap", &[("SOAP-1", 800)], 50).await;
    let once = app
        .post(
            "/api/v1/admin/discounts",
            Some(a),
            json!({"code": "ONCE", "kind": "percentage", "value": 50, "usage_limit": 2, "per_customer_limit": 1}),
        )
        .await;
    once.assert(201);
    let code_path = format!("/api/v1/admin/discounts/{}", once.body["id"].as_str().unwrap());
    let cart_with_code = || async {
        let (_, token) = app.add_to_cart(None, "SOAP-1", 1).await;
        app.send(
            Method::POST,
            "/api/v1/cart/discount",
            None,
            &[("x-cart-token", &token)],
            Some(json!({"code": "once"})),
        )
        .await
        .assert(200);
        token
    };
    // First use by ann: fine. Ann again (another cart, same email): per-customer limit.
    let t1 = cart_with_code().await;
    let res = app.guest_checkout(&t1, &new_key(), checkout_body(Some("ann@example.com"))).await;
    res.assert(201);
    assert_eq!(res.body["orders"][0]["discount_total"]["amount"], 400);
    let t2 = cart_with_code().await;
    app.guest_checkout(&t2, &new_key(), checkout_body(Some("ANN@example.com")))
        .await
        .assert_error(422, "discount_not_applicable");
    // Bob uses the second and last use; Cid finds it used up (already at the cart).
    let res = app.guest_checkout(&t2, &new_key(), checkout_body(Some("bob@example.com"))).await;
    res.assert(201);
    let bob_order = res.body["orders"][0]["id"].as_str().unwrap().to_owned();
    let (_, t3) = app.add_to_cart(None, "SOAP-1", 1).await;
    app.send(Method::POST, "/api/v1/cart/discount", None, &[("x-cart-token", &t3)], Some(json!({"code": "ONCE"})))
        .await
        .assert_error(422, "discount_not_applicable");
    let listed = app.get("/api/v1/admin/discounts", Some(a)).await;
    assert_eq!(listed.body["items"][0]["times_used"], 2);
    // Cancelling Bob's unpaid order gives the use back.
    app.post(&format!("/api/v1/admin/orders/{bob_order}/transitions"), Some(a), json!({"to": "cancelled"}))
        .await
        .assert(200);
    assert_eq!(app.get("/api/v1/admin/discounts", Some(a)).await.body["items"][0]["times_used"], 1);
    app.send(Method::POST, "/api/v1/cart/discount", None, &[("x-cart-token", &t3)], Some(json!({"code": "ONCE"})))
        .await
        .assert(200);
    // A code that is switched off no longer applies at checkout.
    app.patch(&code_path, Some(a), json!({"active": false})).await.assert(200);
    app.guest_checkout(&t3, &new_key(), checkout_body(Some("cid@example.com")))
        .await
        .assert_error(422, "discount_not_applicable");
    app.delete(&code_path, Some(a)).await.assert(204);
    app.delete(&code_path, Some(a)).await.assert_error(404, "not_found");
}

/// Adding by SKU goes through a SKU → variant cache; a SKU moved to another
/// variant must add that variant, not the one the cache remembers.
async fn a_sku_given_to_another_variant_is_bought_as_that_variant(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = &admin.access;
    let first = app.stocked(a, "First Mug", &[("MOVE-1", 1000)], 5).await;
    let (res, _) = app.add_to_cart(None, "MOVE-1", 1).await;
    res.assert(200);
    assert_eq!(res.body["lines"][0]["product_id"], first["id"]);

    // The SKU moves: the first variant gets another, a new product takes it.
    let path = format!(
        "/api/v1/admin/products/{}/variants/{}",
        first["id"].as_str().unwrap(),
        first["variants"][0]["id"].as_str().unwrap()
    );
    app.patch(&path, Some(a), json!({"sku": "MOVE-OLD"})).await.assert(200);
    let second = app.stocked(a, "Second Mug", &[("MOVE-1", 2000)], 5).await;
    let (res, _) = app.add_to_cart(None, "MOVE-1", 1).await;
    res.assert(200);
    assert_eq!(res.body["lines"][0]["product_id"], second["id"], "{}", res.text);
    assert_eq!(res.body["lines"][0]["unit_price"]["amount"], 2000);
    assert_eq!(res.body["lines"][0]["variant_id"], second["variants"][0]["id"]);
}

async fn a_new_checkout_of_a_cart_releases_the_earlier_ones_holds(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = &admin.access;
    app.stocked(a, "Lamp", &[("LAMP-1", 4500)], 5).await;
    let (_, token) = app.add_to_cart(None, "LAMP-1", 2).await;
    let first = app.guest_checkout(&token, &new_key(), checkout_body(Some("twice@example.com"))).await;
    first.assert(201);
    let first_payment = first.body["payment"]["id"].as_str().unwrap().to_owned();
    let first_order = first.body["orders"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.level(a, "LAMP-1").await, (5, 2));

    // The buyer checks out again with a new key (another tab, a reload): one
    // cart holds its units once, and the earlier checkout can no longer be paid.
    let second = app.guest_checkout(&token, &new_key(), checkout_body(Some("twice@example.com"))).await;
    second.assert(201);
    assert_ne!(second.body["checkout_id"], first.body["checkout_id"]);
    assert_eq!(app.level(a, "LAMP-1").await, (5, 2));
    assert_eq!(app.get(&format!("/api/v1/payments/{first_payment}"), None).await.body["status"], "cancelled");
    let order = app.get(&format!("/api/v1/admin/orders/{first_order}"), Some(a)).await;
    assert_eq!(order.body["status"], "cancelled");
    app.pay(&first_payment, "4242424242424242").await.assert_error(409, "payment_closed");

    // The newer one pays as usual and sells exactly its two units.
    let second_payment = second.body["payment"]["id"].as_str().unwrap().to_owned();
    app.pay(&second_payment, "4242424242424242").await.assert(200);
    assert_eq!(app.level(a, "LAMP-1").await, (3, 0));
}

/// The hold and the sale each announce the level after them, in one shape
/// (on PostgreSQL the sale's event is built in SQL inside the payment's
/// batch, the hold's in Rust), and each writes its ledger line.
async fn stock_events_of_a_sale_say_what_the_ledger_says(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = &admin.access;
    let product = app.stocked(a, "Ledger Cup", &[("CUP-1", 1200)], 10).await;
    let (_, token) = app.add_to_cart(None, "CUP-1", 2).await;
    let res = app.guest_checkout(&token, &new_key(), checkout_body(Some("cup@example.com"))).await;
    res.assert(201);
    app.pay(res.body["payment"]["id"].as_str().unwrap(), "4242424242424242").await.assert(200);
    assert_eq!(app.level(a, "CUP-1").await, (8, 0));

    let events: Vec<serde_json::Value> = app
        .texts("SELECT CAST(payload AS TEXT) FROM outbox WHERE topic = $1 ORDER BY id", "stock.changed")
        .await
        .iter()
        .map(|text| serde_json::from_str(text).unwrap())
        .filter(|e: &serde_json::Value| e["sku"] == "CUP-1")
        .collect();
    let level = app.get("/api/v1/admin/inventory/CUP-1", Some(a)).await.body;
    let expected = |on_hand: i64, reserved: i64, previous: i64| {
        json!({
            "variant_id": product["variants"][0]["id"],
            "sku": "CUP-1",
            "location_id": events[0]["location_id"],
            "on_hand": on_hand,
            "reserved": reserved,
            "available": on_hand - reserved,
            "previous_available": previous,
            "low_stock_threshold": level["low_stock_threshold"],
        })
    };
    // Stock set to 10, 2 held, 2 sold.
    assert_eq!(events.len(), 3, "{events:?}");
    assert!(events[0]["location_id"].is_string());
    assert_eq!(events[1], expected(10, 2, 10));
    assert_eq!(events[2], expected(8, 0, 8));

    let movements = app.get("/api/v1/admin/inventory/CUP-1/movements", Some(a)).await.body;
    let lines: Vec<(i64, i64, i64, &str)> = movements["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["on_hand_delta"].as_i64().unwrap(),
                m["reserved_delta"].as_i64().unwrap(),
                m["on_hand_after"].as_i64().unwrap(),
                m["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(lines[..2], [(-2, -2, 8, "sale"), (0, 2, 10, "reservation")]);
}

/// A checkout with one short line among several writes nothing at all — not
/// the other lines' holds, not its key — so the buyer can send the same
/// request with the same key once stock is back; and a hold that takes
/// availability to the low-stock threshold announces `stock.low` once. (On
/// PostgreSQL this is the one-statement placement rolling itself back.)
async fn a_refused_checkout_leaves_nothing_and_its_key_can_be_used_again(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = &admin.access;
    app.stocked(a, "Mug", &[("MUG-1", 900), ("MUG-2", 1100), ("MUG-3", 1300)], 5).await;
    let (_, token) = app.add_to_cart(None, "MUG-1", 2).await;
    app.add_to_cart(Some(&token), "MUG-2", 3).await.0.assert(200);
    app.add_to_cart(Some(&token), "MUG-3", 1).await.0.assert(200);
    app.set_stock(a, "MUG-2", 2).await;
    let count = |sql: &'static str| {
        let app = &app;
        async move { app.scalar_i64(sql, "").await }
    };
    let outbox_before = count("SELECT COUNT(*) FROM outbox WHERE $1 = $1").await;

    let key = new_key();
    let body = checkout_body(Some("mugs@example.com"));
    let res = app.guest_checkout(&token, &key, body.clone()).await;
    res.assert_error(409, "out_of_stock");
    let short = res.body["error"]["details"]["lines"].as_array().unwrap();
    assert_eq!(short.len(), 1, "{short:?}");
    assert_eq!((short[0]["sku"].as_str(), short[0]["requested"].as_i64()), (Some("MUG-2"), Some(3)));
    assert_eq!(short[0]["available"], 2);
    for sku in ["MUG-1", "MUG-3"] {
        assert_eq!(app.level(a, sku).await, (5, 0), "{sku} is held by nobody");
    }
    assert_eq!(app.level(a, "MUG-2").await, (2, 0));
    assert_eq!(count("SELECT COUNT(*) FROM checkouts WHERE $1 = $1").await, 0, "the key is not kept");
    assert_eq!(count("SELECT COUNT(*) FROM reservations WHERE $1 = $1").await, 0);
    assert_eq!(count("SELECT COUNT(*) FROM orders WHERE $1 = $1").await, 0);
    assert_eq!(count("SELECT COUNT(*) FROM stock_movements WHERE reason = 'reservation' AND $1 = $1").await, 0);
    assert_eq!(count("SELECT COUNT(*) FROM outbox WHERE $1 = $1").await, outbox_before, "no event");

    // Stock back, with a threshold the hold will reach: the same key now places the checkout.
    app.request(
        Method::PUT,
        "/api/v1/admin/inventory/MUG-2",
        Some(a),
        Some(json!({"on_hand": 5, "low_stock_threshold": 2})),
    )
    .await
    .assert(200);
    let low_before = app.scalar_i64("SELECT COUNT(*) FROM outbox WHERE topic = $1", "stock.low").await;
    let res = app.guest_checkout(&token, &key, body.clone()).await;
    res.assert(201);
    assert_eq!(res.body["replayed"], false);
    assert_eq!(res.body["orders"][0]["number"], "1001", "the refused attempt used up no order number");
    let checkout_id = res.body["checkout_id"].clone();
    assert_eq!(
        [app.level(a, "MUG-1").await, app.level(a, "MUG-2").await, app.level(a, "MUG-3").await],
        [(5, 2), (5, 3), (5, 1)]
    );
    assert_eq!(count("SELECT COUNT(*) FROM reservations WHERE status = 'open' AND $1 = $1").await, 3);
    assert_eq!(count("SELECT COUNT(*) FROM stock_movements WHERE reason = 'reservation' AND $1 = $1").await, 3);
    let low: Vec<serde_json::Value> = app
        .texts("SELECT CAST(payload AS TEXT) FROM outbox WHERE topic = $1 ORDER BY id", "stock.low")
        .await
        .iter()
        .map(|t| serde_json::from_str(t).unwrap())
        .collect();
    // MUG-1 and MUG-3 were low from the start (5 at the default threshold of 5); only MUG-2 crosses.
    let new_low = &low[usize::try_from(low_before).unwrap()..];
    assert_eq!(new_low.len(), 1, "stock.low once, on crossing: {new_low:?}");
    assert_eq!(new_low[0]["sku"], "MUG-2");
    assert_eq!((new_low[0]["available"].as_i64(), new_low[0]["previous_available"].as_i64()), (Some(2), Some(5)));
    assert_eq!(count("SELECT COUNT(*) FROM outbox WHERE topic = 'order.placed' AND $1 = $1").await, 1);

    // The same request again is the same checkout, and holds nothing more.
    let again = app.guest_checkout(&token, &key, body).await;
    assert_eq!((again.body["replayed"].as_bool(), &again.body["checkout_id"]), (Some(true), &checkout_id));
    assert_eq!(app.level(a, "MUG-2").await, (5, 3));

    // Neither did the repeat: the next checkout gets the next number.
    let (_, other) = app.add_to_cart(None, "MUG-1", 1).await;
    let next = app.guest_checkout(&other, &new_key(), checkout_body(Some("more@example.com"))).await;
    next.assert(201);
    assert_eq!(next.body["orders"][0]["number"], "1002");
}
