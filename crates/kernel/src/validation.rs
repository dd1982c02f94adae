//! Field-level validation failures, collected so one 422 answer names every
//! bad field at once instead of making the client fix them one by one.

use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, thiserror::Error)]
#[error("invalid fields: {}", self.fields.keys().cloned().collect::<Vec<_>>().join(", "))]
pub struct FieldErrors {
    /// field name → human-readable reason.
    pub fields: BTreeMap<String, String>,
}

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn single(field: &str, message: impl Into<String>) -> Self {
        let mut errors = Self::new();
        errors.add(field, message);
        errors
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.fields.entry(field.to_owned()).or_insert_with(|| message.into());
    }

    /// Records the error of `result` under `field` and returns its value.
    pub fn check<T, E: std::fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }
}
