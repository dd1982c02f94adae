use crate::helpers::{Db, PASSWORD, TestApp, address_body};
use crate::on_both_databases;
use serde_json::json;

on_both_databases!(profile_can_be_read_and_updated, erasing_an_account_removes_personal_data);

async fn profile_can_be_read_and_updated(db: Db) {
    let app = TestApp::spawn(db).await;
    let account = app.register().await;
    assert_eq!(app.me(&account.access).await.body["full_name"], "Test Customer");
    let res = app.patch("/api/v1/users/me", Some(&account.access), json!({"full_name": "  Grace Hopper "})).await;
    res.assert(200);
    assert_eq!(res.body["full_name"], "Grace Hopper");
    assert_eq!(app.me(&account.access).await.body["full_name"], "Grace Hopper");

    app.patch("/api/v1/users/me", Some(&account.access), json!({"full_name": " "}))
        .await
        .assert_error(422, "validation_failed");
    // The email cannot be changed here; an unknown field is refused rather
    // than silently ignored.
    let res = app.patch("/api/v1/users/me", Some(&account.access), json!({"email": "x@example.com"})).await;
    res.assert_error(422, "validation_failed");
    app.patch("/api/v1/users/me", None, json!({"full_name": "X"})).await.assert_error(401, "unauthenticated");
    assert_eq!(app.me(&account.access).await.body["full_name"], "Grace Hopper", "failed updates changed nothing");
}

async fn erasing_an_account_removes_personal_data(db: Db) {
    let app = TestApp::spawn(db).await;
    let account = app.register().await;
    app.add_address(&account.access, address_body("Home")).await.assert(201);
    let export = app.get("/api/v1/users/me/export", Some(&account.access)).await;
    export.assert(200);
    assert_eq!(export.body["user"]["email"], account.email.as_str());
    assert_eq!(export.body["addresses"].as_array().map(Vec::len), Some(1));

    app.delete("/api/v1/users/me", Some(&account.access)).await.assert(204);
    app.me(&account.access).await.assert(401);
    app.login_raw(&account.email, PASSWORD).await.assert_error(401, "invalid_credentials");
    app.refresh(&account.refresh).await.assert(401);
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM users WHERE email = $1", &account.email).await, 0);
    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM outbox WHERE topic = $1", "user.deleted").await,
        1,
        "user.deleted written with the erasure"
    );
    assert_eq!(
        app.scalar_i64(
            "SELECT COUNT(*) FROM outbox WHERE CAST(payload AS TEXT) LIKE $1",
            &format!("%{}%", account.email)
        )
        .await,
        0,
        "no past event still carries the email"
    );
    // The email is free again.
    app.register_raw(&account.email, PASSWORD, "New").await.assert(201);
}
