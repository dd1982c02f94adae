//! The identity use cases.

use crate::cache::AccountCache;
use crate::password::{self, HashParams};
use crate::tokens::{self, RefreshToken, RefreshTokenRecord, TokenError};
use crate::user::{AdminUserPatch, validate_full_name};
use crate::{
    Action, Address, AddressInput, AddressPatch, Email, IdentityError, IdentityStore, PasswordHasher, Resource, Role,
    RotateOutcome, TokenIssuer, User, UserFilter, UserPatch, topics,
};
use kernel::{Event, FieldErrors, Page, PageSpec, clock::SharedClock};
use serde_json::json;
use std::sync::Arc;
use tracing::instrument;
use uuid::Uuid;

pub type Result<T> = std::result::Result<T, IdentityError>;

#[derive(Debug, Clone)]
pub struct IdentityConfig {
    pub jwt_secret: Vec<u8>,
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
    tokens: TokenIssuer,
    accounts: Arc<AccountCache>,
}

impl std::fmt::Debug for IdentityService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityService").field("tokens", &self.tokens).finish_non_exhaustive()
    }
}

pub struct Registration {
    pub email: String,
    pub password: String,
    pub full_name: String,
}

impl IdentityService {
    pub fn new(store: Arc<dyn IdentityStore>, clock: SharedClock, config: &IdentityConfig) -> anyhow::Result<Self> {
        Ok(IdentityService {
            store,
            clock,
            hasher: PasswordHasher::new(config.hash)?,
            tokens: TokenIssuer::new(&config.jwt_secret, config.access_ttl, config.refresh_ttl),
            accounts: Arc::new(AccountCache::new(config.account_cache_ttl)),
        })
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
        let now = self.clock.now();
        let family = kernel::new_id();
        let refresh = RefreshToken::generate();
        let record = RefreshTokenRecord {
            id: kernel::new_id(),
            family_id: family,
            user_id: user.id,
            token_hash: refresh.hash.clone(),
            created_at: now,
            expires_at: now + self.tokens.refresh_ttl,
        };
        self.store.insert_refresh_token(&record).await?;
        self.session(user, family, refresh, now)
    }

    fn session(
        &self,
        user: User,
        family: Uuid,
        refresh: RefreshToken,
        now: time::OffsetDateTime,
    ) -> Result<AuthSession> {
        let access_token = self.tokens.issue_access(user.id, family, now)?;
        Ok(AuthSession {
            user,
            access_token,
            refresh_token: refresh.plaintext,
            expires_in: self.tokens.access_ttl.whole_seconds(),
        })
    }

    /// Spends `presented` and returns a new pair in the same family.
    #[instrument(skip_all)]
    pub async fn refresh(&self, presented: &str) -> Result<AuthSession> {
        let now = self.clock.now();
        let next = RefreshToken::generate();
        let expires_at = now + self.tokens.refresh_ttl;
        match self.store.rotate_refresh_token(&tokens::digest(presented), &next.hash, expires_at, now).await? {
            RotateOutcome::Rotated { user_id, family_id } => {
                let user = self.store.user_by_id(user_id).await?.ok_or(IdentityError::InvalidToken)?;
                if user.suspended {
                    self.store.revoke_family_of(&next.hash, now).await?;
                    return Err(IdentityError::Suspended);
                }
                self.session(user, family_id, next, now)
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
        self.tokens.refresh_ttl
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

    /// Resolves a bearer token to a live, unsuspended user.
    pub async fn authenticate(&self, access_token: &str) -> Result<User> {
        let claims = self.tokens.verify_access(access_token).map_err(|e| match e {
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
        let updated = self.store.admin_update_user(id, &patch, self.clock.now()).await;
        self.accounts.invalidate(id);
        let updated = updated?.ok_or(IdentityError::NotFound("user"))?;
        tracing::info!(role = updated.role.as_str(), suspended = updated.suspended, "user updated by admin");
        Ok(updated)
    }
}

pub const MAX_ADDRESSES: usize = 50;
