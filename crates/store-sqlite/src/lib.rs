//! The embedded backend: one SQLite file in WAL mode.
//!
//! SQLite allows one writer at a time. Write transactions start with
//! `BEGIN IMMEDIATE` so they queue on the busy timeout instead of failing
//! with `SQLITE_BUSY` when two readers try to upgrade at once.

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

/// The transaction the shared store code (`store_sql`) writes in.
pub(crate) type WriteTx = Transaction<'static, Sqlite>;
/// The pool the shared store code runs its statements on.
pub(crate) type DbPool = SqlitePool;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Woken after a commit that wrote outbox rows, so the relay publishes
    /// at once instead of at its next poll.
    outbox_waker: Arc<Notify>,
    /// Order numbers drawn ahead (`store_sql::NumberBlock`; used on PostgreSQL).
    order_numbers: Arc<store_sql::NumberBlock>,
    /// Checkouts this process placed or changed last, with their versions
    /// (`store_sql::Recent`; used on PostgreSQL).
    checkout_states: Arc<store_sql::Recent<uuid::Uuid, (orders::CheckoutState, i64)>>,
    /// Guest carts this process wrote last, by token hash, for their
    /// checkout (`store_sql::Recent`; used on PostgreSQL).
    kept_carts: Arc<store_sql::Recent<String, orders::Cart>>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path`.
    pub async fn open(path: &Path) -> anyhow::Result<SqliteStore> {
        create_private(path)?;
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // NORMAL is durable across application crashes in WAL mode; only
            // an OS crash or power loss can lose the last transactions.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(16)
            .min_connections(1)
            // A ping would be a trip to the connection's worker thread per
            // transaction; an in-process database file does not drop connections.
            .test_before_acquire(false)
            .connect_with(options)
            .await?;
        Ok(SqliteStore {
            pool,
            outbox_waker: Arc::new(Notify::new()),
            order_numbers: Arc::default(),
            checkout_states: Arc::default(),
            kept_carts: Arc::default(),
        })
    }

    /// SQLite's `synchronous=NORMAL` already lets every commit skip the disk
    /// wait, so the writes PostgreSQL relaxes use the one pool.
    fn relaxed(&self) -> &SqlitePool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

store_sql::impl_store_plumbing!(SqliteStore, SqlitePool);
store_sql::impl_outbox_store!(SqliteStore, Sqlite);
store_sql::impl_identity_store!(SqliteStore, Sqlite);
store_sql::impl_catalog_store!(SqliteStore, Sqlite);
store_sql::impl_inventory_store!(SqliteStore, Sqlite);
store_sql::impl_notifications_store!(SqliteStore, Sqlite);
store_sql::impl_orders_store!(
    SqliteStore,
    Sqlite,
    next_numbers = "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $1) \
                    INSERT INTO order_numbers (n) SELECT NULL FROM k RETURNING n"
);

/// Creates the database file readable and writable by its owner only (0600,
/// as the signing key is), if it is missing: it holds password hashes and
/// customers' addresses. SQLite gives its `-wal` and `-shm` files the main
/// file's permissions.
fn create_private(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}
