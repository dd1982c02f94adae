//! Access tokens that must be refused: expired, tampered, wrongly signed,
//! `alg: none`, HS256, unknown `kid`, malformed or missing; the published key
//! set; a key rotation.

use crate::helpers::{Db, TestApp};
use crate::on_both_databases;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

on_both_databases!(bad_access_tokens_are_401, the_keys_are_published_and_a_rotation_keeps_live_tokens_valid);

/// The `kid` in a token's header.
fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).expect("header").kid.expect("kid")
}

/// An EdDSA token with `kid` in its header, signed with `der` (PKCS#8).
fn sign(kid: &str, der: &[u8], claims: &serde_json::Value) -> String {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_ed_der(der)).expect("sign")
}

async fn bad_access_tokens_are_401(db: Db) {
    let app = TestApp::spawn(db).await;
    let account = app.register().await;
    let (kid, key) = app.signing_key().await;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = |iat: i64, exp: i64| json!({"sub": account.id, "iat": iat, "exp": exp, "iss": "emporium", "sid": account.id, "role": "customer"});

    // Sanity: a token we sign ourselves with the app's key is accepted, so
    // the rejections below are about the one thing each one changes.
    app.me(&sign(&kid, &key, &claims(now, now + 60))).await.assert(200);

    let expired = sign(&kid, &key, &claims(now - 3600, now - 60));
    app.me(&expired).await.assert_error(401, "token_expired");

    // Another Ed25519 key under the app's kid, and under a kid it never had.
    let mut other = key.clone();
    let last = other.len() - 1;
    other[last] ^= 1;
    app.me(&sign(&kid, &other, &claims(now, now + 60))).await.assert_error(401, "invalid_token");
    app.me(&sign("made-up-kid", &key, &claims(now, now + 60))).await.assert_error(401, "invalid_token");

    // HS256, keyed with the published public key (algorithm confusion), and
    // with the server's HMAC secret.
    let jwks = app.get("/.well-known/jwks.json", None).await;
    let x = jwks.assert(200).body["keys"][0]["x"].as_str().expect("x").to_owned();
    let hmac_key = std::fs::read_to_string(app.settings.data_dir.join("jwt-signing.key")).expect("key file");
    let hmac_key = base64::engine::general_purpose::STANDARD.decode(hmac_key.trim()).expect("base64");
    for secret in [x.into_bytes(), hmac_key] {
        let mut hs = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        hs.kid = Some(kid.clone());
        let token = jsonwebtoken::encode(&hs, &claims(now, now + 60), &jsonwebtoken::EncodingKey::from_secret(&secret))
            .expect("sign");
        app.me(&token).await.assert_error(401, "invalid_token");
    }

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
    let ghost = json!({"sub": uuid::Uuid::now_v7(), "iat": now, "exp": now + 60, "iss": "emporium",
        "sid": account.id, "role": "customer"});
    app.me(&sign(&kid, &key, &ghost)).await.assert_error(401, "invalid_token");

    // The real token still works after all that.
    app.me(&account.access).await.assert(200);
}

async fn the_keys_are_published_and_a_rotation_keeps_live_tokens_valid(db: Db) {
    let app = TestApp::spawn(db).await;
    let first = app.register().await;
    let header = jsonwebtoken::decode_header(&first.access).expect("header");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::EdDSA);
    let first_kid = kid_of(&first.access);

    let jwks = app.get("/.well-known/jwks.json", None).await;
    jwks.assert(200);
    assert_eq!(jwks.headers["cache-control"], "public, max-age=60");
    let keys = jwks.body["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1, "{}", jwks.text);
    assert_eq!(keys[0]["kid"], first_kid.as_str());
    assert_eq!((keys[0]["kty"].as_str(), keys[0]["crv"].as_str()), (Some("OKP"), Some("Ed25519")));
    assert!(keys[0].get("d").is_none(), "no private part: {}", jwks.text);
    // The published key checks the token, with nothing but the document.
    let key = jsonwebtoken::DecodingKey::from_ed_components(keys[0]["x"].as_str().expect("x")).expect("key");
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::EdDSA);
    validation.set_issuer(&["emporium"]);
    let claims = jsonwebtoken::decode::<serde_json::Value>(&first.access, &key, &validation).expect("verifies").claims;
    assert_eq!(claims["sub"], first.id.as_str());
    assert_eq!(claims["role"], "customer");

    // A rotation: new sign-ins name the new key; the old token still works
    // and its key stays published beside the new one (current first).
    let new_kid = app.running().identity.rotate_signing_key().await.expect("rotate");
    assert_ne!(new_kid, first_kid);
    let second = app.login(&first.email, crate::helpers::PASSWORD).await;
    assert_eq!(kid_of(&second.access), new_kid);
    app.me(&second.access).await.assert(200);
    app.me(&first.access).await.assert(200);
    let kids: Vec<String> = app.get("/.well-known/jwks.json", None).await.body["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| k["kid"].as_str().expect("kid").to_owned())
        .collect();
    assert_eq!(kids, vec![new_kid.clone(), first_kid.clone()]);

    // A second rotation soon after keeps both retired keys: their tokens
    // may still be live.
    let third_kid = app.running().identity.rotate_signing_key().await.expect("rotate");
    app.me(&first.access).await.assert(200);
    app.me(&second.access).await.assert(200);
    let published = app.running().identity.published_keys().await.expect("keys");
    assert_eq!(published.kids().collect::<Vec<_>>(), vec![third_kid.as_str(), new_kid.as_str(), first_kid.as_str()]);
}

/// A process that does not run identity checks tokens against identity's
/// published keys alone: it learns a rotation from the `kid`, refuses what
/// those keys did not sign, and never reads the keys from a database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_process_checks_tokens_against_the_published_keys() {
    if crate::helpers::postgres_url().is_none() {
        return crate::helpers::skipped(module_path!());
    }
    let identity = TestApp::spawn(Db::Postgres).await;
    let account = identity.register().await;
    let elsewhere = identity.spawn_beside(|s| s.service_url_identity = Some(identity.url(""))).await;
    assert_eq!(elsewhere.running().identity.key_source(), identity.url("/.well-known/jwks.json"));
    elsewhere.me(&account.access).await.assert(200);

    // Rotated on identity: the first token with the new kid makes the other
    // process fetch the set again.
    let new_kid = identity.running().identity.rotate_signing_key().await.expect("rotate");
    let again = identity.login(&account.email, crate::helpers::PASSWORD).await;
    assert_eq!(kid_of(&again.access), new_kid);
    elsewhere.me(&again.access).await.assert(200);
    elsewhere.me(&account.access).await.assert(200);

    // Signed with the right kid by a key identity never published.
    let (kid, mut der) = identity.signing_key().await;
    let last = der.len() - 1;
    der[last] ^= 0x55;
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let forged = sign(
        &kid,
        &der,
        &json!({"sub": account.id, "iat": now, "exp": now + 60, "iss": "emporium", "sid": account.id, "role": "admin"}),
    );
    elsewhere.me(&forged).await.assert_error(401, "invalid_token");

    // Pointed at an identity that does not answer, a process has no keys
    // (the database it shares holds them, and it does not read them there):
    // every token is refused with a clean 401, never a 5xx.
    let blind = identity.spawn_beside(|s| s.service_url_identity = Some("http://127.0.0.1:9".into())).await;
    blind.me(&account.access).await.assert_error(401, "invalid_token");
    blind.me(&again.access).await.assert_error(401, "invalid_token");
    blind.get("/api/v1/products", None).await.assert(200);
}
