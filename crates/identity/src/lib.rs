//! Identity: accounts, credentials, refresh-token families, roles with
//! per-resource permissions, and postal addresses.
//!
//! The crate knows nothing of HTTP or SQL. `IdentityService` holds the rules;
//! `IdentityStore` is the storage port the `store-*` crates implement.

pub mod address;
pub mod cache;
pub mod email;
pub mod error;
pub mod keys;
pub mod password;
pub mod role;
pub mod service;
pub mod store;
pub mod tokens;
pub mod user;

pub use address::{Address, AddressInput, AddressPatch};
pub use email::Email;
pub use error::IdentityError;
pub use keys::{PublicKeys, SigningKeyRecord};
pub use password::HashParams;
pub use password::{PasswordHasher, PasswordPolicyError};
pub use role::{Action, Resource, Role};
pub use service::{AuthSession, IdentityConfig, IdentityService, Registration};
pub use store::{IdentityStore, RotateOutcome, StoreError, UserFilter};
pub use tokens::{Claims, KeySource, RefreshToken, TokenVerifier};
pub use user::{AdminUserPatch, User, UserPatch};

/// Topics this context publishes.
pub mod topics {
    pub const USER_REGISTERED: &str = "user.registered";
    pub const USER_DELETED: &str = "user.deleted";
    /// An administrator changed the account's role or suspension.
    pub const USER_UPDATED: &str = "user.updated";
}
