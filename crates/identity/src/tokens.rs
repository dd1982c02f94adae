//! Access tokens are short-lived EdDSA (Ed25519) JWTs naming their key by
//! `kid` (see `keys`), which any service checks alone against identity's
//! published keys; refresh tokens are opaque random strings of which only a
//! SHA-256 digest is stored, grouped in families so that re-use of a spent
//! token can revoke every descendant.

use crate::Role;
use crate::keys::{PublicKeys, Signer};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, Header, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use time::OffsetDateTime;
use uuid::Uuid;

const ISSUER: &str = "emporium";

/// The least time between two fetches of the keys: a flood of tokens naming
/// made-up `kid`s costs one fetch a second, not one per request.
pub const MIN_REFETCH: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    /// Refresh-token family the session belongs to.
    pub sid: Uuid,
    /// The account's role when the token was issued. Authentication reads
    /// the live account (a change reaches other processes as
    /// `user.updated`); this is for a service without identity's database.
    pub role: Role,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the access token has expired")]
    Expired,
    #[error("the access token is invalid")]
    Invalid,
}

/// Signs a token for `user` with the current key.
pub fn sign(
    signer: &Signer,
    user_id: Uuid,
    role: Role,
    family: Uuid,
    now: OffsetDateTime,
    ttl: time::Duration,
) -> anyhow::Result<String> {
    let claims = Claims {
        sub: user_id,
        iat: now.unix_timestamp(),
        exp: (now + ttl).unix_timestamp(),
        iss: ISSUER.to_owned(),
        sid: family,
        role,
    };
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(signer.kid.clone());
    Ok(jsonwebtoken::encode(&header, &claims, &signer.key)?)
}

/// Where a verifier gets the public keys: identity's own database in the
/// identity process, its `/.well-known/jwks.json` in any other.
#[async_trait::async_trait]
pub trait KeySource: Send + Sync + 'static {
    /// Names the source in logs.
    fn describe(&self) -> String;
    async fn fetch(&self) -> anyhow::Result<PublicKeys>;
}

/// Checks access tokens against the keys of a `KeySource`, kept in memory
/// and fetched again after `KEY_REFRESH`, or at once (at most every
/// `MIN_REFETCH`) when a token names a `kid` the last fetch did not have.
/// A known `kid` is never kept waiting: when the keys are older than
/// `KEY_REFRESH` the ones it has answer and a fetch runs in the background.
/// When the source cannot be reached it goes on with the keys it has.
///
/// A token it has checked is remembered until it expires, so a client that
/// sends the same token on every request pays for one Ed25519 verification,
/// not one per request (BENCHMARKS.md, "Access tokens").
pub struct TokenVerifier {
    keys: Arc<Keys>,
    validation: Validation,
    /// Tokens already verified, with their claims.
    verified: std::sync::Mutex<HashMap<String, Claims>>,
}

/// The keys as last fetched, shared with the background refresh.
struct Keys {
    source: Arc<dyn KeySource>,
    /// How old the keys may get before a fetch (`KEY_REFRESH`).
    max_age: Duration,
    fetched: RwLock<Arc<Fetched>>,
    /// One fetch at a time; who waited for it uses its answer.
    refreshing: Arc<tokio::sync::Mutex<()>>,
}

/// The most verified tokens remembered (about 0.5 KiB each).
const MAX_VERIFIED: usize = 20_000;

#[derive(Default)]
struct Fetched {
    keys: PublicKeys,
    /// When the fetch that gave `keys` started (`None`: never).
    started: Option<Instant>,
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier").field("source", &self.keys.source.describe()).finish_non_exhaustive()
    }
}

impl TokenVerifier {
    pub fn new(source: Arc<dyn KeySource>) -> Self {
        // Only EdDSA is accepted: a token claiming `alg: none`, HS256 or any
        // other algorithm fails before its signature is even looked at.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = 0;
        let keys = Arc::new(Keys {
            source,
            max_age: crate::keys::KEY_REFRESH,
            fetched: RwLock::new(Arc::default()),
            refreshing: Arc::default(),
        });
        TokenVerifier { keys, validation, verified: std::sync::Mutex::new(HashMap::new()) }
    }

    pub fn source(&self) -> String {
        self.keys.source.describe()
    }

    /// Fetches the keys again once they are older than `max_age` (rather
    /// than `KEY_REFRESH`).
    #[must_use]
    pub fn with_max_age(self, max_age: Duration) -> Self {
        let keys = Keys {
            source: Arc::clone(&self.keys.source),
            max_age,
            fetched: RwLock::new(Arc::default()),
            refreshing: Arc::default(),
        };
        TokenVerifier { keys: Arc::new(keys), ..self }
    }

    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let now = OffsetDateTime::now_utc().unix_timestamp();
        if let Some(claims) = self.verified.lock().ok().and_then(|v| v.get(token).cloned()) {
            // The same bytes were verified before; only the clock has moved.
            return if claims.exp > now { Ok(claims) } else { Err(TokenError::Expired) };
        }
        let claims = self.verify_signed(token).await?;
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= MAX_VERIFIED {
                verified.retain(|_, c| c.exp > now);
                if verified.len() >= MAX_VERIFIED {
                    verified.clear();
                }
            }
            verified.insert(token.to_owned(), claims.clone());
        }
        Ok(claims)
    }

    /// Checks the token's signature and claims (no memory of earlier checks).
    pub async fn verify_signed(&self, token: &str) -> Result<Claims, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::EdDSA {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let key = self.key(&kid).await.ok_or(TokenError::Invalid)?;
        jsonwebtoken::decode::<Claims>(token, &key, &self.validation).map(|data| data.claims).map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            }
        })
    }

    async fn key(&self, kid: &str) -> Option<Arc<jsonwebtoken::DecodingKey>> {
        let asked = Instant::now();
        let fetched = self.keys.fetched();
        if let Some(key) = fetched.keys.get(kid) {
            if fetched.started.is_none_or(|s| asked.duration_since(s) >= self.keys.max_age) {
                Keys::refresh_in_background(&self.keys);
            }
            return Some(key);
        }
        self.keys.refresh(asked, kid).await.keys.get(kid)
    }
}

impl Keys {
    fn fetched(&self) -> Arc<Fetched> {
        self.fetched.read().map(|f| Arc::clone(&f)).unwrap_or_default()
    }

    /// Fetches the keys unless a fetch is under way already.
    fn refresh_in_background(keys: &Arc<Keys>) {
        let Ok(one) = Arc::clone(&keys.refreshing).try_lock_owned() else { return };
        let keys = Arc::clone(keys);
        tokio::spawn(async move {
            let previous = keys.fetched();
            keys.fetch(&previous).await;
            drop(one);
        });
    }

    /// Fetches the keys for an unknown `kid`, unless the fetch another
    /// request made while this one waited for its turn answers it (it
    /// started since `asked`, or it is fresh and has `kid`), waiting first
    /// until `MIN_REFETCH` has passed since the last fetch.
    async fn refresh(&self, asked: Instant, kid: &str) -> Arc<Fetched> {
        let _one = self.refreshing.lock().await;
        let fetched = self.fetched();
        if let Some(started) = fetched.started {
            let fresh = started.elapsed() < self.max_age;
            if started >= asked || (fresh && fetched.keys.get(kid).is_some()) {
                return fetched;
            }
            tokio::time::sleep_until((started + MIN_REFETCH).into()).await;
        }
        self.fetch(&fetched).await
    }

    /// One fetch (the caller holds `refreshing`); on failure the keys of
    /// `previous` stay.
    async fn fetch(&self, previous: &Fetched) -> Arc<Fetched> {
        let mut started = Instant::now();
        let keys = match self.source.fetch().await {
            Ok(keys) => keys,
            Err(e) => {
                tracing::warn!(source = %self.source.describe(), error = %format!("{e:#}"),
                    "cannot fetch the token keys; going on with the ones already known");
                // Counted from the failure, so a source that takes
                // `max_age` to fail is not asked again back to back.
                started = Instant::now();
                previous.keys.clone()
            }
        };
        let next = Arc::new(Fetched { keys, started: Some(started) });
        if let Ok(mut slot) = self.fetched.write() {
            *slot = Arc::clone(&next);
        }
        next
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
    use crate::keys::SigningKeyRecord;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Keys held in memory, counting the fetches.
    #[derive(Default)]
    struct Held {
        records: Mutex<Vec<SigningKeyRecord>>,
        fetches: AtomicUsize,
        down: std::sync::atomic::AtomicBool,
    }

    #[async_trait::async_trait]
    impl KeySource for Held {
        fn describe(&self) -> String {
            "held in memory".to_owned()
        }
        async fn fetch(&self) -> anyhow::Result<PublicKeys> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            anyhow::ensure!(!self.down.load(Ordering::SeqCst), "the source is down");
            PublicKeys::of_records(&self.records.lock().expect("lock"))
        }
    }

    fn signer(record: &SigningKeyRecord) -> Signer {
        Signer::current(std::slice::from_ref(record)).expect("ok").expect("current")
    }

    const TTL: time::Duration = time::Duration::minutes(15);

    #[tokio::test]
    async fn round_trip_and_rejections() {
        let now = OffsetDateTime::now_utc();
        let key = SigningKeyRecord::generate(now).expect("key");
        let held = Arc::new(Held::default());
        held.records.lock().expect("lock").push(key.clone());
        let verifier = TokenVerifier::new(held.clone());
        let (user, family) = (kernel::new_id(), kernel::new_id());
        let token = sign(&signer(&key), user, Role::Staff, family, now, TTL).expect("sign");
        let claims = verifier.verify(&token).await.expect("valid");
        assert_eq!((claims.sub, claims.sid, claims.role), (user, family, Role::Staff));

        let stale = sign(&signer(&key), user, Role::Staff, family, now - time::Duration::hours(1), TTL).expect("sign");
        assert_eq!(verifier.verify(&stale).await.err(), Some(TokenError::Expired));

        // Signed by a key that is not published: same kid, other key.
        let forged_key = SigningKeyRecord { kid: key.kid.clone(), ..SigningKeyRecord::generate(now).expect("key") };
        let forged = sign(&signer(&forged_key), user, Role::Superadmin, family, now, TTL).expect("sign");
        assert_eq!(verifier.verify(&forged).await.err(), Some(TokenError::Invalid));

        let parts: Vec<&str> = token.split('.').collect();
        // alg: none with the same claims.
        let none_header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"none","typ":"JWT","kid":"{}"}}"#, key.kid));
        assert_eq!(verifier.verify(&format!("{none_header}.{}.", parts[1])).await.err(), Some(TokenError::Invalid));
        // HS256 keyed with the public key (the classic algorithm confusion).
        let x = serde_json::to_value(PublicKeys::of_records(std::slice::from_ref(&key)).expect("ok").jwks())
            .expect("json")["keys"][0]["x"]
            .as_str()
            .expect("x")
            .to_owned();
        let mut hs = Header::new(Algorithm::HS256);
        hs.kid = Some(key.kid.clone());
        let confused = jsonwebtoken::encode(
            &hs,
            &verifier.verify(&token).await.expect("valid"),
            &jsonwebtoken::EncodingKey::from_secret(x.as_bytes()),
        )
        .expect("encode");
        assert_eq!(verifier.verify(&confused).await.err(), Some(TokenError::Invalid));
        // No kid.
        let no_kid = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &signer(&key).key).expect("encode");
        assert_eq!(verifier.verify(&no_kid).await.err(), Some(TokenError::Invalid));
        assert_eq!(verifier.verify("not.a.token").await.err(), Some(TokenError::Invalid));
    }

    #[tokio::test]
    async fn a_new_kid_is_fetched_once_and_made_up_kids_are_rate_limited() {
        let now = OffsetDateTime::now_utc();
        let first = SigningKeyRecord::generate(now).expect("key");
        let held = Arc::new(Held::default());
        held.records.lock().expect("lock").push(first.clone());
        let verifier = Arc::new(TokenVerifier::new(held.clone()));
        let (user, family) = (kernel::new_id(), kernel::new_id());
        let old = sign(&signer(&first), user, Role::Customer, family, now, TTL).expect("sign");
        verifier.verify(&old).await.expect("valid");
        verifier.verify_signed(&old).await.expect("valid");
        assert_eq!(held.fetches.load(Ordering::SeqCst), 1, "known keys are not fetched again");

        // A rotation the verifier has not seen: the first token with the new
        // kid makes it fetch (once, however many ask at the same moment).
        let second = SigningKeyRecord::generate(now).expect("key");
        held.records.lock().expect("lock").push(second.clone());
        let new = sign(&signer(&second), user, Role::Customer, family, now, TTL).expect("sign");
        let checks: Vec<_> = (0..20)
            .map(|_| {
                let (verifier, new) = (Arc::clone(&verifier), new.clone());
                tokio::spawn(async move { verifier.verify(&new).await })
            })
            .collect();
        for check in checks {
            check.await.expect("join").expect("the rotated key is found");
        }
        assert_eq!(held.fetches.load(Ordering::SeqCst), 2);
        verifier.verify_signed(&old).await.expect("the retired key still checks its tokens");

        // Made-up kids: twenty at once cost one more fetch, and are refused.
        let bogus = SigningKeyRecord::generate(now).expect("key");
        let forged = sign(&signer(&bogus), user, Role::Admin, family, now, TTL).expect("sign");
        let checks: Vec<_> = (0..20)
            .map(|_| {
                let (verifier, forged) = (Arc::clone(&verifier), forged.clone());
                tokio::spawn(async move { verifier.verify(&forged).await })
            })
            .collect();
        for check in checks {
            assert_eq!(check.await.expect("join").err(), Some(TokenError::Invalid));
        }
        assert_eq!(held.fetches.load(Ordering::SeqCst), 3);

        // The source down: the known keys go on working.
        held.down.store(true, Ordering::SeqCst);
        assert_eq!(verifier.verify(&forged).await.err(), Some(TokenError::Invalid));
        verifier.verify_signed(&new).await.expect("known keys work while the source is down");
    }

    #[tokio::test]
    async fn old_keys_answer_at_once_while_they_are_fetched_again() {
        let now = OffsetDateTime::now_utc();
        let (first, second) =
            (SigningKeyRecord::generate(now).expect("key"), SigningKeyRecord::generate(now).expect("key"));
        let slow = Arc::new(Slow(Held::default()));
        slow.0.records.lock().expect("lock").extend([first.clone(), second.clone()]);
        let verifier = TokenVerifier::new(slow.clone()).with_max_age(Duration::from_millis(300));
        let token =
            |key| sign(&signer(key), kernel::new_id(), Role::Customer, kernel::new_id(), now, TTL).expect("sign");
        verifier.verify_signed(&token(&first)).await.expect("valid");
        assert_eq!(slow.0.fetches.load(Ordering::SeqCst), 1);
        // The first key is deleted at the source; the keys grow old.
        slow.0.records.lock().expect("lock").retain(|r| r.kid == second.kid);
        tokio::time::sleep(Duration::from_millis(350)).await;
        // Old keys still answer (no waiting on the slow source) and one
        // fetch starts behind them, however many ask.
        for _ in 0..5 {
            verifier.verify_signed(&token(&first)).await.expect("the keys held answer");
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(slow.0.fetches.load(Ordering::SeqCst), 2, "one background fetch");
        // After it, the deleted key is gone and the other still works.
        assert_eq!(verifier.verify_signed(&token(&first)).await.err(), Some(TokenError::Invalid));
        verifier.verify_signed(&token(&second)).await.expect("valid");
    }

    /// A source that takes a while to answer.
    struct Slow(Held);

    #[async_trait::async_trait]
    impl KeySource for Slow {
        fn describe(&self) -> String {
            "slow".to_owned()
        }
        async fn fetch(&self) -> anyhow::Result<PublicKeys> {
            tokio::time::sleep(Duration::from_millis(200)).await;
            self.0.fetch().await
        }
    }

    #[tokio::test]
    async fn requests_that_arrive_during_the_first_fetch_use_it() {
        let now = OffsetDateTime::now_utc();
        let key = SigningKeyRecord::generate(now).expect("key");
        let slow = Arc::new(Slow(Held::default()));
        slow.0.records.lock().expect("lock").push(key.clone());
        let verifier = Arc::new(TokenVerifier::new(slow.clone()));
        // Twenty distinct tokens (none remembered), asked while the first
        // fetch is under way.
        let mut checks = Vec::new();
        for _ in 0..20 {
            let token =
                sign(&signer(&key), kernel::new_id(), Role::Customer, kernel::new_id(), now, TTL).expect("sign");
            let verifier = Arc::clone(&verifier);
            checks.push(tokio::spawn(async move { verifier.verify(&token).await }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for check in checks {
            check.await.expect("join").expect("valid");
        }
        assert_eq!(slow.0.fetches.load(Ordering::SeqCst), 1, "one fetch answered them all");
    }

    #[tokio::test]
    async fn a_verified_token_is_remembered_until_it_expires() {
        let now = OffsetDateTime::now_utc();
        let key = SigningKeyRecord::generate(now).expect("key");
        let held = Arc::new(Held::default());
        held.records.lock().expect("lock").push(key.clone());
        let verifier = TokenVerifier::new(held.clone());
        let token =
            sign(&signer(&key), kernel::new_id(), Role::Customer, kernel::new_id(), now, time::Duration::seconds(1))
                .expect("sign");
        verifier.verify(&token).await.expect("valid");
        // Remembered: with the keys gone it is still accepted...
        held.records.lock().expect("lock").clear();
        held.down.store(true, Ordering::SeqCst);
        verifier.verify(&token).await.expect("remembered");
        // ...but only until it expires.
        tokio::time::sleep(Duration::from_millis(2100)).await;
        assert_eq!(verifier.verify(&token).await.err(), Some(TokenError::Expired));
        // A token differing in one byte is checked afresh.
        let mut other = token.clone();
        other.pop();
        assert_eq!(verifier.verify(&other).await.err(), Some(TokenError::Invalid));
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
