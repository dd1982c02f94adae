//! Access tokens are short-lived HS256 JWTs; refresh tokens are opaque random
//! strings of which only a SHA-256 digest is stored, grouped in families so
//! that re-use of a spent token can revoke every descendant.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use uuid::Uuid;

const ISSUER: &str = "emporium";

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    /// Refresh-token family the session belongs to.
    pub sid: Uuid,
}

#[derive(Clone)]
pub struct TokenIssuer {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl: time::Duration,
    pub refresh_ttl: time::Duration,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("key", &"[redacted]")
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .finish()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid")]
    Invalid,
}

impl TokenIssuer {
    pub fn new(secret: &[u8], access_ttl: time::Duration, refresh_ttl: time::Duration) -> Self {
        // Only HS256 is accepted: a token claiming `alg: none` or any other
        // algorithm fails validation before its signature is even looked at.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = 0;
        TokenIssuer {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl,
            refresh_ttl,
        }
    }

    pub fn issue_access(&self, user_id: Uuid, family: Uuid, now: OffsetDateTime) -> anyhow::Result<String> {
        let claims = Claims {
            sub: user_id,
            iat: now.unix_timestamp(),
            exp: (now + self.access_ttl).unix_timestamp(),
            iss: ISSUER.to_owned(),
            sid: family,
        };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    pub fn verify_access(&self, token: &str) -> Result<Claims, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).map(|data| data.claims).map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            }
        })
    }
}

/// A refresh token as handed to the client, with the digest we store.
#[derive(Debug, Clone)]
pub struct RefreshToken {
    pub plaintext: String,
    pub hash: Vec<u8>,
}

impl RefreshToken {
    pub fn generate() -> RefreshToken {
        let plaintext = random_token();
        let hash = digest(&plaintext);
        RefreshToken { plaintext, hash }
    }
}

/// 256 random bits, URL-safe base64.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn digest(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// The stored form of a refresh token.
#[derive(Debug, Clone, PartialEq)]
pub struct RefreshTokenRecord {
    pub id: Uuid,
    pub family_id: Uuid,
    pub user_id: Uuid,
    pub token_hash: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(secret: &[u8]) -> TokenIssuer {
        TokenIssuer::new(secret, time::Duration::minutes(15), time::Duration::days(30))
    }

    #[test]
    fn round_trip_and_rejections() {
        let issuer = issuer(b"0123456789abcdef0123456789abcdef");
        let user = kernel::new_id();
        let family = kernel::new_id();
        let now = OffsetDateTime::now_utc();
        let token = issuer.issue_access(user, family, now).expect("issue");
        let claims = issuer.verify_access(&token).expect("valid");
        assert_eq!((claims.sub, claims.sid), (user, family));

        let stale = issuer.issue_access(user, family, now - time::Duration::hours(1)).expect("issue");
        assert_eq!(issuer.verify_access(&stale).err(), Some(TokenError::Expired));

        let other = self::issuer(b"another secret another secret!!!");
        assert_eq!(other.verify_access(&token).err(), Some(TokenError::Invalid));

        // alg: none with the same claims.
        let parts: Vec<&str> = token.split('.').collect();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let unsigned = format!("{none_header}.{}.", parts[1]);
        assert_eq!(issuer.verify_access(&unsigned).err(), Some(TokenError::Invalid));
    }

    #[test]
    fn refresh_tokens_are_random_and_digested() {
        let a = RefreshToken::generate();
        let b = RefreshToken::generate();
        assert_ne!(a.plaintext, b.plaintext);
        assert_eq!(a.hash, digest(&a.plaintext));
        assert_eq!(a.hash.len(), 32);
    }
}
