use crate::{Email, Role};
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    #[schema(value_type = String, format = "email")]
    pub email: Email,
    pub full_name: String,
    pub role: Role,
    pub suspended: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
}

/// A change to a user's own profile.
#[derive(Debug, Clone, Default)]
pub struct UserPatch {
    pub full_name: Option<String>,
}

/// An administrator's change to an account.
#[derive(Debug, Clone, Default)]
pub struct AdminUserPatch {
    pub role: Option<Role>,
    pub suspended: Option<bool>,
}

pub fn validate_full_name(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim();
    if name.is_empty() {
        Err("must not be empty")
    } else if name.chars().count() > 200 {
        Err("must be at most 200 characters")
    } else if name.chars().any(char::is_control) {
        Err("must not contain control characters")
    } else {
        Ok(name.to_owned())
    }
}
