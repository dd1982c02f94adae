//! Access tokens that must be refused: expired, tampered, wrongly signed,
//! `alg: none`, malformed or missing.

use crate::helpers::{Db, TestApp};
use crate::on_both_databases;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

on_both_databases!(bad_access_tokens_are_401);

fn sign(key: &[u8], claims: &serde_json::Value) -> String {
    let header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_secret(key)).expect("sign")
}

async fn bad_access_tokens_are_401(db: Db) {
    let app = TestApp::spawn(db).await;
    let account = app.register().await;
    let key = app.signing_key();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims =
        |iat: i64, exp: i64| json!({"sub": account.id, "iat": iat, "exp": exp, "iss": "emporium", "sid": account.id});

    // Sanity: a token we sign ourselves with the app's key is accepted, so
    // the rejections below are about the one thing each one changes.
    app.me(&sign(&key, &claims(now, now + 60))).await.assert(200);

    let expired = sign(&key, &claims(now - 3600, now - 60));
    app.me(&expired).await.assert_error(401, "token_expired");

    let forged = sign(b"not the key not the key not the key!", &claims(now, now + 60));
    app.me(&forged).await.assert_error(401, "invalid_token");

    // Tampered payload: another user id with the original signature.
    let parts: Vec<&str> = account.access.split('.').collect();
    let mut payload: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    payload["sub"] = json!(uuid::Uuid::now_v7());
    let tampered = format!("{}.{}.{}", parts[0], URL_SAFE_NO_PAD.encode(payload.to_string()), parts[2]);
    app.me(&tampered).await.assert_error(401, "invalid_token");

    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let unsigned = format!("{none_header}.{}.", parts[1]);
    app.me(&unsigned).await.assert_error(401, "invalid_token");

    app.me("garbage").await.assert_error(401, "invalid_token");
    let res = app.get("/api/v1/users/me", None).await;
    res.assert_error(401, "unauthenticated");
    assert_eq!(res.headers["www-authenticate"], "Bearer");

    // A well-signed token for a user that does not exist.
    let ghost = json!({"sub": uuid::Uuid::now_v7(), "iat": now, "exp": now + 60, "iss": "emporium", "sid": account.id});
    app.me(&sign(&key, &ghost)).await.assert_error(401, "invalid_token");

    // The real token still works after all that.
    app.me(&account.access).await.assert(200);
}
