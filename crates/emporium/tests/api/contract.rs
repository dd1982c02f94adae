//! The API contract's cross-cutting promises: timestamps are RFC 3339
//! strings, authorization is settled before the body is read, every refusal
//! is JSON, token answers are never cached, currencies are real ISO 4217.

// Test code: a failed unwrap is a failed test with its location.
#![allow(clippy::unwrap_used)]

use crate::catalog_helpers::product_body;
use crate::helpers::{Db, TestApp};
use crate::on_both_databases;
use identity::Role;
use reqwest::Method;
use serde_json::{Value, json};

on_both_databases!(timestamps_are_rfc3339_strings_everywhere);

/// Every `…_at` field anywhere in `value`, with its path.
fn timestamps<'v>(value: &'v Value, path: String, out: &mut Vec<(String, &'v Value)>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let here = format!("{path}.{key}");
                if key.ends_with("_at") {
                    out.push((here.clone(), v));
                }
                timestamps(v, here, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                timestamps(v, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn assert_rfc3339(what: &str, body: &Value) -> usize {
    let mut found = Vec::new();
    timestamps(body, what.to_owned(), &mut found);
    for (path, v) in &found {
        if v.is_null() {
            continue;
        }
        let text = v.as_str().unwrap_or_else(|| panic!("{path} is not a string: {v}"));
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("{path} = {text:?} is not RFC 3339: {e}"));
    }
    found.len()
}

async fn timestamps_are_rfc3339_strings_everywhere(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let category = app.create_category(&admin.access, "Tents", None).await;
    let product =
        app.product(&admin.access, product_body("Tent", category["id"].as_str(), &[("TENT-1", 19900, "One")])).await;
    let id = product["id"].as_str().unwrap();
    let store = json!({"name": "Leeds", "line1": "1 Main St", "city": "Leeds", "postal_code": "LS1", "country": "gb",
        "latitude": 53.8, "longitude": -1.55, "opening_hours": [{"day": "mon", "opens": "09:00", "closes": "18:00"}]});
    let customer = app.register().await;
    let review = json!({"rating": 4, "title": "Dry", "body": "Kept the rain out."});
    app.post(&format!("/api/v1/products/{id}/reviews"), Some(&customer.access), review).await.assert(201);
    app.post("/api/v1/users/me/wishlist", Some(&customer.access), json!({"product_id": id})).await.assert(201);

    let mut checked = 0;
    checked += assert_rfc3339("category", &category);
    checked += assert_rfc3339("product", &product);
    checked += assert_rfc3339("store", &app.post("/api/v1/admin/stores", Some(&admin.access), store).await.body);
    for (what, path, token) in [
        ("product page", format!("/api/v1/products/{id}"), None),
        ("admin products", "/api/v1/admin/products".to_owned(), Some(&admin.access)),
        ("variants", format!("/api/v1/admin/products/{id}/variants"), Some(&admin.access)),
        ("categories", "/api/v1/admin/categories".to_owned(), Some(&admin.access)),
        ("sellers", "/api/v1/admin/sellers".to_owned(), Some(&admin.access)),
        ("reviews", format!("/api/v1/products/{id}/reviews"), None),
        ("wishlist", "/api/v1/users/me/wishlist".to_owned(), Some(&customer.access)),
        ("notifications", "/api/v1/admin/notifications".to_owned(), Some(&admin.access)),
        ("me", "/api/v1/users/me".to_owned(), Some(&customer.access)),
    ] {
        // Notifications are written by an event consumer: give it a moment.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let n = loop {
            let res = app.get(&path, token.map(String::as_str)).await;
            res.assert(200);
            let n = assert_rfc3339(what, &res.body);
            if n > 0 {
                break n;
            }
            assert!(std::time::Instant::now() < deadline, "{what} carries no timestamp at all: {}", res.text);
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        };
        checked += n;
    }
    assert!(checked >= 20, "only {checked} timestamps checked");
}

/// A stranger gets 401 and a customer 403 from an admin write, whatever the
/// body: never a 422 describing the admin API's fields.
#[tokio::test]
async fn authorization_comes_before_the_body() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let customer = app.register().await;
    let some_id = "0190a0a0-0000-7000-8000-000000000000";
    let writes = [
        (Method::POST, "/api/v1/admin/products".to_owned()),
        (Method::PATCH, format!("/api/v1/admin/products/{some_id}")),
        (Method::POST, format!("/api/v1/admin/products/{some_id}/variants")),
        (Method::PATCH, format!("/api/v1/admin/products/{some_id}/variants/{some_id}")),
        (Method::POST, "/api/v1/admin/categories".to_owned()),
        (Method::PATCH, format!("/api/v1/admin/categories/{some_id}")),
        (Method::POST, "/api/v1/admin/sellers".to_owned()),
        (Method::POST, "/api/v1/admin/stores".to_owned()),
        (Method::PUT, format!("/api/v1/admin/stores/{some_id}")),
        (Method::PATCH, format!("/api/v1/admin/reviews/{some_id}")),
        (Method::PUT, "/api/v1/admin/inventory/SKU-1".to_owned()),
        (Method::POST, "/api/v1/admin/inventory/SKU-1/adjustments".to_owned()),
        (Method::POST, format!("/api/v1/admin/orders/{some_id}/transitions")),
        (Method::POST, format!("/api/v1/admin/orders/{some_id}/fulfillments")),
        (Method::POST, format!("/api/v1/admin/orders/{some_id}/refunds")),
        (Method::POST, "/api/v1/admin/discounts".to_owned()),
        (Method::POST, "/api/v1/admin/shipping-methods".to_owned()),
        (Method::POST, "/api/v1/admin/tax-rates".to_owned()),
        (Method::PATCH, format!("/api/v1/admin/users/{some_id}")),
    ];
    for (method, path) in &writes {
        app.request(method.clone(), path, None, Some(json!({}))).await.assert_error(401, "unauthenticated");
        let res = app.request(method.clone(), path, Some(&customer.access), Some(json!({}))).await;
        assert_eq!(res.status.as_u16(), 403, "{method} {path}: {}", res.text);
        assert_eq!(res.code(), "forbidden", "{method} {path}: {}", res.text);
    }

    // An image upload: 401 before its multipart body is looked at, even a broken one.
    let images = format!("/api/v1/admin/products/{some_id}/images");
    app.raw(Method::POST, &images, "multipart/form-data", "garbage").await.assert_error(401, "unauthenticated");
    let form = "multipart/form-data; boundary=X";
    app.raw(Method::POST, &images, form, "--X\r\nbroken").await.assert_error(401, "unauthenticated");
    // Staff read users but do not change them: refused before a broken body is read.
    let staff = app.account_with_role(Role::Staff).await;
    let users = format!("/api/v1/admin/users/{}", customer.id);
    app.request(Method::PATCH, &users, Some(&staff.access), Some(json!({"role": {}})))
        .await
        .assert_error(403, "forbidden");
    // Signed in as staff, the broken body is a JSON 400.
    let res = app
        .client
        .post(app.url(&images))
        .bearer_auth(&staff.access)
        .header("content-type", "multipart/form-data")
        .body("garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 400);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
}

#[tokio::test]
async fn token_answers_are_never_cached() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let customer = app.register().await;
    let no_store = |res: &crate::helpers::Response, what: &str| {
        let value = res.headers.get("cache-control").map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(value.as_deref(), Some("no-store"), "{what}");
    };
    no_store(&app.login_raw(&customer.email, crate::helpers::PASSWORD).await, "login");
    no_store(&app.refresh(&customer.refresh).await, "refresh");
    no_store(&app.me(&customer.access).await, "users/me");
    no_store(&app.login_raw(&customer.email, "wrong password!").await, "a refused login");
}

#[tokio::test]
async fn a_currency_must_be_a_real_iso_4217_code() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let admin = app.account_with_role(Role::Admin).await;
    let mut body = product_body("Lamp", None, &[("LAMP-Z", 1000, "One")]);
    body["variants"][0]["price"]["currency"] = json!("ZZZ");
    let res = app.create_product(&admin.access, body).await;
    assert!(matches!(res.status.as_u16(), 400 | 422), "{}", res.text);
    assert!(res.text.contains("ISO 4217"), "{}", res.text);
    let count = app.scalar_i64("SELECT COUNT(*) FROM variants WHERE sku = $1", "LAMP-Z").await;
    assert_eq!(count, 0, "nothing written");

    // A code ISO 4217 has withdrawn reads back from stored documents, but
    // nothing new is priced in it.
    let mut body = product_body("Lamp", None, &[("LAMP-H", 1000, "One")]);
    body["variants"][0]["price"]["currency"] = json!("HRK");
    let res = app.create_product(&admin.access, body).await;
    res.assert_error(422, "validation_failed");
    assert!(res.text.contains("no longer an ISO 4217 currency"), "{}", res.text);
    let count = app.scalar_i64("SELECT COUNT(*) FROM variants WHERE sku = $1", "LAMP-H").await;
    assert_eq!(count, 0, "nothing written");
    let res = app
        .post(
            "/api/v1/admin/discounts",
            Some(&admin.access),
            json!({"code": "OLDKUNA", "kind": "fixed", "value": 500, "currency": "HRK"}),
        )
        .await;
    res.assert_error(422, "validation_failed");
    let res = app
        .post(
            "/api/v1/admin/shipping-methods",
            Some(&admin.access),
            json!({"code": "old", "name": "Old", "price": {"amount": 500, "currency": "HRK"}}),
        )
        .await;
    res.assert_error(422, "validation_failed");
}

#[tokio::test]
async fn a_bad_id_in_a_path_is_a_plain_404() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let res = app.get("/api/v1/products/not-a-uuid", None).await;
    res.assert_error(404, "not_found");
    let message = res.body["error"]["message"].as_str().unwrap();
    assert!(!message.contains("UUID") && !message.contains("parse") && !message.contains("character"), "{message}");
}

/// Every refusal is JSON: an over-long request target, a body that is valid
/// JSON of the wrong shape, an unknown route.
#[tokio::test]
async fn refusals_are_json_whatever_refuses() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let long = format!("/api/v1/products?q={}", "x".repeat(17 * 1024));
    let res = app.get(&long, None).await;
    res.assert_error(414, "uri_too_long");
    // A refusal made by the JSON-error layer carries the security headers too.
    assert_eq!(res.headers.get("x-content-type-options").and_then(|v| v.to_str().ok()), Some("nosniff"));
    assert_eq!(res.headers.get("x-frame-options").and_then(|v| v.to_str().ok()), Some("DENY"));

    // serde_json calls a map where an enum's string belongs a syntax error;
    // it is valid JSON, so a 422 naming the field, not a 400.
    let admin = app.account_with_role(Role::Admin).await;
    let customer = app.register().await;
    let res =
        app.patch(&format!("/api/v1/admin/users/{}", customer.id), Some(&admin.access), json!({"role": {}})).await;
    res.assert_error(422, "validation_failed");
    // Broken JSON is still a 400.
    let res = app.raw(Method::POST, "/api/v1/auth/login", "application/json", "{\"email\": ").await;
    res.assert_error(400, "malformed_json");
    // `null` is no cancel reason, as the document allows: the order is looked up.
    let unknown = "/api/v1/orders/0190a0a0-0000-7000-8000-000000000000/cancel";
    let res = app.raw_with_token(Method::POST, unknown, &customer.access, "application/json", "null").await;
    res.assert_error(404, "not_found");
}

/// The checkout's postal address and identity's saved address are two
/// shapes with two names in the OpenAPI document.
#[tokio::test]
async fn the_document_names_each_address_shape() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let doc = app.get("/api/openapi.json", None).await.body;
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["Address"]["properties"]["id"].is_object(), "a saved address has an id");
    let postal = &schemas["PostalAddress"];
    assert!(postal["properties"]["line1"].is_object() && postal["properties"]["id"].is_null(), "{postal}");
    let order_address = doc["components"]["schemas"]["Order"]["properties"]["shipping_address"].to_string();
    assert!(order_address.contains("PostalAddress"), "{order_address}");
}
