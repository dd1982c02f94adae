//! `/api/v1/auth/*`: register, login, refresh, logout.

use crate::error::{ApiResult, ErrorBody};
use crate::extract::Json;
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use identity::{AuthSession, Registration, User};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(login))
        .routes(routes!(refresh))
        .routes(routes!(logout))
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    #[schema(example = "ada@example.com")]
    pub email: String,
    /// At least 10 characters, not the email address.
    pub password: String,
    #[schema(example = "Ada Lovelace")]
    pub full_name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
    /// Six-digit code once TOTP is enrolled.
    pub totp_code: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AuthResponse {
    pub user: User,
    /// Short-lived JWT for `Authorization: Bearer`.
    pub access_token: String,
    /// Single-use; exchange at `/auth/refresh` for a new pair.
    pub refresh_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
}

impl From<AuthSession> for AuthResponse {
    fn from(s: AuthSession) -> Self {
        AuthResponse {
            user: s.user,
            access_token: s.access_token,
            refresh_token: s.refresh_token,
            token_type: "Bearer",
            expires_in: s.expires_in,
        }
    }
}

/// Create a customer account and sign in.
#[utoipa::path(post, path = "/auth/register", tag = "identity", request_body = RegisterRequest,
    responses(
        (status = 201, body = AuthResponse),
        (status = 409, description = "Email already registered", body = ErrorBody),
        (status = 422, description = "Invalid field or weak password", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    Json(body): Json<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<AuthResponse>)> {
    let session = state
        .identity
        .register(Registration { email: body.email, password: body.password, full_name: body.full_name })
        .await?;
    Ok((StatusCode::CREATED, Json(session.into())))
}

/// Sign in with email and password.
#[utoipa::path(post, path = "/auth/login", tag = "identity", request_body = LoginRequest,
    responses(
        (status = 200, body = AuthResponse),
        (status = 401, description = "Wrong email or password", body = ErrorBody),
        (status = 403, description = "Account suspended", body = ErrorBody),
        (status = 429, description = "Rate limited", body = ErrorBody),
    ))]
pub async fn login(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    Json(body): Json<LoginRequest>,
) -> ApiResult<Json<AuthResponse>> {
    let session = state.identity.login(&body.email, &body.password).await?;
    // A guest cart that came along joins the customer's cart.
    if let Some(token) = super::cart::cart_token(&headers)
        && let Err(e) = state.orders.merge_guest_cart(session.user.id, token).await
    {
        tracing::warn!(error = %e, "could not merge the guest cart at sign-in");
    }
    Ok(Json(session.into()))
}

/// Exchange a refresh token for a new pair. The presented token is spent;
/// presenting it again revokes every token of that sign-in.
#[utoipa::path(post, path = "/auth/refresh", tag = "identity", request_body = RefreshRequest,
    responses(
        (status = 200, body = AuthResponse),
        (status = 401, description = "Unknown, expired, revoked or re-used token", body = ErrorBody),
        (status = 403, description = "Account suspended", body = ErrorBody),
    ))]
pub async fn refresh(State(state): State<AppState>, Json(body): Json<RefreshRequest>) -> ApiResult<Json<AuthResponse>> {
    let session = state.identity.refresh(&body.refresh_token).await?;
    Ok(Json(session.into()))
}

/// Revoke the sign-in the refresh token belongs to.
#[utoipa::path(post, path = "/auth/logout", tag = "identity", request_body = RefreshRequest,
    responses((status = 204, description = "Signed out (also when the token was unknown)")))]
pub async fn logout(State(state): State<AppState>, Json(body): Json<RefreshRequest>) -> ApiResult<StatusCode> {
    state.identity.logout(&body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}
