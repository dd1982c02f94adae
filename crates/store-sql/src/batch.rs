//! Several writes sent to the database in one round trip.
//!
//! A checkout's or a payment's transaction ends with a handful of writes
//! whose results nobody reads (the payment, the orders, the ledger lines,
//! the outbox rows). Sent one by one, each costs a round trip to the
//! database; with PostgreSQL over TCP that, not the work, is most of a
//! checkout's time. A `Batch` collects them and sends them as one statement:
//!
//! - on PostgreSQL as data-modifying CTEs, `WITH w0 AS (…), w1 AS (…) …`;
//!   every part runs exactly once, on the statement's snapshot;
//! - on SQLite as `…; …`, the statements run in order (the driver prepares
//!   each and binds its parameters by number).
//!
//! Each part is written with its own parameters numbered from `$1`; the
//! batch renumbers them. Rules for what may go into one batch: no part may
//! read what another wrote, and no two parts may change the same row (on
//! PostgreSQL that is undefined); nobody may need a part's row count.

use sqlx::{Arguments, Database, Encode, Executor, IntoArguments, Type};

/// Writes collected to be sent as one statement (see the module's docs).
pub struct Batch<DB: Database> {
    parts: Vec<String>,
    args: DB::Arguments,
    error: Option<sqlx::error::BoxDynError>,
}

impl<DB: Database> Default for Batch<DB> {
    fn default() -> Self {
        Batch { parts: Vec::new(), args: Default::default(), error: None }
    }
}

/// Binds one part's parameters, in the order of their numbers.
pub struct Part<'b, DB: Database> {
    batch: &'b mut Batch<DB>,
}

impl<DB: Database> Part<'_, DB> {
    /// Binds the part's next parameter.
    pub fn bind<'t, T: Encode<'t, DB> + Type<DB> + 't>(self, value: T) -> Self {
        if self.batch.error.is_none()
            && let Err(e) = self.batch.args.add(value)
        {
            self.batch.error = Some(e);
        }
        self
    }
}

impl<DB: Dialect> Batch<DB> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The name a later part can read the next part's `RETURNING` rows by
    /// (PostgreSQL only: on SQLite parts are separate statements).
    pub fn next_name(&self) -> String {
        format!("w{}", self.parts.len())
    }

    /// Adds one write; `sql` numbers its parameters from `$1` and the
    /// returned `Part` binds exactly those, in order.
    pub fn push(&mut self, sql: &str) -> Part<'_, DB> {
        let part = renumber(sql, self.args.len());
        self.parts.push(part);
        Part { batch: self }
    }

    /// Sends every part as one statement (nothing if the batch is empty).
    pub async fn execute<'c, E>(self, executor: E) -> Result<(), sqlx::Error>
    where
        E: Executor<'c, Database = DB>,
        DB::Arguments: IntoArguments<DB>,
    {
        if let Some(e) = self.error {
            return Err(sqlx::Error::Encode(e));
        }
        let Some(sql) = join::<DB>(&self.parts) else { return Ok(()) };
        sqlx::query_with(sqlx::AssertSqlSafe(sql), self.args).execute(executor).await?;
        Ok(())
    }

    /// Sends every part as one statement and answers the last part's rows
    /// (none if the batch is empty).
    pub async fn fetch_all<'c, E>(self, executor: E) -> Result<Vec<DB::Row>, sqlx::Error>
    where
        E: Executor<'c, Database = DB>,
        DB::Arguments: IntoArguments<DB>,
    {
        if let Some(e) = self.error {
            return Err(sqlx::Error::Encode(e));
        }
        let Some(sql) = join::<DB>(&self.parts) else { return Ok(Vec::new()) };
        sqlx::query_with(sqlx::AssertSqlSafe(sql), self.args).fetch_all(executor).await
    }
}

/// How a backend sends several writes as one statement.
pub trait Dialect: Database {
    /// Whether data-modifying statements may run inside `WITH` (PostgreSQL:
    /// yes; SQLite: no, so its parts are `;`-separated statements).
    const WRITES_IN_CTES: bool;
}

impl Dialect for sqlx::Postgres {
    const WRITES_IN_CTES: bool = true;
}

impl Dialect for sqlx::Sqlite {
    const WRITES_IN_CTES: bool = false;
}

/// The parts as one statement in `DB`'s dialect; `None` for no parts.
fn join<DB: Dialect>(parts: &[String]) -> Option<String> {
    let (last, rest) = parts.split_last()?;
    if rest.is_empty() {
        return Some(last.clone());
    }
    if DB::WRITES_IN_CTES {
        let ctes: Vec<String> = rest.iter().enumerate().map(|(i, p)| format!("w{i} AS ({p})")).collect();
        Some(format!("WITH {} {last}", ctes.join(", ")))
    } else {
        Some(parts.join(";\n"))
    }
}

/// ` AND guard` for a part's `WHERE` when it has a guard (a condition on
/// another part of the batch, PostgreSQL only), nothing otherwise.
pub fn and_guard(guard: Option<&str>) -> String {
    guard.map(|g| format!(" AND {g}")).unwrap_or_default()
}

/// `sql` with every placeholder `$n` turned into `$(n + offset)`.
pub fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let start = i + 1;
        let mut end = start;
        while let Some(&(j, d)) = chars.peek() {
            if !d.is_ascii_digit() {
                break;
            }
            end = j + d.len_utf8();
            chars.next();
        }
        match sql[start..end].parse::<usize>() {
            Ok(n) => {
                out.push('$');
                out.push_str(&(n + offset).to_string());
            }
            Err(_) => out.push_str(&sql[i..end]),
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn renumbers_placeholders_past_the_offset() {
        assert_eq!(
            renumber("UPDATE t SET a = $1, b = $12 WHERE id = $2", 3),
            "UPDATE t SET a = $4, b = $15 WHERE id = $5"
        );
        assert_eq!(renumber("SELECT $1", 0), "SELECT $1");
        assert_eq!(renumber("SELECT '$' || $1", 1), "SELECT '$' || $2");
    }

    #[test]
    fn joins_as_ctes_on_postgres_and_statements_on_sqlite() {
        let parts = vec!["INSERT INTO a VALUES ($1)".to_owned(), "UPDATE b SET x = $2".to_owned()];
        assert_eq!(
            join::<sqlx::Postgres>(&parts).unwrap(),
            "WITH w0 AS (INSERT INTO a VALUES ($1)) UPDATE b SET x = $2"
        );
        assert_eq!(join::<sqlx::Sqlite>(&parts).unwrap(), "INSERT INTO a VALUES ($1);\nUPDATE b SET x = $2");
        assert_eq!(join::<sqlx::Postgres>(&parts[..1]).unwrap(), "INSERT INTO a VALUES ($1)");
        assert!(join::<sqlx::Sqlite>(&[]).is_none());
    }
}
