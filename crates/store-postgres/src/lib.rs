//! The distributed backend: PostgreSQL.
//!
//! Transactions run at READ COMMITTED; every multi-row invariant is
//! protected by a conditional UPDATE, a unique index or a row lock, which
//! the contract tests exercise under concurrency.

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
    /// A few connections with `synchronous_commit = off`, for writes whose
    /// loss in an operating-system crash costs nothing but a redo: carts (a
    /// buyer adds the item again) and the outbox's published marks (the
    /// events are published again, and consumers deduplicate). Such a commit
    /// is visible at once and reaches the disk within a few hundred
    /// milliseconds, and any later synchronous commit flushes it first; so
    /// a checkout that is durable implies its cart is.
    relaxed: PgPool,
    /// Woken after a commit that wrote outbox rows, so the relay publishes
    /// at once instead of at its next poll.
    outbox_waker: Arc<Notify>,
    /// Order numbers drawn ahead (`store_sql::NumberBlock`; used on PostgreSQL).
    order_numbers: Arc<store_sql::NumberBlock>,
    /// Checkouts this process placed or changed last, with their versions
    /// (`store_sql::Recent`; used on PostgreSQL).
    checkout_states: Arc<store_sql::Recent<uuid::Uuid, (orders::CheckoutState, i64)>>,
}

/// Connections per process. More connections than the database has cores
/// to run them only queue inside PostgreSQL, where a backend holding a row
/// lock can be descheduled while the others wait for it; a small pool keeps
/// that queue in the application instead.
pub const DEFAULT_POOL_SIZE: u32 = 8;

/// A pooled connection idle this long is pinged before it is handed out;
/// one used more recently is handed out as is.
const IDLE_PING_AFTER: Duration = Duration::from_secs(1);

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

fn pool_options(max: u32) -> PgPoolOptions {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(10))
        // sqlx pings every connection it hands out: one extra round trip
        // per transaction. A connection back from work a moment ago is
        // known to be alive, so only one idle for a while is pinged.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= IDLE_PING_AFTER {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
}

impl PostgresStore {
    /// Connects with the default pool size (`DEFAULT_POOL_SIZE`).
    pub async fn connect(url: &str) -> anyhow::Result<PostgresStore> {
        Self::connect_with_pool(url, DEFAULT_POOL_SIZE).await
    }

    /// Connects with at most `pool_size` connections.
    pub async fn connect_with_pool(url: &str, pool_size: u32) -> anyhow::Result<PostgresStore> {
        let options = PgConnectOptions::from_str(url)?.application_name("emporium");
        // Kept checkout states are trusted by their version alone. A failover
        // to a replica that had not yet received the last commits could hand
        // out a version again for other contents: when a new connection finds
        // a server started at another time than the last one did (another
        // server, or the same one restarted), they are all forgotten.
        let checkout_states: Arc<store_sql::Recent<uuid::Uuid, (orders::CheckoutState, i64)>> = Arc::default();
        let server_started: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
        let forget = checkout_states.clone();
        let pool = pool_options(pool_size.max(1))
            .min_connections(1)
            .after_connect(move |conn, _| {
                let (forget, server_started) = (forget.clone(), server_started.clone());
                Box::pin(async move {
                    let started: String =
                        sqlx::query_scalar("SELECT CAST(pg_postmaster_start_time() AS TEXT)").fetch_one(conn).await?;
                    let mut last = server_started.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                    if last.as_deref().is_some_and(|seen| seen != started) {
                        forget.clear();
                    }
                    *last = Some(started);
                    Ok(())
                })
            })
            .connect_with(options.clone())
            .await?;
        let relaxed = pool_options((pool_size / 4).clamp(2, 8))
            .connect_lazy_with(options.options([("synchronous_commit", "off")]));
        Ok(PostgresStore {
            pool,
            relaxed,
            outbox_waker: Arc::new(Notify::new()),
            order_numbers: Arc::default(),
            checkout_states,
        })
    }

    /// The pool for writes that may skip waiting for the disk (see `relaxed`).
    fn relaxed(&self) -> &PgPool {
        &self.relaxed
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

store_sql::impl_store_plumbing!(PostgresStore, PgPool);
store_sql::impl_outbox_store!(PostgresStore, Postgres);
store_sql::impl_identity_store!(PostgresStore, Postgres);
store_sql::impl_catalog_store!(PostgresStore, Postgres, bulk = unnest);
store_sql::impl_inventory_store!(PostgresStore, Postgres);
store_sql::impl_notifications_store!(PostgresStore, Postgres);
store_sql::impl_orders_store!(
    PostgresStore,
    Postgres,
    next_numbers = "SELECT nextval('order_numbers') AS n FROM generate_series(1, $1)"
);
