//! The storage port. Each method that writes is one transaction, ledger and
//! events included.

use crate::model::{LevelChange, Movement, Refusal, StockLevel};
use async_trait::async_trait;
use kernel::PageSpec;
use std::collections::HashMap;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The change breaks a stock rule (checked on the locked row).
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Clone, Default)]
pub struct LevelFilter {
    /// Only levels whose availability is at or below their threshold.
    pub low_stock: bool,
    /// Case-insensitive substring of the SKU.
    pub q: Option<String>,
}

#[async_trait]
pub trait InventoryStore: Send + Sync + 'static {
    async fn level(&self, variant_id: Uuid, location_id: Uuid) -> StoreResult<Option<StockLevel>>;
    /// Levels ordered by SKU, with the total count.
    async fn levels(&self, filter: &LevelFilter, page: PageSpec) -> StoreResult<(Vec<StockLevel>, u64)>;
    /// Available units per SKU, summed over locations; untracked SKUs are absent.
    async fn available(&self, skus: &[String]) -> StoreResult<HashMap<String, i64>>;
    /// In one transaction: creates the level at zero if missing, locks it,
    /// applies `change` with [`crate::apply_change`], writes the ledger line
    /// ([`crate::movement_for`]) and the events ([`crate::events_for`]).
    async fn change_level(&self, change: &LevelChange) -> StoreResult<StockLevel>;
    /// The ledger of one variant, newest first, with the total count.
    async fn movements(&self, variant_id: Uuid, page: PageSpec) -> StoreResult<(Vec<Movement>, u64)>;
    /// Gives the variant's levels its new SKU (the catalog renamed it), with
    /// a `stock.changed` event per level ([`crate::renamed_events`]); no
    /// level is created for an untracked variant. The levels renamed.
    async fn rename_sku(&self, variant_id: Uuid, sku: &str, at: time::OffsetDateTime) -> StoreResult<Vec<StockLevel>>;
}
