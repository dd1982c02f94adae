use crate::helpers::{Db, PASSWORD, TestApp, unique_email};
use crate::on_both_databases;
use reqwest::Method;
use serde_json::json;

on_both_databases!(
    register_login_refresh_and_read_me,
    registration_rejects_bad_input_and_creates_nothing,
    duplicate_email_is_409_whatever_its_case,
    wrong_password_and_unknown_email_look_the_same,
    refresh_rotates_and_reuse_revokes_the_family,
    logout_revokes_the_refresh_token,
    suspended_users_cannot_sign_in_or_refresh,
);

async fn register_login_refresh_and_read_me(db: Db) {
    let app = TestApp::spawn(db).await;
    let email = unique_email("Ada.");
    let res = app.register_raw(&format!("  {} ", email.to_uppercase()), PASSWORD, " Ada Lovelace ").await;
    res.assert(201);
    assert_eq!(res.body["user"]["email"], email.to_lowercase(), "email is normalised");
    assert_eq!(res.body["user"]["full_name"], "Ada Lovelace");
    assert_eq!(res.body["user"]["role"], "customer");
    assert_eq!(res.body["token_type"], "Bearer");
    assert_eq!(res.body["expires_in"], 900);
    assert!(res.body["user"].get("password_hash").is_none());

    let login = app.login(&email.to_lowercase(), PASSWORD).await;
    let me = app.me(&login.access).await;
    me.assert(200);
    assert_eq!(me.body["id"], res.body["user"]["id"]);

    let refreshed = app.refresh(&login.refresh).await;
    refreshed.assert(200);
    let new_access = refreshed.body["access_token"].as_str().expect("access");
    assert_ne!(refreshed.body["refresh_token"], login.refresh.as_str(), "a new refresh token each time");
    app.me(new_access).await.assert(200);
    app.shutdown().await;
}

async fn registration_rejects_bad_input_and_creates_nothing(db: Db) {
    let app = TestApp::spawn(db).await;
    let path = "/api/v1/auth/register";
    let email = unique_email("bad");

    let res = app.raw(Method::POST, path, "application/json", r#"{"email": "#).await;
    res.assert_error(400, "malformed_json");

    let res = app.post(path, None, json!({"email": email, "password": PASSWORD})).await;
    res.assert_error(422, "validation_failed");
    assert!(res.body["error"]["details"]["fields"]["full_name"].is_string(), "{}", res.text);

    let res = app.post(path, None, json!({"email": email, "password": 1234567890, "full_name": "A"})).await;
    res.assert_error(422, "validation_failed");
    assert!(res.body["error"]["details"]["fields"]["password"].is_string(), "{}", res.text);

    let res = app.raw(Method::POST, path, "text/plain", "hello").await;
    res.assert_error(415, "unsupported_media_type");

    let res = app.register_raw("not-an-email", PASSWORD, "").await;
    res.assert_error(422, "validation_failed");
    let fields = &res.body["error"]["details"]["fields"];
    assert!(fields["email"].is_string() && fields["full_name"].is_string(), "every bad field named: {}", res.text);

    let res = app.register_raw(&email, "short", "Ada").await;
    res.assert_error(422, "validation_failed");
    assert_eq!(res.body["error"]["details"]["rule"], "min_length");
    assert!(res.body["error"]["details"]["fields"]["password"].is_string());

    // A weak password and other bad fields are reported together.
    let res = app.register_raw("nope", "short", " ").await;
    res.assert_error(422, "validation_failed");
    let fields = res.body["error"]["details"]["fields"].as_object().expect("fields");
    assert_eq!(fields.keys().collect::<Vec<_>>(), ["email", "full_name", "password"], "{}", res.text);

    let res = app.register_raw(&email, &email, "Ada").await;
    res.assert_error(422, "validation_failed");
    assert_eq!(res.body["error"]["details"]["rule"], "not_email");

    // Nothing was created: the address is still free and cannot sign in.
    app.login_raw(&email, PASSWORD).await.assert_error(401, "invalid_credentials");
    app.register_raw(&email, PASSWORD, "Ada").await.assert(201);
}

async fn duplicate_email_is_409_whatever_its_case(db: Db) {
    let app = TestApp::spawn(db).await;
    let email = unique_email("dup");
    app.register_raw(&email, PASSWORD, "First").await.assert(201);
    app.register_raw(&email, "another password", "Second").await.assert_error(409, "email_taken");
    app.register_raw(&email.to_uppercase(), PASSWORD, "Third").await.assert_error(409, "email_taken");
    // The first account is untouched.
    let login = app.login(&email, PASSWORD).await;
    assert_eq!(app.me(&login.access).await.body["full_name"], "First");
}

async fn wrong_password_and_unknown_email_look_the_same(db: Db) {
    let app = TestApp::spawn(db).await;
    let account = app.register().await;
    let wrong = app.login_raw(&account.email, "wrong password!").await;
    wrong.assert_error(401, "invalid_credentials");
    let unknown = app.login_raw(&unique_email("nobody"), "wrong password!").await;
    unknown.assert_error(401, "invalid_credentials");
    assert_eq!(wrong.body, unknown.body, "the two failures must be indistinguishable");
    let malformed = app.login_raw("not an email", "wrong password!").await;
    assert_eq!(malformed.body, unknown.body);
}

async fn refresh_rotates_and_reuse_revokes_the_family(db: Db) {
    let app = TestApp::spawn(db).await;
    let account = app.register().await;
    let first = app.refresh(&account.refresh).await;
    first.assert(200);
    let second_token = first.body["refresh_token"].as_str().expect("token").to_owned();

    // Presenting the spent token again: theft is assumed, the family dies.
    app.refresh(&account.refresh).await.assert_error(401, "refresh_token_reused");
    app.refresh(&second_token).await.assert_error(401, "refresh_token_reused");

    // Another sign-in of the same user is a different family and survives.
    let other = app.login(&account.email, PASSWORD).await;
    app.refresh(&other.refresh).await.assert(200);

    app.refresh("never-issued").await.assert_error(401, "invalid_token");
    app.post("/api/v1/auth/refresh", None, json!({})).await.assert_error(422, "validation_failed");
}

async fn logout_revokes_the_refresh_token(db: Db) {
    let app = TestApp::spawn(db).await;
    let account = app.register().await;
    app.logout(&account.refresh).await.assert(204);
    let res = app.refresh(&account.refresh).await;
    res.assert(401);
    // Logging out twice, or with an unknown token, is harmless.
    app.logout(&account.refresh).await.assert(204);
    app.logout("never-issued").await.assert(204);
}

async fn suspended_users_cannot_sign_in_or_refresh(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(identity::Role::Admin).await;
    let customer = app.register().await;
    // Signed-in and active: the account is now in the authentication cache,
    // which the suspension must invalidate.
    app.me(&customer.access).await.assert(200);
    app.admin_update_user(&admin.access, &customer.id, json!({"suspended": true})).await.assert(200);

    app.login_raw(&customer.email, PASSWORD).await.assert_error(403, "account_suspended");
    app.refresh(&customer.refresh).await.assert(401);
    app.me(&customer.access).await.assert_error(403, "account_suspended");

    // A wrong password on a suspended account reveals nothing.
    app.login_raw(&customer.email, "wrong password!").await.assert_error(401, "invalid_credentials");

    app.admin_update_user(&admin.access, &customer.id, json!({"suspended": false})).await.assert(200);
    let again = app.login(&customer.email, PASSWORD).await;
    app.me(&again.access).await.assert(200);
}

/// Behind a proxy the limiter keys on the hop the proxy appended, not on the
/// first hop, which the client writes itself.
#[tokio::test]
async fn a_forged_first_forwarded_hop_does_not_escape_the_limit() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.auth_rate_limit = 3;
        s.trust_forwarded_for = true;
        s.trusted_proxies = vec!["127.0.0.1/32".parse().expect("cidr")];
    })
    .await;
    let app = &app;
    let login = |forged: String, client: &'static str| async move {
        let forwarded = format!("{forged}, {client}");
        let body = json!({"email": "someone@example.com", "password": "wrong password!"});
        app.send(Method::POST, "/api/v1/auth/login", None, &[("x-forwarded-for", &forwarded)], Some(body)).await
    };
    for i in 0..3 {
        login(format!("10.9.8.{i}"), "203.0.113.5").await.assert(401);
    }
    for i in 3..6 {
        login(format!("10.9.8.{i}"), "203.0.113.5").await.assert_error(429, "rate_limited");
    }
    // Another client behind the same proxy has its own bucket.
    login("10.9.8.200".into(), "203.0.113.6").await.assert(401);
}

#[tokio::test]
async fn auth_endpoints_are_rate_limited_per_client() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.auth_rate_limit = 3).await;
    for _ in 0..3 {
        app.login_raw("someone@example.com", "wrong password!").await.assert(401);
    }
    let limited = app.login_raw("someone@example.com", "wrong password!").await;
    limited.assert_error(429, "rate_limited");
    let retry_after: u64 = limited.headers["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=20).contains(&retry_after), "retry-after {retry_after}");
    // Registration shares the limit; other routes do not.
    app.register_raw(&unique_email("rl"), PASSWORD, "X").await.assert_error(429, "rate_limited");
    app.get("/health/live", None).await.assert(200);
}
