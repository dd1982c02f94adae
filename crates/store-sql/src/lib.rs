//! The plain helpers both relational backends share: a batch of writes
//! sent as one statement (`Batch`, per `Dialect`), the in-memory caches the
//! PostgreSQL store keeps (`Recent`, `NumberBlock`), inventory's
//! availability subquery that orders compose into their writes, and `LIKE`
//! patterns.
//!
//! Each backend crate (`store-sqlite`, `store-postgres`) implements every
//! storage port in plain Rust modules. Where the two would be the same
//! text but for the database type (identity, the outbox, notifications,
//! the catalogue but its bulk inserts, orders' reads and settings), the
//! module is one file under `crates/store-sql/shared/`, compiled into each
//! backend by `#[path]` with that crate's `Db` and `Backend` aliases: plain
//! Rust that clippy checks in both. Where a backend writes its
//! own SQL (checkout placement, carts, inventory, the bulk inserts, the
//! pool), the module is its own, and the contract tests in
//! `crates/emporium/tests` (`on_both_databases!`) keep the two in step. A
//! shared module that must diverge is copied into the backend that needs
//! it. Nothing here chooses a dialect at run time.

mod batch;
mod inventory;
mod numbers;
mod recent;

pub use batch::{Batch, Dialect, Part, and_guard, renumber};
pub use inventory::available_of_sku;
pub use numbers::{BLOCK as NUMBER_BLOCK, NumberBlock};
pub use recent::{RECENT_CAPACITY, Recent};

/// A `LIKE … ESCAPE '\\'` pattern matching `q` anywhere, case-insensitively
/// (compare against `lower(column)`).
pub fn contains_pattern(q: &str) -> String {
    let escaped = q.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}
