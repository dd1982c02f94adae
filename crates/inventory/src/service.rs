//! The inventory's use cases. Authorisation is the caller's job.

use crate::model::*;
use crate::store::{InventoryStore, LevelFilter, StoreError};
use kernel::clock::SharedClock;
use kernel::{FieldErrors, Page, PageSpec};
use std::collections::HashMap;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("{0}")]
    Validation(FieldErrors),
    #[error(transparent)]
    Refused(Refusal),
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

impl From<StoreError> for InventoryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Refused(r) => InventoryError::Refused(r),
            StoreError::Unexpected(e) => InventoryError::Unexpected(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, InventoryError>;

/// Longest ledger note.
pub const MAX_NOTE: usize = 500;

#[derive(Clone)]
pub struct InventoryService {
    store: Arc<dyn InventoryStore>,
    clock: SharedClock,
}

impl std::fmt::Debug for InventoryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InventoryService").finish_non_exhaustive()
    }
}

/// Who changes stock and why, for the ledger.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub actor: Option<Uuid>,
    pub note: Option<String>,
    pub reference: Option<String>,
}

impl InventoryService {
    pub fn new(store: Arc<dyn InventoryStore>, clock: SharedClock) -> Self {
        InventoryService { store, clock }
    }

    pub fn store(&self) -> &Arc<dyn InventoryStore> {
        &self.store
    }

    /// The level of a variant at the default location; `None` when not tracked.
    pub async fn level(&self, variant_id: Uuid) -> Result<Option<StockLevel>> {
        Ok(self.store.level(variant_id, DEFAULT_LOCATION).await?)
    }

    pub async fn levels(&self, filter: &LevelFilter, page: PageSpec) -> Result<Page<StockLevel>> {
        let (items, total) = self.store.levels(filter, page).await?;
        Ok(Page::new(items, page, total))
    }

    pub async fn available(&self, skus: &[String]) -> Result<HashMap<String, i64>> {
        Ok(self.store.available(skus).await?)
    }

    /// Sets the on-hand count (a stock take) and optionally the threshold; starts tracking the variant.
    pub async fn set(
        &self,
        variant_id: Uuid,
        sku: &str,
        on_hand: i64,
        low_stock_threshold: Option<i64>,
        origin: Origin,
    ) -> Result<StockLevel> {
        let mut errors = FieldErrors::default();
        if !(0..=MAX_QUANTITY).contains(&on_hand) {
            errors.add("on_hand", format!("must be a whole number from 0 to {MAX_QUANTITY}"));
        }
        check_threshold(low_stock_threshold, &mut errors);
        check_note(origin.note.as_deref(), "note", &mut errors);
        errors.into_result().map_err(InventoryError::Validation)?;
        self.change(variant_id, sku, Some(OnHand::Set(on_hand)), low_stock_threshold, MovementReason::Set, origin).await
    }

    /// Adds (or with a negative `delta`, removes) units; `reason` is required for the ledger.
    pub async fn adjust(
        &self,
        variant_id: Uuid,
        sku: &str,
        delta: i64,
        reason: &str,
        actor: Option<Uuid>,
    ) -> Result<StockLevel> {
        let mut errors = FieldErrors::default();
        if delta == 0 || delta.abs() > MAX_QUANTITY {
            errors.add("delta", format!("must be a non-zero whole number from -{MAX_QUANTITY} to {MAX_QUANTITY}"));
        }
        let reason = reason.trim();
        if reason.is_empty() {
            errors.add("reason", "say why stock changes (delivery, damage, correction…)");
        }
        check_note(Some(reason), "reason", &mut errors);
        errors.into_result().map_err(InventoryError::Validation)?;
        let origin = Origin { actor, note: Some(reason.to_owned()), reference: None };
        self.change(variant_id, sku, Some(OnHand::Add(delta)), None, MovementReason::Adjustment, origin).await
    }

    async fn change(
        &self,
        variant_id: Uuid,
        sku: &str,
        on_hand: Option<OnHand>,
        low_stock_threshold: Option<i64>,
        reason: MovementReason,
        origin: Origin,
    ) -> Result<StockLevel> {
        let change = LevelChange {
            variant_id,
            sku: sku.to_owned(),
            location_id: DEFAULT_LOCATION,
            on_hand,
            low_stock_threshold,
            reason,
            actor: origin.actor,
            reference: origin.reference,
            note: origin.note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()),
            movement_id: kernel::new_id(),
            at: self.clock.now(),
        };
        Ok(self.store.change_level(&change).await?)
    }

    /// Follows the catalogue's rename of a variant's SKU (called for the
    /// `sku_changed` part of a `product.updated` event): the variant's levels
    /// answer to the new SKU. Nothing happens for an untracked variant.
    pub async fn follow_sku(&self, variant_id: Uuid, sku: &str) -> Result<()> {
        self.store.rename_sku(variant_id, sku, self.clock.now()).await?;
        Ok(())
    }

    pub async fn movements(&self, variant_id: Uuid, page: PageSpec) -> Result<Page<Movement>> {
        let (items, total) = self.store.movements(variant_id, page).await?;
        Ok(Page::new(items, page, total))
    }
}

fn check_threshold(threshold: Option<i64>, errors: &mut FieldErrors) {
    if let Some(t) = threshold
        && !(0..=MAX_QUANTITY).contains(&t)
    {
        errors.add("low_stock_threshold", format!("must be a whole number from 0 to {MAX_QUANTITY}"));
    }
}

fn check_note(note: Option<&str>, field: &str, errors: &mut FieldErrors) {
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE) {
        errors.add(field, format!("at most {MAX_NOTE} characters"));
    }
}
