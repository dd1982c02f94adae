use crate::PasswordPolicyError;
use kernel::FieldErrors;

/// Every way an identity use case can fail. The web layer maps each to a
/// status and error code; `Unexpected` is the only one that becomes a 500.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{0}")]
    Validation(FieldErrors),
    /// The password breaks a policy rule; `others` holds any other bad
    /// fields of the same request, so one answer names them all.
    #[error("password {rule}")]
    WeakPassword { rule: PasswordPolicyError, others: FieldErrors },
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("email or password is wrong")]
    InvalidCredentials,
    #[error("this account is suspended")]
    Suspended,
    #[error("the access token has expired")]
    TokenExpired,
    #[error("the token is invalid")]
    InvalidToken,
    #[error("the refresh token was already used; every session of this sign-in has been revoked")]
    RefreshTokenReused,
    #[error("you are not allowed to do this")]
    Forbidden,
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Conflict(&'static str),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<crate::StoreError> for IdentityError {
    fn from(e: crate::StoreError) -> Self {
        match e {
            crate::StoreError::AlreadyExists => IdentityError::EmailTaken,
            crate::StoreError::Unexpected(e) => IdentityError::Unexpected(e),
        }
    }
}
