use super::*;

/// Binds a checkout's idempotency claim (`CLAIM`'s `$1`–`$9`).
pub(super) fn bind_claim<'q>(q: Query<'q>, p: &'q Placement) -> Query<'q> {
    q.bind(p.checkout_id)
        .bind(&p.scope)
        .bind(&p.idempotency_key)
        .bind(&p.request_hash)
        .bind(p.cart_id)
        .bind(p.user_id)
        .bind(&p.email)
        .bind(p.redemption.as_ref().map(|r| r.code_id))
        .bind(p.at)
}

pub(super) fn reservation_from_row(row: &Row) -> Result<Reservation, ::sqlx::Error> {
    let status: String = row.try_get("status")?;
    let expires: i64 = row.try_get("expires_at_ms")?;
    Ok(Reservation {
        id: row.try_get("id")?,
        checkout_id: row.try_get("checkout_id")?,
        order_id: row.try_get("order_id")?,
        variant_id: row.try_get("variant_id")?,
        location_id: row.try_get("location_id")?,
        sku: row.try_get("sku")?,
        quantity: row.try_get("quantity")?,
        status: ReservationStatus::parse(&status)
            .ok_or_else(|| ::sqlx::Error::Decode(format!("unknown reservation status {status:?}").into()))?,
        expires_at: from_ms(expires),
    })
}

pub(super) async fn load_state(conn: &mut Conn, id: Uuid) -> Result<Option<CheckoutState>, ::sqlx::Error> {
    let Some(row) = ::sqlx::query("SELECT id, cart_id, user_id, email, discount_code_id FROM checkouts WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
    else {
        return Ok(None);
    };
    load_rest(conn, head_from_row(&row)?).await.map(Some)
}

/// The checkout row's own columns.
#[derive(::serde::Deserialize)]
pub(super) struct Head {
    id: Uuid,
    cart_id: Uuid,
    user_id: Option<Uuid>,
    email: String,
    discount_code_id: Option<Uuid>,
}

pub(super) fn head_from_row(row: &Row) -> Result<Head, ::sqlx::Error> {
    Ok(Head {
        id: row.try_get("id")?,
        cart_id: row.try_get("cart_id")?,
        user_id: row.try_get("user_id")?,
        email: row.try_get("email")?,
        discount_code_id: row.try_get("discount_code_id")?,
    })
}

/// The payment, orders and reservations of checkout `$1` in one
/// statement: reservation rows (kind 2) carry their columns,
/// payment (0) and order (1) rows their document.
pub(super) const REST: &str = "SELECT CAST(2 AS BIGINT) AS kind, CAST(NULL AS TEXT) AS doc, id, checkout_id, order_id, \
     variant_id, location_id, sku, quantity, status, expires_at_ms FROM reservations WHERE checkout_id = $1 \
     UNION ALL SELECT 0, CAST(doc AS TEXT), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL \
     FROM payments WHERE checkout_id = $1 \
     UNION ALL SELECT 1, CAST(doc AS TEXT), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL \
     FROM orders WHERE checkout_id = $1";

pub(super) fn parse<T: ::serde::de::DeserializeOwned>(text: &str) -> Result<T, ::sqlx::Error> {
    ::serde_json::from_str(text).map_err(|e| ::sqlx::Error::Decode(Box::new(e)))
}

pub(super) async fn load_rest(conn: &mut Conn, head: Head) -> Result<CheckoutState, ::sqlx::Error> {
    let rows = ::sqlx::query(REST).bind(head.id).fetch_all(&mut *conn).await?;
    state_from_rows(head, &rows)
}

/// The checkout `head` with the rows of `REST` (other kinds are skipped).
pub(super) fn state_from_rows(head: Head, rows: &[Row]) -> Result<CheckoutState, ::sqlx::Error> {
    let (mut payment, mut orders, mut reservations) = (None, Vec::new(), Vec::new());
    for r in rows {
        match r.try_get::<i64, _>("kind")? {
            0 => payment = Some(parse(&r.try_get::<String, _>("doc")?)?),
            1 => orders.push(parse::<Order>(&r.try_get::<String, _>("doc")?)?),
            2 => reservations.push(reservation_from_row(r)?),
            _ => {}
        }
    }
    orders.sort_by(|a, b| a.number.cmp(&b.number));
    reservations.sort_by_key(|r| r.variant_id);
    Ok(CheckoutState {
        id: head.id,
        cart_id: head.cart_id,
        user_id: head.user_id,
        email: head.email,
        discount_code_id: head.discount_code_id,
        payment: payment.ok_or(::sqlx::Error::RowNotFound)?,
        orders,
        reservations,
    })
}

/// Locks checkout `id` (every change to it queues on this) and
/// reads its state under the lock; `None` if there is no such checkout.
///
/// On PostgreSQL the lock and the read are one statement. Its read
/// sees the snapshot taken when the statement began, which is stale
/// if the lock had to wait for another change to commit; every
/// change bumps `version` under this lock, so the state is current
/// exactly when the version locked is the one read plus one, and is
/// read again otherwise. SQLite's write transaction already excludes
/// every other writer, and it has no DML in a CTE: two statements.
pub(super) async fn lock_state(tx: &mut Tx, id: Uuid) -> Result<Option<CheckoutState>, ::sqlx::Error> {
    const LOCK: &str = "UPDATE checkouts SET version = version + 1 WHERE id = $1 \
                        RETURNING id, cart_id, user_id, email, discount_code_id, version";
    let Some(row) = ::sqlx::query(LOCK).bind(id).fetch_optional(&mut **tx).await? else {
        return Ok(None);
    };
    return load_rest(tx, head_from_row(&row)?).await.map(Some);
}

pub(super) type Batch = store_sql::Batch<::sqlx::Sqlite>;

/// The idempotency key's claim: the checkout row, or nothing when the
/// key was used before (`$1`–`$9` as `claim_args` binds them).
pub(super) const CLAIM: &str = "INSERT INTO checkouts (id, scope, idempotency_key, request_hash, cart_id, user_id, \
                     email, discount_code_id, version, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9) \
                     ON CONFLICT (scope, idempotency_key) DO NOTHING RETURNING id";

/// The answer to a key used before: that checkout, if the body is the same.
pub(super) async fn replay<'e, E: ::sqlx::Executor<'e, Database = ::sqlx::Sqlite>>(
    executor: E,
    p: &Placement,
) -> Result<Placed, OrdersError> {
    let row = ::sqlx::query("SELECT id, request_hash FROM checkouts WHERE scope = $1 AND idempotency_key = $2")
        .bind(&p.scope)
        .bind(&p.idempotency_key)
        .fetch_one(executor)
        .await
        .map_err(err)?;
    let hash: String = row.try_get("request_hash").map_err(err)?;
    if hash != p.request_hash {
        return Err(::orders::service::idempotency_reused());
    }
    Ok(Placed::Replay(row.try_get("id").map_err(err)?))
}

const INSERT_ORDER: &str = "INSERT INTO orders (id, number, checkout_id, user_id, email, status, doc, created_at, \
                            updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)";
const UPDATE_ORDER: &str = "UPDATE orders SET number = $2, checkout_id = $3, user_id = $4, email = $5, status = $6, \
                            doc = $7, created_at = $8, updated_at = $9 WHERE id = $1";

/// Inserts or updates `order`. (SQLite writes inside its one writer's
/// transaction, so nothing here needs PostgreSQL's guarded batch parts.)
pub(super) fn push_order(batch: &mut Batch, order: &Order, insert: bool) {
    bind_order(batch.push(if insert { INSERT_ORDER } else { UPDATE_ORDER }), order);
}

pub(super) fn bind_order(part: store_sql::Part<'_, ::sqlx::Sqlite>, order: &Order) {
    part.bind(order.id)
        .bind(&order.number)
        .bind(order.checkout_id)
        .bind(order.user_id)
        .bind(&order.email)
        .bind(order.status.as_str())
        .bind(::sqlx::types::Json(order))
        .bind(order.created_at)
        .bind(order.updated_at);
}

const INSERT_PAYMENT: &str = "INSERT INTO payments (id, checkout_id, status, expires_at_ms, doc) \
                              VALUES ($1, $2, $3, $4, $5)";
const UPDATE_PAYMENT: &str =
    "UPDATE payments SET checkout_id = $2, status = $3, expires_at_ms = $4, doc = $5 WHERE id = $1";

/// Inserts or updates `p`.
pub(super) fn push_payment(batch: &mut Batch, p: &Payment, insert: bool) {
    bind_payment(batch.push(if insert { INSERT_PAYMENT } else { UPDATE_PAYMENT }), p);
}

pub(super) fn bind_payment(part: store_sql::Part<'_, ::sqlx::Sqlite>, p: &Payment) {
    part.bind(p.id).bind(p.checkout_id).bind(p.status.as_str()).bind(ms(p.expires_at)).bind(::sqlx::types::Json(p));
}

/// What one stock operation of a change does: the reservation's new
/// status, the moves of `on_hand` and `reserved`, the ledger's reason;
/// `None` when it no longer fits the reservation's status (a repeat,
/// which is therefore harmless).
pub(super) fn stock_step(r: &Reservation, op: &StockOp) -> Option<(ReservationStatus, i64, i64, MovementReason)> {
    let q = r.quantity;
    let (from, to, on_hand, reserved, reason) = match op {
        StockOp::Commit(_) => (ReservationStatus::Open, ReservationStatus::Committed, -q, -q, MovementReason::Sale),
        StockOp::Release(_) => (ReservationStatus::Open, ReservationStatus::Released, 0, -q, MovementReason::Release),
        StockOp::Restock(_) => {
            (ReservationStatus::Committed, ReservationStatus::Released, q, 0, MovementReason::Restock)
        }
    };
    (r.status == from).then_some((to, on_hand, reserved, reason))
}

/// Applies one stock operation of a change: moves the units now and
/// adds the ledger line and the reservation's new status to `batch`.
pub(super) async fn apply_stock(
    tx: &mut Tx,
    batch: &mut Batch,
    r: &Reservation,
    op: &StockOp,
    at: ::time::OffsetDateTime,
    events: &mut Vec<::kernel::Event>,
) -> Result<Option<ReservationStatus>, ::sqlx::Error> {
    let Some((to, on_hand, reserved, reason)) = stock_step(r, op) else { return Ok(None) };
    let reference = format!("checkout:{}", r.checkout_id);
    if let Some((before, after)) =
        crate::inventory::move_units(tx, r.variant_id, r.location_id, on_hand, reserved, at).await?
    {
        events.extend(crate::inventory::push_movement(batch, &before, &after, reason, &reference, at));
    }
    batch.push("UPDATE reservations SET status = $1 WHERE id = $2").bind(to.as_str()).bind(r.id);
    Ok(Some(to))
}

/// When a change happens: its payment's or first order's update time.
pub(super) fn change_time(state: &CheckoutState, change: &Change) -> ::time::OffsetDateTime {
    change
        .payment
        .as_ref()
        .map(|p| p.updated_at)
        .or_else(|| change.orders.first().map(|o| o.updated_at))
        .unwrap_or(state.payment.updated_at)
}

/// A change's stock operations with their reservations, in variant order.
pub(super) fn stock_ops<'a>(state: &'a CheckoutState, change: &'a Change) -> Vec<(&'a Reservation, &'a StockOp)> {
    let mut ops: Vec<(&Reservation, &StockOp)> = change
        .stock
        .iter()
        .filter_map(|op| {
            let rid = match op {
                StockOp::Commit(r) | StockOp::Release(r) | StockOp::Restock(r) => *r,
            };
            state.reservations.iter().find(|r| r.id == rid).map(|r| (r, op))
        })
        .collect();
    ops.sort_by_key(|(r, _)| r.variant_id);
    ops
}

pub(super) fn set_status(after: &mut CheckoutState, reservation: Uuid, status: Option<ReservationStatus>) {
    if let Some(status) = status
        && let Some(mine) = after.reservations.iter_mut().find(|x| x.id == reservation)
    {
        mine.status = status;
    }
}

/// A change's payment, orders and cart as parts of `batch`, and the same
/// in `after`.
pub(super) fn push_documents(batch: &mut Batch, state: &CheckoutState, change: &Change, after: &mut CheckoutState) {
    if let Some(payment) = &change.payment {
        push_payment(batch, payment, false);
        after.payment = payment.clone();
    }
    for order in &change.orders {
        push_order(batch, order, false);
        if let Some(mine) = after.orders.iter_mut().find(|o| o.id == order.id) {
            *mine = order.clone();
        }
    }
    if change.convert_cart {
        batch
            .push("UPDATE carts SET status = 'converted', version = version + 1 WHERE id = $1 AND status = 'active'")
            .bind(state.cart_id);
    }
}

// Long because it is one transaction read top to bottom (key, holds, orders, payment,
// cart, discount, events); each step is a few statements that use the ones before.
pub(super) async fn place_checkout(store: &crate::SqliteStore, p: &Placement) -> Result<Placed, OrdersError> {
    if p.orders.is_empty() {
        return Err(OrdersError::Unexpected(::anyhow::anyhow!("a checkout without orders")));
    }
    let mut tx = store.begin_write().await.map_err(err)?;
    // The idempotency key first: a concurrent request with the same key
    // waits here. Its insert also draws the order numbers (drawing locks
    // nothing): one statement on PostgreSQL, two on SQLite (no DML in a CTE).
    // No numbers means the key was already used.
    let claim = |sql: String| bind_claim(::sqlx::query(::sqlx::AssertSqlSafe(sql)), p);
    // The same cart's earlier checkouts (an index probe; the service
    // supersedes those still awaiting payment and skips the rest).
    // Inside the key's statement on PostgreSQL, whose new row that
    // statement cannot see; $5 is the claim's cart.
    const EARLIER: &str = "SELECT id FROM checkouts WHERE cart_id = $1 AND id <> $2";
    let count = i64::try_from(p.orders.len()).unwrap_or(i64::MAX);
    let location = ::inventory::DEFAULT_LOCATION;
    let (mut numbers, earlier): (Vec<i64>, Vec<Uuid>) = if claim(CLAIM.to_owned())
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?
        .is_some()
    {
        let numbers = ::sqlx::query_scalar("WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < $1) INSERT INTO order_numbers (n) SELECT NULL FROM k RETURNING n").bind(count).fetch_all(&mut *tx).await.map_err(err)?;
        let earlier =
            ::sqlx::query_scalar(EARLIER).bind(p.cart_id).bind(p.checkout_id).fetch_all(&mut *tx).await.map_err(err)?;
        (numbers, earlier)
    } else {
        (Vec::new(), Vec::new())
    };
    if numbers.is_empty() {
        return replay(&mut *tx, p).await;
    }
    // The cart must still be the one priced; if not, the service reads it again.
    let cart_version: Option<i64> = ::sqlx::query_scalar("SELECT version FROM carts WHERE id = $1")
        .bind(p.cart_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(err)?;
    if cart_version != Some(p.cart_version) {
        return Err(OrdersError::Contended);
    }
    if let Some(r) = &p.redemption {
        let counted = ::sqlx::query(
            "UPDATE discount_codes SET times_used = times_used + 1 \
             WHERE id = $1 AND (usage_limit IS NULL OR times_used < usage_limit)",
        )
        .bind(r.code_id)
        .execute(&mut *tx)
        .await
        .map_err(err)?
        .rows_affected();
        if counted == 0 {
            return Err(OrdersError::DiscountNotApplicable("this code has been used up".into()));
        }
        if let Some(limit) = r.per_customer_limit {
            let used: i64 = ::sqlx::query_scalar(
                "SELECT COUNT(*) FROM discount_redemptions WHERE code_id = $1 AND customer_key = $2",
            )
            .bind(r.code_id)
            .bind(&r.customer_key)
            .fetch_one(&mut *tx)
            .await
            .map_err(err)?;
            if used >= limit {
                return Err(OrdersError::DiscountNotApplicable(
                    "you have already used this code as often as it allows".into(),
                ));
            }
        }
        ::sqlx::query("INSERT INTO discount_redemptions (checkout_id, code_id, customer_key) VALUES ($1, $2, $3)")
            .bind(p.checkout_id)
            .bind(r.code_id)
            .bind(&r.customer_key)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
    }
    if numbers.len() != p.orders.len() {
        return Err(OrdersError::Unexpected(::anyhow::anyhow!(
            "asked for {} order numbers, got {}",
            p.orders.len(),
            numbers.len()
        )));
    }
    numbers.sort_unstable();
    // Then stock, in variant order (see the macro's docs on lock
    // order); a short line rolls everything back. The rest of the
    // checkout is written after it in one batch, so the stock rows
    // stay locked for two round trips: the batch and the commit.
    let mut holds: Vec<&Hold> = p.holds.iter().collect();
    holds.sort_by_key(|h| h.variant_id);
    let mut short = Vec::new();
    let mut held = Vec::new();
    for h in holds {
        match crate::inventory::hold_units(&mut tx, h.variant_id, location, h.quantity, p.at).await.map_err(err)? {
            crate::inventory::Held::Yes(before, after) => held.push((h, before, after)),
            crate::inventory::Held::Untracked => {}
            crate::inventory::Held::Short(available) => short.push(ShortLine {
                sku: h.sku.clone(),
                variant_id: h.variant_id,
                requested: h.quantity,
                available: available.max(0),
            }),
        }
    }
    if !short.is_empty() {
        // Dropping the transaction rolls back every hold made above.
        return Err(OrdersError::OutOfStock(short));
    }
    let mut batch = Batch::new();
    let mut orders = p.orders.clone();
    for (order, n) in orders.iter_mut().zip(numbers) {
        order.number = (1000 + n).to_string();
        push_order(&mut batch, order, true);
    }
    let mut events: Vec<::kernel::Event> = orders
        .iter()
        .map(|order| ::orders::service::order_event(::orders::topics::ORDER_PLACED, order, p.at))
        .collect();
    push_payment(&mut batch, &p.payment, true);
    let reference = format!("checkout:{}", p.checkout_id);
    let expires = ms(p.payment.expires_at);
    for (h, before, after) in &held {
        batch
            .push(
                "INSERT INTO reservations (id, checkout_id, order_id, variant_id, location_id, sku, \
                 quantity, status, expires_at_ms, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8, $9)",
            )
            .bind(::kernel::new_id())
            .bind(p.checkout_id)
            .bind(h.order_id)
            .bind(h.variant_id)
            .bind(location)
            .bind(&h.sku)
            .bind(h.quantity)
            .bind(expires)
            .bind(p.at);
        events.extend(crate::inventory::push_movement(
            &mut batch,
            before,
            after,
            MovementReason::Reservation,
            &reference,
            p.at,
        ));
    }
    push_events(&mut batch, &events);
    batch.execute(&mut *tx).await.map_err(err)?;
    tx.commit().await.map_err(err)?;
    store.events_written();
    Ok(Placed::New { orders, earlier })
}

pub(super) async fn checkout(store: &crate::SqliteStore, id: Uuid) -> Result<Option<CheckoutState>, OrdersError> {
    let mut conn = store.pool.acquire().await.map_err(err)?;
    load_state(&mut conn, id).await.map_err(err)
}

pub(super) async fn checkout_by_key(
    store: &crate::SqliteStore,
    scope: &str,
    key: &str,
) -> Result<Option<(Uuid, String)>, OrdersError> {
    let row = ::sqlx::query("SELECT id, request_hash FROM checkouts WHERE scope = $1 AND idempotency_key = $2")
        .bind(scope)
        .bind(key)
        .fetch_optional(&store.pool)
        .await
        .map_err(err)?;
    match row {
        None => Ok(None),
        Some(row) => Ok(Some((row.try_get("id").map_err(err)?, row.try_get("request_hash").map_err(err)?))),
    }
}

pub(super) async fn change_checkout(
    store: &crate::SqliteStore,
    id: Uuid,
    decide: &Decide<'_>,
) -> Result<CheckoutState, OrdersError> {
    let mut tx = store.begin_write().await.map_err(err)?;
    let state = lock_state(&mut tx, id).await.map_err(err)?.ok_or(OrdersError::NotFound("checkout"))?;
    let change = decide(&state)?;
    if change.is_empty() {
        return Ok(state);
    }
    let at = change_time(&state, &change);
    if change.release_discount && state.discount_code_id.is_some() {
        let removed = ::sqlx::query("DELETE FROM discount_redemptions WHERE checkout_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(err)?
            .rows_affected();
        if removed > 0 {
            ::sqlx::query("UPDATE discount_codes SET times_used = times_used - 1 WHERE id = $1 AND times_used > 0")
                .bind(state.discount_code_id)
                .execute(&mut *tx)
                .await
                .map_err(err)?;
        }
    }
    // Stock first, in variant order; everything else follows in one
    // batch, so the stock rows stay locked only for the batch and the commit.
    let mut batch = Batch::new();
    let mut after = state.clone();
    let mut events = change.events.clone();
    let ops = stock_ops(&state, &change);
    // Locked one by one in variant order.
    for (r, op) in ops {
        let status = apply_stock(&mut tx, &mut batch, r, op, at, &mut events).await.map_err(err)?;
        set_status(&mut after, r.id, status);
    }
    push_documents(&mut batch, &state, &change, &mut after);
    push_events(&mut batch, &events);
    batch.execute(&mut *tx).await.map_err(err)?;
    tx.commit().await.map_err(err)?;
    if !events.is_empty() {
        store.events_written();
    }
    Ok(after)
}

pub(super) async fn checkout_of_order(store: &crate::SqliteStore, order_id: Uuid) -> Result<Option<Uuid>, OrdersError> {
    ::sqlx::query_scalar("SELECT checkout_id FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_optional(&store.pool)
        .await
        .map_err(err)
}

pub(super) async fn checkout_of_payment(
    store: &crate::SqliteStore,
    payment_id: Uuid,
) -> Result<Option<Uuid>, OrdersError> {
    ::sqlx::query_scalar("SELECT checkout_id FROM payments WHERE id = $1")
        .bind(payment_id)
        .fetch_optional(&store.pool)
        .await
        .map_err(err)
}

pub(super) async fn expired_checkouts(
    store: &crate::SqliteStore,
    now: ::time::OffsetDateTime,
    limit: u32,
) -> Result<Vec<Uuid>, OrdersError> {
    ::sqlx::query_scalar(
        "SELECT checkout_id FROM payments WHERE status = 'pending' AND expires_at_ms <= $1 \
         ORDER BY expires_at_ms LIMIT $2",
    )
    .bind(ms(now))
    .bind(i64::from(limit))
    .fetch_all(&store.pool)
    .await
    .map_err(err)
}

pub(super) async fn payment(store: &crate::SqliteStore, id: Uuid) -> Result<Option<Payment>, OrdersError> {
    let row = ::sqlx::query("SELECT doc FROM payments WHERE id = $1")
        .bind(id)
        .fetch_optional(&store.pool)
        .await
        .map_err(err)?;
    row.as_ref().map(doc::<Payment>).transpose().map_err(err)
}

pub(super) async fn claim_ref(
    store: &crate::SqliteStore,
    kind: &str,
    reference: &str,
    payment_id: Uuid,
) -> Result<Uuid, OrdersError> {
    // Insert-if-absent, then read the owner: the first payment to
    // claim a reference keeps it.
    ::sqlx::query(
        "INSERT INTO payment_refs (kind, reference, payment_id) VALUES ($1, $2, $3) \
         ON CONFLICT (kind, reference) DO NOTHING",
    )
    .bind(kind)
    .bind(reference)
    .bind(payment_id)
    .execute(&store.pool)
    .await
    .map_err(err)?;
    let owner: Option<Uuid> =
        ::sqlx::query_scalar("SELECT payment_id FROM payment_refs WHERE kind = $1 AND reference = $2")
            .bind(kind)
            .bind(reference)
            .fetch_optional(&store.pool)
            .await
            .map_err(err)?;
    Ok(owner.unwrap_or(payment_id))
}

pub(super) async fn ref_owner(
    store: &crate::SqliteStore,
    kind: &str,
    reference: &str,
) -> Result<Option<Uuid>, OrdersError> {
    ::sqlx::query_scalar("SELECT payment_id FROM payment_refs WHERE kind = $1 AND reference = $2")
        .bind(kind)
        .bind(reference)
        .fetch_optional(&store.pool)
        .await
        .map_err(err)
}

pub(super) async fn pending_payments(store: &crate::SqliteStore, limit: u32) -> Result<Vec<Payment>, OrdersError> {
    let rows = ::sqlx::query("SELECT doc FROM payments WHERE status = 'pending' ORDER BY expires_at_ms LIMIT $1")
        .bind(i64::from(limit))
        .fetch_all(&store.pool)
        .await
        .map_err(err)?;
    rows.iter().map(doc::<Payment>).collect::<Result<Vec<_>, _>>().map_err(err)
}

pub(super) async fn open_reservations(store: &crate::SqliteStore) -> Result<Vec<Reservation>, OrdersError> {
    let rows = ::sqlx::query(
        "SELECT id, checkout_id, order_id, variant_id, location_id, sku, quantity, status, expires_at_ms \
         FROM reservations WHERE status = 'open'",
    )
    .fetch_all(&store.pool)
    .await
    .map_err(err)?;
    rows.iter().map(reservation_from_row).collect::<Result<Vec<_>, _>>().map_err(err)
}
