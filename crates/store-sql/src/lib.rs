//! The plain helpers both relational backends share: a batch of writes
//! sent as one statement (`Batch`, per `Dialect`), the in-memory caches the
//! PostgreSQL store keeps (`Recent`, `NumberBlock`), inventory's
//! availability subquery that orders compose into their writes, and `LIKE`
//! patterns.
//!
//! Each backend crate (`store-sqlite`, `store-postgres`) implements every
//! storage port in plain Rust modules of its own, in its own dialect; the
//! contract tests in `crates/emporium/tests` (`on_both_databases!`) keep
//! the two in step. Nothing here chooses a dialect at run time.

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
