//! Liveness, readiness and metrics. Not part of the versioned API.

use crate::state::AppState;
use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};

pub fn router() -> Router<AppState> {
    Router::new().route("/health/live", get(live)).route("/health/ready", get(ready)).route("/metrics", get(metrics))
}

/// The process is up and serving HTTP.
async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can do useful work: its database answers (503 if not).
/// The broker is reported beside it, and its absence only degrades the
/// node (`"status": "degraded"`, still 200): events wait in the outbox
/// until it is back, and requests are served meanwhile.
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let database = state.identity.ready().await;
    if let Err(e) = &database {
        tracing::warn!(error = %e, "readiness check failed: database");
    }
    let broker = state.bus.check().await;
    if let Some(Err(e)) = &broker {
        tracing::warn!(error = format!("{e:#}"), "readiness check: the broker is unavailable");
    }
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    let mut checks = json!({ "database": word(database.is_ok()) });
    if let Some(result) = &broker {
        checks["broker"] = json!(word(result.is_ok()));
    }
    let (status, summary) = match (database.is_ok(), broker.as_ref().is_none_or(Result::is_ok)) {
        (false, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (true, false) => (StatusCode::OK, "degraded"),
        (true, true) => (StatusCode::OK, "ok"),
    };
    (status, Json(json!({ "status": summary, "checks": checks })))
}

/// The Prometheus text exposition of every metric.
async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
