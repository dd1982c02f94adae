//! `/api/openapi.json` and the interactive documentation at `/api/docs`
//! (Swagger UI, vendored under `assets/` so nothing is fetched at run time).

use axum::Router;
use axum::http::header;
use axum::response::Html;
use axum::routing::get;
use std::sync::Arc;

const BUNDLE: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
const CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Emporium API</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script>
</body>
</html>"#;

const INIT: &str =
    r##"window.ui = SwaggerUIBundle({ url: "/api/openapi.json", dom_id: "#swagger-ui", deepLinking: true });"##;

/// The docs page needs its own scripts and styles; everything else on the
/// API keeps the strict `default-src 'none'` policy.
const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                        img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

pub fn router<S: Clone + Send + Sync + 'static>(openapi: Arc<String>) -> Router<S> {
    const CACHE: &str = "public, max-age=86400";
    Router::new()
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = openapi.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], doc.as_str().to_owned()) }
            }),
        )
        .route("/api/docs", get(|| async { ([(header::CONTENT_SECURITY_POLICY, DOCS_CSP)], Html(PAGE)) }))
        .route(
            "/api/docs/init.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript"), (header::CACHE_CONTROL, CACHE)], INIT) }),
        )
        .route(
            "/api/docs/swagger-ui-bundle.js",
            get(|| async { ([(header::CONTENT_TYPE, "text/javascript"), (header::CACHE_CONTROL, CACHE)], BUNDLE) }),
        )
        .route(
            "/api/docs/swagger-ui.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css"), (header::CACHE_CONTROL, CACHE)], CSS) }),
        )
        .layer(tower_http::set_header::SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            axum::http::HeaderValue::from_static(DOCS_CSP),
        ))
}
