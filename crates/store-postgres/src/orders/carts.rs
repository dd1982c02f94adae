use super::*;

/// Binds a new cart's row (`id, token_hash, user_id, status, version, doc,
/// updated_at` as `$1`–`$7`).
pub(super) fn bind_new_cart<'q>(q: Query<'q>, c: &'q Cart) -> Query<'q> {
    q.bind(c.id)
        .bind(&c.token_hash)
        .bind(c.user_id)
        .bind(c.status.as_str())
        .bind(c.version)
        .bind(::sqlx::types::Json(c))
        .bind(c.updated_at)
}

pub(super) fn cart_from_row(row: &Row) -> Result<Cart, ::sqlx::Error> {
    let mut cart: Cart = doc(row)?;
    let status: String = row.try_get("status")?;
    cart.status = match status.as_str() {
        "converted" => CartStatus::Converted,
        "merged" => CartStatus::Merged,
        _ => CartStatus::Active,
    };
    cart.version = row.try_get("version")?;
    Ok(cart)
}

/// Writes `cart` if it is still at the version it was read at.
pub(super) async fn save_cart(conn: &mut Conn, cart: &Cart) -> Result<(), OrdersError> {
    let stored = Cart { version: cart.version + 1, ..cart.clone() };
    let result = ::sqlx::query(
        "UPDATE carts SET user_id = $1, status = $2, version = version + 1, doc = $3, updated_at = $4 \
         WHERE id = $5 AND version = $6",
    )
    .bind(cart.user_id)
    .bind(cart.status.as_str())
    .bind(::sqlx::types::Json(&stored))
    .bind(cart.updated_at)
    .bind(cart.id)
    .bind(cart.version)
    .execute(&mut *conn)
    .await;
    match result {
        Ok(r) if r.rows_affected() == 1 => Ok(()),
        Ok(_) => Err(OrdersError::Contended),
        Err(e) if is_unique(&e) => Err(OrdersError::Contended),
        Err(e) => Err(err(e)),
    }
}

/// PostgreSQL: keeps an active guest cart as just written (at its
/// stored `version`) for its checkout; forgets one no longer active.
pub(super) fn keep_cart(store: &crate::PostgresStore, cart: &Cart, version: i64) {
    let Some(token_hash) = cart.token_hash.as_ref() else { return };
    if cart.status == CartStatus::Active {
        store.kept_carts.put(token_hash.clone(), Cart { version, ..cart.clone() });
    } else {
        store.kept_carts.take(token_hash);
    }
}

pub(super) async fn cart(store: &crate::PostgresStore, id: Uuid) -> Result<Option<Cart>, OrdersError> {
    let row = ::sqlx::query("SELECT status, version, doc FROM carts WHERE id = $1")
        .bind(id)
        .fetch_optional(&store.pool)
        .await
        .map_err(err)?;
    row.as_ref().map(cart_from_row).transpose().map_err(err)
}

pub(super) async fn cart_by_token(store: &crate::PostgresStore, token_hash: &str) -> Result<Option<Cart>, OrdersError> {
    let row = ::sqlx::query("SELECT status, version, doc FROM carts WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(&store.pool)
        .await
        .map_err(err)?;
    row.as_ref().map(cart_from_row).transpose().map_err(err)
}

/// The copy of the cart this process wrote last, if it kept one
/// (handed out once), else the cart as read. The placement checks the
/// cart's version, so a stale copy is never placed.
pub(super) async fn cart_for_checkout(
    store: &crate::PostgresStore,
    token_hash: &str,
) -> Result<Option<Cart>, OrdersError> {
    if let Some(cart) = store.kept_carts.take(&token_hash.to_owned()) {
        return Ok(Some(cart));
    }
    store.cart_by_token(token_hash).await
}

pub(super) async fn active_cart_of(store: &crate::PostgresStore, user_id: Uuid) -> Result<Option<Cart>, OrdersError> {
    let row = ::sqlx::query("SELECT status, version, doc FROM carts WHERE user_id = $1 AND status = 'active'")
        .bind(user_id)
        .fetch_optional(&store.pool)
        .await
        .map_err(err)?;
    row.as_ref().map(cart_from_row).transpose().map_err(err)
}

pub(super) async fn insert_cart(store: &crate::PostgresStore, cart: &Cart) -> Result<(), OrdersError> {
    let result = bind_new_cart(
        ::sqlx::query(
            "INSERT INTO carts (id, token_hash, user_id, status, version, doc, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        ),
        cart,
    )
    .execute(store.relaxed())
    .await;
    match result {
        Ok(_) => {
            keep_cart(store, cart, cart.version);
            Ok(())
        }
        Err(e) if is_unique(&e) => Err(OrdersError::Contended),
        Err(e) => Err(err(e)),
    }
}

pub(super) async fn write_cart_if_available(
    store: &crate::PostgresStore,
    cart: &Cart,
    new: bool,
    need: &::orders::StockNeed,
) -> Result<::orders::Stocked, OrdersError> {
    use ::orders::Stocked;
    // PostgreSQL: one statement reads the availability and writes
    // the cart only if it suffices.
    static INSERT: ::std::sync::LazyLock<String> = ::std::sync::LazyLock::new(|| {
        format!(
            "WITH a AS (SELECT {} AS n), \
             w AS (INSERT INTO carts (id, token_hash, user_id, status, version, doc, updated_at) \
             SELECT $1, $2, $3, $4, $5, $6, $7 FROM a WHERE a.n IS NULL OR a.n >= $9 RETURNING 1) \
             SELECT (SELECT n FROM a) AS available, EXISTS (SELECT 1 FROM w) AS written, \
             TRUE AS current",
            store_sql::available_of_sku("$8")
        )
    });
    static UPDATE: ::std::sync::LazyLock<String> = ::std::sync::LazyLock::new(|| {
        format!(
            "WITH a AS (SELECT {} AS n), \
             w AS (UPDATE carts SET user_id = $1, status = $2, version = version + 1, doc = $3, \
             updated_at = $4 WHERE id = $5 AND version = $6 \
             AND (SELECT n IS NULL OR n >= $8 FROM a) RETURNING 1) \
             SELECT (SELECT n FROM a) AS available, EXISTS (SELECT 1 FROM w) AS written, \
             EXISTS (SELECT 1 FROM carts WHERE id = $5 AND version = $6) AS current",
            store_sql::available_of_sku("$7")
        )
    });
    let query = if new {
        bind_new_cart(::sqlx::query(::sqlx::AssertSqlSafe(INSERT.as_str())), cart)
    } else {
        let stored = Cart { version: cart.version + 1, ..cart.clone() };
        ::sqlx::query(::sqlx::AssertSqlSafe(UPDATE.as_str()))
            .bind(cart.user_id)
            .bind(cart.status.as_str())
            .bind(::sqlx::types::Json(stored))
            .bind(cart.updated_at)
            .bind(cart.id)
            .bind(cart.version)
    };
    let row = match query.bind(&need.sku).bind(need.wanted).fetch_one(store.relaxed()).await {
        Ok(row) => row,
        Err(e) if is_unique(&e) => return Err(OrdersError::Contended),
        Err(e) => return Err(err(e)),
    };
    let available: Option<i64> = row.try_get("available").map_err(err)?;
    let written: bool = row.try_get("written").map_err(err)?;
    // Whether the cart was still at the version read (the
    // statement's snapshot): if not, the stock was weighed
    // against a stale quantity.
    let current: bool = row.try_get("current").map_err(err)?;
    if written {
        keep_cart(store, cart, if new { cart.version } else { cart.version + 1 });
    }
    match available {
        _ if written => Ok(Stocked::Written { available }),
        Some(n) if current && n < need.wanted => Ok(Stocked::Short { available: n }),
        // The cart moved since it was read: the caller reads it again.
        _ => Err(OrdersError::Contended),
    }
}

pub(super) async fn save_carts(store: &crate::PostgresStore, carts: &[Cart]) -> Result<(), OrdersError> {
    // One cart (nearly every call) is one statement, atomic on its
    // own, on the relaxed pool; several (a merge) share a transaction.
    if let [cart] = carts {
        let mut conn = store.relaxed().acquire().await.map_err(err)?;
        save_cart(&mut conn, cart).await?;
    } else {
        let mut tx = store.begin_write().await.map_err(err)?;
        for cart in carts {
            save_cart(&mut tx, cart).await?;
        }
        tx.commit().await.map_err(err)?;
    }
    for cart in carts {
        keep_cart(store, cart, cart.version + 1);
    }
    Ok(())
}

pub(super) async fn prune_guest_carts(
    store: &crate::PostgresStore,
    before: ::time::OffsetDateTime,
) -> Result<u64, OrdersError> {
    let done = ::sqlx::query(
        "DELETE FROM carts WHERE user_id IS NULL AND updated_at < $1 \
         AND NOT EXISTS (SELECT 1 FROM checkouts k WHERE k.cart_id = carts.id)",
    )
    .bind(before)
    .execute(&store.pool)
    .await
    .map_err(err)?;
    Ok(done.rows_affected())
}
