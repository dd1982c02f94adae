//! Shared by both backends: compiled into `store-postgres` and `store-sqlite`
//! (each declares it with `#[path]`), with that crate's `Db` and `Backend`.

use ::notifications::{Notification, NotificationFilter, NotificationStore, Outcome};
use ::sqlx::Row as _;

type Row = <crate::Db as ::sqlx::Database>::Row;

const COLUMNS: &str = "id, event_id, template, channel, recipient, user_id, subject, body, html, status, \
                       transport, error, attempts, next_attempt_ms, sent_at, created_at";
/// Parameters a row binds.
const WIDTH: usize = 16;

/// Unix milliseconds, as `next_attempt_ms` keeps them.
fn millis(at: ::time::OffsetDateTime) -> i64 {
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_millis(ms: i64) -> Option<::time::OffsetDateTime> {
    ::time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok()
}

fn from_row(row: &Row) -> ::anyhow::Result<Notification> {
    let channel: String = row.try_get("channel")?;
    let status: String = row.try_get("status")?;
    Ok(Notification {
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        template: row.try_get("template")?,
        channel: channel.parse().map_err(|_| ::anyhow::anyhow!("unknown channel {channel}"))?,
        recipient: row.try_get("recipient")?,
        user_id: row.try_get("user_id")?,
        subject: row.try_get("subject")?,
        body: row.try_get("body")?,
        html: row.try_get("html")?,
        status: status.parse().map_err(|_| ::anyhow::anyhow!("unknown status {status}"))?,
        transport: row.try_get("transport")?,
        error: row.try_get("error")?,
        attempts: u32::try_from(row.try_get::<i32, _>("attempts")?).unwrap_or(0),
        next_attempt_at: row.try_get::<Option<i64>, _>("next_attempt_ms")?.and_then(from_millis),
        sent_at: row.try_get("sent_at")?,
        created_at: row.try_get("created_at")?,
    })
}

#[::async_trait::async_trait]
impl NotificationStore for crate::Backend {
    async fn record(&self, list: &[Notification]) -> ::anyhow::Result<Vec<::uuid::Uuid>> {
        let mut inserted = Vec::new();
        // 16 parameters a row; 50 rows stay well inside SQLite's limit.
        for chunk in list.chunks(50) {
            let rows = (0..chunk.len())
                .map(|r| {
                    let cells: Vec<String> = (1..=WIDTH).map(|c| format!("${}", WIDTH * r + c)).collect();
                    format!("({})", cells.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!(
                "INSERT INTO notifications ({COLUMNS}) VALUES {rows} \
                 ON CONFLICT (event_id, template, channel) DO NOTHING RETURNING id"
            );
            let mut q = ::sqlx::query(::sqlx::AssertSqlSafe(sql));
            for n in chunk {
                q = q
                    .bind(n.id)
                    .bind(n.event_id)
                    .bind(&n.template)
                    .bind(n.channel.as_str())
                    .bind(&n.recipient)
                    .bind(n.user_id)
                    .bind(&n.subject)
                    .bind(&n.body)
                    .bind(n.html.as_deref())
                    .bind(n.status.as_str())
                    .bind(&n.transport)
                    .bind(n.error.as_deref())
                    .bind(i32::try_from(n.attempts).unwrap_or(i32::MAX))
                    .bind(n.next_attempt_at.map(millis))
                    .bind(n.sent_at)
                    .bind(n.created_at);
            }
            for row in q.fetch_all(&self.pool).await? {
                inserted.push(row.try_get("id")?);
            }
        }
        Ok(inserted)
    }

    async fn claim_due(
        &self,
        channels: &[::notifications::Channel],
        now: ::time::OffsetDateTime,
        until: ::time::OffsetDateTime,
        limit: u32,
    ) -> ::anyhow::Result<Vec<Notification>> {
        let sql = format!(
            "UPDATE notifications SET attempts = attempts + 1, next_attempt_ms = $2 \
             WHERE id IN (SELECT id FROM notifications WHERE status = 'pending' AND next_attempt_ms <= $1 \
                          AND ((channel = 'email' AND $4) OR (channel = 'sms' AND $5)) \
                          ORDER BY next_attempt_ms, id LIMIT $3 {}) \
             RETURNING {COLUMNS}",
            crate::SKIP_LOCKED
        );
        let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
            .bind(millis(now))
            .bind(millis(until))
            .bind(i64::from(limit))
            .bind(channels.contains(&::notifications::Channel::Email))
            .bind(channels.contains(&::notifications::Channel::Sms))
            .fetch_all(&self.pool)
            .await?;
        let mut claimed = rows.iter().map(from_row).collect::<::anyhow::Result<Vec<_>>>()?;
        claimed.sort_by_key(|n| n.id);
        Ok(claimed)
    }

    async fn settle(&self, id: ::uuid::Uuid, attempt: u32, outcome: &Outcome) -> ::anyhow::Result<bool> {
        let attempt = i32::try_from(attempt).unwrap_or(i32::MAX);
        let q = match outcome {
            Outcome::Sent { at } => ::sqlx::query(
                "UPDATE notifications SET status = 'sent', sent_at = $3, error = NULL, next_attempt_ms = NULL \
                 WHERE id = $1 AND attempts = $2 AND status = 'pending'",
            )
            .bind(id)
            .bind(attempt)
            .bind(*at),
            Outcome::Retry { at, error } => ::sqlx::query(
                "UPDATE notifications SET next_attempt_ms = $3, error = $4 \
                 WHERE id = $1 AND attempts = $2 AND status = 'pending'",
            )
            .bind(id)
            .bind(attempt)
            .bind(millis(*at))
            .bind(error.as_str()),
            Outcome::Failed { error } => ::sqlx::query(
                "UPDATE notifications SET status = 'failed', error = $3, next_attempt_ms = NULL \
                 WHERE id = $1 AND attempts = $2 AND status = 'pending'",
            )
            .bind(id)
            .bind(attempt)
            .bind(error.as_str()),
        };
        Ok(q.execute(&self.pool).await?.rows_affected() == 1)
    }

    async fn notifications(
        &self,
        filter: &NotificationFilter,
        page: ::kernel::PageSpec,
    ) -> ::anyhow::Result<(Vec<Notification>, u64)> {
        const WHERE: &str = "($1 IS NULL OR lower(recipient) LIKE $1 ESCAPE '\\' \
                                 OR lower(subject) LIKE $1 ESCAPE '\\') \
                             AND ($2 IS NULL OR template = $2) AND ($3 IS NULL OR status = $3)";
        let pattern = filter.q.as_deref().map(store_sql::contains_pattern);
        let status = filter.status.map(|s| s.as_str());
        let count_sql = format!("SELECT COUNT(*) AS n FROM notifications WHERE {WHERE}");
        let total: i64 = ::sqlx::query(::sqlx::AssertSqlSafe(count_sql))
            .bind(pattern.as_deref())
            .bind(filter.template.as_deref())
            .bind(status)
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?;
        let sql = format!("SELECT {COLUMNS} FROM notifications WHERE {WHERE} ORDER BY id DESC LIMIT $4 OFFSET $5");
        let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
            .bind(pattern.as_deref())
            .bind(filter.template.as_deref())
            .bind(status)
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await?;
        let items = rows.iter().map(from_row).collect::<::anyhow::Result<Vec<_>>>()?;
        Ok((items, u64::try_from(total).unwrap_or(0)))
    }

    async fn redact_user(&self, user_id: ::uuid::Uuid) -> ::anyhow::Result<u64> {
        let done = ::sqlx::query(
            "UPDATE notifications SET recipient = 'redacted', body = '', html = NULL, \
                 error = CASE WHEN status = 'pending' THEN 'the account was erased' ELSE error END, \
                 next_attempt_ms = CASE WHEN status = 'pending' THEN NULL ELSE next_attempt_ms END, \
                 status = CASE WHEN status = 'pending' THEN 'skipped' ELSE status END \
             WHERE user_id = $1 AND recipient <> 'redacted'",
        )
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }
}
