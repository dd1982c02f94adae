use kernel::FieldErrors;

/// Every way a catalog use case can fail. The web layer maps each to a
/// status and error code; `Unexpected` is the only one that becomes a 500.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{0}")]
    Validation(FieldErrors),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique value (slug, SKU) is taken; names the field.
    #[error("this {field} is already in use")]
    Duplicate { field: &'static str },
    /// The change would break a rule about the current state.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<FieldErrors> for CatalogError {
    fn from(e: FieldErrors) -> Self {
        CatalogError::Validation(e)
    }
}

impl From<crate::StoreError> for CatalogError {
    fn from(e: crate::StoreError) -> Self {
        match e {
            crate::StoreError::Duplicate(field) => CatalogError::Duplicate { field },
            crate::StoreError::InUse(what) => CatalogError::Conflict(what.to_owned()),
            crate::StoreError::Unexpected(e) => CatalogError::Unexpected(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, CatalogError>;
