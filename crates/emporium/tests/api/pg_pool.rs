//! The store's PostgreSQL connection pool (`store_postgres::Pool`): a clean
//! connection goes straight back, anything else is settled or closed
//! before anyone else gets it. PostgreSQL only.

use crate::helpers::{PgDatabase, postgres_url, skipped};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection as _, PgConnection};
use std::time::Duration;
use store_postgres::{Limits, Pool};

macro_rules! on_postgres {
    ($($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if postgres_url().is_none() {
                    skipped(concat!(module_path!(), "::", stringify!($name)));
                    return;
                }
                let db = PgDatabase::create().await;
                super::$name(&db).await
            }
        )*
    };
}

mod tests {
    use super::*;
    on_postgres!(
        a_clean_connection_is_used_again,
        a_transaction_dropped_without_commit_is_rolled_back_before_the_connection_is_used_again,
        a_statement_dropped_midway_leaves_no_answer_for_the_next,
        a_connection_killed_while_idle_is_replaced,
        no_more_than_max_connections_are_open,
        connections_past_their_lifetime_or_idle_too_long_are_closed,
        connections_send_without_waiting_for_acks,
    );
}

const APP: &str = "emporium-pool-test";

fn pool(db: &PgDatabase, max: u32) -> Pool {
    let options: PgConnectOptions = db.url.parse().expect("url");
    Pool::new(options.application_name(APP), max, None)
}

async fn pid(pool: &Pool) -> Result<i32, sqlx::Error> {
    sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(pool).await
}

async fn outside(db: &PgDatabase) -> PgConnection {
    PgConnection::connect(&db.url).await.expect("connect")
}

/// Waits until `check` holds, for up to 5 s.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..500 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{what}: not within 5 s");
}

async fn a_clean_connection_is_used_again(db: &PgDatabase) {
    let pool = pool(db, 4);
    let first = pid(&pool).await.expect("first");
    assert_eq!(pool.idle_count(), 1, "the connection is back as soon as its statement is done");
    for _ in 0..5 {
        assert_eq!(pid(&pool).await.expect("again"), first, "one connection serves statements one after another");
    }
    let mut tx = pool.begin().await.expect("begin");
    let in_tx: i32 = sqlx::query_scalar("SELECT pg_backend_pid()").fetch_one(&mut *tx).await.expect("in tx");
    tx.commit().await.expect("commit");
    assert_eq!(in_tx, first);
    assert_eq!(pool.idle_count(), 1, "a committed transaction's connection is back at once");
}

async fn a_transaction_dropped_without_commit_is_rolled_back_before_the_connection_is_used_again(db: &PgDatabase) {
    let pool = pool(db, 1);
    sqlx::raw_sql("CREATE TABLE t (id INT PRIMARY KEY, n INT NOT NULL); INSERT INTO t VALUES (1, 0)")
        .execute(&pool)
        .await
        .expect("table");
    {
        let mut tx = pool.begin().await.expect("begin");
        sqlx::query("UPDATE t SET n = 1 WHERE id = 1").execute(&mut *tx).await.expect("update");
        sqlx::query("INSERT INTO t VALUES (2, 0)").execute(&mut *tx).await.expect("insert");
        // Dropped here, as an error's `?` would: no commit.
    }
    // Another session can take the row's lock, so the transaction is over
    // on the server, not only in the pool.
    let mut other = outside(db).await;
    sqlx::raw_sql("SET lock_timeout = '5s'").execute(&mut other).await.expect("timeout");
    let n: i32 =
        sqlx::query_scalar("SELECT n FROM t WHERE id = 1 FOR UPDATE").fetch_one(&mut other).await.expect("lock");
    assert_eq!(n, 0, "the update was rolled back");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM t").fetch_one(&mut other).await.expect("count");
    assert_eq!(rows, 1, "the insert was rolled back");
    drop(other);

    eventually("the connection is back in the pool", async || pool.idle_count() == 1).await;
    // Were the dropped transaction still open there, the next statement
    // would see its insert and run under its transaction id.
    let (rows, xid): (i64, Option<String>) =
        sqlx::query_as("SELECT count(*), CAST(pg_current_xact_id_if_assigned() AS TEXT) FROM t")
            .fetch_one(&pool)
            .await
            .expect("fresh");
    assert_eq!((rows, xid), (1, None), "the next statement does not run inside the dropped transaction");
}

async fn a_statement_dropped_midway_leaves_no_answer_for_the_next(db: &PgDatabase) {
    let pool = pool(db, 1);
    let slow = sqlx::query_scalar::<_, i32>("SELECT 7 FROM pg_sleep(0.5)").fetch_one(&pool);
    assert!(tokio::time::timeout(Duration::from_millis(100), slow).await.is_err(), "dropped while running");
    // The same (only) connection still owes the slow statement's answer.
    let next: i32 = sqlx::query_scalar("SELECT 42").fetch_one(&pool).await.expect("next");
    assert_eq!(next, 42, "the next statement reads its own answer");
    let again: String = sqlx::query_scalar("SELECT 'again'").fetch_one(&pool).await.expect("again");
    assert_eq!(again, "again");

    // A dropped statement that fails after it is dropped: its error is
    // not the next statement's answer.
    let failing = sqlx::query_scalar::<_, i32>("SELECT 1 / length(CAST(pg_sleep(0.5) AS TEXT))").fetch_one(&pool);
    assert!(tokio::time::timeout(Duration::from_millis(100), failing).await.is_err(), "dropped while running");
    let next: i32 = sqlx::query_scalar("SELECT 43").fetch_one(&pool).await.expect("not the dropped one's error");
    assert_eq!(next, 43);
    // Likewise inside a transaction dropped midway.
    {
        let mut tx = pool.begin().await.expect("begin");
        let failing =
            sqlx::query_scalar::<_, i32>("SELECT 1 / length(CAST(pg_sleep(0.5) AS TEXT))").fetch_one(&mut *tx);
        assert!(tokio::time::timeout(Duration::from_millis(100), failing).await.is_err(), "dropped while running");
    }
    let next: i32 = sqlx::query_scalar("SELECT 44").fetch_one(&pool).await.expect("not the dropped one's error");
    assert_eq!(next, 44);
}

async fn kill(db: &PgDatabase, pid: i32) {
    let mut other = outside(db).await;
    let killed: bool =
        sqlx::query_scalar("SELECT pg_terminate_backend($1)").bind(pid).fetch_one(&mut other).await.expect("kill");
    assert!(killed);
    eventually("the backend is gone", async || {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = $1")
            .bind(pid)
            .fetch_one(&mut other)
            .await
            .expect("activity");
        left == 0
    })
    .await;
}

async fn a_connection_killed_while_idle_is_replaced(db: &PgDatabase) {
    let pool = pool(db, 1);

    // Idle for a while: pinged when handed out, found dead, replaced.
    let first = pid(&pool).await.expect("first");
    kill(db, first).await;
    tokio::time::sleep(store_postgres::IDLE_PING_AFTER + Duration::from_millis(100)).await;
    let second = pid(&pool).await.expect("a dead idle connection is replaced before use");
    assert_ne!(second, first);

    // Used again at once: not pinged, so one statement may meet the dead
    // connection, which is then closed rather than put back.
    kill(db, second).await;
    let failed = pid(&pool).await;
    let third = pid(&pool).await.expect("a connection that failed is not handed out again");
    assert_ne!(third, second);
    if let Ok(reused) = failed {
        assert_ne!(reused, second, "the dead backend cannot have answered");
    }
}

async fn no_more_than_max_connections_are_open(db: &PgDatabase) {
    let pool = pool(db, 2);
    let a = pool.acquire().await.expect("a");
    let b = pool.acquire().await.expect("b");
    assert!(
        tokio::time::timeout(Duration::from_millis(200), pool.acquire()).await.is_err(),
        "a third waits while two are in use"
    );
    let mut other = outside(db).await;
    let open: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(APP)
    .fetch_one(&mut other)
    .await
    .expect("activity");
    assert_eq!(open, 2);
    let waiting = tokio::spawn({
        let pool = pool.clone();
        async move { pid(&pool).await }
    });
    drop(a);
    let got = tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("served").expect("task");
    assert!(got.is_ok(), "the waiting statement gets the connection given back");
    drop(b);
    pool.close().await;
    assert!(matches!(pool.acquire().await, Err(sqlx::Error::PoolClosed)));
}

async fn open_connections(db: &PgDatabase) -> i64 {
    let mut other = outside(db).await;
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND datname = current_database()",
    )
    .bind(APP)
    .fetch_one(&mut other)
    .await
    .expect("activity")
}

async fn connections_past_their_lifetime_or_idle_too_long_are_closed(db: &PgDatabase) {
    let options: PgConnectOptions = db.url.parse().expect("url");
    // Past its lifetime: replaced when next handed out.
    let short_lived = Limits { max_lifetime: Duration::from_millis(300), idle_timeout: Duration::from_secs(600) };
    let pool = Pool::with_limits("test", options.clone().application_name(APP), 1, None, short_lived);
    let first = pid(&pool).await.expect("first");
    assert_eq!(pid(&pool).await.expect("again"), first, "young: used again");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = pid(&pool).await.expect("replaced");
    assert_ne!(second, first, "a connection past its lifetime is not handed out again");
    pool.close().await;
    eventually("the pool's connections are closed", async || open_connections(db).await == 0).await;

    // Idle too long: closed by the reaper, with nobody asking for it.
    let quickly_idle = Limits { max_lifetime: Duration::from_secs(600), idle_timeout: Duration::from_millis(200) };
    let pool = Pool::with_limits("test", options.application_name(APP), 2, None, quickly_idle);
    pid(&pool).await.expect("one");
    assert_eq!(pool.idle_count(), 1);
    eventually("the idle connection is reaped", async || pool.idle_count() == 0).await;
    eventually("and closed on the server", async || open_connections(db).await == 0).await;
    assert!(pid(&pool).await.is_ok(), "a new one is opened when needed");
}

/// Nagle's algorithm holds a statement's last segment until PostgreSQL
/// acks the one before, which it delays by 40 ms: sqlx 0.9.0 left it on,
/// and every statement bigger than a segment (a relay batch's 50
/// notifications) waited 40 ms. The pool's sockets must have TCP_NODELAY.
async fn connections_send_without_waiting_for_acks(db: &PgDatabase) {
    let pool = pool(db, 1);
    let ports: (Option<i32>, Option<i32>) =
        sqlx::query_as("SELECT inet_client_port(), inet_server_port()").fetch_one(&pool).await.expect("ports");
    let (Some(local), Some(server)) = ports else {
        skipped("pg_pool::connections_send_without_waiting_for_acks (PostgreSQL over a Unix socket)");
        return;
    };
    let (local, server) = (u16::try_from(local).expect("port"), u16::try_from(server).expect("port"));
    // The pool's socket, found among this process's descriptors by both of
    // its ports, duplicated with pidfd_getfd (no unsafe code).
    let me =
        rustix::process::pidfd_open(rustix::process::getpid(), rustix::process::PidfdFlags::empty()).expect("pidfd");
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd").flatten() {
        let is_socket = std::fs::read_link(entry.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:"));
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else { continue };
        if !is_socket {
            continue;
        }
        let copy = match rustix::process::pidfd_getfd(&me, fd, rustix::process::PidfdGetfdFlags::empty()) {
            Ok(copy) => copy,
            Err(rustix::io::Errno::BADF) => continue, // closed meanwhile by another test
            Err(e) => panic!("pidfd_getfd({fd}): {e}"),
        };
        let socket = std::net::TcpStream::from(copy);
        let ours = socket.local_addr().is_ok_and(|a| a.port() == local)
            && socket.peer_addr().is_ok_and(|a| a.port() == server);
        if ours {
            found.push(socket.nodelay().expect("TCP_NODELAY"));
        }
    }
    assert_eq!(found, [true], "the pool's one connection (local port {local}) must have TCP_NODELAY set");
}
