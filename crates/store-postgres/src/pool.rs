//! The store's own PostgreSQL connection pool.
//!
//! sqlx's `Pool` tests every connection as it comes back: a `Sync` sent and
//! its `ReadyForQuery` awaited, one more round trip to the server for each
//! statement or transaction, and a task spawned to run it. Most of our
//! statements run on their own (a checkout is one), so that round trip was
//! a third of all the messages the shop exchanged with PostgreSQL. This pool
//! puts a connection back at once when it is known to be clean: its
//! statement ran to the end (through `&Pool`, or a `Tx`'s commit or
//! rollback), nothing is left unsent and no transaction is open. Any other
//! connection (a transaction dropped without commit, a `BEGIN` or a
//! statement whose future was dropped midway, one used directly through
//! [`Pool::acquire`]) is settled first by a task, with a `ROLLBACK` or the
//! `Sync` round trip, and closed if that meets an error, so a reply owed to
//! a dropped statement (its error, say) never reaches the next user.
//!
//! A connection whose statement failed with an I/O, TLS or protocol error,
//! or a `FATAL` one, is closed rather than put back. One idle for
//! [`IDLE_PING_AFTER`] or more is pinged before it is handed out; one back
//! from work a moment ago is handed out as is. Waiting for a slot,
//! connecting and that ping together time out after 10 s.

use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt as _, TryStreamExt as _};
use sqlx::postgres::{PgConnectOptions, PgDatabaseError, PgQueryResult, PgRow, PgSeverity, PgStatement, PgTypeInfo};
use sqlx::{ConnectOptions as _, Connection as _, Either, Execute, Executor, PgConnection, Postgres, SqlStr};
use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A connection idle this long is pinged before it is handed out.
pub const IDLE_PING_AFTER: Duration = Duration::from_secs(1);

/// How long `acquire` waits for a free connection before giving up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// Run on every new connection before its first use.
pub type OnConnect = Arc<dyn for<'a> Fn(&'a mut PgConnection) -> BoxFuture<'a, Result<(), sqlx::Error>> + Send + Sync>;

/// A pool of at most `max` PostgreSQL connections, opened as needed.
#[derive(Clone)]
pub struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    options: PgConnectOptions,
    on_connect: Option<OnConnect>,
    /// One permit per connection that may be in use; closed by `close`
    /// (under the `idle` lock), which is how the pool knows it is closed.
    permits: Arc<Semaphore>,
    max: u32,
    /// Clean connections, the most recently used last.
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    conn: PgConnection,
    since: Instant,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool").field("max", &self.inner.max).field("idle", &self.idle_count()).finish()
    }
}

impl Pool {
    /// A pool that opens its first connection when first asked for one.
    pub fn new(options: PgConnectOptions, max: u32, on_connect: Option<OnConnect>) -> Pool {
        let max = max.max(1);
        Pool {
            inner: Arc::new(Inner {
                options,
                on_connect,
                permits: Arc::new(Semaphore::new(max as usize)),
                max,
                idle: Mutex::new(Vec::with_capacity(max as usize)),
            }),
        }
    }

    /// A connection for the caller alone until the guard is dropped.
    pub async fn acquire(&self) -> Result<Conn, sqlx::Error> {
        tokio::time::timeout(ACQUIRE_TIMEOUT, self.acquire_unbounded()).await.map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    async fn acquire_unbounded(&self) -> Result<Conn, sqlx::Error> {
        let permit = self.inner.permits.clone().acquire_owned().await.map_err(|_| sqlx::Error::PoolClosed)?;
        loop {
            let idle = self.idle().pop();
            let Some(Idle { mut conn, since }) = idle else { break };
            if since.elapsed() >= IDLE_PING_AFTER && conn.ping().await.is_err() {
                // Gone while idle (a server restart, a network cut): dropped,
                // and the next one tried.
                continue;
            }
            return Ok(Conn::new(conn, self.clone(), permit));
        }
        let mut conn = self.inner.options.connect().await?;
        if let Some(on_connect) = &self.inner.on_connect {
            on_connect(&mut conn).await?;
        }
        Ok(Conn::new(conn, self.clone(), permit))
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

    /// Closes every idle connection and refuses new work; connections in
    /// use are closed as they come back.
    pub async fn close(&self) {
        let idle = {
            let mut idle = self.idle();
            self.inner.permits.close();
            std::mem::take(&mut *idle)
        };
        for Idle { conn, .. } in idle {
            // A polite `Terminate`, but not waited on for long.
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
        }
    }

    pub fn is_closed(&self) -> bool {
        self.inner.permits.is_closed()
    }

    /// Connections open and not in use.
    pub fn idle_count(&self) -> usize {
        self.idle().len()
    }

    fn idle(&self) -> MutexGuard<'_, Vec<Idle>> {
        self.inner.idle.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn put_back(&self, conn: PgConnection) {
        // Checked under the lock `close` closes the pool under.
        let mut idle = self.idle();
        if !self.is_closed() {
            idle.push(Idle { conn, since: Instant::now() });
        } // else dropped: the socket closes
    }
}

/// A connection taken from a [`Pool`]; dereferences to the connection and
/// goes back to the pool when dropped.
pub struct Conn {
    conn: Option<PgConnection>,
    pool: Pool,
    permit: Option<OwnedSemaphorePermit>,
    /// A statement failed in a way that leaves the connection unusable.
    broken: bool,
    /// A transaction is (or may be) open and must be rolled back before reuse.
    in_transaction: bool,
    /// Its last statement ran to the end, so no reply is owed.
    settled: bool,
}

impl Conn {
    fn new(conn: PgConnection, pool: Pool, permit: OwnedSemaphorePermit) -> Conn {
        Conn { conn: Some(conn), pool, permit: Some(permit), broken: false, in_transaction: false, settled: false }
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
        self.conn.as_ref().expect("a pooled connection is present until dropped")
    }
}

impl DerefMut for Conn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("a pooled connection is present until dropped")
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let (Some(mut conn), Some(permit)) = (self.conn.take(), self.permit.take()) else { return };
        if self.broken {
            return; // dropped: the socket closes, the permit frees a slot for a new connection
        }
        // `should_flush`: bytes left unsent (a `ROLLBACK` sqlx queued, say).
        if self.settled && !self.in_transaction && !conn.should_flush() {
            self.pool.put_back(conn);
            drop(permit);
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else { return };
        let pool = self.pool.clone();
        let rollback = self.in_transaction;
        runtime.spawn(async move {
            let settled =
                if rollback { sqlx::raw_sql("ROLLBACK").execute(&mut conn).await.map(drop) } else { conn.ping().await };
            match settled {
                Ok(()) => pool.put_back(conn),
                Err(e) => {
                    // Often the error a dropped statement was still owed.
                    // Dropped, not shut down: a TLS shutdown can wait on
                    // the server indefinitely.
                    tracing::debug!(error = %e, "closing a connection that could not be settled");
                    drop(conn);
                }
            }
            drop(permit);
        });
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
