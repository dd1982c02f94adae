//! `/media/{key}`: stored images. Keys are content hashes, so an answer
//! never changes and may be cached for a year.

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub fn router() -> Router<AppState> {
    Router::new().route(&format!("{}/{{key}}", catalog::MEDIA_PATH), get(serve))
}

async fn serve(State(state): State<AppState>, Path(key): Path<String>, headers: HeaderMap) -> ApiResult<Response> {
    if media::validate_key(&key).is_err() {
        return Err(ApiError::not_found("image"));
    }
    let etag = format!("\"{key}\"");
    if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains(&etag)) {
        return Ok((StatusCode::NOT_MODIFIED, cache_headers(&etag)).into_response());
    }
    let object = state
        .media
        .get(&key)
        .await
        .map_err(|e| ApiError::unavailable("image storage", e))?
        .ok_or_else(|| ApiError::not_found("image"))?;
    let mut response = (cache_headers(&etag), object.bytes).into_response();
    if let Ok(value) = HeaderValue::from_str(&object.content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    Ok(response)
}

fn cache_headers(etag: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=31536000, immutable"));
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    headers
}
