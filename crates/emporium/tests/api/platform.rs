//! Health, metrics, OpenAPI, docs, and the error contract for requests that
//! never reach a handler.

use crate::helpers::{Db, TestApp};
use crate::on_both_databases;
use reqwest::Method;

on_both_databases!(health_endpoints_answer);

async fn health_endpoints_answer(db: Db) {
    let app = TestApp::spawn(db).await;
    app.get("/health/live", None).await.assert(200);
    let ready = app.get("/health/ready", None).await;
    ready.assert(200);
    assert_eq!(ready.body["checks"]["database"], "ok");
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = TestApp::spawn(Db::Sqlite).await;
    match &app.running().backend {
        emporium::Backend::Sqlite(s) => s.close().await,
        emporium::Backend::Postgres(_) => unreachable!(),
    }
    let ready = app.get("/health/ready", None).await;
    ready.assert(503);
    assert_eq!(ready.body["status"], "unavailable");
    app.get("/health/live", None).await.assert(200);
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_status() {
    let app = TestApp::spawn(Db::Sqlite).await;
    app.get("/health/live", None).await.assert(200);
    app.get("/api/v1/users/me", None).await.assert(401);
    let id = uuid::Uuid::now_v7().to_string();
    app.delete(&format!("/api/v1/users/me/addresses/{id}"), None).await.assert(401);
    let res = app.client.get(app.url("/metrics")).send().await.expect("metrics");
    assert_eq!(res.status(), 200);
    let text = res.text().await.expect("text");
    assert!(
        text.lines().any(|l| l.starts_with("http_requests_total")
            && l.contains(r#"route="/api/v1/users/me""#)
            && l.contains(r#"status="401""#)),
        "{text}"
    );
    assert!(text.contains("http_request_duration_seconds_bucket"), "latency is a histogram: {text}");
    assert!(text.contains(r#"route="/api/v1/users/me/addresses/{id}""#), "{text}");
    assert!(!text.contains(&id), "raw paths never become labels");
}

/// PostgreSQL's pools publish their size, idle connections, waiters and
/// wait time.
#[tokio::test]
async fn metrics_show_the_database_pool_on_postgres() {
    if crate::helpers::postgres_url().is_none() {
        crate::helpers::skipped("platform::metrics_show_the_database_pool_on_postgres");
        return;
    }
    let app = TestApp::spawn(Db::Postgres).await;
    app.get("/api/v1/products", None).await.assert(200);
    let mut text = String::new();
    for _ in 0..50 {
        text = app.client.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
        if text.contains(r#"db_pool_connections{pool="main"}"#)
            && text.contains(r#"db_pool_connections{pool="relaxed"}"#)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    for gauge in ["db_pool_connections", "db_pool_idle", "db_pool_waiters", "db_pool_max"] {
        assert!(text.contains(&format!(r#"{gauge}{{pool="main"}}"#)), "{gauge}: {text}");
    }
    assert!(text.contains(r#"db_pool_wait_seconds_count{pool="main"}"#), "each wait is recorded: {text}");
    assert!(text.contains(r#"db_pool_connections{pool="relaxed"}"#), "both pools: {text}");
}

#[tokio::test]
async fn openapi_document_and_docs_are_served() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let doc = app.get("/api/openapi.json", None).await;
    doc.assert(200);
    assert!(doc.body["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    for path in [
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/users/me",
        "/api/v1/users/me/addresses",
        "/api/v1/users/me/addresses/{id}",
        "/api/v1/admin/users",
        "/api/v1/admin/users/{id}",
        "/api/v1/admin/notifications",
        "/.well-known/jwks.json",
    ] {
        assert!(doc.body["paths"].get(path).is_some(), "{path} missing from the OpenAPI document");
    }
    assert!(doc.body["components"]["securitySchemes"]["bearer"].is_object());
    let discounts = &doc.body["paths"]["/api/v1/admin/discounts"]["get"]["parameters"];
    assert!(discounts.as_array().is_some_and(|p| p.iter().any(|p| p["name"] == "q")), "the discount list's q filter");
    assert_eq!(doc.body, serde_json::to_value(web::openapi()).expect("json"), "served document = generated one");

    let page = app.client.get(app.url("/api/docs")).send().await.expect("docs");
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"].to_str().expect("csp").to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(page.text().await.expect("html").contains("swagger-ui-bundle.js"));
    let bundle = app.client.get(app.url("/api/docs/swagger-ui-bundle.js")).send().await.expect("bundle");
    assert_eq!(bundle.status(), 200);
    assert!(bundle.bytes().await.expect("bytes").len() > 100_000);
}

#[tokio::test]
async fn unknown_routes_wrong_methods_and_oversized_bodies_are_json_errors() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.body_limit_bytes = 4096).await;
    let res = app.get("/api/v1/nope", None).await;
    res.assert_error(404, "not_found");
    let res = app.request(Method::DELETE, "/api/v1/auth/login", None, None).await;
    res.assert_error(405, "method_not_allowed");
    assert!(res.headers.contains_key("allow"));
    let big = format!(r#"{{"email":"a@example.com","password":"{}","full_name":"x"}}"#, "x".repeat(10_000));
    app.raw(Method::POST, "/api/v1/auth/register", "application/json", big)
        .await
        .assert_error(413, "payload_too_large");
}

#[tokio::test]
async fn every_response_has_request_id_and_security_headers() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let res = app.get("/health/live", None).await;
    for header in
        ["x-request-id", "x-content-type-options", "x-frame-options", "content-security-policy", "referrer-policy"]
    {
        assert!(res.headers.contains_key(header), "{header} missing");
    }
    assert_eq!(res.headers["x-content-type-options"], "nosniff");
    // A request id sent by a proxy is kept.
    let res = app.client.get(app.url("/health/live")).header("x-request-id", "abc-123").send().await.expect("req");
    assert_eq!(res.headers()["x-request-id"], "abc-123");
}

#[tokio::test]
async fn cors_allows_only_configured_origins_and_responses_are_compressed() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| s.cors_origins = vec!["https://shop.example".into()]).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/api/v1/users/me"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let ok = preflight("https://shop.example").await.expect("preflight");
    assert_eq!(ok.headers()["access-control-allow-origin"], "https://shop.example");
    let other = preflight("https://evil.example").await.expect("preflight");
    assert!(!other.headers().contains_key("access-control-allow-origin"));

    let doc = app.client.get(app.url("/api/openapi.json")).header("accept-encoding", "gzip").send().await.expect("doc");
    assert_eq!(doc.headers()["content-encoding"], "gzip");
}

/// Shutdown lets a request in flight finish. A login with deliberately
/// expensive hashing parameters is the slow request.
#[tokio::test]
async fn in_flight_requests_finish_on_shutdown() {
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.argon2_memory_kib = 64 * 1024;
        s.argon2_iterations = 12;
    })
    .await;
    let url = app.url("/api/v1/auth/login");
    let client = app.client.clone();
    let in_flight = tokio::spawn(async move {
        let started = std::time::Instant::now();
        let res = client
            .post(url)
            .json(&serde_json::json!({"email": "nobody@example.com", "password": "whatever it is"}))
            .send()
            .await;
        (res, started.elapsed())
    });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let addr = app.addr;
    app.shutdown().await;
    let (res, took) = in_flight.await.expect("task");
    let res = res.expect("the in-flight request got its answer");
    assert_eq!(res.status(), 401, "answered normally");
    assert!(took > std::time::Duration::from_millis(100), "it really was in flight when shutdown began ({took:?})");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no longer accepting connections");
}
