use crate::helpers::{Db, TestApp, address_body};
use crate::on_both_databases;
use serde_json::json;

on_both_databases!(address_book_crud_keeps_one_default_of_each_kind, bad_addresses_are_422_and_others_are_404);

fn defaults(addresses: &[serde_json::Value]) -> (Vec<String>, Vec<String>) {
    let pick = |key: &str| {
        addresses
            .iter()
            .filter(|a| a[key] == true)
            .map(|a| a["full_name"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    (pick("is_default_shipping"), pick("is_default_billing"))
}

async fn address_book_crud_keeps_one_default_of_each_kind(db: Db) {
    let app = TestApp::spawn(db).await;
    let user = app.register().await;
    let token = user.access.as_str();

    let home = app.add_address(token, address_body("Home")).await;
    home.assert(201);
    assert_eq!(home.body["country"], "US");
    let home_id = home.body["id"].as_str().expect("id").to_owned();
    // The first address becomes both defaults.
    assert_eq!(defaults(&app.addresses(token).await), (vec!["Home".into()], vec!["Home".into()]));

    let mut work = address_body("Work");
    work["is_default_shipping"] = json!(true);
    work["country"] = json!("de");
    let work = app.add_address(token, work).await;
    work.assert(201);
    assert_eq!(work.body["country"], "DE", "country codes are upper-cased");
    let work_id = work.body["id"].as_str().expect("id").to_owned();
    assert_eq!(defaults(&app.addresses(token).await), (vec!["Work".into()], vec!["Home".into()]));

    let res = app
        .patch(
            &format!("/api/v1/users/me/addresses/{home_id}"),
            Some(token),
            json!({"is_default_shipping": true, "line2": "Apt 4"}),
        )
        .await;
    res.assert(200);
    assert_eq!(res.body["line2"], "Apt 4");
    assert_eq!(defaults(&app.addresses(token).await), (vec!["Home".into()], vec!["Home".into()]));

    // Deleting a default hands it to the oldest remaining address.
    app.delete(&format!("/api/v1/users/me/addresses/{home_id}"), Some(token)).await.assert(204);
    assert_eq!(defaults(&app.addresses(token).await), (vec!["Work".into()], vec!["Work".into()]));
    app.delete(&format!("/api/v1/users/me/addresses/{work_id}"), Some(token)).await.assert(204);
    assert!(app.addresses(token).await.is_empty());
}

async fn bad_addresses_are_422_and_others_are_404(db: Db) {
    let app = TestApp::spawn(db).await;
    let alice = app.register().await;
    let bob = app.register().await;

    let mut bad = address_body("");
    bad["country"] = json!("Narnia");
    bad["postal_code"] = json!("");
    let res = app.add_address(&alice.access, bad).await;
    res.assert_error(422, "validation_failed");
    let fields = res.body["error"]["details"]["fields"].as_object().expect("fields");
    for field in ["full_name", "country", "postal_code"] {
        assert!(fields.contains_key(field), "{field} not named: {}", res.text);
    }
    let mut missing = address_body("A");
    missing.as_object_mut().expect("object").remove("city");
    app.add_address(&alice.access, missing).await.assert_error(422, "validation_failed");
    assert!(app.addresses(&alice.access).await.is_empty(), "nothing was stored");

    let created = app.add_address(&alice.access, address_body("Alice")).await;
    let id = created.body["id"].as_str().expect("id");
    let path = format!("/api/v1/users/me/addresses/{id}");
    // Bob cannot see, change or delete Alice's address.
    app.patch(&path, Some(&bob.access), json!({"city": "Paris"})).await.assert_error(404, "not_found");
    app.delete(&path, Some(&bob.access)).await.assert_error(404, "not_found");
    app.patch(&path, Some(&alice.access), json!({"country": "ZZ"})).await.assert_error(422, "validation_failed");
    app.patch("/api/v1/users/me/addresses/not-a-uuid", Some(&alice.access), json!({}))
        .await
        .assert_error(404, "not_found");
    let stored = app.addresses(&alice.access).await;
    assert_eq!(stored[0]["city"], "Cupertino", "failed updates changed nothing");
    app.get("/api/v1/users/me/addresses", None).await.assert_error(401, "unauthenticated");
}
