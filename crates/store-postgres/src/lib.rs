//! The distributed backend: PostgreSQL.
//!
//! Transactions run at READ COMMITTED; every multi-row invariant is
//! protected by a conditional UPDATE, a unique index or a row lock, which
//! the contract tests exercise under concurrency.

mod bulk;
#[path = "../../store-sql/shared/catalog.rs"]
mod catalog;
#[path = "../../store-sql/shared/identity.rs"]
mod identity;
mod inventory;
#[path = "../../store-sql/shared/notifications.rs"]
mod notifications;

mod orders;
#[path = "../../store-sql/shared/outbox.rs"]
mod outbox;
mod pool;

pub use pool::{Conn, IDLE_PING_AFTER, Limits, Pool, Tx};
use sqlx::postgres::PgConnectOptions;
use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::Notify;

/// The transaction the shared store code (`store_sql`) writes in.
pub(crate) type WriteTx = Tx;
/// The database and the store, by the names the modules shared with the
/// other backend (`store-sql/shared/`) use.
pub(crate) type Db = sqlx::Postgres;
pub(crate) type Backend = PostgresStore;
/// The pool the shared store code runs its statements on.
pub(crate) type DbPool = Pool;
/// A claiming query skips rows another transaction holds rather than waiting for them.
pub(crate) const SKIP_LOCKED: &str = "FOR UPDATE SKIP LOCKED";

#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// A few connections with `synchronous_commit = off`, for writes whose
    /// loss in an operating-system crash costs nothing but a redo: carts (a
    /// buyer adds the item again) and the outbox's published marks (the
    /// events are published again, and consumers deduplicate). Such a commit
    /// is visible at once and reaches the disk within a few hundred
    /// milliseconds, and any later synchronous commit flushes it first; so
    /// a checkout that is durable implies its cart is.
    relaxed: Pool,
    /// Woken after a commit that wrote outbox rows, so the relay publishes
    /// at once instead of at its next poll.
    outbox_waker: Arc<Notify>,
    /// Order numbers drawn ahead (`store_sql::NumberBlock`; used on PostgreSQL).
    order_numbers: Arc<store_sql::NumberBlock>,
    /// Checkouts this process placed or changed last, with their versions
    /// (`store_sql::Recent`; used on PostgreSQL).
    checkout_states: Arc<store_sql::Recent<uuid::Uuid, (::orders::CheckoutState, i64)>>,
    /// Guest carts this process wrote last, by token hash, for their
    /// checkout (`store_sql::Recent`; used on PostgreSQL).
    kept_carts: Arc<store_sql::Recent<String, ::orders::Cart>>,
}

/// Connections per process. More connections than the database has cores
/// to run them only queue inside PostgreSQL, where a backend holding a row
/// lock can be descheduled while the others wait for it; a small pool keeps
/// that queue in the application instead.
pub const DEFAULT_POOL_SIZE: u32 = 8;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl PostgresStore {
    /// Connects with the default pool size (`DEFAULT_POOL_SIZE`).
    pub async fn connect(url: &str) -> anyhow::Result<PostgresStore> {
        Self::connect_with_pool(url, DEFAULT_POOL_SIZE).await
    }

    /// Connects with at most `pool_size` connections.
    pub async fn connect_with_pool(url: &str, pool_size: u32) -> anyhow::Result<PostgresStore> {
        let options = PgConnectOptions::from_str(url)?.application_name("emporium");
        // Kept checkout states and carts are trusted by their version alone.
        // A failover to a replica that had not yet received the last commits
        // could hand out a version again for other contents: when a new
        // connection (of either pool) finds a server started at another time
        // than the last one did (another server, or the same one restarted),
        // they are all forgotten.
        let checkout_states: Arc<store_sql::Recent<uuid::Uuid, (::orders::CheckoutState, i64)>> = Arc::default();
        let kept_carts: Arc<store_sql::Recent<String, ::orders::Cart>> = Arc::default();
        let server_started: Arc<std::sync::Mutex<Option<String>>> = Arc::default();
        let forget = (checkout_states.clone(), kept_carts.clone());
        let on_connect: pool::OnConnect = Arc::new(move |conn| {
            let (forget, server_started) = (forget.clone(), server_started.clone());
            Box::pin(async move {
                let started: String =
                    sqlx::query_scalar("SELECT CAST(pg_postmaster_start_time() AS TEXT)").fetch_one(conn).await?;
                let mut last = server_started.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                if last.as_deref().is_some_and(|seen| seen != started) {
                    forget.0.clear();
                    forget.1.clear();
                }
                *last = Some(started);
                Ok(())
            })
        });
        let pool = Pool::named("main", options.clone(), pool_size, Some(on_connect.clone()));
        // One connection now, so that a wrong URL fails at start-up.
        drop(pool.acquire().await?);
        let relaxed = Pool::named(
            "relaxed",
            options.options([("synchronous_commit", "off")]),
            (pool_size / 4).clamp(2, 8),
            Some(on_connect),
        );
        Ok(PostgresStore {
            pool,
            relaxed,
            outbox_waker: Arc::new(Notify::new()),
            order_numbers: Arc::default(),
            checkout_states,
            kept_carts,
        })
    }

    /// The pool for writes that may skip waiting for the disk (see `relaxed`).
    fn relaxed(&self) -> &Pool {
        &self.relaxed
    }

    async fn begin_write(&self) -> Result<Tx, sqlx::Error> {
        self.pool.begin().await
    }
}

impl crate::PostgresStore {
    pub async fn migrate(&self) -> ::anyhow::Result<()> {
        MIGRATOR.run(&mut *self.pool.acquire().await?).await?;
        Ok(())
    }

    pub fn pool(&self) -> &crate::Pool {
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
