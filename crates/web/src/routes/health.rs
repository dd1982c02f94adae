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

/// The process can do useful work: its database answers.
async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.identity.ready().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ok", "checks": { "database": "ok" } }))),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "checks": { "database": "unavailable" } })),
            )
        }
    }
}

/// The Prometheus text exposition of every metric.
async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render())
}
