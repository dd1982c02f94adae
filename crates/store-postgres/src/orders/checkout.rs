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

/// `bind_claim` for a batch part.
pub(super) fn bind_claim_part(part: store_sql::Part<'_, ::sqlx::Postgres>, p: &Placement) {
    part.bind(p.checkout_id)
        .bind(&p.scope)
        .bind(&p.idempotency_key)
        .bind(&p.request_hash)
        .bind(p.cart_id)
        .bind(p.user_id)
        .bind(&p.email)
        .bind(p.redemption.as_ref().map(|r| r.code_id))
        .bind(p.at);
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
    #[derive(::serde::Deserialize)]
    struct Locked {
        #[serde(flatten)]
        head: Head,
        version: i64,
        seen: i64,
    }
    let sql = format!(
        "WITH locked AS ({LOCK}) {REST} \
         UNION ALL SELECT 3, CAST(json_build_object('id', id, 'cart_id', cart_id, 'user_id', user_id, \
         'email', email, 'discount_code_id', discount_code_id, 'version', version, \
         'seen', (SELECT version FROM checkouts WHERE id = $1)) AS TEXT), \
         NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM locked"
    );
    let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(id).fetch_all(&mut **tx).await?;
    let mut locked = None;
    for r in &rows {
        if r.try_get::<i64, _>("kind")? == 3 {
            locked = Some(parse::<Locked>(&r.try_get::<String, _>("doc")?)?);
        }
    }
    let Some(locked) = locked else { return Ok(None) };
    if locked.version == locked.seen + 1 {
        state_from_rows(locked.head, &rows).map(Some)
    } else {
        load_rest(tx, locked.head).await.map(Some)
    }
}

pub(super) type Batch = store_sql::Batch<::sqlx::Postgres>;

/// The idempotency key's claim: the checkout row, or nothing when the
/// key was used before (`$1`–`$9` as `claim_args` binds them).
pub(super) const CLAIM: &str = "INSERT INTO checkouts (id, scope, idempotency_key, request_hash, cart_id, user_id, \
                     email, discount_code_id, version, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9) \
                     ON CONFLICT (scope, idempotency_key) DO NOTHING RETURNING id";

/// The reason `place_at_once` aborts with when the cart is no longer
/// at the version priced.
pub(super) const CART_MOVED: &str = "cart";

/// What `emporium_abort_if` (PostgreSQL migration 0009) starts its message with.
pub(super) const ABORT_PREFIX: &str = "emporium_abort: ";

/// Whether `place_at_once` can place `p`: PostgreSQL, no discount
/// (its use count is a row of its own, locked between the key and
/// the stock) and one hold per variant (one statement may change a
/// row once).
pub(super) fn at_once(p: &Placement) -> bool {
    let mut variants: Vec<Uuid> = p.holds.iter().map(|h| h.variant_id).collect();
    variants.sort_unstable();
    variants.dedup();
    p.redemption.is_none() && !p.holds.is_empty() && variants.len() == p.holds.len()
}

/// `count` order numbers: from the store's block, drawn ahead from
/// the sequence `store_sql::NUMBER_BLOCK` at a time (see `NumberBlock`).
pub(super) async fn order_numbers(store: &crate::PostgresStore, count: usize) -> Result<Vec<i64>, ::sqlx::Error> {
    if let Some(numbers) = store.order_numbers.take(count) {
        return Ok(numbers);
    }
    let want = i64::try_from(count).unwrap_or(i64::MAX).max(store_sql::NUMBER_BLOCK);
    let drawn: Vec<i64> = ::sqlx::query_scalar("SELECT nextval('order_numbers') AS n FROM generate_series(1, $1)")
        .bind(want)
        .fetch_all(&store.pool)
        .await?;
    let numbers = store.order_numbers.refill_and_take(drawn, count);
    if numbers.len() == count {
        Ok(numbers)
    } else {
        Err(::sqlx::Error::Protocol(format!("asked for {count} order numbers, got {}", numbers.len())))
    }
}

/// PostgreSQL: the whole placement (`place_checkout`'s steps) as one
/// statement outside any explicit transaction, so it costs one round
/// trip instead of four (`BEGIN`, key, batch, `COMMIT`). The parts
/// run in the lock order: the key's insert first (a concurrent
/// request with the same key waits on it), then each hold in variant
/// order (each waits for the one before it to finish: its `WHERE`
/// counts that part's rows), and every other write is guarded by the
/// key's insert, so a repeat writes nothing. The statement's last
/// part calls `emporium_abort_if` with the short lines; a short line
/// therefore fails the statement and PostgreSQL undoes every part of
/// it, the key's claim included.
// Long because it builds one SQL statement whose parts run in the lock order above;
// split, the order would be spread over functions that each look independent.
pub(super) async fn place_at_once(store: &crate::PostgresStore, p: &Placement) -> Result<Placed, OrdersError> {
    let numbers = order_numbers(store, p.orders.len()).await.map_err(err)?;
    let mut orders = p.orders.clone();
    for (order, n) in orders.iter_mut().zip(numbers.iter().copied()) {
        order.number = (1000 + n).to_string();
    }
    let location = ::inventory::DEFAULT_LOCATION;
    let mut holds: Vec<&Hold> = p.holds.iter().collect();
    holds.sort_by_key(|h| h.variant_id);
    let mut batch = Batch::new();
    let claim = batch.next_name();
    bind_claim_part(batch.push(CLAIM), p);
    let earlier = batch.next_name();
    batch.push("SELECT id FROM checkouts WHERE cart_id = $1").bind(p.cart_id);
    let claimed = format!("EXISTS (SELECT 1 FROM {claim})");
    let reference = format!("checkout:{}", p.checkout_id);
    let expires = ms(p.payment.expires_at);
    let mut held: Vec<String> = Vec::with_capacity(holds.len());
    let reservation_ids: Vec<Uuid> = holds.iter().map(|_| ::kernel::new_id()).collect();
    for (h, reservation_id) in holds.iter().zip(&reservation_ids) {
        let after_previous =
            held.last().map(|prev| format!(" AND (SELECT count(*) FROM {prev}) >= 0")).unwrap_or_default();
        let name = batch.next_name();
        batch
            .push(&crate::inventory::hold_sql(&format!(" AND {claimed}{after_previous}")))
            .bind(h.quantity)
            .bind(p.at)
            .bind(h.variant_id)
            .bind(location);
        crate::inventory::push_hold_records(&mut batch, &name, h.quantity, &reference, p.at);
        batch
            .push(&format!(
                "INSERT INTO reservations (id, checkout_id, order_id, variant_id, location_id, sku, \
                 quantity, status, expires_at_ms, created_at) \
                 SELECT $1, $2, $3, variant_id, location_id, sku, $4, 'open', $5, $6 FROM {name}"
            ))
            .bind(reservation_id)
            .bind(p.checkout_id)
            .bind(h.order_id)
            .bind(h.quantity)
            .bind(expires)
            .bind(p.at);
        held.push(name);
    }
    for order in &orders {
        push_order(&mut batch, order, true, Some(&claimed));
    }
    push_payment(&mut batch, &p.payment, true, Some(&claimed));
    let events: Vec<::kernel::Event> = orders
        .iter()
        .map(|order| ::orders::service::order_event(::orders::topics::ORDER_PLACED, order, p.at))
        .collect();
    push_events_guarded(&mut batch, &events, Some(&claimed));
    // A hold that matched no row is short when its variant has a
    // stock row (none: untracked, nothing to hold).
    let shorts: Vec<String> = held
        .iter()
        .enumerate()
        .map(|(i, name)| {
            format!(
                "CASE WHEN NOT EXISTS (SELECT 1 FROM {name}) AND EXISTS (SELECT 1 FROM stock_levels \
                 WHERE variant_id = ${} AND location_id = $1) THEN '{i}' END",
                i + 2
            )
        })
        .collect();
    // Rows: the claim (kind 0), the cart's earlier checkouts (1) and
    // each hold made, by its index, with the SKU its stock row has (2).
    let made: String =
        held.iter().enumerate().map(|(i, name)| format!(" UNION ALL SELECT 2, NULL, {i}, sku FROM {name}")).collect();
    let mut last = batch
        .push(&format!(
            "SELECT 0 AS kind, CAST(NULL AS UUID) AS earlier, CAST(NULL AS INT) AS hold, \
             CAST(NULL AS TEXT) AS sku FROM {claim} \
             WHERE emporium_abort_if(CASE WHEN id IS NOT NULL THEN concat_ws(',', \
             CASE WHEN NOT EXISTS (SELECT 1 FROM carts WHERE id = ${cart} AND version = ${version}) \
             THEN '{CART_MOVED}' END, {}) END) \
             UNION ALL SELECT 1, id, NULL, NULL FROM {earlier} WHERE {claimed}{made}",
            shorts.join(", "),
            cart = holds.len() + 2,
            version = holds.len() + 3,
        ))
        .bind(location);
    for h in &holds {
        last = last.bind(h.variant_id);
    }
    last.bind(p.cart_id).bind(p.cart_version);
    let rows = match batch.fetch_all(&store.pool).await {
        Ok(rows) => rows,
        Err(e) => {
            let short = e
                .as_database_error()
                .filter(|d| d.code().as_deref() == Some("P0001"))
                .and_then(|d| d.message().strip_prefix(ABORT_PREFIX).map(str::to_owned));
            let Some(short) = short else { return Err(err(e)) };
            // The statement raised, so nothing was written: the numbers
            // go back for the next checkout. (After any other error,
            // a lost answer say, they may have been used: not reused.)
            store.order_numbers.give_back(numbers);
            if short.split(',').any(|reason| reason == CART_MOVED) {
                return Err(OrdersError::Contended);
            }
            let mut lines = Vec::new();
            for i in short.split(',').filter_map(|i| i.parse::<usize>().ok()) {
                let Some(h) = holds.get(i) else { continue };
                let available: i64 = ::sqlx::query_scalar(
                    "SELECT on_hand - reserved FROM stock_levels WHERE variant_id = $1 AND location_id = $2",
                )
                .bind(h.variant_id)
                .bind(location)
                .fetch_optional(&store.pool)
                .await
                .map_err(err)?
                .unwrap_or(0);
                lines.push(ShortLine {
                    sku: h.sku.clone(),
                    variant_id: h.variant_id,
                    requested: h.quantity,
                    available: available.max(0),
                });
            }
            return Err(OrdersError::OutOfStock(lines));
        }
    };
    let mut placed = false;
    let mut earlier = Vec::new();
    let mut reservations = Vec::new();
    for r in &rows {
        match r.try_get::<i32, _>("kind").map_err(err)? {
            0 => placed = true,
            1 => earlier.push(r.try_get("earlier").map_err(err)?),
            _ => {
                let i = usize::try_from(r.try_get::<i32, _>("hold").map_err(err)?).unwrap_or(usize::MAX);
                let (Some(h), Some(id)) = (holds.get(i), reservation_ids.get(i)) else { continue };
                reservations.push(Reservation {
                    id: *id,
                    checkout_id: p.checkout_id,
                    order_id: h.order_id,
                    variant_id: h.variant_id,
                    location_id: location,
                    sku: r.try_get("sku").map_err(err)?,
                    quantity: h.quantity,
                    status: ReservationStatus::Open,
                    expires_at: from_ms(expires),
                });
            }
        }
    }
    if !placed {
        store.order_numbers.give_back(numbers);
        return replay(&store.pool, p).await;
    }
    store.events_written();
    // The checkout as `change_at_once` would read it back (version 0).
    let mut sorted = orders.clone();
    sorted.sort_by(|a, b| a.number.cmp(&b.number));
    reservations.sort_by_key(|r| r.variant_id);
    let state = CheckoutState {
        id: p.checkout_id,
        cart_id: p.cart_id,
        user_id: p.user_id,
        email: p.email.clone(),
        discount_code_id: p.redemption.as_ref().map(|r| r.code_id),
        payment: p.payment.clone(),
        orders: sorted,
        reservations,
    };
    store.checkout_states.put(p.checkout_id, (state, 0));
    Ok(Placed::New { orders, earlier })
}

/// The answer to a key used before: that checkout, if the body is the same.
pub(super) async fn replay<'e, E: ::sqlx::Executor<'e, Database = ::sqlx::Postgres>>(
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

/// `VALUES ($1, …, $n)`, or with a guard `SELECT $1, …, $n WHERE guard`.
pub(super) fn row_of(n: usize, guard: Option<&str>) -> String {
    let params: Vec<String> = (1..=n).map(|i| format!("${i}")).collect();
    match guard {
        None => format!("VALUES ({})", params.join(", ")),
        Some(guard) => format!("SELECT {} WHERE {guard}", params.join(", ")),
    }
}

/// Inserts or updates `order`; with a guard, only if the guard holds.
pub(super) fn push_order(batch: &mut Batch, order: &Order, insert: bool, guard: Option<&str>) {
    let sql = if insert {
        format!(
            "INSERT INTO orders (id, number, checkout_id, user_id, email, status, doc, created_at, updated_at) {}",
            row_of(9, guard)
        )
    } else {
        format!(
            "UPDATE orders SET number = $2, checkout_id = $3, user_id = $4, email = $5, status = $6, doc = $7, \
             created_at = $8, updated_at = $9 WHERE id = $1{}",
            store_sql::and_guard(guard)
        )
    };
    bind_order(batch.push(&sql), order);
}

pub(super) fn bind_order(part: store_sql::Part<'_, ::sqlx::Postgres>, order: &Order) {
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

/// Inserts or updates `p`; with a guard, only if the guard holds.
pub(super) fn push_payment(batch: &mut Batch, p: &Payment, insert: bool, guard: Option<&str>) {
    let sql = if insert {
        format!("INSERT INTO payments (id, checkout_id, status, expires_at_ms, doc) {}", row_of(5, guard))
    } else {
        format!(
            "UPDATE payments SET checkout_id = $2, status = $3, expires_at_ms = $4, doc = $5 WHERE id = $1{}",
            store_sql::and_guard(guard)
        )
    };
    bind_payment(batch.push(&sql), p);
}

pub(super) fn bind_payment(part: store_sql::Part<'_, ::sqlx::Postgres>, p: &Payment) {
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
/// adds the ledger line to `batch` (or, with `batched`, adds the move
/// itself to `batch` too: `push_stock`) and adds the reservation's new
/// status to `batch`.
pub(super) async fn apply_stock(
    tx: &mut Tx,
    batch: &mut Batch,
    batched: bool,
    r: &Reservation,
    op: &StockOp,
    at: ::time::OffsetDateTime,
    events: &mut Vec<::kernel::Event>,
) -> Result<Option<ReservationStatus>, ::sqlx::Error> {
    if batched {
        return Ok(push_stock(batch, r, op, at, None));
    }
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

/// One stock operation of a change as parts of `batch` (PostgreSQL):
/// the move with its ledger line and event, and the reservation's
/// new status; with a guard, only if the guard holds.
pub(super) fn push_stock(
    batch: &mut Batch,
    r: &Reservation,
    op: &StockOp,
    at: ::time::OffsetDateTime,
    guard: Option<&str>,
) -> Option<ReservationStatus> {
    let (to, on_hand, reserved, reason) = stock_step(r, op)?;
    let reference = format!("checkout:{}", r.checkout_id);
    crate::inventory::push_move_units(
        batch,
        r.variant_id,
        r.location_id,
        (on_hand, reserved),
        reason,
        &reference,
        at,
        guard,
    );
    batch
        .push(&format!("UPDATE reservations SET status = $1 WHERE id = $2{}", store_sql::and_guard(guard)))
        .bind(to.as_str())
        .bind(r.id);
    Some(to)
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

/// A change's payment, orders and cart as parts of `batch` (with a
/// guard, written only if it holds), and the same in `after`.
pub(super) fn push_documents(
    batch: &mut Batch,
    state: &CheckoutState,
    change: &Change,
    guard: Option<&str>,
    after: &mut CheckoutState,
) {
    if let Some(payment) = &change.payment {
        push_payment(batch, payment, false, guard);
        after.payment = payment.clone();
    }
    for order in &change.orders {
        push_order(batch, order, false, guard);
        if let Some(mine) = after.orders.iter_mut().find(|o| o.id == order.id) {
            *mine = order.clone();
        }
    }
    if change.convert_cart {
        batch
            .push(&format!(
                "UPDATE carts SET status = 'converted', version = version + 1 \
                 WHERE id = $1 AND status = 'active'{}",
                store_sql::and_guard(guard)
            ))
            .bind(state.cart_id);
    }
}

/// How often `change_at_once` reads and decides again after another
/// change got in between, before it leaves the checkout to the locking path.
pub(super) const AT_ONCE_ATTEMPTS: usize = 3;

/// PostgreSQL: `change_checkout` in two round trips instead of four
/// (`BEGIN`, lock and read, batch, `COMMIT`), with no lock held while
/// `decide` runs. It reads the checkout and its version in one
/// statement, decides, and sends the change as one statement whose
/// first part moves the version on only if it is still the one read;
/// every other part is guarded by that part. So when another change
/// got in between, nothing is written and it reads and decides again.
/// The guarded parts run after the version's update, which takes the
/// checkout's row lock, so the statement locks in the locking path's
/// order (checkout, then stock). `None` when the change is not for
/// this path (a discount use to give back, or several stock rows,
/// which must lock one by one in variant order) or after
/// `AT_ONCE_ATTEMPTS` lost races: the caller takes the locking path.
/// A checkout this process placed or changed last is decided on the
/// state it kept (`store_sql::Recent`) without reading it back: one
/// round trip, the write alone, guarded by the kept version all the same.
/// `decide` may therefore run more than once; only its last answer is written.
// Long because the guarded write, its retry on a lost race and the kept state's
// update must stay together to show that only the last decision is written.
pub(super) async fn change_at_once(
    store: &crate::PostgresStore,
    id: Uuid,
    decide: &Decide<'_>,
) -> Result<Option<CheckoutState>, OrdersError> {
    #[derive(::serde::Deserialize)]
    struct Versioned {
        #[serde(flatten)]
        head: Head,
        version: i64,
    }
    static READ: ::std::sync::LazyLock<String> = ::std::sync::LazyLock::new(|| {
        format!(
            "{REST} UNION ALL SELECT 3, CAST(json_build_object('id', id, 'cart_id', cart_id, 'user_id', user_id, \
             'email', email, 'discount_code_id', discount_code_id, 'version', version) AS TEXT), \
             NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM checkouts WHERE id = $1"
        )
    });
    let mut kept = store.checkout_states.take(&id);
    let mut reads = 0;
    loop {
        let from_memory = kept.is_some();
        let (state, version) = match kept.take() {
            Some(known) => known,
            None if reads == AT_ONCE_ATTEMPTS => return Ok(None),
            None => {
                reads += 1;
                let rows = ::sqlx::query(::sqlx::AssertSqlSafe(READ.as_str()))
                    .bind(id)
                    .fetch_all(&store.pool)
                    .await
                    .map_err(err)?;
                let mut versioned = None;
                for r in &rows {
                    if r.try_get::<i64, _>("kind").map_err(err)? == 3 {
                        let doc = r.try_get::<String, _>("doc").map_err(err)?;
                        versioned = Some(parse::<Versioned>(&doc).map_err(err)?);
                    }
                }
                let Some(Versioned { head, version }) = versioned else {
                    return Err(OrdersError::NotFound("checkout"));
                };
                (state_from_rows(head, &rows).map_err(err)?, version)
            }
        };
        // A kept state is trusted only for a write, which its version
        // guards; a refusal or "nothing to do" is checked on a fresh read.
        let change = match decide(&state) {
            Err(_) if from_memory => continue,
            decided => decided?,
        };
        if change.is_empty() {
            if from_memory {
                continue;
            }
            return Ok(Some(state));
        }
        let ops = stock_ops(&state, &change);
        if ops.len() > 1 || (change.release_discount && state.discount_code_id.is_some()) {
            return Ok(None);
        }
        let at = change_time(&state, &change);
        let mut batch = Batch::new();
        let bumped = batch.next_name();
        batch
            .push("UPDATE checkouts SET version = version + 1 WHERE id = $1 AND version = $2 RETURNING id")
            .bind(id)
            .bind(version);
        let guard = format!("EXISTS (SELECT 1 FROM {bumped})");
        let mut after = state.clone();
        let moved = !ops.is_empty();
        for (r, op) in ops {
            set_status(&mut after, r.id, push_stock(&mut batch, r, op, at, Some(&guard)));
        }
        push_documents(&mut batch, &state, &change, Some(&guard), &mut after);
        push_events_guarded(&mut batch, &change.events, Some(&guard));
        batch.push(&format!("SELECT id FROM {bumped}"));
        if !batch.fetch_all(&store.pool).await.map_err(err)?.is_empty() {
            if moved || !change.events.is_empty() {
                store.events_written();
            }
            store.checkout_states.put(id, (after.clone(), version + 1));
            return Ok(Some(after));
        }
    }
}

// Long because it is one transaction read top to bottom (key, holds, orders, payment,
// cart, discount, events); each step is a few statements that use the ones before.
pub(super) async fn place_checkout(store: &crate::PostgresStore, p: &Placement) -> Result<Placed, OrdersError> {
    if p.orders.is_empty() {
        return Err(OrdersError::Unexpected(::anyhow::anyhow!("a checkout without orders")));
    }
    if at_once(p) {
        return place_at_once(store, p).await;
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
    const EARLIER_WITH_CLAIM: &str = "SELECT id FROM checkouts WHERE cart_id = $5";
    let count = i64::try_from(p.orders.len()).unwrap_or(i64::MAX);
    let location = ::inventory::DEFAULT_LOCATION;
    let (mut numbers, earlier): (Vec<i64>, Vec<Uuid>) = {
        let sql = format!(
            "WITH c AS ({CLAIM}) \
             SELECT 0 AS kind, n, CAST(NULL AS UUID) AS earlier FROM ({}) AS k WHERE EXISTS (SELECT 1 FROM c) \
             UNION ALL SELECT 1, NULL, e.id FROM ({}) AS e WHERE EXISTS (SELECT 1 FROM c)",
            store_sql::renumber("SELECT nextval('order_numbers') AS n FROM generate_series(1, $1)", 9),
            EARLIER_WITH_CLAIM
        );
        let rows = claim(sql).bind(count).fetch_all(&mut *tx).await.map_err(err)?;
        let (mut numbers, mut earlier) = (Vec::new(), Vec::new());
        for r in &rows {
            match r.try_get::<i32, _>("kind").map_err(err)? {
                0 => numbers.push(r.try_get("n").map_err(err)?),
                _ => earlier.push(r.try_get("earlier").map_err(err)?),
            }
        }
        (numbers, earlier)
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
        push_order(&mut batch, order, true, None);
    }
    let mut events: Vec<::kernel::Event> = orders
        .iter()
        .map(|order| ::orders::service::order_event(::orders::topics::ORDER_PLACED, order, p.at))
        .collect();
    push_payment(&mut batch, &p.payment, true, None);
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

pub(super) async fn checkout(store: &crate::PostgresStore, id: Uuid) -> Result<Option<CheckoutState>, OrdersError> {
    let mut conn = store.pool.acquire().await.map_err(err)?;
    load_state(&mut conn, id).await.map_err(err)
}

pub(super) async fn checkout_by_key(
    store: &crate::PostgresStore,
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
    store: &crate::PostgresStore,
    id: Uuid,
    decide: &Decide<'_>,
) -> Result<CheckoutState, OrdersError> {
    if let Some(state) = change_at_once(store, id, decide).await? {
        return Ok(state);
    }
    // This path moves the version on without keeping the new state.
    store.checkout_states.take(&id);
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
    // One stock row moves inside the batch on PostgreSQL; several
    // are locked one by one in variant order, since the parts of
    // one statement take their locks in no set order.
    let batched = ops.len() == 1;
    for (r, op) in ops {
        let status = apply_stock(&mut tx, &mut batch, batched, r, op, at, &mut events).await.map_err(err)?;
        set_status(&mut after, r.id, status);
    }
    push_documents(&mut batch, &state, &change, None, &mut after);
    push_events(&mut batch, &events);
    batch.execute(&mut *tx).await.map_err(err)?;
    tx.commit().await.map_err(err)?;
    if !events.is_empty() || batched {
        store.events_written();
    }
    Ok(after)
}

pub(super) async fn checkout_of_order(
    store: &crate::PostgresStore,
    order_id: Uuid,
) -> Result<Option<Uuid>, OrdersError> {
    ::sqlx::query_scalar("SELECT checkout_id FROM orders WHERE id = $1")
        .bind(order_id)
        .fetch_optional(&store.pool)
        .await
        .map_err(err)
}

pub(super) async fn checkout_of_payment(
    store: &crate::PostgresStore,
    payment_id: Uuid,
) -> Result<Option<Uuid>, OrdersError> {
    ::sqlx::query_scalar("SELECT checkout_id FROM payments WHERE id = $1")
        .bind(payment_id)
        .fetch_optional(&store.pool)
        .await
        .map_err(err)
}

pub(super) async fn expired_checkouts(
    store: &crate::PostgresStore,
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

pub(super) async fn payment(store: &crate::PostgresStore, id: Uuid) -> Result<Option<Payment>, OrdersError> {
    let row = ::sqlx::query("SELECT doc FROM payments WHERE id = $1")
        .bind(id)
        .fetch_optional(&store.pool)
        .await
        .map_err(err)?;
    row.as_ref().map(doc::<Payment>).transpose().map_err(err)
}

pub(super) async fn claim_ref(
    store: &crate::PostgresStore,
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
    store: &crate::PostgresStore,
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

pub(super) async fn pending_payments(store: &crate::PostgresStore, limit: u32) -> Result<Vec<Payment>, OrdersError> {
    let rows = ::sqlx::query("SELECT doc FROM payments WHERE status = 'pending' ORDER BY expires_at_ms LIMIT $1")
        .bind(i64::from(limit))
        .fetch_all(&store.pool)
        .await
        .map_err(err)?;
    rows.iter().map(doc::<Payment>).collect::<Result<Vec<_>, _>>().map_err(err)
}

pub(super) async fn open_reservations(store: &crate::PostgresStore) -> Result<Vec<Reservation>, OrdersError> {
    let rows = ::sqlx::query(
        "SELECT id, checkout_id, order_id, variant_id, location_id, sku, quantity, status, expires_at_ms \
         FROM reservations WHERE status = 'open'",
    )
    .fetch_all(&store.pool)
    .await
    .map_err(err)?;
    rows.iter().map(reservation_from_row).collect::<Result<Vec<_>, _>>().map_err(err)
}
