//! Inventory: how many units of each variant are on hand and reserved at each
//! location, and a ledger of every change (who, why, with which reference).
//!
//! `available = on_hand − reserved` and never goes below zero: every change
//! is computed by [`apply_change`] on the row as it is inside the write
//! transaction (locked), and refused when it would break the rule. The
//! storage port ([`InventoryStore`]) applies a change, writes its ledger
//! entry and its events ([`events_for`]) in one transaction.
//!
//! Inventory keys stock by variant id and keeps a copy of the SKU for
//! lookups and listings; resolving a SKU to a variant is the catalog's job
//! (the web layer asks it first). A variant without a stock row is *not
//! tracked* and always available, as in Shopify's "don't track quantity".

pub mod model;
pub mod service;
pub mod store;

pub use model::*;
pub use service::{InventoryError, InventoryService};
pub use store::{InventoryStore, LevelFilter, StoreError, StoreResult};

/// Topics this context publishes.
pub mod topics {
    /// On hand, reserved or the threshold changed. Payload: `variant_id`, `sku`,
    /// `location_id`, `on_hand`, `reserved`, `available`.
    pub const STOCK_CHANGED: &str = "stock.changed";
    /// Availability fell to or below the threshold (sent on crossing, not on
    /// every change while low). Same payload plus `low_stock_threshold`.
    pub const STOCK_LOW: &str = "stock.low";
    /// A checkout's hold lapsed unpaid and its units are available again.
    /// Payload: `checkout_id`, `lines` (`variant_id`, `sku`, `quantity`).
    pub const RESERVATION_EXPIRED: &str = "reservation.expired";
}
