//! Extractors whose rejections speak the error contract: a malformed body is
//! 400, a missing or mistyped field 422, all as JSON with details.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use identity::{Action, Resource, User};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;
use std::marker::PhantomData;

/// `axum::Json` with contract-shaped rejections.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(req.headers()) {
            return Err(not_json());
        }
        let bytes =
            axum::body::Bytes::from_request(req, state).await.map_err(|e| json_rejection(JsonRejection::from(e)))?;
        match axum::Json::<T>::from_bytes(&bytes) {
            Ok(axum::Json(value)) => Ok(Json(value)),
            // serde_json calls some misfits (a map where an enum's string
            // belongs) syntax errors; a body that is valid JSON is a 422.
            Err(JsonRejection::JsonSyntaxError(e))
                if serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).is_ok() =>
            {
                Err(deserialize_failure(inner_message(&e, e.body_text())))
            }
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => deserialize_failure(inner_message(&e, e.body_text())),
        JsonRejection::JsonSyntaxError(e) => ApiError::bad_request(
            "malformed_json",
            format!("the request body is not valid JSON: {}", inner_message(&e, e.body_text())),
        ),
        JsonRejection::MissingJsonContentType(_) => not_json(),
        JsonRejection::BytesRejection(e) => {
            let status = e.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(status, "payload_too_large", "the request body is too large")
            } else {
                ApiError::bad_request("bad_request", e.body_text())
            }
        }
        other => ApiError::bad_request("bad_request", other.body_text()),
    }
}

fn not_json() -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        "expected a request with `Content-Type: application/json`",
    )
}

/// Whether the request says its body is JSON (`application/json` or a
/// `+json` type), as `axum::Json` requires.
fn is_json(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The underlying serde message of a rejection (axum's own text prefixes it
/// with a generic sentence), or `fallback` when there is none.
fn inner_message(rejection: &dyn std::error::Error, fallback: String) -> String {
    rejection.source().map_or(fallback, ToString::to_string)
}

/// A body or query string that parsed but did not fit the expected shape:
/// 422 naming the field serde complained about.
fn deserialize_failure(detail: String) -> ApiError {
    // serde's message names the field: "missing field `email`" or
    // "password: invalid type: integer `5`, expected a string".
    let field = field_of(&detail);
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed", detail.clone())
        .with_details(json!({ "fields": { field: detail } }))
}

/// Best-effort name of the offending field in a serde message.
fn field_of(message: &str) -> String {
    if let Some(rest) = message.split("field `").nth(1)
        && let Some(name) = rest.split('`').next()
    {
        return name.to_owned();
    }
    // "path.to.field: invalid type ..." (serde_path_to_error format).
    match message.split_once(": ") {
        Some((path, _)) if !path.contains(' ') && !path.is_empty() => path.to_owned(),
        _ => "body".to_owned(),
    }
}

/// `axum::extract::Path` with contract-shaped rejections (a malformed id is
/// a 404: no such resource can exist).
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Path(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                // Name the segment, not what the parser thought of it.
                use axum::extract::path::ErrorKind;
                let message = match e.kind() {
                    ErrorKind::ParseErrorAtKey { key, .. } | ErrorKind::InvalidUtf8InPathParam { key } => {
                        format!("no such resource: `{key}` is not a valid id")
                    }
                    _ => "no such resource".to_owned(),
                };
                Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", message))
            }
            Err(other) => Err(ApiError::bad_request("bad_request", other.body_text())),
        }
    }
}

/// `axum::extract::Query` with contract-shaped rejections (422).
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                Err(deserialize_failure(inner_message(&e, e.body_text())))
            }
            Err(other) => Err(ApiError::bad_request("bad_request", other.body_text())),
        }
    }
}

/// The signed-in user, from `Authorization: Bearer <access token>`.
/// The account is re-read on every request, so a suspension or role change
/// takes effect immediately rather than when the token expires.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub User);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(CurrentUser(user_from_headers(&parts.headers, state).await?))
    }
}

/// A permission a handler needs: a resource and an action on it.
pub trait Permission {
    const RESOURCE: Resource;
    const ACTION: Action;
}

/// The signed-in user, allowed `P`. Checked as the request's parts are
/// read, before the body: a stranger gets 401 and a customer 403 whatever
/// they sent, never a 422 describing the admin API's fields.
#[derive(Debug, Clone)]
pub struct Can<P>(pub User, pub PhantomData<P>);

impl<P: Permission> FromRequestParts<AppState> for Can<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let user = user_from_headers(&parts.headers, state).await?;
        state.authorize(&user, P::RESOURCE, P::ACTION)?;
        Ok(Can(user, PhantomData))
    }
}

/// The permissions handlers ask for, one type each (`Can<WriteProducts>`).
pub mod permit {
    use super::Permission;
    use identity::{Action, Resource};

    macro_rules! permissions {
        ($($name:ident = $resource:ident $action:ident;)*) => {$(
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl Permission for $name {
                const RESOURCE: Resource = Resource::$resource;
                const ACTION: Action = Action::$action;
            }
        )*};
    }

    permissions! {
        ReadProducts = Products Read;
        WriteProducts = Products Write;
        DeleteProducts = Products Delete;
        ReadOrders = Orders Read;
        WriteOrders = Orders Write;
        ReadInventory = Inventory Read;
        WriteInventory = Inventory Write;
        ReadPricing = Pricing Read;
        WritePricing = Pricing Write;
        DeletePricing = Pricing Delete;
        ReadUsers = Users Read;
        WriteUsers = Users Write;
    }
}

/// The live account behind the request's bearer token.
pub async fn user_from_headers(headers: &axum::http::HeaderMap, state: &AppState) -> Result<User, ApiError> {
    let header = headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| ApiError::unauthenticated("sign in: send `Authorization: Bearer <access_token>`"))?;
    let token = header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| ApiError::unauthenticated("the Authorization header must be `Bearer <access_token>`"))?;
    Ok(state.identity.authenticate(token).await?)
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn finds_field_names() {
        assert_eq!(field_of("missing field `email` at line 1 column 2"), "email");
        assert_eq!(field_of("password: invalid type: integer `5`, expected a string"), "password");
        assert_eq!(field_of("invalid type: integer `5`, expected a string"), "body");
    }
}
