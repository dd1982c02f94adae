//! Offset pagination as the API contract describes it:
//! `?page=1&per_page=24` (at most 100) → `{items, page, per_page, total}`.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const DEFAULT_PER_PAGE: u32 = 24;
pub const MAX_PER_PAGE: u32 = 100;

#[derive(Debug, Clone, Copy, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageRequest {
    /// 1-based page number.
    #[param(minimum = 1)]
    pub page: Option<u32>,
    /// Items per page, 1 to 100.
    #[param(minimum = 1, maximum = 100)]
    pub per_page: Option<u32>,
}

/// A validated page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageSpec {
    pub page: u32,
    pub per_page: u32,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PageError {
    #[error("page must be 1 or more")]
    Page,
    #[error("per_page must be between 1 and {MAX_PER_PAGE}")]
    PerPage,
}

impl PageRequest {
    pub fn validate(self) -> Result<PageSpec, PageError> {
        let page = self.page.unwrap_or(1);
        let per_page = self.per_page.unwrap_or(DEFAULT_PER_PAGE);
        if page == 0 {
            return Err(PageError::Page);
        }
        if per_page == 0 || per_page > MAX_PER_PAGE {
            return Err(PageError::PerPage);
        }
        Ok(PageSpec { page, per_page })
    }
}

impl PageSpec {
    pub fn offset(&self) -> i64 {
        i64::from(self.page - 1) * i64::from(self.per_page)
    }
    pub fn limit(&self) -> i64 {
        i64::from(self.per_page)
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, spec: PageSpec, total: u64) -> Self {
        Page { items, page: spec.page, per_page: spec.per_page, total }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        let ok = PageRequest { page: None, per_page: None }.validate();
        assert_eq!(ok, Ok(PageSpec { page: 1, per_page: 24 }));
        assert_eq!(PageRequest { page: Some(0), per_page: None }.validate(), Err(PageError::Page));
        assert_eq!(PageRequest { page: None, per_page: Some(101) }.validate(), Err(PageError::PerPage));
        let spec = PageRequest { page: Some(3), per_page: Some(10) }.validate();
        assert_eq!(spec.map(|s| s.offset()), Ok(20));
    }
}
