//! The stylesheet and scripts, compiled into the binary and served from
//! `/assets`. htmx is vendored from its npm package (`htmx.org`, see
//! `assets/htmx.VERSION`); nothing is fetched at build or run time.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const FILES: [(&str, &str, &[u8]); 3] = [
    ("site.css", "text/css; charset=utf-8", include_bytes!("../assets/site.css")),
    ("site.js", "text/javascript; charset=utf-8", include_bytes!("../assets/site.js")),
    ("htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("../assets/htmx.min.js")),
];

pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new().route("/assets/{name}", get(asset))
}

async fn asset(Path(name): Path<String>) -> Response {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")),
            ],
            *bytes,
        )
            .into_response(),
        None => crate::page::PageError::new(StatusCode::NOT_FOUND, "No such file.").into_response(),
    }
}
