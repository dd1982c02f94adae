// Test code: a failed unwrap is a failed test with its location.
#![allow(clippy::unwrap_used)]

use crate::catalog_helpers::product_body;
use crate::helpers::{Db, TestApp};
use crate::on_both_databases;
use identity::Role;
use serde_json::json;

on_both_databases!(
    products_are_validated_and_unique,
    writes_follow_the_permission_table,
    the_category_tree_moves_reorders_and_guards_deletes,
    only_active_products_reach_the_storefront,
    variants_are_added_changed_and_removed,
    sellers_default_and_guards,
    concurrent_creates_with_one_sku_give_one_product
);

async fn products_are_validated_and_unique(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let tops = app.create_category(&admin.access, "Tops", None).await;
    let tops_id = tops["id"].as_str().unwrap();
    let created = app
        .product(
            &admin.access,
            product_body("Zephyr Hoodie", Some(tops_id), &[("ZH-S", 4999, "S"), ("ZH-M", 4999, "M")]),
        )
        .await;
    assert_eq!(created["slug"], "zephyr-hoodie");
    assert_eq!(created["variants"].as_array().map(Vec::len), Some(2));
    assert!(created["variants"][0]["id"].is_string());
    assert_eq!(created["variants"][0]["price"], json!({"amount": 4999, "currency": "USD"}));

    // A second product with a generated slug that clashes gets a unique one.
    let again = app.product(&admin.access, product_body("Zephyr Hoodie", None, &[("ZH2-S", 100, "S")])).await;
    assert_ne!(again["slug"], "zephyr-hoodie");
    assert!(again["slug"].as_str().unwrap().starts_with("zephyr-hoodie-"));

    // An explicit duplicate slug and a duplicate SKU are 409s naming the field.
    let mut body = product_body("Other", None, &[("OTHER-1", 100, "S")]);
    body["slug"] = json!("zephyr-hoodie");
    let res = app.create_product(&admin.access, body).await;
    res.assert_error(409, "duplicate");
    assert_eq!(res.body["error"]["details"]["field"], "slug");
    let res = app.create_product(&admin.access, product_body("Other", None, &[("zh-s", 100, "S")])).await;
    assert_eq!(res.status.as_u16(), 201, "SKUs are unique as written; case variants are different SKUs: {}", res.text);
    let res = app.create_product(&admin.access, product_body("Another", None, &[("ZH-M", 100, "S")])).await;
    res.assert_error(409, "duplicate");
    assert_eq!(res.body["error"]["details"]["field"], "sku");

    // Every bad field is named at once, and nothing is written.
    let before = app.scalar_i64("SELECT COUNT(*) FROM products WHERE $1 = $1", "x").await;
    let bad = json!({
        "title": "  ",
        "status": "active",
        "category_id": "0190a0a0-0000-7000-8000-000000000000",
        "options": [{"name": "size", "values": ["S"]}],
        "variants": [
            {"sku": "bad sku!", "price": {"amount": -1, "currency": "USD"}, "options": {"size": "XL"}},
            {"sku": "OK-1", "price": {"amount": 100, "currency": "EUR"}, "compare_at_price": {"amount": 50, "currency": "EUR"}, "options": {"size": "S"}}
        ]
    });
    let res = app.create_product(&admin.access, bad).await;
    res.assert_error(422, "validation_failed");
    let fields = &res.body["error"]["details"]["fields"];
    for field in [
        "title",
        "category_id",
        "variants[0].sku",
        "variants[0].price",
        "variants[0].options",
        "variants[1].compare_at_price",
        "variants[1].price",
    ] {
        assert!(fields.get(field).is_some(), "{field} missing from {fields}");
    }
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM products WHERE $1 = $1", "x").await, before);

    // An active product needs a variant; a wrong currency code is a 422 too.
    app.create_product(&admin.access, json!({"title": "Empty", "status": "active"}))
        .await
        .assert_error(422, "validation_failed");
    let res = app
        .create_product(
            &admin.access,
            json!({"title": "X", "variants": [{"sku": "X1", "price": {"amount": 1, "currency": "usd"}}]}),
        )
        .await;
    res.assert(422);
}

async fn writes_follow_the_permission_table(db: Db) {
    let app = TestApp::spawn(db).await;
    let customer = app.register().await;
    let staff = app.account_with_role(Role::Staff).await;
    let admin = app.account_with_role(Role::Admin).await;
    let body = product_body("Mug", None, &[("MUG-1", 1200, "One")]);
    app.post("/api/v1/admin/products", None, body.clone()).await.assert_error(401, "unauthenticated");
    app.create_product(&customer.access, body.clone()).await.assert_error(403, "forbidden");
    app.post("/api/v1/admin/categories", Some(&customer.access), json!({"name": "X"}))
        .await
        .assert_error(403, "forbidden");
    // Staff edit but do not delete.
    let product = app.product(&staff.access, body).await;
    let path = format!("/api/v1/admin/products/{}", product["id"].as_str().unwrap());
    app.patch(&path, Some(&staff.access), json!({"title": "Big Mug"})).await.assert(200);
    app.delete(&path, Some(&staff.access)).await.assert_error(403, "forbidden");
    app.delete(&path, Some(&customer.access)).await.assert_error(403, "forbidden");
    app.delete(&path, Some(&admin.access)).await.assert(204);
    app.get(&path, Some(&admin.access)).await.assert_error(404, "not_found");
    // Sellers handle payouts: admins only.
    app.post("/api/v1/admin/sellers", Some(&staff.access), json!({"name": "S"})).await.assert_error(403, "forbidden");
}

async fn the_category_tree_moves_reorders_and_guards_deletes(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = app.create_category(&admin.access, "Apparel", None).await;
    let b = app.create_category(&admin.access, "Books", None).await;
    let a1 = app.create_category(&admin.access, "Tops", a["id"].as_str()).await;
    let a1b = app.create_category(&admin.access, "Hoodies", a1["id"].as_str()).await;
    assert_eq!(a1["slug"], "tops");
    let tree = app.get("/api/v1/categories", None).await.body;
    assert_eq!(tree[0]["slug"], "apparel");
    assert_eq!(tree[0]["children"][0]["children"][0]["slug"], "hoodies");

    // Duplicate explicit slug.
    let res =
        app.post("/api/v1/admin/categories", Some(&admin.access), json!({"name": "Tops again", "slug": "tops"})).await;
    res.assert_error(409, "duplicate");
    // Unknown parent and a move under its own descendant are refused.
    let res = app
        .post(
            "/api/v1/admin/categories",
            Some(&admin.access),
            json!({"name": "X", "parent_id": "0190a0a0-0000-7000-8000-000000000000"}),
        )
        .await;
    res.assert_error(422, "validation_failed");
    let a_path = format!("/api/v1/admin/categories/{}", a["id"].as_str().unwrap());
    let res = app.patch(&a_path, Some(&admin.access), json!({"parent_id": a1b["id"]})).await;
    res.assert_error(422, "validation_failed");

    // Move Tops under Books, then put Books first.
    let a1_path = format!("/api/v1/admin/categories/{}", a1["id"].as_str().unwrap());
    app.patch(&a1_path, Some(&admin.access), json!({"parent_id": b["id"]})).await.assert(200);
    let b_path = format!("/api/v1/admin/categories/{}", b["id"].as_str().unwrap());
    app.patch(&b_path, Some(&admin.access), json!({"position": 0})).await.assert(200);
    let tree = app.get("/api/v1/categories", None).await.body;
    assert_eq!(tree[0]["slug"], "books");
    assert_eq!(tree[0]["children"][0]["slug"], "tops");
    assert_eq!(tree[1]["children"].as_array().map(Vec::len), Some(0));
    // And back to the top level with null.
    app.patch(&a1_path, Some(&admin.access), json!({"parent_id": null})).await.assert(200);
    let tree = app.get("/api/v1/categories", None).await.body;
    assert_eq!(tree.as_array().map(Vec::len), Some(3));

    // A category with children or products cannot be deleted.
    app.delete(&a1_path, Some(&admin.access)).await.assert_error(409, "conflict");
    let hoodies_path = format!("/api/v1/admin/categories/{}", a1b["id"].as_str().unwrap());
    let product = app.product(&admin.access, product_body("Hoodie", a1b["id"].as_str(), &[("H-1", 100, "M")])).await;
    app.delete(&hoodies_path, Some(&admin.access)).await.assert_error(409, "conflict");
    app.delete(&format!("/api/v1/admin/products/{}", product["id"].as_str().unwrap()), Some(&admin.access))
        .await
        .assert(204);
    app.delete(&hoodies_path, Some(&admin.access)).await.assert(204);
    app.delete(&a1_path, Some(&admin.access)).await.assert(204);
    app.delete(&a1_path, Some(&admin.access)).await.assert_error(404, "not_found");
}

async fn only_active_products_reach_the_storefront(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let mut body = product_body("Draft Lamp", None, &[("LAMP-1", 5000, "One")]);
    body["status"] = json!("draft");
    let product = app.product(&admin.access, body).await;
    let id = product["id"].as_str().unwrap();
    app.get("/api/v1/products/draft-lamp", None).await.assert_error(404, "not_found");
    app.get(&format!("/api/v1/products/{id}"), None).await.assert_error(404, "not_found");
    assert_eq!(app.search("?q=lamp").await["total"], 0);

    let admin_path = format!("/api/v1/admin/products/{id}");
    app.patch(&admin_path, Some(&admin.access), json!({"status": "active"})).await.assert(200);
    let page = app.get("/api/v1/products/draft-lamp", None).await;
    page.assert(200);
    assert_eq!(page.body["id"], id);
    assert_eq!(page.body["available"], true);
    assert_eq!(page.body["availability"]["LAMP-1"]["available"], true);
    assert_eq!(app.search("?q=lamp").await["total"], 1);

    app.patch(&admin_path, Some(&admin.access), json!({"status": "archived"})).await.assert(200);
    app.get("/api/v1/products/draft-lamp", None).await.assert_error(404, "not_found");
    assert_eq!(app.search("?q=lamp").await["total"], 0);
    // The admin still sees it.
    assert_eq!(app.get(&admin_path, Some(&admin.access)).await.body["status"], "archived");
}

async fn variants_are_added_changed_and_removed(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let product = app.product(&admin.access, product_body("Tee", None, &[("TEE-S", 1500, "S")])).await;
    let id = product["id"].as_str().unwrap();
    let variants = format!("/api/v1/admin/products/{id}/variants");
    // The option must exist: add M to the product's options first.
    let add = json!({"sku": "TEE-M", "price": {"amount": 1600, "currency": "USD"}, "options": {"size": "M"}});
    app.post(&variants, Some(&admin.access), add.clone()).await.assert_error(422, "validation_failed");
    app.patch(
        &format!("/api/v1/admin/products/{id}"),
        Some(&admin.access),
        json!({"options": [{"name": "size", "values": ["S", "M"]}]}),
    )
    .await
    .assert(200);
    let m = app.post(&variants, Some(&admin.access), add).await;
    m.assert(201);
    let m_id = m.body["id"].as_str().unwrap();
    // Same option values twice, or another currency, are refused.
    let dup = json!({"sku": "TEE-M2", "price": {"amount": 1600, "currency": "USD"}, "options": {"size": "M"}});
    app.post(&variants, Some(&admin.access), dup).await.assert_error(422, "validation_failed");
    let res = app.patch(&format!("{variants}/{m_id}"), Some(&admin.access), json!({"price": {"amount": 1700, "currency": "USD"}, "compare_at_price": {"amount": 2000, "currency": "USD"}})).await;
    res.assert(200);
    assert_eq!(res.body["price"]["amount"], 1700);
    let list = app.get(&variants, Some(&admin.access)).await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(2));
    let s_id = product["variants"][0]["id"].as_str().unwrap();
    app.delete(&format!("{variants}/{s_id}"), Some(&admin.access)).await.assert(204);
    // The last variant of an active product stays.
    app.delete(&format!("{variants}/{m_id}"), Some(&admin.access)).await.assert_error(409, "conflict");
    let page = app.get(&format!("/api/v1/products/{id}"), None).await;
    assert_eq!(page.body["variants"][0]["compare_at_price"]["amount"], 2000);
}

async fn sellers_default_and_guards(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let sellers = app.get("/api/v1/admin/sellers", Some(&admin.access)).await.body;
    assert_eq!(sellers.as_array().map(Vec::len), Some(1));
    assert_eq!(sellers[0]["is_default"], true);
    let default_id = sellers[0]["id"].as_str().unwrap().to_owned();
    let product = app.product(&admin.access, product_body("Book", None, &[("BOOK-1", 999, "One")])).await;
    assert_eq!(product["seller_id"], default_id.as_str());

    let res = app
        .post(
            "/api/v1/admin/sellers",
            Some(&admin.access),
            json!({"name": "Bluebird", "payout_wallet": "not-base58!", "stripe_account_id": "nope"}),
        )
        .await;
    res.assert_error(422, "validation_failed");
    assert!(res.body["error"]["details"]["fields"]["payout_wallet"].is_string());
    assert!(res.body["error"]["details"]["fields"]["stripe_account_id"].is_string());
    let seller = app
        .post("/api/v1/admin/sellers", Some(&admin.access), json!({"name": "Bluebird", "payout_wallet": "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM", "stripe_account_id": "acct_1Abc"}))
        .await;
    seller.assert(201);
    let seller_id = seller.body["id"].as_str().unwrap();
    let mut body = product_body("Their Book", None, &[("BOOK-2", 999, "One")]);
    body["seller_id"] = json!(seller_id);
    app.product(&admin.access, body).await;
    app.delete(&format!("/api/v1/admin/sellers/{default_id}"), Some(&admin.access)).await.assert_error(409, "conflict");
    app.delete(&format!("/api/v1/admin/sellers/{seller_id}"), Some(&admin.access)).await.assert_error(409, "conflict");
    let patched = app
        .patch(&format!("/api/v1/admin/sellers/{seller_id}"), Some(&admin.access), json!({"stripe_account_id": null}))
        .await;
    patched.assert(200);
    assert!(patched.body["stripe_account_id"].is_null());
    assert_eq!(patched.body["payout_wallet"], "9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM");
}

async fn concurrent_creates_with_one_sku_give_one_product(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let attempts = (0..16).map(|i| {
        let body = product_body(&format!("Racer {i}"), None, &[("RACE-1", 100, "S")]);
        app.create_product(&admin.access, body)
    });
    let results = futures::future::join_all(attempts).await;
    let created = results.iter().filter(|r| r.status.as_u16() == 201).count();
    for r in &results {
        assert!(matches!(r.status.as_u16(), 201 | 409), "{}", r.text);
    }
    assert_eq!(created, 1);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM variants WHERE sku = $1", "RACE-1").await, 1);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM products WHERE title LIKE $1", "Racer%").await, 1);
}
