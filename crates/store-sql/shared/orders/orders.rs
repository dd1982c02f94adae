//! Shared by both backends: compiled into `store-postgres` and `store-sqlite`
//! (each declares it with `#[path]`), with that crate's `Db` and `Backend`.

use super::*;

pub(super) async fn order(store: &crate::Backend, id: Uuid) -> Result<Option<Order>, OrdersError> {
    let row = ::sqlx::query("SELECT doc FROM orders WHERE id = $1")
        .bind(id)
        .fetch_optional(&store.pool)
        .await
        .map_err(err)?;
    row.as_ref().map(doc::<Order>).transpose().map_err(err)
}

pub(super) async fn orders(
    store: &crate::Backend,
    filter: &OrderFilter,
    page: ::kernel::PageSpec,
) -> Result<(Vec<Order>, u64), OrdersError> {
    const WHERE: &str = "($1 IS NULL OR user_id = $1) AND ($2 IS NULL OR status = $2) \
                         AND ($3 IS NULL OR number = $4 OR lower(email) LIKE $3 ESCAPE '\\')";
    let q = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let pattern = q.map(store_sql::contains_pattern);
    let number = q.map(|q| q.trim_start_matches('#').to_owned());
    let status = filter.status.map(|s| s.as_str());
    let count_sql = format!("SELECT COUNT(*) FROM orders WHERE {WHERE}");
    let total: i64 = ::sqlx::query_scalar(::sqlx::AssertSqlSafe(count_sql))
        .bind(filter.user_id)
        .bind(status)
        .bind(pattern.as_deref())
        .bind(number.as_deref())
        .fetch_one(&store.pool)
        .await
        .map_err(err)?;
    let sql = format!("SELECT doc FROM orders WHERE {WHERE} ORDER BY id DESC LIMIT $5 OFFSET $6");
    let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
        .bind(filter.user_id)
        .bind(status)
        .bind(pattern.as_deref())
        .bind(number.as_deref())
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&store.pool)
        .await
        .map_err(err)?;
    let items = rows.iter().map(doc::<Order>).collect::<Result<Vec<_>, _>>().map_err(err)?;
    Ok((items, u64::try_from(total).unwrap_or(0)))
}

pub(super) async fn daily_sales(
    store: &crate::Backend,
    since: ::time::OffsetDateTime,
) -> Result<Vec<::orders::DailySales>, OrdersError> {
    // Order ids are UUIDv7, so the primary key finds the window; the
    // amounts come out of the documents in the database (`->` and
    // `->>` mean the same on both), one narrow row per order.
    let rows = ::sqlx::query(
        "SELECT created_at, doc->>'currency' AS currency, \
         CAST(doc->'total'->>'amount' AS BIGINT) - CAST(doc->'refunded_total'->>'amount' AS BIGINT) AS net \
         FROM orders WHERE id >= $1 AND status NOT IN ('pending_payment', 'cancelled')",
    )
    .bind(::messaging::first_id_at(since))
    .fetch_all(&store.pool)
    .await
    .map_err(err)?;
    let mut days: ::std::collections::HashMap<(::time::Date, ::kernel::Currency), i64> =
        ::std::collections::HashMap::new();
    for row in &rows {
        let at: ::time::OffsetDateTime = row.try_get("created_at").map_err(err)?;
        if at < since {
            continue;
        }
        let currency: String = row.try_get("currency").map_err(err)?;
        let currency = ::kernel::Currency::try_from(currency.clone())
            .map_err(|e| OrdersError::Unexpected(::anyhow::anyhow!("an order's currency {currency:?}: {e:?}")))?;
        let net: i64 = row.try_get("net").map_err(err)?;
        *days.entry((at.to_offset(::time::UtcOffset::UTC).date(), currency)).or_default() += net;
    }
    let mut sales: Vec<::orders::DailySales> =
        days.into_iter().map(|((day, currency), amount)| ::orders::DailySales { day, currency, amount }).collect();
    sales.sort_by(|a, b| a.day.cmp(&b.day).then_with(|| a.currency.as_str().cmp(b.currency.as_str())));
    Ok(sales)
}
