//! The keys that sign access tokens (Ed25519, `alg: EdDSA`) and the public
//! half every service checks them with, published as a JWK Set at
//! `/.well-known/jwks.json`.
//!
//! Identity keeps its keys in its own database, so every replica of identity
//! signs with the same current key. A rotation retires the current key and
//! makes a new one: a retired key stays published (tokens it signed may
//! still be live) until `access_ttl + KEY_REFRESH × 2` after its retirement,
//! then the next rotation deletes it. Each key is named by its RFC 7638
//! thumbprint, the `kid` in every token's header, so a verifier that meets a
//! `kid` it does not know fetches the set again.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use rand::RngCore as _;
use std::collections::HashMap;
use std::sync::Arc;
use time::OffsetDateTime;

/// How often a node re-reads the keys from where they come from (identity's
/// database for identity itself, the JWKS for the others), so that it signs
/// with the new key and drops a deleted one soon after a rotation. A token
/// that names an unknown `kid` triggers a re-read at once.
pub const KEY_REFRESH: std::time::Duration = std::time::Duration::from_secs(30);

/// RFC 8410 §7: the PKCS#8 v1 encoding of an Ed25519 private key is this
/// fixed prefix followed by the 32-byte seed.
const PKCS8_ED25519_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/// A signing key as identity stores it.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    pub kid: String,
    /// The 32-byte Ed25519 seed.
    pub private_key: Vec<u8>,
    pub created_at: OffsetDateTime,
    /// When a rotation replaced it; `None` for the current key.
    pub retired_at: Option<OffsetDateTime>,
}

impl std::fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("private_key", &"[redacted]")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish()
    }
}

impl SigningKeyRecord {
    /// A new random key, current from `now`.
    pub fn generate(now: OffsetDateTime) -> anyhow::Result<SigningKeyRecord> {
        let mut seed = vec![0u8; 32];
        rand::rng().fill_bytes(&mut seed);
        let jwk = public_jwk(&seed)?;
        Ok(SigningKeyRecord { kid: jwk_kid(&jwk)?, private_key: seed, created_at: now, retired_at: None })
    }

    fn encoding_key(&self) -> anyhow::Result<EncodingKey> {
        anyhow::ensure!(self.private_key.len() == 32, "signing key {} is not a 32-byte Ed25519 seed", self.kid);
        Ok(EncodingKey::from_ed_der(&pkcs8(&self.private_key)))
    }
}

/// The PKCS#8 DER of an Ed25519 seed, as `EncodingKey::from_ed_der` takes it.
pub fn pkcs8(seed: &[u8]) -> Vec<u8> {
    let mut der = PKCS8_ED25519_PREFIX.to_vec();
    der.extend_from_slice(seed);
    der
}

/// The public JWK of an Ed25519 seed, without a `kid`.
fn public_jwk(seed: &[u8]) -> anyhow::Result<Jwk> {
    let mut jwk = Jwk::from_encoding_key(&EncodingKey::from_ed_der(&pkcs8(seed)), Algorithm::EdDSA)?;
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok(jwk)
}

/// RFC 7638 thumbprint (SHA-256) of the key's public part.
fn jwk_kid(jwk: &Jwk) -> anyhow::Result<String> {
    Ok(jwk.thumbprint(ThumbprintHash::SHA256)?)
}

/// The current key, ready to sign.
#[derive(Clone)]
pub struct Signer {
    pub kid: String,
    pub(crate) key: EncodingKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl Signer {
    /// The signer of the current key among `records`.
    pub fn current(records: &[SigningKeyRecord]) -> anyhow::Result<Option<Signer>> {
        records
            .iter()
            .filter(|r| r.retired_at.is_none())
            .max_by_key(|r| r.created_at)
            .map(|r| Ok(Signer { kid: r.kid.clone(), key: r.encoding_key()? }))
            .transpose()
    }
}

/// The published public keys, by `kid`.
#[derive(Clone, Default)]
pub struct PublicKeys {
    by_kid: HashMap<String, Arc<DecodingKey>>,
    jwks: JwkSet,
}

impl std::fmt::Debug for PublicKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PublicKeys").field("kids", &self.by_kid.keys().collect::<Vec<_>>()).finish()
    }
}

impl PublicKeys {
    /// The public halves of identity's stored keys.
    pub fn of_records(records: &[SigningKeyRecord]) -> anyhow::Result<PublicKeys> {
        let mut keys = Vec::with_capacity(records.len());
        // Newest first: the current key leads the set.
        let mut sorted: Vec<&SigningKeyRecord> = records.iter().collect();
        sorted.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        for record in sorted {
            anyhow::ensure!(record.private_key.len() == 32, "signing key {} is not a 32-byte seed", record.kid);
            let mut jwk = public_jwk(&record.private_key)?;
            jwk.common.key_id = Some(record.kid.clone());
            keys.push(jwk);
        }
        PublicKeys::of_jwks(JwkSet { keys })
    }

    /// The Ed25519 signing keys of a JWK Set that carry a `kid`; any other
    /// key in the set is left out (this shop signs with nothing else).
    pub fn of_jwks(set: JwkSet) -> anyhow::Result<PublicKeys> {
        let mut by_kid = HashMap::new();
        let mut kept = Vec::new();
        for jwk in set.keys {
            let Some(kid) = jwk.common.key_id.clone() else { continue };
            let AlgorithmParameters::OctetKeyPair(params) = &jwk.algorithm else { continue };
            if params.curve != EllipticCurve::Ed25519
                || matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature)
            {
                continue;
            }
            let raw = URL_SAFE_NO_PAD.decode(&params.x)?;
            anyhow::ensure!(raw.len() == 32, "key {kid}: an Ed25519 public key is 32 bytes, not {}", raw.len());
            by_kid.insert(kid, Arc::new(DecodingKey::from_ed_components(&params.x)?));
            kept.push(jwk);
        }
        Ok(PublicKeys { by_kid, jwks: JwkSet { keys: kept } })
    }

    /// A JWK Set document as served at `/.well-known/jwks.json`.
    pub fn of_jwks_json(body: &[u8]) -> anyhow::Result<PublicKeys> {
        PublicKeys::of_jwks(serde_json::from_slice(body)?)
    }

    pub fn get(&self, kid: &str) -> Option<Arc<DecodingKey>> {
        self.by_kid.get(kid).cloned()
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.jwks.keys.iter().filter_map(|k| k.common.key_id.as_deref())
    }

    /// The set as jsonwebtoken models it.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// Each key's `kid` and public key `x` (base64url), newest first: what
    /// `/.well-known/jwks.json` publishes.
    pub fn ed25519(&self) -> impl Iterator<Item = (&str, &str)> {
        self.jwks.keys.iter().filter_map(|k| match (&k.common.key_id, &k.algorithm) {
            (Some(kid), AlgorithmParameters::OctetKeyPair(p)) => Some((kid.as_str(), p.x.as_str())),
            _ => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_named_by_its_thumbprint_and_publishes_only_its_public_half() {
        let now = OffsetDateTime::now_utc();
        let record = SigningKeyRecord::generate(now).expect("key");
        let keys = PublicKeys::of_records(std::slice::from_ref(&record)).expect("public");
        let doc = serde_json::to_value(keys.jwks()).expect("json");
        let key = &doc["keys"][0];
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        assert_eq!(key["alg"], "EdDSA");
        assert_eq!(key["use"], "sig");
        assert_eq!(key["kid"], record.kid.as_str());
        assert!(key.get("d").is_none(), "the private part is never published: {key}");
        // RFC 7638: SHA-256 over the required members in lexicographic order.
        let x = key["x"].as_str().expect("x");
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        use sha2::Digest as _;
        assert_eq!(record.kid, URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(canonical.as_bytes())));
        assert!(keys.get(&record.kid).is_some());
        assert_ne!(SigningKeyRecord::generate(now).expect("key").kid, record.kid);
    }

    #[test]
    fn the_current_key_is_the_newest_unretired_one() {
        let now = OffsetDateTime::now_utc();
        let mut old = SigningKeyRecord::generate(now - time::Duration::hours(2)).expect("key");
        let newer = SigningKeyRecord::generate(now - time::Duration::hours(1)).expect("key");
        let newest_retired =
            SigningKeyRecord { retired_at: Some(now), ..SigningKeyRecord::generate(now).expect("key") };
        let records = vec![old.clone(), newer.clone(), newest_retired.clone()];
        assert_eq!(Signer::current(&records).expect("ok").map(|s| s.kid), Some(newer.kid.clone()));
        let kids: Vec<String> = PublicKeys::of_records(&records).expect("ok").kids().map(str::to_owned).collect();
        assert_eq!(kids, vec![newest_retired.kid, newer.kid, old.kid.clone()]);
        old.retired_at = Some(now);
        assert!(Signer::current(&[old]).expect("ok").is_none());
    }

    #[test]
    fn a_jwks_keeps_only_ed25519_signing_keys_with_a_kid() {
        let now = OffsetDateTime::now_utc();
        let record = SigningKeyRecord::generate(now).expect("key");
        let mut doc = serde_json::to_value(PublicKeys::of_records(std::slice::from_ref(&record)).expect("ok").jwks())
            .expect("json");
        let keys = doc["keys"].as_array_mut().expect("keys");
        let mut no_kid = keys[0].clone();
        no_kid.as_object_mut().expect("object").remove("kid");
        let mut encryption = keys[0].clone();
        encryption["use"] = "enc".into();
        encryption["kid"] = "enc-key".into();
        keys.push(no_kid);
        keys.push(encryption);
        keys.push(serde_json::json!({"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"}));
        let set: JwkSet = serde_json::from_value(doc).expect("set");
        let public = PublicKeys::of_jwks(set).expect("ok");
        assert_eq!(public.kids().collect::<Vec<_>>(), vec![record.kid.as_str()]);
        assert!(public.get("hmac").is_none() && public.get("enc-key").is_none());
    }
}
