//! The embedded backend: one SQLite file in WAL mode.
//!
//! SQLite allows one writer at a time. Write transactions start with
//! `BEGIN IMMEDIATE` so they queue on the busy timeout instead of failing
//! with `SQLITE_BUSY` when two readers try to upgrade at once.

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

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};

/// The transaction the shared store code (`store_sql`) writes in.
pub(crate) type WriteTx = Transaction<'static, Sqlite>;
/// The database and the store, by the names the modules shared with the
/// other backend (`store-sql/shared/`) use.
pub(crate) type Db = sqlx::Sqlite;
pub(crate) type Backend = SqliteStore;
/// The pool the shared store code runs its statements on.
pub(crate) type DbPool = SqlitePool;
/// SQLite has one writer: a claiming UPDATE is atomic alone, so there is nothing to skip.
pub(crate) const SKIP_LOCKED: &str = "";

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
        Ok(SqliteStore { pool, outbox_waker: Arc::new(Notify::new()) })
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

impl crate::SqliteStore {
    pub async fn migrate(&self) -> ::anyhow::Result<()> {
        MIGRATOR.run(&mut *self.pool.acquire().await?).await?;
        Ok(())
    }

    pub fn pool(&self) -> &sqlx::SqlitePool {
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
