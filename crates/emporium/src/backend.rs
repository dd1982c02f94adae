//! Chooses the database from the settings: SQLite in the data directory by
//! default, PostgreSQL when `database_url` is set.

use crate::settings::Settings;
use anyhow::Context as _;
use identity::IdentityStore;
use messaging::OutboxStore;
use std::sync::Arc;
use store_postgres::PostgresStore;
use store_sqlite::SqliteStore;
use tokio::sync::Notify;

#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

pub const SQLITE_FILE: &str = "emporium.db";

impl Backend {
    /// Connects (creating the SQLite file if needed) without migrating.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Backend> {
        match &settings.database_url {
            Some(url) => {
                let store = PostgresStore::connect_with_pool(&url.0, settings.database_pool_size)
                    .await
                    .context("connecting to PostgreSQL")?;
                Ok(Backend::Postgres(store))
            }
            None => {
                std::fs::create_dir_all(&settings.data_dir)
                    .with_context(|| format!("creating data directory {}", settings.data_dir.display()))?;
                let path = settings.data_dir.join(SQLITE_FILE);
                let store = SqliteStore::open(&path).await.with_context(|| format!("opening {}", path.display()))?;
                Ok(Backend::Sqlite(store))
            }
        }
    }

    /// Connects and brings the schema up to date.
    pub async fn open(settings: &Settings) -> anyhow::Result<Backend> {
        let backend = Backend::connect(settings).await?;
        backend.migrate().await?;
        Ok(backend)
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        match self {
            Backend::Sqlite(s) => s.migrate().await.context("migrating the SQLite database"),
            Backend::Postgres(s) => s.migrate().await.context("migrating the PostgreSQL database"),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Makes commits that write events wake `waker`.
    pub fn with_outbox_waker(self, waker: Arc<Notify>) -> Backend {
        match self {
            Backend::Sqlite(s) => Backend::Sqlite(s.with_outbox_waker(waker)),
            Backend::Postgres(s) => Backend::Postgres(s.with_outbox_waker(waker)),
        }
    }

    pub fn identity(&self) -> Arc<dyn IdentityStore> {
        match self {
            Backend::Sqlite(s) => Arc::new(s.clone()),
            Backend::Postgres(s) => Arc::new(s.clone()),
        }
    }

    pub fn catalog(&self) -> Arc<dyn catalog::CatalogStore> {
        match self {
            Backend::Sqlite(s) => Arc::new(s.clone()),
            Backend::Postgres(s) => Arc::new(s.clone()),
        }
    }

    pub fn inventory(&self) -> Arc<dyn inventory::InventoryStore> {
        match self {
            Backend::Sqlite(s) => Arc::new(s.clone()),
            Backend::Postgres(s) => Arc::new(s.clone()),
        }
    }

    pub fn orders(&self) -> Arc<dyn orders::OrdersStore> {
        match self {
            Backend::Sqlite(s) => Arc::new(s.clone()),
            Backend::Postgres(s) => Arc::new(s.clone()),
        }
    }

    pub fn notifications(&self) -> Arc<dyn notifications::NotificationStore> {
        match self {
            Backend::Sqlite(s) => Arc::new(s.clone()),
            Backend::Postgres(s) => Arc::new(s.clone()),
        }
    }

    pub fn outbox(&self) -> Arc<dyn OutboxStore> {
        match self {
            Backend::Sqlite(s) => Arc::new(s.clone()),
            Backend::Postgres(s) => Arc::new(s.clone()),
        }
    }

    pub async fn close(&self) {
        match self {
            Backend::Sqlite(s) => s.close().await,
            Backend::Postgres(s) => s.close().await,
        }
    }
}
