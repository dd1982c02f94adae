//! The identity use cases.

use crate::cache::AccountCache;
use crate::keys::{KEY_REFRESH, PublicKeys, Signer, SigningKeyRecord};
use crate::password::{self, HashParams};
use crate::tokens::{self, KeySource, RefreshToken, RefreshTokenRecord, TokenError, TokenVerifier};
use crate::user::{AdminUserPatch, validate_full_name};
use crate::{
    Action, Address, AddressInput, AddressPatch, Email, IdentityError, IdentityStore, PasswordHasher, Resource, Role,
    RotateOutcome, User, UserFilter, UserPatch, topics,
};
use kernel::{Event, FieldErrors, Page, PageSpec, clock::SharedClock};
use serde_json::json;
use std::sync::Arc;
use tracing::instrument;
use uuid::Uuid;

pub type Result<T> = std::result::Result<T, IdentityError>;

#[derive(Debug, Clone)]
pub struct IdentityConfig {
    pub access_ttl: time::Duration,
    pub refresh_ttl: time::Duration,
    pub hash: HashParams,
    /// How long an account read for authentication may be reused; zero
    /// reads the database on every request.
    pub account_cache_ttl: std::time::Duration,
}

/// A signed-in session: the user and a fresh token pair.
#[derive(Debug, Clone)]
pub struct AuthSession {
    pub user: User,
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: i64,
}

#[derive(Clone)]
pub struct IdentityService {
    store: Arc<dyn IdentityStore>,
    clock: SharedClock,
    hasher: PasswordHasher,
    access_ttl: time::Duration,
    refresh_ttl: time::Duration,
    signer: Arc<SignerCache>,
    /// Identity's own keys, which it signs with.
    keys: Arc<StoredKeys>,
    verifier: Arc<TokenVerifier>,
    accounts: Arc<AccountCache>,
}

impl std::fmt::Debug for IdentityService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityService")
            .field("access_ttl", &self.access_ttl)
            .field("refresh_ttl", &self.refresh_ttl)
            .field("verifier", &self.verifier)
            .finish_non_exhaustive()
    }
}

/// The current signing key, read again from the store after `KEY_REFRESH`
/// (so every replica signs with the new key soon after a rotation).
#[derive(Default)]
struct SignerCache {
    current: std::sync::RwLock<Option<(Signer, std::time::Instant)>>,
    loading: tokio::sync::Mutex<()>,
}

/// Identity's own keys, read from its store: the verifier's source in the
/// identity process.
struct StoredKeys {
    store: Arc<dyn IdentityStore>,
    clock: SharedClock,
    retention: time::Duration,
}

#[async_trait::async_trait]
impl KeySource for StoredKeys {
    fn describe(&self) -> String {
        "identity's own keys".to_owned()
    }

    async fn fetch(&self) -> anyhow::Result<PublicKeys> {
        PublicKeys::of_records(&self.records().await?)
    }
}

impl StoredKeys {
    /// The current key and the retired ones still published.
    async fn records(&self) -> std::result::Result<Vec<SigningKeyRecord>, crate::StoreError> {
        self.store.signing_keys(self.clock.now() - self.retention).await
    }
}

pub struct Registration {
    pub email: String,
    pub password: String,
    pub full_name: String,
}

impl IdentityService {
    pub fn new(store: Arc<dyn IdentityStore>, clock: SharedClock, config: &IdentityConfig) -> anyhow::Result<Self> {
        let retention = key_retention(config.access_ttl);
        let keys = Arc::new(StoredKeys { store: Arc::clone(&store), clock: Arc::clone(&clock), retention });
        Ok(IdentityService {
            store,
            clock,
            hasher: PasswordHasher::new(config.hash)?,
            access_ttl: config.access_ttl,
            refresh_ttl: config.refresh_ttl,
            signer: Arc::default(),
            verifier: Arc::new(TokenVerifier::new(Arc::clone(&keys) as Arc<dyn KeySource>)),
            keys,
            accounts: Arc::new(AccountCache::new(config.account_cache_ttl)),
        })
    }

    /// Checks access tokens against `source` (another process's published
    /// keys) rather than this process's own.
    #[must_use]
    pub fn with_key_source(mut self, source: Arc<dyn KeySource>) -> Self {
        self.verifier = Arc::new(TokenVerifier::new(source));
        self
    }

    /// Where the keys that check access tokens come from.
    pub fn key_source(&self) -> String {
        self.verifier.source()
    }

    /// The keys this identity signs with and has signed live tokens with:
    /// the document of `/.well-known/jwks.json`, read from the store (so a
    /// rotation by any replica shows at once).
    pub async fn published_keys(&self) -> Result<PublicKeys> {
        Ok(self.keys.fetch().await?)
    }

    /// Makes a new signing key current. The old one stays published until
    /// the tokens it signed have expired; older retired keys are deleted.
    #[instrument(skip_all)]
    pub async fn rotate_signing_key(&self) -> Result<String> {
        let now = self.clock.now();
        let key = SigningKeyRecord::generate(now)?;
        self.store.rotate_signing_key(&key, now - self.keys.retention).await?;
        let signer = Signer::current(std::slice::from_ref(&key))?.ok_or_else(|| anyhow::anyhow!("no current key"))?;
        if let Ok(mut slot) = self.signer.current.write() {
            *slot = Some((signer, std::time::Instant::now()));
        }
        tracing::info!(kid = %key.kid, "token signing key rotated");
        Ok(key.kid)
    }

    /// The current signing key, made on the very first start.
    async fn signer(&self) -> Result<Signer> {
        let fresh = |slot: &Option<(Signer, std::time::Instant)>| {
            slot.as_ref().filter(|(_, at)| at.elapsed() < KEY_REFRESH).map(|(s, _)| s.clone())
        };
        if let Some(signer) = self.signer.current.read().ok().and_then(|slot| fresh(&slot)) {
            return Ok(signer);
        }
        let _one = self.signer.loading.lock().await;
        if let Some(signer) = self.signer.current.read().ok().and_then(|slot| fresh(&slot)) {
            return Ok(signer);
        }
        let mut signer = Signer::current(&self.keys.records().await?)?;
        if signer.is_none() {
            let key = SigningKeyRecord::generate(self.clock.now())?;
            self.store.insert_first_signing_key(&key).await?;
            signer = Signer::current(&self.keys.records().await?)?;
            if signer.as_ref().is_some_and(|s| s.kid == key.kid) {
                tracing::info!(kid = %key.kid, "made the first token signing key");
            }
        }
        let signer = signer.ok_or_else(|| anyhow::anyhow!("the store kept no current signing key"))?;
        if let Ok(mut slot) = self.signer.current.write() {
            *slot = Some((signer.clone(), std::time::Instant::now()));
        }
        Ok(signer)
    }

    pub async fn ready(&self) -> Result<()> {
        Ok(self.store.ping().await?)
    }

    /// Creates a customer account and signs it in.
    #[instrument(skip_all)]
    pub async fn register(&self, input: Registration) -> Result<AuthSession> {
        let user = self.create_user(input, Role::Customer).await?;
        self.start_session(user).await
    }

    /// Creates an account with any role (the CLI's `user create`).
    #[instrument(skip_all, fields(role = role.as_str()))]
    pub async fn create_user(&self, input: Registration, role: Role) -> Result<User> {
        let mut errors = FieldErrors::new();
        let email = errors.check("email", Email::parse(&input.email));
        let full_name = errors.check("full_name", validate_full_name(&input.full_name));
        if let Err(rule) = password::check_policy(&input.password, email.as_ref()) {
            return Err(IdentityError::WeakPassword { rule, others: errors });
        }
        errors.into_result().map_err(IdentityError::Validation)?;
        let (Some(email), Some(full_name)) = (email, full_name) else {
            return Err(IdentityError::Unexpected(anyhow::anyhow!("validated fields missing")));
        };

        let hash = self.hasher.hash(input.password).await?;
        let now = self.clock.now();
        let user =
            User { id: kernel::new_id(), email, full_name, role, suspended: false, created_at: now, updated_at: now };
        let event = Event::new(
            topics::USER_REGISTERED,
            user.id,
            now,
            json!({"user_id": user.id, "email": user.email, "full_name": user.full_name, "role": role}),
        );
        self.store.create_user(&user, Some(&hash), &event).await?;
        tracing::info!(user_id = %user.id, "user registered");
        Ok(user)
    }

    /// Unknown email and wrong password fail identically, after the same
    /// amount of hashing work.
    #[instrument(skip_all)]
    pub async fn login(&self, email: &str, password: &str) -> Result<AuthSession> {
        let found = match Email::parse(email) {
            Ok(email) => self.store.credentials_by_email(&email).await?,
            Err(_) => None,
        };
        let (user, hash) = match found {
            Some((user, hash)) => (Some(user), hash),
            None => (None, None),
        };
        let valid =
            password.len() <= password::MAX_PASSWORD_BYTES && self.hasher.verify(password.to_owned(), hash).await?;
        match user {
            Some(user) if valid => {
                if user.suspended {
                    return Err(IdentityError::Suspended);
                }
                self.start_session(user).await
            }
            _ => Err(IdentityError::InvalidCredentials),
        }
    }

    async fn start_session(&self, user: User) -> Result<AuthSession> {
        // The key first: nothing is stored when no token can be signed.
        let signer = self.signer().await?;
        let now = self.clock.now();
        let family = kernel::new_id();
        let refresh = RefreshToken::generate();
        let record = RefreshTokenRecord {
            id: kernel::new_id(),
            family_id: family,
            user_id: user.id,
            token_hash: refresh.hash.clone(),
            created_at: now,
            expires_at: now + self.refresh_ttl,
        };
        self.store.insert_refresh_token(&record).await?;
        self.session(&signer, user, family, refresh, now)
    }

    fn session(
        &self,
        signer: &Signer,
        user: User,
        family: Uuid,
        refresh: RefreshToken,
        now: time::OffsetDateTime,
    ) -> Result<AuthSession> {
        let access_token = tokens::sign(signer, user.id, user.role, family, now, self.access_ttl)?;
        Ok(AuthSession {
            user,
            access_token,
            refresh_token: refresh.plaintext,
            expires_in: self.access_ttl.whole_seconds(),
        })
    }

    /// Spends `presented` and returns a new pair in the same family.
    #[instrument(skip_all)]
    pub async fn refresh(&self, presented: &str) -> Result<AuthSession> {
        // The key before the presented token is spent: a client that got no
        // new pair can retry with the old token rather than look like a
        // thief re-using it.
        let signer = self.signer().await?;
        let now = self.clock.now();
        let next = RefreshToken::generate();
        let expires_at = now + self.refresh_ttl;
        match self.store.rotate_refresh_token(&tokens::digest(presented), &next.hash, expires_at, now).await? {
            RotateOutcome::Rotated { user_id, family_id } => {
                let user = self.store.user_by_id(user_id).await?.ok_or(IdentityError::InvalidToken)?;
                if user.suspended {
                    self.store.revoke_family_of(&next.hash, now).await?;
                    return Err(IdentityError::Suspended);
                }
                self.session(&signer, user, family_id, next, now)
            }
            RotateOutcome::Reused { user_id } => {
                tracing::warn!(%user_id, "refresh token re-used; family revoked");
                Err(IdentityError::RefreshTokenReused)
            }
            RotateOutcome::Expired | RotateOutcome::Unknown => Err(IdentityError::InvalidToken),
        }
    }

    /// Revokes the sign-in the refresh token belongs to. Unknown tokens are
    /// ignored: logging out twice is not an error.
    #[instrument(skip_all)]
    pub async fn logout(&self, presented: &str) -> Result<()> {
        self.store.revoke_family_of(&tokens::digest(presented), self.clock.now()).await?;
        Ok(())
    }

    /// Resolves a browser session (the refresh token of a sign-in, kept in an
    /// httpOnly cookie and never rotated) to a live, unsuspended user. Logging
    /// out revokes it like any sign-in.
    pub async fn session_user(&self, session_token: &str) -> Result<User> {
        let user_id = self
            .store
            .session_user(&tokens::digest(session_token), self.clock.now())
            .await?
            .ok_or(IdentityError::InvalidToken)?;
        let user = self.live_user(user_id).await?;
        if user.suspended {
            return Err(IdentityError::Suspended);
        }
        Ok(user)
    }

    /// How long a sign-in lasts (the browser session cookie's age).
    pub fn session_ttl(&self) -> time::Duration {
        self.refresh_ttl
    }

    /// The account behind `id`, through the short-lived account cache.
    async fn live_user(&self, id: Uuid) -> Result<User> {
        let now = std::time::Instant::now();
        if let Some(user) = self.accounts.get(id, now) {
            return Ok(user);
        }
        let epoch = self.accounts.epoch();
        let user = self.store.user_by_id(id).await?.ok_or(IdentityError::InvalidToken)?;
        self.accounts.put(user.clone(), epoch, now);
        Ok(user)
    }

    /// Drops what this process remembers of the account, so the next
    /// request reads it again: how a change made by another process (an
    /// administrator's suspension on identity, `user.updated`) takes effect
    /// here at once rather than after the account cache's TTL.
    pub fn forget_account(&self, id: Uuid) {
        self.accounts.invalidate(id);
    }

    /// Resolves a bearer token to a live, unsuspended user.
    pub async fn authenticate(&self, access_token: &str) -> Result<User> {
        let claims = self.verifier.verify(access_token).await.map_err(|e| match e {
            TokenError::Expired => IdentityError::TokenExpired,
            TokenError::Invalid => IdentityError::InvalidToken,
        })?;
        let user = self.live_user(claims.sub).await?;
        if user.suspended {
            return Err(IdentityError::Suspended);
        }
        Ok(user)
    }

    pub fn authorize(&self, user: &User, resource: Resource, action: Action) -> Result<()> {
        if user.role.allows(resource, action) { Ok(()) } else { Err(IdentityError::Forbidden) }
    }

    pub async fn update_profile(&self, user: &User, patch: UserPatch) -> Result<User> {
        let Some(full_name) = patch.full_name else {
            return Ok(user.clone());
        };
        let full_name = validate_full_name(&full_name)
            .map_err(|e| IdentityError::Validation(FieldErrors::single("full_name", e)))?;
        let updated = self.store.update_profile(user.id, &full_name, self.clock.now()).await;
        self.accounts.invalidate(user.id);
        updated?.ok_or(IdentityError::NotFound("user"))
    }

    /// Erases the account's personal data and publishes `user.deleted`.
    #[instrument(skip_all, fields(user_id = %user.id))]
    pub async fn erase(&self, user: &User) -> Result<()> {
        let now = self.clock.now();
        let event = Event::new(topics::USER_DELETED, user.id, now, json!({"user_id": user.id}));
        let tombstone = format!("deleted-{}@invalid", user.id);
        let erased = self.store.erase_user(user.id, &tombstone, now, &event).await;
        self.accounts.invalidate(user.id);
        if erased? { Ok(()) } else { Err(IdentityError::NotFound("user")) }
    }

    pub async fn addresses(&self, user: &User) -> Result<Vec<Address>> {
        Ok(self.store.addresses(user.id).await?)
    }

    pub async fn add_address(&self, user: &User, input: AddressInput) -> Result<Address> {
        let existing = self.store.addresses(user.id).await?;
        if existing.len() >= MAX_ADDRESSES {
            return Err(IdentityError::Conflict("an account can keep at most 50 addresses"));
        }
        let mut address = Address {
            id: kernel::new_id(),
            user_id: user.id,
            full_name: input.full_name,
            line1: input.line1,
            line2: input.line2,
            city: input.city,
            region: input.region,
            postal_code: input.postal_code,
            country: input.country,
            phone: input.phone,
            // The first address of each kind becomes the default.
            is_default_shipping: input.is_default_shipping.unwrap_or(false)
                || !existing.iter().any(|a| a.is_default_shipping),
            is_default_billing: input.is_default_billing.unwrap_or(false)
                || !existing.iter().any(|a| a.is_default_billing),
            created_at: self.clock.now(),
        };
        address.normalise().map_err(IdentityError::Validation)?;
        self.store.save_address(&address).await?;
        Ok(address)
    }

    pub async fn update_address(&self, user: &User, id: Uuid, patch: AddressPatch) -> Result<Address> {
        let mut address = self
            .store
            .addresses(user.id)
            .await?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or(IdentityError::NotFound("address"))?;
        address.apply(patch);
        address.normalise().map_err(IdentityError::Validation)?;
        self.store.save_address(&address).await?;
        Ok(address)
    }

    pub async fn delete_address(&self, user: &User, id: Uuid) -> Result<()> {
        if self.store.delete_address(user.id, id).await? { Ok(()) } else { Err(IdentityError::NotFound("address")) }
    }

    pub async fn list_users(&self, actor: &User, filter: UserFilter, page: PageSpec) -> Result<Page<User>> {
        self.authorize(actor, Resource::Users, Action::Read)?;
        let (items, total) = self.store.list_users(&filter, page).await?;
        Ok(Page::new(items, page, total))
    }

    /// Changes a user's role or suspension. Admins manage customers and
    /// staff; only a superadmin may grant, take away or touch an elevated
    /// role. Nobody changes their own role or suspends themselves.
    #[instrument(skip_all, fields(actor = %actor.id, target = %id))]
    pub async fn admin_update_user(&self, actor: &User, id: Uuid, patch: AdminUserPatch) -> Result<User> {
        self.authorize(actor, Resource::Users, Action::Write)?;
        let target = self.store.user_by_id(id).await?.ok_or(IdentityError::NotFound("user"))?;
        let touches_elevated = target.role.is_elevated() || patch.role.is_some_and(Role::is_elevated);
        if touches_elevated {
            self.authorize(actor, Resource::Admins, Action::Write)?;
        }
        if target.id == actor.id && (patch.role.is_some_and(|r| r != actor.role) || patch.suspended == Some(true)) {
            return Err(IdentityError::Conflict("you cannot change your own role or suspend yourself"));
        }
        if patch.role.is_none_or(|r| r == target.role) && patch.suspended.is_none_or(|s| s == target.suspended) {
            // Nothing changes: nothing is written and no `user.updated` goes out.
            return Ok(target);
        }
        let now = self.clock.now();
        let event = |user: &User| {
            Event::new(
                topics::USER_UPDATED,
                user.id,
                now,
                json!({"user_id": user.id, "role": user.role, "suspended": user.suspended}),
            )
        };
        let updated = self.store.admin_update_user(id, &patch, now, &event).await;
        self.accounts.invalidate(id);
        let updated = updated?.ok_or(IdentityError::NotFound("user"))?;
        tracing::info!(role = updated.role.as_str(), suspended = updated.suspended, "user updated by admin");
        Ok(updated)
    }
}

pub const MAX_ADDRESSES: usize = 50;

/// How long a retired signing key stays published: a token it signed lives
/// `access_ttl`, and a replica may sign with it for up to `KEY_REFRESH`
/// after the rotation; the second `KEY_REFRESH` is for verifiers' caches.
fn key_retention(access_ttl: time::Duration) -> time::Duration {
    access_ttl + time::Duration::try_from(KEY_REFRESH * 2).unwrap_or(time::Duration::minutes(1))
}
