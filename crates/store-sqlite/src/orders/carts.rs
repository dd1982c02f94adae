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

pub(super) async fn cart(store: &crate::SqliteStore, id: Uuid) -> Result<Option<Cart>, OrdersError> {
    let row = ::sqlx::query("SELECT status, version, doc FROM carts WHERE id = $1")
        .bind(id)
        .fetch_optional(&store.pool)
        .await
        .map_err(err)?;
    row.as_ref().map(cart_from_row).transpose().map_err(err)
}

pub(super) async fn cart_by_token(store: &crate::SqliteStore, token_hash: &str) -> Result<Option<Cart>, OrdersError> {
    let row = ::sqlx::query("SELECT status, version, doc FROM carts WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(&store.pool)
        .await
        .map_err(err)?;
    row.as_ref().map(cart_from_row).transpose().map_err(err)
}

pub(super) async fn active_cart_of(store: &crate::SqliteStore, user_id: Uuid) -> Result<Option<Cart>, OrdersError> {
    let row = ::sqlx::query("SELECT status, version, doc FROM carts WHERE user_id = $1 AND status = 'active'")
        .bind(user_id)
        .fetch_optional(&store.pool)
        .await
        .map_err(err)?;
    row.as_ref().map(cart_from_row).transpose().map_err(err)
}

pub(super) async fn insert_cart(store: &crate::SqliteStore, cart: &Cart) -> Result<(), OrdersError> {
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
        Ok(_) => Ok(()),
        Err(e) if is_unique(&e) => Err(OrdersError::Contended),
        Err(e) => Err(err(e)),
    }
}

pub(super) async fn write_cart_if_available(
    store: &crate::SqliteStore,
    cart: &Cart,
    new: bool,
    need: &::orders::StockNeed,
) -> Result<::orders::Stocked, OrdersError> {
    use ::orders::Stocked;
    // SQLite, in process: the read and the write are two cheap
    // statements (the checkout's hold is the real guard).
    static READ: ::std::sync::LazyLock<String> =
        ::std::sync::LazyLock::new(|| format!("SELECT {}", store_sql::available_of_sku("$1")));
    let available: Option<i64> = ::sqlx::query_scalar(::sqlx::AssertSqlSafe(READ.as_str()))
        .bind(&need.sku)
        .fetch_one(&store.pool)
        .await
        .map_err(err)?;
    if let Some(n) = available
        && n < need.wanted
    {
        return Ok(Stocked::Short { available: n });
    }
    if new {
        store.insert_cart(cart).await?;
    } else {
        store.save_carts(::std::slice::from_ref(cart)).await?;
    }
    Ok(Stocked::Written { available })
}

pub(super) async fn save_carts(store: &crate::SqliteStore, carts: &[Cart]) -> Result<(), OrdersError> {
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
    Ok(())
}

pub(super) async fn prune_guest_carts(
    store: &crate::SqliteStore,
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
