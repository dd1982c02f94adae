//! The storage port. Methods are shaped like use cases: each one that writes
//! several rows (or a row and its outbox event) is one transaction.

use crate::keys::SigningKeyRecord;
use crate::tokens::RefreshTokenRecord;
use crate::user::AdminUserPatch;
use crate::{Address, Email, Role, User};
use async_trait::async_trait;
use kernel::{Event, PageSpec};
use time::OffsetDateTime;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("already exists")]
    AlreadyExists,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Case-insensitive substring of the email or name.
    pub q: Option<String>,
    pub role: Option<Role>,
    pub suspended: Option<bool>,
}

/// What happened to a presented refresh token.
#[derive(Debug, Clone, PartialEq)]
pub enum RotateOutcome {
    /// Spent and replaced by the new token (same family).
    Rotated {
        user_id: Uuid,
        family_id: Uuid,
    },
    /// Already spent or revoked: the whole family has now been revoked.
    Reused {
        user_id: Uuid,
    },
    Expired,
    Unknown,
}

#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    /// Inserts the user, its password hash (if any) and `event` in one
    /// transaction. `AlreadyExists` when the email is taken.
    async fn create_user(&self, user: &User, password_hash: Option<&str>, event: &Event) -> StoreResult<()>;

    async fn user_by_id(&self, id: Uuid) -> StoreResult<Option<User>>;

    /// The live account with this email, and its password hash.
    async fn credentials_by_email(&self, email: &Email) -> StoreResult<Option<(User, Option<String>)>>;

    async fn update_profile(&self, id: Uuid, full_name: &str, at: OffsetDateTime) -> StoreResult<Option<User>>;

    /// Applies an administrator's change and writes the event `event` makes
    /// of the changed account; suspending also revokes every refresh token
    /// of the user, all in one transaction.
    async fn admin_update_user(
        &self,
        id: Uuid,
        patch: &AdminUserPatch,
        at: OffsetDateTime,
        event: &(dyn for<'u> Fn(&'u User) -> Event + Send + Sync),
    ) -> StoreResult<Option<User>>;

    async fn list_users(&self, filter: &UserFilter, page: PageSpec) -> StoreResult<(Vec<User>, u64)>;

    /// Anonymises the account (orders elsewhere keep its id), deletes its
    /// addresses and tokens and writes `event`, in one transaction.
    async fn erase_user(&self, id: Uuid, tombstone_email: &str, at: OffsetDateTime, event: &Event)
    -> StoreResult<bool>;

    async fn insert_refresh_token(&self, record: &RefreshTokenRecord) -> StoreResult<()>;

    /// Atomically spends the token with digest `presented` and stores a new
    /// token with digest `next` in the same family; on re-use of a spent or
    /// revoked token revokes the whole family instead.
    async fn rotate_refresh_token(
        &self,
        presented: &[u8],
        next: &[u8],
        expires_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> StoreResult<RotateOutcome>;

    /// Revokes the family of the token with digest `presented`; false when
    /// no such token exists.
    async fn revoke_family_of(&self, presented: &[u8], now: OffsetDateTime) -> StoreResult<bool>;

    /// The user of the unspent, unrevoked, unexpired token with digest
    /// `presented` (a browser session), without spending it.
    async fn session_user(&self, presented: &[u8], now: OffsetDateTime) -> StoreResult<Option<Uuid>>;

    async fn addresses(&self, user_id: Uuid) -> StoreResult<Vec<Address>>;

    /// Inserts or replaces `address`. When it is a default, the previous
    /// default of that kind is cleared in the same transaction.
    async fn save_address(&self, address: &Address) -> StoreResult<()>;

    /// Deletes the address; if it was a default, the oldest remaining address
    /// inherits that role. False when the user has no such address.
    async fn delete_address(&self, user_id: Uuid, id: Uuid) -> StoreResult<bool>;

    /// Readiness probe.
    async fn ping(&self) -> StoreResult<()>;

    /// The current token signing key and the keys retired after
    /// `retired_after`.
    async fn signing_keys(&self, retired_after: OffsetDateTime) -> StoreResult<Vec<SigningKeyRecord>>;

    /// Stores `key` as the current key unless there is one already (the
    /// first start; two replicas starting at once keep one key).
    async fn insert_first_signing_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;

    /// Retires the current key at `key.created_at`, makes `key` current and
    /// deletes the keys retired before `delete_retired_before`, in one
    /// transaction.
    async fn rotate_signing_key(
        &self,
        key: &SigningKeyRecord,
        delete_retired_before: OffsetDateTime,
    ) -> StoreResult<()>;
}
