//! Shared by both backends: compiled into `store-postgres` and `store-sqlite`
//! (each declares it with `#[path]`), with that crate's `Db` and `Backend`.

/// Writes `event` to the outbox inside the caller's transaction.
pub(crate) async fn insert_event(
    tx: &mut crate::WriteTx,
    event: &::kernel::Event,
) -> ::std::result::Result<(), ::sqlx::Error> {
    ::sqlx::query("INSERT INTO outbox (id, topic, aggregate_id, occurred_at, payload) VALUES ($1, $2, $3, $4, $5)")
        .bind(event.id)
        .bind(&event.topic)
        .bind(event.aggregate_id)
        .bind(event.occurred_at)
        .bind(::sqlx::types::Json(&event.payload))
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Adds the insert of `events` to `batch` (100 rows per statement).
pub(crate) fn push_events(batch: &mut store_sql::Batch<crate::Db>, events: &[::kernel::Event]) {
    push_events_guarded(batch, events, None);
}

/// `push_events`; with a guard (PostgreSQL), written only if the guard holds.
pub(crate) fn push_events_guarded(
    batch: &mut store_sql::Batch<crate::Db>,
    events: &[::kernel::Event],
    guard: Option<&str>,
) {
    for chunk in events.chunks(100) {
        let rows = (0..chunk.len())
            .map(|i| format!("(${}, ${}, ${}, ${}, ${})", 5 * i + 1, 5 * i + 2, 5 * i + 3, 5 * i + 4, 5 * i + 5))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = match guard {
            None => format!("INSERT INTO outbox (id, topic, aggregate_id, occurred_at, payload) VALUES {rows}"),
            Some(guard) => format!(
                "INSERT INTO outbox (id, topic, aggregate_id, occurred_at, payload) \
                 SELECT * FROM (VALUES {rows}) AS v WHERE {guard}"
            ),
        };
        let mut part = batch.push(&sql);
        for event in chunk {
            part = part
                .bind(event.id)
                .bind(&event.topic)
                .bind(event.aggregate_id)
                .bind(event.occurred_at)
                .bind(::sqlx::types::Json(&event.payload));
        }
    }
}

/// Events are retried until this many failed attempts, then left in
/// the table (dead-lettered) for an operator instead of blocking
/// every later event forever.
const MAX_DELIVERY_ATTEMPTS: i64 = 20;

/// An outbox row as the relay reads it.
#[derive(::sqlx::FromRow)]
struct EventRow {
    id: ::uuid::Uuid,
    topic: String,
    aggregate_id: ::uuid::Uuid,
    occurred_at: ::time::OffsetDateTime,
    payload: ::sqlx::types::Json<::serde_json::Value>,
}

impl From<EventRow> for ::kernel::Event {
    fn from(r: EventRow) -> Self {
        ::kernel::Event {
            id: r.id,
            topic: r.topic,
            aggregate_id: r.aggregate_id,
            occurred_at: r.occurred_at,
            payload: r.payload.0,
        }
    }
}

#[derive(::sqlx::FromRow)]
struct DeadRow {
    #[sqlx(flatten)]
    event: EventRow,
    attempts: i64,
    last_error: Option<String>,
}

const TAKE_LEASE: &str = "INSERT INTO leases (name, holder, until_ms) VALUES ($1, $2, $3) \
     ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms \
     WHERE leases.holder = excluded.holder OR leases.until_ms < $4";

fn unix_ms(at: ::time::OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

#[::async_trait::async_trait]
impl ::messaging::OutboxStore for crate::Backend {
    async fn pending_events_from(&self, from: ::uuid::Uuid, limit: u32) -> ::anyhow::Result<Vec<::kernel::Event>> {
        let rows: Vec<EventRow> = ::sqlx::query_as(
            "SELECT id, topic, aggregate_id, occurred_at, payload FROM outbox \
             WHERE published_at IS NULL AND id >= $1 AND attempts < $2 ORDER BY id LIMIT $3",
        )
        .bind(from)
        .bind(MAX_DELIVERY_ATTEMPTS)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Into::into).collect())
    }

    async fn hold_lease(
        &self,
        name: &str,
        holder: &str,
        now: ::time::OffsetDateTime,
        until: ::time::OffsetDateTime,
    ) -> ::anyhow::Result<bool> {
        let done = ::sqlx::query(TAKE_LEASE)
            .bind(name)
            .bind(holder)
            .bind(unix_ms(until))
            .bind(unix_ms(now))
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn dead_events(&self, limit: u32) -> ::anyhow::Result<Vec<::messaging::DeadEvent>> {
        let rows: Vec<DeadRow> = ::sqlx::query_as(
            "SELECT id, topic, aggregate_id, occurred_at, payload, attempts, last_error FROM outbox \
             WHERE published_at IS NULL AND attempts >= $1 ORDER BY id LIMIT $2",
        )
        .bind(MAX_DELIVERY_ATTEMPTS)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| ::messaging::DeadEvent { event: r.event.into(), attempts: r.attempts, last_error: r.last_error })
            .collect())
    }

    async fn replay_event(&self, id: ::uuid::Uuid) -> ::anyhow::Result<bool> {
        let done = ::sqlx::query(
            "UPDATE outbox SET attempts = 0, last_error = NULL \
             WHERE id = $1 AND published_at IS NULL AND attempts >= $2",
        )
        .bind(id)
        .bind(MAX_DELIVERY_ATTEMPTS)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn mark_published(&self, ids: &[::uuid::Uuid], at: ::time::OffsetDateTime) -> ::anyhow::Result<()> {
        // One statement per 500 ids: a drain is marked in a round trip
        // or two. Losing the mark in a crash only republishes events,
        // which consumers deduplicate, so no transaction is needed,
        // and the commit need not wait for the disk (the relaxed pool).
        for chunk in ids.chunks(500) {
            let list = (2..chunk.len() + 2).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
            let sql = format!("UPDATE outbox SET published_at = $1 WHERE id IN ({list})");
            let mut q = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(at);
            for id in chunk {
                q = q.bind(*id);
            }
            q.execute(self.relaxed()).await?;
        }
        Ok(())
    }

    async fn record_failure(&self, id: ::uuid::Uuid, error: &str) -> ::anyhow::Result<()> {
        ::sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1 WHERE id = $2")
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn prune(&self, before: ::time::OffsetDateTime, limit: u32) -> ::anyhow::Result<u64> {
        // By primary key: ids are UUIDv7, so "older than" is a range.
        let events = ::sqlx::query(
            "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox \
             WHERE id < $1 AND published_at IS NOT NULL ORDER BY id LIMIT $2)",
        )
        .bind(::messaging::first_id_at(before))
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?;
        ::sqlx::query(
            "DELETE FROM processed_events WHERE (consumer, event_id) IN \
             (SELECT consumer, event_id FROM processed_events WHERE processed_at < $1 LIMIT $2)",
        )
        .bind(before)
        .bind(i64::from(limit))
        .execute(&self.pool)
        .await?;
        Ok(events.rows_affected())
    }

    async fn is_processed(&self, consumer: &str, event_id: ::uuid::Uuid) -> ::anyhow::Result<bool> {
        let row = ::sqlx::query("SELECT 1 FROM processed_events WHERE consumer = $1 AND event_id = $2")
            .bind(consumer)
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }

    async fn mark_processed(
        &self,
        consumer: &str,
        event_id: ::uuid::Uuid,
        at: ::time::OffsetDateTime,
    ) -> ::anyhow::Result<()> {
        ::sqlx::query(
            "INSERT INTO processed_events (consumer, event_id, processed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (consumer, event_id) DO NOTHING",
        )
        .bind(consumer)
        .bind(event_id)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
