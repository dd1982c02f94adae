//! SQL that is the same on SQLite and PostgreSQL, written once.
//!
//! sqlx has no practical way to write one function generic over both
//! drivers without its `Any` driver (which we refuse: it loses types), so the
//! shared implementations are macros that each backend crate instantiates
//! for its own pool type. Both dialects accept `$n` placeholders,
//! `RETURNING` and `ON CONFLICT`. What differs is passed in: how a write
//! transaction begins (SQLite must take the write lock up front with
//! `BEGIN IMMEDIATE`, or two readers upgrading at once deadlock into
//! `SQLITE_BUSY`) and each backend's DDL, which lives in its own
//! `migrations/`.
//!
//! Every query here is exercised on both backends by the contract tests in
//! `crates/emporium/tests`.

mod batch;
mod catalog;
mod catalog_impl;
mod identity;
mod inventory;
mod notifications;
mod numbers;
mod orders;
mod outbox;
mod recent;

pub use batch::{Batch, Part, and_guard, ctes_allowed, renumber};
pub use inventory::available_of_sku;
pub use numbers::{BLOCK as NUMBER_BLOCK, NumberBlock};
pub use recent::{RECENT_CAPACITY, Recent};

/// The plumbing every backend store has: its pool, migrations and the waker
/// it rings after committing outbox rows. Expects fields `pool` and
/// `outbox_waker: Arc<Notify>`, a method `relaxed()` giving the pool for
/// writes that need not wait for the disk (carts, outbox marks) and a
/// `static MIGRATOR` at the call site.
#[macro_export]
macro_rules! impl_store_plumbing {
    ($store:ty, $pool:ty) => {
        impl $store {
            pub async fn migrate(&self) -> ::anyhow::Result<()> {
                MIGRATOR.run(&mut *self.pool.acquire().await?).await?;
                Ok(())
            }

            pub fn pool(&self) -> &$pool {
                &self.pool
            }

            /// Shares the relay's waker so that this store's commits wake it.
            pub fn with_outbox_waker(mut self, waker: ::std::sync::Arc<::tokio::sync::Notify>) -> Self {
                self.outbox_waker = waker;
                self
            }

            /// Called after a commit that wrote outbox rows, so the relay
            /// publishes at once instead of at its next poll.
            fn events_written(&self) {
                self.outbox_waker.notify_one();
            }

            pub async fn close(&self) {
                self.pool.close().await;
                self.relaxed().close().await;
            }
        }
    };
}

/// A `LIKE … ESCAPE '\\'` pattern matching `q` anywhere, case-insensitively
/// (compare against `lower(column)`).
pub fn contains_pattern(q: &str) -> String {
    let escaped = q.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}
