//! Many requests at once against a real database: the invariants hold.

use crate::helpers::{Db, PASSWORD, TestApp, address_body, unique_email};
use crate::on_both_databases;
use futures::future::join_all;

on_both_databases!(
    concurrent_registrations_of_one_email_create_one_account,
    concurrent_refreshes_of_one_token_succeed_once,
    concurrent_default_addresses_leave_exactly_one_default
);

async fn concurrent_registrations_of_one_email_create_one_account(db: Db) {
    let app = TestApp::spawn(db).await;
    let email = unique_email("race");
    let results = join_all((0..24).map(|i| {
        let app = &app;
        let email = email.clone();
        async move { app.register_raw(&email, PASSWORD, &format!("Racer {i}")).await }
    }))
    .await;
    let created = results.iter().filter(|r| r.status == 201).count();
    let conflicts = results.iter().filter(|r| r.status == 409 && r.code() == "email_taken").count();
    assert_eq!((created, conflicts), (1, 23), "{:?}", results.iter().map(|r| r.status).collect::<Vec<_>>());
    assert_eq!(app.scalar_i64("SELECT COUNT(*) FROM users WHERE email = $1", &email).await, 1);
    assert_eq!(
        app.scalar_i64("SELECT COUNT(*) FROM outbox WHERE topic = $1", "user.registered").await,
        1,
        "one event for one account: the losers' events rolled back with them"
    );
}

async fn concurrent_refreshes_of_one_token_succeed_once(db: Db) {
    let app = TestApp::spawn(db).await;
    let account = app.register().await;
    let results = join_all((0..16).map(|_| app.refresh(&account.refresh))).await;
    let ok: Vec<_> = results.iter().filter(|r| r.status == 200).collect();
    assert_eq!(ok.len(), 1, "{:?}", results.iter().map(|r| (r.status, r.code().to_owned())).collect::<Vec<_>>());
    assert!(results.iter().filter(|r| r.status != 200).all(|r| r.status == 401));
    // The others were re-use of a spent token, so the family is revoked and
    // the winner's new refresh token is dead too.
    let winner = ok[0].body["refresh_token"].as_str().expect("token");
    app.refresh(winner).await.assert(401);
}

async fn concurrent_default_addresses_leave_exactly_one_default(db: Db) {
    let app = TestApp::spawn(db).await;
    let user = app.register().await;
    let results = join_all((0..12).map(|i| {
        let app = &app;
        let token = user.access.clone();
        async move {
            let mut body = address_body(&format!("Address {i}"));
            body["is_default_shipping"] = serde_json::json!(true);
            body["is_default_billing"] = serde_json::json!(true);
            app.add_address(&token, body).await
        }
    }))
    .await;
    // Each either succeeded or was told to retry; never a 500.
    assert!(
        results.iter().all(|r| r.status == 201 || r.status == 409),
        "{:?}",
        results.iter().map(|r| &r.text).collect::<Vec<_>>()
    );
    let addresses = app.addresses(&user.access).await;
    let created = results.iter().filter(|r| r.status == 201).count();
    assert_eq!(addresses.len(), created);
    assert!(created >= 1);
    assert_eq!(addresses.iter().filter(|a| a["is_default_shipping"] == true).count(), 1);
    assert_eq!(addresses.iter().filter(|a| a["is_default_billing"] == true).count(), 1);
}
