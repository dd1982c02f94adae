//! The store's PostgreSQL connection pool, on `deadpool`.
//!
//! sqlx's `Pool` tests every connection as it comes back: a `Sync` sent and
//! its `ReadyForQuery` awaited, one more round trip to the server for each
//! statement or transaction, and a task spawned to run it. Most of our
//! statements run on their own (a checkout is one), so that round trip was
//! a third of all the messages the shop exchanged with PostgreSQL. This pool
//! (deadpool's managed pool, with our `Manager`) puts a connection back at
//! once when it is known to be clean: its statement ran to the end (through
//! `&Pool`, or a `Tx`'s commit or rollback), nothing is left unsent and no
//! transaction is open. Any other connection (a transaction dropped without
//! commit, a `BEGIN` or a statement whose future was dropped midway, one
//! used directly through [`Pool::acquire`]) is settled first by a task, with
//! a `ROLLBACK` or the `Sync` round trip, before it goes back, and closed if
//! that meets an error, so a reply owed to a dropped statement (its error,
//! say) never reaches the next user, and a dropped transaction's locks are
//! released at once rather than at the connection's next use.
//!
//! A connection whose statement failed with an I/O, TLS or protocol error,
//! or a `FATAL` one, is closed rather than put back. Deadpool's `recycle`
//! (run as a connection is handed out) pings one idle for
//! [`IDLE_PING_AFTER`] or more and retires one past its [`Limits`]'
//! lifetime; a reaper closes connections idle past theirs and publishes the
//! pool's size, idle connections and waiters as metrics (`db_pool_*`), with
//! each acquisition's wait as `db_pool_wait_seconds`. Waiting for a slot,
//! connecting and that ping together time out after 10 s.

use deadpool::managed::{self, Metrics, Object, RecycleError, RecycleResult};
use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt as _, TryStreamExt as _};
use sqlx::postgres::{PgConnectOptions, PgDatabaseError, PgQueryResult, PgRow, PgSeverity, PgStatement, PgTypeInfo};
use sqlx::{ConnectOptions as _, Connection as _, Either, Execute, Executor, PgConnection, Postgres, SqlStr};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connection idle this long is pinged before it is handed out.
pub const IDLE_PING_AFTER: Duration = Duration::from_secs(1);

/// How long a connection may live and sit idle.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// A connection open this long is closed instead of handed out again,
    /// so a server-side setting change or a failover is picked up.
    pub max_lifetime: Duration,
    /// A connection unused this long is closed by the reaper.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    /// 30 minutes' life, 10 minutes idle.
    fn default() -> Limits {
        Limits { max_lifetime: Duration::from_secs(30 * 60), idle_timeout: Duration::from_secs(10 * 60) }
    }
}

/// How often the reaper runs (and the gauges are published).
const REAP_EVERY: Duration = Duration::from_secs(1);

/// How long `acquire` waits for a free connection before giving up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Run on every new connection before its first use.
pub type OnConnect = Arc<dyn for<'a> Fn(&'a mut PgConnection) -> BoxFuture<'a, Result<(), sqlx::Error>> + Send + Sync>;

/// A pool of at most `max` PostgreSQL connections, opened as needed.
#[derive(Clone)]
pub struct Pool {
    inner: managed::Pool<Manager>,
    /// The `pool` label of its metrics.
    name: &'static str,
}

/// Opens connections and decides, as one is handed out again, whether it
/// may be (`recycle`).
struct Manager {
    options: PgConnectOptions,
    on_connect: Option<OnConnect>,
    limits: Limits,
}

/// A pooled connection and what the pool must know of its last use.
struct Pooled {
    conn: PgConnection,
    /// When it last went back to the pool.
    returned: Instant,
}

impl managed::Manager for Manager {
    type Type = Pooled;
    type Error = sqlx::Error;

    async fn create(&self) -> Result<Pooled, sqlx::Error> {
        let mut conn = self.options.connect().await?;
        if let Some(on_connect) = &self.on_connect {
            on_connect(&mut conn).await?;
        }
        Ok(Pooled { conn, returned: Instant::now() })
    }

    /// Every connection in the pool is settled (see `Conn`'s drop), so
    /// only age decides: past its lifetime it is closed, idle a while it is
    /// pinged (gone while idle: a server restart, a network cut), back from
    /// work a moment ago it is handed out as is.
    async fn recycle(&self, pooled: &mut Pooled, metrics: &Metrics) -> RecycleResult<sqlx::Error> {
        if metrics.created.elapsed() >= self.limits.max_lifetime {
            return Err(RecycleError::message("past its lifetime"));
        }
        if pooled.returned.elapsed() >= IDLE_PING_AFTER {
            pooled.conn.ping().await.map_err(RecycleError::Backend)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let status = self.inner.status();
        f.debug_struct("Pool")
            .field("name", &self.name)
            .field("max", &status.max_size)
            .field("idle", &status.available)
            .finish()
    }
}

impl Pool {
    /// A pool that opens its first connection when first asked for one.
    /// Must be made inside a Tokio runtime (it spawns its reaper).
    pub fn new(options: PgConnectOptions, max: u32, on_connect: Option<OnConnect>) -> Pool {
        Pool::named("pool", options, max, on_connect)
    }

    /// `new`, its metrics labelled `pool = name`.
    pub fn named(name: &'static str, options: PgConnectOptions, max: u32, on_connect: Option<OnConnect>) -> Pool {
        Pool::with_limits(name, options, max, on_connect, Limits::default())
    }

    /// `named`, with connections living and idling as `limits` says.
    pub fn with_limits(
        name: &'static str,
        options: PgConnectOptions,
        max: u32,
        on_connect: Option<OnConnect>,
        limits: Limits,
    ) -> Pool {
        let manager = Manager { options, on_connect, limits };
        // LIFO: the connection back last goes out first, so under light load
        // one warm connection serves (no idle ping) and the rest age out.
        let builder =
            managed::Pool::builder(manager).max_size(max.max(1) as usize).queue_mode(managed::QueueMode::Lifo);
        let inner = match builder.build() {
            Ok(inner) => inner,
            // Only a runtime-less timeout configuration fails to build; we set none.
            Err(e) => unreachable!("a pool without timeouts always builds: {e}"),
        };
        let pool = Pool { inner, name };
        pool.spawn_reaper(limits);
        pool
    }

    /// Closes connections idle or alive past `limits`, and publishes the
    /// gauges, every `REAP_EVERY` until the pool is closed or dropped.
    fn spawn_reaper(&self, limits: Limits) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let weak = self.inner.weak();
        let name = self.name;
        runtime.spawn(async move {
            loop {
                tokio::time::sleep(REAP_EVERY).await;
                let Some(inner) = weak.upgrade() else { return };
                if inner.is_closed() {
                    return;
                }
                inner.retain(|pooled, metrics| {
                    pooled.returned.elapsed() < limits.idle_timeout && metrics.created.elapsed() < limits.max_lifetime
                });
                let status = inner.status();
                metrics::gauge!("db_pool_connections", "pool" => name).set(status.size as f64);
                metrics::gauge!("db_pool_idle", "pool" => name).set(status.available as f64);
                metrics::gauge!("db_pool_waiters", "pool" => name).set(status.waiting as f64);
                metrics::gauge!("db_pool_max", "pool" => name).set(status.max_size as f64);
            }
        });
    }

    /// A connection for the caller alone until the guard is dropped.
    pub async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        let started = Instant::now();
        let got = tokio::time::timeout(ACQUIRE_TIMEOUT, self.inner.get()).await;
        metrics::histogram!("db_pool_wait_seconds", "pool" => self.name).record(started.elapsed().as_secs_f64());
        match got {
            Err(_) => Err(sqlx::Error::PoolTimedOut),
            Ok(Ok(object)) => Ok(Conn::new(object)),
            Ok(Err(managed::PoolError::Backend(e))) => Err(e),
            Ok(Err(managed::PoolError::Closed)) => Err(sqlx::Error::PoolClosed),
            Ok(Err(managed::PoolError::Timeout(_))) => Err(sqlx::Error::PoolTimedOut),
            Ok(Err(e)) => Err(sqlx::Error::Protocol(e.to_string())),
        }
    }

    /// Begins a transaction (`BEGIN`) on a connection of its own.
    pub async fn begin(&self) -> Result<Tx, sqlx::Error> {
        let mut conn = self.acquire().await?;
        // Marked first: dropped while `BEGIN` is on its way, the connection
        // is rolled back before reuse.
        conn.in_transaction = true;
        let begun = sqlx::raw_sql("BEGIN").execute(&mut *conn).await;
        conn.note(&begun);
        begun?;
        Ok(Tx { conn })
    }

    /// Closes every idle connection (politely, with a `Terminate`) and
    /// refuses new work; connections in use are closed as they come back.
    pub async fn close(&self) {
        // Taken out without `recycle` (no ping, no new connection), so a
        // shutdown never waits on an unreachable server.
        let idle = self.inner.retain(|_, _| false).removed;
        self.inner.close();
        for Pooled { conn, .. } in idle {
            // Not waited on for long.
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
        }
    }

    pub fn is_closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// Connections open and not in use.
    pub fn idle_count(&self) -> usize {
        self.inner.status().available
    }
}

/// A connection taken from a [`Pool`]; dereferences to the connection and
/// goes back to the pool when dropped.
pub struct Conn {
    object: Option<Object<Manager>>,
    /// A statement failed in a way that leaves the connection unusable.
    broken: bool,
    /// A transaction is (or may be) open and must be rolled back before reuse.
    in_transaction: bool,
    /// Its last statement ran to the end, so no reply is owed.
    settled: bool,
}

impl Conn {
    fn new(object: Object<Manager>) -> Conn {
        Conn { object: Some(object), broken: false, in_transaction: false, settled: false }
    }

    /// Marks the connection for closing when `result` says it cannot be
    /// trusted any more. Errors from the database itself (a constraint, a
    /// deadlock) leave it usable, unless the server ended the session (a
    /// `FATAL` error: the backend was terminated or the server is going
    /// down).
    fn note<T>(&mut self, result: &Result<T, sqlx::Error>) {
        if let Err(sqlx::Error::Database(e)) = result {
            self.broken |= e
                .try_downcast_ref::<PgDatabaseError>()
                .is_some_and(|e| matches!(e.severity(), PgSeverity::Fatal | PgSeverity::Panic));
            return;
        }
        if let Err(e) = result
            && !matches!(
                e,
                sqlx::Error::RowNotFound
                    | sqlx::Error::TypeNotFound { .. }
                    | sqlx::Error::ColumnIndexOutOfBounds { .. }
                    | sqlx::Error::ColumnNotFound(_)
                    | sqlx::Error::ColumnDecode { .. }
                    | sqlx::Error::Decode(_)
                    | sqlx::Error::Encode(_)
            )
        {
            self.broken = true;
        }
    }
}

impl Deref for Conn {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.object.as_ref().expect("a pooled connection is present until dropped").conn
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.object.as_mut().expect("a pooled connection is present until dropped").conn
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let Some(mut object) = self.object.take() else { return };
        if self.broken {
            // Out of the pool and dropped: the socket closes, and the slot
            // is free for a new connection.
            drop(Object::take(object));
            return;
        }
        // `should_flush`: bytes left unsent (a `ROLLBACK` sqlx queued, say).
        if self.settled && !self.in_transaction && !object.conn.should_flush() {
            object.returned = Instant::now();
            return; // back in the pool as `object` drops
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            drop(Object::take(object));
            return;
        };
        let rollback = self.in_transaction;
        let mut settling = Settling(Some(object));
        runtime.spawn(async move {
            let Some(object) = settling.0.as_mut() else { return };
            let conn = &mut object.conn;
            let settled = if rollback {
                sqlx::raw_sql("ROLLBACK").execute(&mut *conn).await.map(drop)
            } else {
                conn.ping().await
            };
            match settled {
                Ok(()) => {
                    object.returned = Instant::now();
                    settling.done();
                }
                // Often the error a dropped statement was still owed.
                // Dropped, not shut down (`Settling`'s drop): a TLS
                // shutdown can wait on the server indefinitely.
                Err(e) => tracing::debug!(error = %e, "closing a connection that could not be settled"),
            }
        });
    }
}

/// A connection being settled by a task. Unless the task says it is done,
/// the connection leaves the pool when this drops: a task cancelled midway
/// (the runtime shutting down) must not put back a connection that may
/// still hold a transaction.
struct Settling(Option<Object<Manager>>);

impl Settling {
    /// Settled: back to the pool.
    fn done(&mut self) {
        drop(self.0.take());
    }
}

impl Drop for Settling {
    fn drop(&mut self) {
        if let Some(object) = self.0.take() {
            drop(Object::take(object));
        }
    }
}

/// A transaction from [`Pool::begin`]: statements run on `&mut *tx`;
/// dropped without [`Tx::commit`], it is rolled back before the connection
/// is used again (its `Conn` is still marked `in_transaction`).
pub struct Tx {
    conn: Conn,
}

impl Tx {
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.finish("COMMIT").await
    }

    pub async fn rollback(mut self) -> Result<(), sqlx::Error> {
        self.finish("ROLLBACK").await
    }

    async fn finish(&mut self, statement: &'static str) -> Result<(), sqlx::Error> {
        let done = sqlx::raw_sql(statement).execute(&mut *self.conn).await.map(drop);
        self.conn.note(&done);
        // Whatever the answer, the server has ended the transaction (a
        // failed COMMIT rolls back); a broken connection is closed instead.
        self.conn.in_transaction = false;
        self.conn.settled = true;
        done
    }
}

impl Deref for Tx {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

impl fmt::Debug for Tx {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tx").field("open", &self.conn.in_transaction).finish()
    }
}

/// Runs `$work` on a connection of its own (bound to `$conn`), then puts
/// the connection back or, when the error says so, closes it.
macro_rules! on_own_connection {
    ($pool:expr, |$conn:ident| $work:expr) => {{
        let pool = $pool.clone();
        Box::pin(async move {
            let mut $conn = pool.acquire().await?;
            let result = $work.await;
            $conn.settled = true;
            $conn.note(&result);
            result
        })
    }};
}

/// `&Pool` runs a statement on a connection of its own, like `&sqlx::Pool`.
/// A stream's rows are read in full before the first is yielded (the
/// store has no statement whose rows it streams).
impl<'p> Executor<'p> for &'_ Pool {
    type Database = Postgres;

    fn fetch_many<'e, 'q: 'e, E>(self, query: E) -> BoxStream<'e, Result<Either<PgQueryResult, PgRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        let all: BoxFuture<'e, Result<Vec<_>, sqlx::Error>> =
            on_own_connection!(self, |conn| (&mut *conn).fetch_many(query).try_collect::<Vec<_>>());
        futures::stream::once(all)
            .map(|all| match all {
                Ok(items) => futures::stream::iter(items.into_iter().map(Ok)).left_stream(),
                Err(e) => futures::stream::once(async move { Err(e) }).right_stream(),
            })
            .flatten()
            .boxed()
    }

    fn execute<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<PgQueryResult, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        on_own_connection!(self, |conn| (&mut *conn).execute(query))
    }

    fn fetch_all<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Vec<PgRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        on_own_connection!(self, |conn| (&mut *conn).fetch_all(query))
    }

    fn fetch_optional<'e, 'q: 'e, E>(self, query: E) -> BoxFuture<'e, Result<Option<PgRow>, sqlx::Error>>
    where
        'p: 'e,
        E: 'q + Execute<'q, Postgres>,
    {
        on_own_connection!(self, |conn| (&mut *conn).fetch_optional(query))
    }

    fn prepare_with<'e>(
        self,
        sql: SqlStr,
        parameters: &'e [PgTypeInfo],
    ) -> BoxFuture<'e, Result<PgStatement, sqlx::Error>>
    where
        'p: 'e,
    {
        on_own_connection!(self, |conn| (&mut *conn).prepare_with(sql, parameters))
    }

    fn describe<'e>(self, sql: SqlStr) -> BoxFuture<'e, Result<sqlx::Describe<Postgres>, sqlx::Error>>
    where
        'p: 'e,
    {
        on_own_connection!(self, |conn| (&mut *conn).describe(sql))
    }
}
