//! Inventory admin API: levels by SKU, adjustments, the ledger, low stock,
//! and concurrent adjustments that must never take stock below zero.

// Test code: a failed unwrap is a failed test with its location.
#![allow(clippy::unwrap_used)]

use crate::catalog_helpers::product_body;
use crate::helpers::{Db, TestApp};
use crate::on_both_databases;
use identity::Role;
use serde_json::json;

on_both_databases!(
    stock_is_set_adjusted_and_ledgered,
    bad_changes_are_refused_and_change_nothing,
    concurrent_removals_never_oversell,
    product_pages_show_stock_changes_despite_the_stock_cache,
    stock_follows_a_renamed_sku
);

async fn stock_is_set_adjusted_and_ledgered(db: Db) {
    let app = TestApp::spawn(db).await;
    let staff = app.account_with_role(Role::Staff).await;
    app.product(&staff.access, product_body("Stock Mug", None, &[("INV-1", 1500, "One")])).await;
    let path = "/api/v1/admin/inventory/INV-1";
    // Not tracked until set.
    let res = app.get(path, Some(&staff.access)).await;
    res.assert(200);
    assert_eq!((res.body["tracked"].as_bool(), res.body["available"].is_null()), (Some(false), true));

    let res = app
        .request(
            reqwest::Method::PUT,
            path,
            Some(&staff.access),
            Some(json!({"on_hand": 12, "low_stock_threshold": 3})),
        )
        .await;
    res.assert(200);
    assert_eq!((res.body["on_hand"].as_i64(), res.body["available"].as_i64()), (Some(12), Some(12)));
    let res = app
        .post(
            &format!("{path}/adjustments"),
            Some(&staff.access),
            json!({"delta": -10, "reason": "damaged in transit"}),
        )
        .await;
    res.assert(200);
    assert_eq!((res.body["on_hand"].as_i64(), res.body["low_stock"].as_bool()), (Some(2), Some(true)));

    let low = app.get("/api/v1/admin/inventory?low_stock=true", Some(&staff.access)).await;
    low.assert(200);
    assert_eq!(low.body["total"], 1);
    assert_eq!(low.body["items"][0]["sku"], "INV-1");

    let ledger = app.get(&format!("{path}/movements"), Some(&staff.access)).await;
    ledger.assert(200);
    assert_eq!(ledger.body["total"], 2);
    assert_eq!(ledger.body["items"][0]["on_hand_delta"], -10);
    assert_eq!(ledger.body["items"][0]["note"], "damaged in transit");
    assert_eq!(ledger.body["items"][0]["actor"], staff.id);
    assert_eq!(ledger.body["items"][1]["on_hand_delta"], 12);
    // Events: stock.changed for both changes, stock.low once on crossing.
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM outbox WHERE topic = $1", "stock.changed").await, 2);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM outbox WHERE topic = $1", "stock.low").await, 1);
    // The storefront sees the availability.
    app.settle().await;
    let product = app.get("/api/v1/products?q=stock+mug", None).await;
    let id = product.body["items"][0]["id"].as_str().unwrap().to_string();
    let page = app.get(&format!("/api/v1/products/{id}"), None).await;
    assert_eq!(page.body["available"], true, "{}", page.text);
}

async fn bad_changes_are_refused_and_change_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    let staff = app.account_with_role(Role::Staff).await;
    let customer = app.register().await;
    app.product(&staff.access, product_body("Guarded Mug", None, &[("INV-2", 1500, "One")])).await;
    let path = "/api/v1/admin/inventory/INV-2";
    app.request(reqwest::Method::PUT, path, Some(&staff.access), Some(json!({"on_hand": 3}))).await.assert(200);

    app.post(&format!("{path}/adjustments"), Some(&staff.access), json!({"delta": -4, "reason": "x"}))
        .await
        .assert_error(409, "insufficient_stock");
    app.post(&format!("{path}/adjustments"), Some(&staff.access), json!({"delta": 0, "reason": ""}))
        .await
        .assert_error(422, "validation_failed");
    let res = app
        .request(
            reqwest::Method::PUT,
            path,
            Some(&staff.access),
            Some(json!({"on_hand": -1, "low_stock_threshold": -2})),
        )
        .await;
    res.assert_error(422, "validation_failed");
    assert!(res.body["error"]["details"]["fields"]["on_hand"].is_string());
    assert!(res.body["error"]["details"]["fields"]["low_stock_threshold"].is_string());
    app.request(
        reqwest::Method::PUT,
        path,
        Some(&staff.access),
        Some(json!({"on_hand": 1, "location": uuid::Uuid::now_v7()})),
    )
    .await
    .assert_error(422, "validation_failed");
    app.request(reqwest::Method::PUT, "/api/v1/admin/inventory/NOPE", Some(&staff.access), Some(json!({"on_hand": 1})))
        .await
        .assert_error(404, "not_found");
    app.request(reqwest::Method::PUT, path, Some(&customer.access), Some(json!({"on_hand": 100})))
        .await
        .assert_error(403, "forbidden");
    app.get("/api/v1/admin/inventory", None).await.assert(401);

    let level = app.get(path, Some(&staff.access)).await;
    assert_eq!(level.body["on_hand"], 3, "nothing changed");
    let ledger = app.get(&format!("{path}/movements"), Some(&staff.access)).await;
    assert_eq!(ledger.body["total"], 1, "refused changes leave no ledger line");
}

async fn concurrent_removals_never_oversell(db: Db) {
    let app = TestApp::spawn(db).await;
    let staff = app.account_with_role(Role::Staff).await;
    app.product(&staff.access, product_body("Rare Mug", None, &[("INV-3", 1500, "One")])).await;
    let path = "/api/v1/admin/inventory/INV-3";
    app.request(reqwest::Method::PUT, path, Some(&staff.access), Some(json!({"on_hand": 20}))).await.assert(200);
    let removals = (0..50).map(|_| {
        let app = &app;
        let token = staff.access.clone();
        async move {
            app.post(
                &format!("{path}/adjustments"),
                Some(&token),
                json!({"delta": -1, "reason": "sold at the counter"}),
            )
            .await
            .status
            .as_u16()
        }
    });
    let statuses = futures::future::join_all(removals).await;
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 20, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 30, "{statuses:?}");
    let level = app.get(path, Some(&staff.access)).await;
    assert_eq!(level.body["on_hand"], 0);
    let ledger = app.get(&format!("{path}/movements?per_page=100"), Some(&staff.access)).await;
    assert_eq!(ledger.body["total"], 21);
    let sum: i64 = ledger.body["items"].as_array().unwrap().iter().map(|m| m["on_hand_delta"].as_i64().unwrap()).sum();
    assert_eq!(sum, 0, "the ledger adds up to the level");
}

/// Product pages reuse a SKU's availability for `stock_cache_ttl_ms`; every
/// `stock.changed` event evicts it, so a page read after the change (and the
/// relay) shows the new count even inside the TTL.
async fn product_pages_show_stock_changes_despite_the_stock_cache(db: Db) {
    let app = TestApp::spawn_with(db, |s| s.stock_cache_ttl_ms = 60_000).await;
    let staff = app.account_with_role(Role::Staff).await;
    let product = app.product(&staff.access, product_body("Cached Mug", None, &[("INV-C", 1500, "One")])).await;
    let page_path = format!("/api/v1/products/{}", product["id"].as_str().unwrap());
    let quantity = |page: &crate::helpers::Response| page.body["availability"]["INV-C"]["quantity"].clone();
    let page = app.get(&page_path, None).await;
    page.assert(200);
    assert_eq!((quantity(&page), page.body["available"].as_bool()), (json!(null), Some(true)), "untracked");

    let path = "/api/v1/admin/inventory/INV-C";
    app.request(reqwest::Method::PUT, path, Some(&staff.access), Some(json!({"on_hand": 5}))).await.assert(200);
    app.settle().await;
    let page = app.get(&page_path, None).await;
    assert_eq!(quantity(&page), json!(5), "{}", page.text);
    // Read again (now from the cache), then sell out.
    assert_eq!(quantity(&app.get(&page_path, None).await), json!(5));
    app.post(&format!("{path}/adjustments"), Some(&staff.access), json!({"delta": -5, "reason": "sold in shop"}))
        .await
        .assert(200);
    app.settle().await;
    let page = app.get(&page_path, None).await;
    assert_eq!((quantity(&page), page.body["available"].as_bool()), (json!(0), Some(false)), "{}", page.text);
}

async fn stock_follows_a_renamed_sku(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = &admin.access;
    let product = app.stocked(a, "Renamed Vase", &[("VASE-OLD", 3000)], 3).await;
    let id = product["id"].as_str().unwrap();
    let path = format!("/api/v1/admin/products/{id}/variants/{}", product["variants"][0]["id"].as_str().unwrap());
    app.patch(&path, Some(a), json!({"sku": "VASE-NEW"})).await.assert(200);
    app.settle().await;

    // The three units now answer to the new SKU: on the product page, in the
    // admin, and when a buyer asks for more than that.
    let page = app.get(&format!("/api/v1/products/{id}"), None).await;
    page.assert(200);
    assert_eq!(page.body["availability"]["VASE-NEW"]["quantity"], 3, "{}", page.text);
    assert_eq!(app.level(a, "VASE-NEW").await, (3, 0));
    app.add_to_cart(None, "VASE-NEW", 4).await.0.assert_error(409, "out_of_stock");
    let (res, _) = app.add_to_cart(None, "VASE-NEW", 3).await;
    res.assert(200);
    let levels = app.get("/api/v1/admin/inventory?q=VASE", Some(a)).await;
    let skus: Vec<&str> = levels.body["items"].as_array().unwrap().iter().map(|l| l["sku"].as_str().unwrap()).collect();
    assert_eq!(skus, ["VASE-NEW"]);
}
