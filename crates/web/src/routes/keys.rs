//! `/.well-known/jwks.json`: the public keys that check access tokens.

use crate::error::ApiResult;
use crate::state::AppState;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(jwks))
}

/// RFC 7517 JWK Set: Ed25519 public keys, newest (the current one) first.
#[derive(Debug, Serialize, ToSchema)]
pub struct JwkSetBody {
    pub keys: Vec<JwkBody>,
}

/// One public key (RFC 8037 `OKP`).
#[derive(Debug, Serialize, ToSchema)]
pub struct JwkBody {
    #[schema(example = "OKP")]
    pub kty: String,
    #[schema(example = "Ed25519")]
    pub crv: String,
    /// The public key, base64url.
    pub x: String,
    /// Its RFC 7638 thumbprint, the `kid` in a token's header.
    pub kid: String,
    #[schema(example = "EdDSA")]
    pub alg: String,
    #[serde(rename = "use")]
    #[schema(example = "sig")]
    pub use_: String,
}

/// The keys access tokens are signed with: every service checks a token
/// alone against the key its header's `kid` names, and fetches this again
/// when it meets a `kid` it does not know (after a rotation). A retired key
/// stays here until the tokens it signed have expired.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "auth",
    responses((status = 200, description = "The JWK Set", body = JwkSetBody)),
)]
async fn jwks(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let keys = state.identity.published_keys().await?;
    let body = JwkSetBody {
        keys: keys
            .ed25519()
            .map(|(kid, x)| JwkBody {
                kty: "OKP".to_owned(),
                crv: "Ed25519".to_owned(),
                x: x.to_owned(),
                kid: kid.to_owned(),
                alg: "EdDSA".to_owned(),
                use_: "sig".to_owned(),
            })
            .collect(),
    };
    // Short: a verifier refetches on an unknown kid anyway, and a retired
    // key should leave caches soon after it leaves the set.
    Ok(([(header::CACHE_CONTROL, "public, max-age=60")], axum::Json(body)))
}
