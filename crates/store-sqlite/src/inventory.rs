use crate::outbox::push_events;
use ::inventory::{
    InventoryStore, LevelChange, LevelFilter, Movement, MovementReason, StockLevel, StoreError, StoreResult,
};
use ::kernel::PageSpec;
use ::sqlx::Row as _;
use ::std::collections::HashMap;
use ::uuid::Uuid;

type Row = <::sqlx::Sqlite as ::sqlx::Database>::Row;

const LEVEL_COLUMNS: &str = "variant_id, location_id, sku, on_hand, reserved, low_stock_threshold, updated_at";
const MOVEMENT_COLUMNS: &str = "id, variant_id, location_id, sku, on_hand_delta, reserved_delta, on_hand_after, \
                                reason, actor, reference, note, at";
/// SKUs per `IN (...)` list.
const CHUNK: usize = 500;

fn err(e: ::sqlx::Error) -> StoreError {
    StoreError::Unexpected(e.into())
}

fn level_from_row(row: &Row) -> Result<StockLevel, ::sqlx::Error> {
    Ok(StockLevel {
        variant_id: row.try_get("variant_id")?,
        location_id: row.try_get("location_id")?,
        sku: row.try_get("sku")?,
        on_hand: row.try_get("on_hand")?,
        reserved: row.try_get("reserved")?,
        low_stock_threshold: row.try_get("low_stock_threshold")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn movement_from_row(row: &Row) -> Result<Movement, ::sqlx::Error> {
    let reason: String = row.try_get("reason")?;
    Ok(Movement {
        id: row.try_get("id")?,
        variant_id: row.try_get("variant_id")?,
        location_id: row.try_get("location_id")?,
        sku: row.try_get("sku")?,
        on_hand_delta: row.try_get("on_hand_delta")?,
        reserved_delta: row.try_get("reserved_delta")?,
        on_hand_after: row.try_get("on_hand_after")?,
        reason: MovementReason::parse(&reason)
            .ok_or_else(|| ::sqlx::Error::Decode(format!("unknown movement reason {reason:?}").into()))?,
        actor: row.try_get("actor")?,
        reference: row.try_get("reference")?,
        note: row.try_get("note")?,
        at: row.try_get("at")?,
    })
}

/// What `hold_units` found.
pub(crate) enum Held {
    /// Reserved; the level before and after.
    Yes(StockLevel, StockLevel),
    /// The variant has no stock row: not tracked, nothing to hold.
    Untracked,
    /// Tracked, but only this many are available.
    Short(i64),
}

/// Reserves `quantity` units in the caller's transaction if that
/// many are available. The conditional `UPDATE` is the guard:
/// PostgreSQL re-checks its `WHERE` on the latest row version
/// after waiting for a concurrent writer, so two checkouts can
/// never both take the last unit.
pub(crate) async fn hold_units(
    tx: &mut crate::WriteTx,
    variant_id: Uuid,
    location_id: Uuid,
    quantity: i64,
    at: ::time::OffsetDateTime,
) -> Result<Held, ::sqlx::Error> {
    let row = ::sqlx::query(::sqlx::AssertSqlSafe(hold_sql("")))
        .bind(quantity)
        .bind(at)
        .bind(variant_id)
        .bind(location_id)
        .fetch_optional(&mut **tx)
        .await?;
    match row {
        Some(row) => held(&row, quantity),
        None => unheld(tx, variant_id, location_id).await,
    }
}

/// The hold's conditional update (`$1` quantity, `$2` time, `$3`
/// variant, `$4` location; `guard` is appended to its `WHERE`),
/// returning the level after it.
pub(crate) fn hold_sql(guard: &str) -> String {
    format!(
        "UPDATE stock_levels SET reserved = reserved + $1, updated_at = $2 \
         WHERE variant_id = $3 AND location_id = $4 AND on_hand - reserved >= $1{guard} \
         RETURNING {LEVEL_COLUMNS}"
    )
}

/// A hold made: the level before and after, from the update's row.
pub(crate) fn held(row: &Row, quantity: i64) -> Result<Held, ::sqlx::Error> {
    let after = level_from_row(row)?;
    let before = StockLevel { reserved: after.reserved - quantity, ..after.clone() };
    Ok(Held::Yes(before, after))
}

/// Why a hold's update matched no row: the variant is untracked, or short.
pub(crate) async fn unheld(
    tx: &mut crate::WriteTx,
    variant_id: Uuid,
    location_id: Uuid,
) -> Result<Held, ::sqlx::Error> {
    let sql = format!("SELECT {LEVEL_COLUMNS} FROM stock_levels WHERE variant_id = $1 AND location_id = $2");
    let row =
        ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(variant_id).bind(location_id).fetch_optional(&mut **tx).await?;
    Ok(match row {
        None => Held::Untracked,
        Some(row) => Held::Short(level_from_row(&row)?.available()),
    })
}

/// Moves `on_hand` and `reserved` by the deltas in the caller's
/// transaction (the table's CHECK refuses anything that would
/// break `0 ≤ reserved ≤ on_hand`); the level before and after,
/// or `None` if the variant has no stock row.
pub(crate) async fn move_units(
    tx: &mut crate::WriteTx,
    variant_id: Uuid,
    location_id: Uuid,
    on_hand_delta: i64,
    reserved_delta: i64,
    at: ::time::OffsetDateTime,
) -> Result<Option<(StockLevel, StockLevel)>, ::sqlx::Error> {
    let sql = format!(
        "UPDATE stock_levels SET on_hand = on_hand + $1, reserved = reserved + $2, updated_at = $3 \
         WHERE variant_id = $4 AND location_id = $5 RETURNING {LEVEL_COLUMNS}"
    );
    let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
        .bind(on_hand_delta)
        .bind(reserved_delta)
        .bind(at)
        .bind(variant_id)
        .bind(location_id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let after = level_from_row(&row)?;
    let before = StockLevel {
        on_hand: after.on_hand - on_hand_delta,
        reserved: after.reserved - reserved_delta,
        ..after.clone()
    };
    Ok(Some((before, after)))
}

/// Adds the ledger line of a change made by the two functions
/// above to `batch` and returns its events, for the caller to
/// write with its own.
pub(crate) fn push_movement(
    batch: &mut store_sql::Batch<::sqlx::Sqlite>,
    before: &StockLevel,
    after: &StockLevel,
    reason: MovementReason,
    reference: &str,
    at: ::time::OffsetDateTime,
) -> Vec<::kernel::Event> {
    push_movement_row(
        batch,
        &Movement {
            id: ::kernel::new_id(),
            variant_id: after.variant_id,
            sku: after.sku.clone(),
            location_id: after.location_id,
            on_hand_delta: after.on_hand - before.on_hand,
            reserved_delta: after.reserved - before.reserved,
            on_hand_after: after.on_hand,
            reason,
            actor: None,
            reference: Some(reference.to_owned()),
            note: None,
            at,
        },
    );
    ::inventory::events_for(Some(before), after)
}

fn push_movement_row(batch: &mut store_sql::Batch<::sqlx::Sqlite>, m: &Movement) {
    let sql = format!(
        "INSERT INTO stock_movements ({MOVEMENT_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    batch
        .push(&sql)
        .bind(m.id)
        .bind(m.variant_id)
        .bind(m.location_id)
        .bind(&m.sku)
        .bind(m.on_hand_delta)
        .bind(m.reserved_delta)
        .bind(m.on_hand_after)
        .bind(m.reason.as_str())
        .bind(m.actor)
        .bind(&m.reference)
        .bind(&m.note)
        .bind(m.at);
}

#[::async_trait::async_trait]
impl InventoryStore for crate::SqliteStore {
    async fn level(&self, variant_id: Uuid, location_id: Uuid) -> StoreResult<Option<StockLevel>> {
        let sql = format!("SELECT {LEVEL_COLUMNS} FROM stock_levels WHERE variant_id = $1 AND location_id = $2");
        let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
            .bind(variant_id)
            .bind(location_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.as_ref().map(level_from_row).transpose().map_err(err)
    }

    async fn levels(&self, filter: &LevelFilter, page: PageSpec) -> StoreResult<(Vec<StockLevel>, u64)> {
        const WHERE: &str = "($1 IS NULL OR lower(sku) LIKE $1 ESCAPE '\\') \
                             AND ($2 = 0 OR on_hand - reserved <= low_stock_threshold)";
        let pattern = filter.q.as_deref().map(store_sql::contains_pattern);
        let low = i32::from(filter.low_stock);
        let count_sql = format!("SELECT COUNT(*) AS n FROM stock_levels WHERE {WHERE}");
        let total: i64 = ::sqlx::query(::sqlx::AssertSqlSafe(count_sql))
            .bind(pattern.as_deref())
            .bind(low)
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get("n"))
            .map_err(err)?;
        let sql = format!(
            "SELECT {LEVEL_COLUMNS} FROM stock_levels WHERE {WHERE} \
             ORDER BY sku, location_id LIMIT $3 OFFSET $4"
        );
        let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
            .bind(pattern.as_deref())
            .bind(low)
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        let levels = rows.iter().map(level_from_row).collect::<Result<Vec<_>, _>>().map_err(err)?;
        Ok((levels, u64::try_from(total).unwrap_or(0)))
    }

    async fn available(&self, skus: &[String]) -> StoreResult<HashMap<String, i64>> {
        let mut out = HashMap::new();
        for chunk in skus.chunks(CHUNK) {
            let list = (1..=chunk.len()).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ");
            let sql = format!(
                "SELECT sku, CAST(SUM(on_hand - reserved) AS BIGINT) AS available FROM stock_levels \
                 WHERE sku IN ({list}) GROUP BY sku"
            );
            let mut q = ::sqlx::query(::sqlx::AssertSqlSafe(sql));
            for sku in chunk {
                q = q.bind(sku);
            }
            for row in q.fetch_all(&self.pool).await.map_err(err)? {
                let sku: String = row.try_get("sku").map_err(err)?;
                let available: i64 = row.try_get("available").map_err(err)?;
                out.insert(sku, available);
            }
        }
        Ok(out)
    }

    async fn change_level(&self, change: &LevelChange) -> StoreResult<StockLevel> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let fresh = StockLevel::empty(change.variant_id, &change.sku, change.location_id, change.at);
        let created = ::sqlx::query(
            "INSERT INTO stock_levels (variant_id, location_id, sku, on_hand, reserved, low_stock_threshold, \
             updated_at) VALUES ($1, $2, $3, 0, 0, $4, $5) ON CONFLICT (variant_id, location_id) DO NOTHING",
        )
        .bind(change.variant_id)
        .bind(change.location_id)
        .bind(&change.sku)
        .bind(fresh.low_stock_threshold)
        .bind(change.at)
        .execute(&mut *tx)
        .await
        .map_err(err)?
        .rows_affected()
            > 0;
        // Take the row lock before reading (see the macro's docs).
        ::sqlx::query("UPDATE stock_levels SET on_hand = on_hand WHERE variant_id = $1 AND location_id = $2")
            .bind(change.variant_id)
            .bind(change.location_id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        let sql = format!("SELECT {LEVEL_COLUMNS} FROM stock_levels WHERE variant_id = $1 AND location_id = $2");
        let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
            .bind(change.variant_id)
            .bind(change.location_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(err)?;
        let before = level_from_row(&row).map_err(err)?;
        let after = ::inventory::apply_change(&before, change)?;
        // The level, its ledger line and its events: one round trip.
        let mut batch = store_sql::Batch::<::sqlx::Sqlite>::new();
        batch
            .push(
                "UPDATE stock_levels SET sku = $1, on_hand = $2, low_stock_threshold = $3, updated_at = $4 \
                 WHERE variant_id = $5 AND location_id = $6",
            )
            .bind(&after.sku)
            .bind(after.on_hand)
            .bind(after.low_stock_threshold)
            .bind(after.updated_at)
            .bind(after.variant_id)
            .bind(after.location_id);
        push_movement_row(&mut batch, &::inventory::movement_for(&before, &after, change));
        let events = ::inventory::events_for((!created).then_some(&before), &after);
        push_events(&mut batch, &events);
        batch.execute(&mut *tx).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        if !events.is_empty() {
            self.events_written();
        }
        Ok(after)
    }

    async fn rename_sku(
        &self,
        variant_id: Uuid,
        sku: &str,
        at: ::time::OffsetDateTime,
    ) -> StoreResult<Vec<StockLevel>> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let sql = format!(
            "UPDATE stock_levels SET sku = $1, updated_at = $2 WHERE variant_id = $3 AND sku <> $1 \
             RETURNING {LEVEL_COLUMNS}"
        );
        let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
            .bind(sku)
            .bind(at)
            .bind(variant_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(err)?;
        let levels = rows.iter().map(level_from_row).collect::<Result<Vec<_>, _>>().map_err(err)?;
        let events: Vec<::kernel::Event> = levels.iter().flat_map(::inventory::renamed_events).collect();
        let mut batch = store_sql::Batch::<::sqlx::Sqlite>::new();
        push_events(&mut batch, &events);
        batch.execute(&mut *tx).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        if !events.is_empty() {
            self.events_written();
        }
        Ok(levels)
    }

    async fn movements(&self, variant_id: Uuid, page: PageSpec) -> StoreResult<(Vec<Movement>, u64)> {
        let total: i64 = ::sqlx::query("SELECT COUNT(*) AS n FROM stock_movements WHERE variant_id = $1")
            .bind(variant_id)
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get("n"))
            .map_err(err)?;
        let sql = format!(
            "SELECT {MOVEMENT_COLUMNS} FROM stock_movements WHERE variant_id = $1 \
             ORDER BY at DESC, id DESC LIMIT $2 OFFSET $3"
        );
        let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
            .bind(variant_id)
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        let movements = rows.iter().map(movement_from_row).collect::<Result<Vec<_>, _>>().map_err(err)?;
        Ok((movements, u64::try_from(total).unwrap_or(0)))
    }
}
