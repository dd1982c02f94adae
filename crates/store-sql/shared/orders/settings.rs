//! Shared by both backends: compiled into `store-postgres` and `store-sqlite`
//! (each declares it with `#[path]`), with that crate's `Db` and `Backend`.

use super::*;

pub(super) fn discount_from_row(row: &Row) -> Result<DiscountCode, ::sqlx::Error> {
    let mut d: DiscountCode = doc(row)?;
    d.times_used = row.try_get("times_used")?;
    Ok(d)
}

pub(super) const DISCOUNT_COLUMNS: &str = "id, code, times_used, usage_limit, doc, created_at";

pub(super) async fn discount_codes(
    store: &crate::Backend,
    q: Option<&str>,
    page: ::kernel::PageSpec,
) -> Result<(Vec<DiscountCode>, u64), OrdersError> {
    const WHERE: &str = "$1 IS NULL OR lower(code) LIKE $1 ESCAPE '\\'";
    let pattern = q.map(store_sql::contains_pattern);
    let total: i64 =
        ::sqlx::query_scalar(::sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM discount_codes WHERE {WHERE}")))
            .bind(pattern.as_deref())
            .fetch_one(&store.pool)
            .await
            .map_err(err)?;
    let sql = format!("SELECT {DISCOUNT_COLUMNS} FROM discount_codes WHERE {WHERE} ORDER BY code LIMIT $2 OFFSET $3");
    let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
        .bind(pattern.as_deref())
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(&store.pool)
        .await
        .map_err(err)?;
    let items = rows.iter().map(discount_from_row).collect::<Result<Vec<_>, _>>().map_err(err)?;
    Ok((items, u64::try_from(total).unwrap_or(0)))
}

pub(super) async fn discount_by_code(store: &crate::Backend, code: &str) -> Result<Option<DiscountCode>, OrdersError> {
    let sql = format!("SELECT {DISCOUNT_COLUMNS} FROM discount_codes WHERE code = $1");
    let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(code).fetch_optional(&store.pool).await.map_err(err)?;
    row.as_ref().map(discount_from_row).transpose().map_err(err)
}

pub(super) async fn discount(store: &crate::Backend, id: Uuid) -> Result<Option<DiscountCode>, OrdersError> {
    let sql = format!("SELECT {DISCOUNT_COLUMNS} FROM discount_codes WHERE id = $1");
    let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&store.pool).await.map_err(err)?;
    row.as_ref().map(discount_from_row).transpose().map_err(err)
}

pub(super) async fn insert_discount(store: &crate::Backend, d: &DiscountCode) -> Result<(), OrdersError> {
    let result = ::sqlx::query(
        "INSERT INTO discount_codes (id, code, times_used, usage_limit, doc, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(d.id)
    .bind(&d.code)
    .bind(d.times_used)
    .bind(d.usage_limit)
    .bind(::sqlx::types::Json(d))
    .bind(d.created_at)
    .execute(&store.pool)
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique(&e) => Err(duplicate("a discount code with this code exists")),
        Err(e) => Err(err(e)),
    }
}

pub(super) async fn update_discount(store: &crate::Backend, d: &DiscountCode) -> Result<bool, OrdersError> {
    let result = ::sqlx::query("UPDATE discount_codes SET code = $1, usage_limit = $2, doc = $3 WHERE id = $4")
        .bind(&d.code)
        .bind(d.usage_limit)
        .bind(::sqlx::types::Json(d))
        .bind(d.id)
        .execute(&store.pool)
        .await;
    match result {
        Ok(r) => Ok(r.rows_affected() > 0),
        Err(e) if is_unique(&e) => Err(duplicate("a discount code with this code exists")),
        Err(e) => Err(err(e)),
    }
}

pub(super) async fn delete_discount(store: &crate::Backend, id: Uuid) -> Result<bool, OrdersError> {
    let r =
        ::sqlx::query("DELETE FROM discount_codes WHERE id = $1").bind(id).execute(&store.pool).await.map_err(err)?;
    Ok(r.rows_affected() > 0)
}

pub(super) async fn shipping_methods(store: &crate::Backend) -> Result<Vec<ShippingMethod>, OrdersError> {
    let rows = ::sqlx::query("SELECT doc FROM shipping_methods ORDER BY position, code")
        .fetch_all(&store.pool)
        .await
        .map_err(err)?;
    rows.iter().map(doc::<ShippingMethod>).collect::<Result<Vec<_>, _>>().map_err(err)
}

pub(super) async fn insert_shipping_method(store: &crate::Backend, m: &ShippingMethod) -> Result<(), OrdersError> {
    let result = ::sqlx::query("INSERT INTO shipping_methods (id, code, position, doc) VALUES ($1, $2, $3, $4)")
        .bind(m.id)
        .bind(&m.code)
        .bind(i64::from(m.position))
        .bind(::sqlx::types::Json(m))
        .execute(&store.pool)
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique(&e) => Err(duplicate("a shipping method with this code exists")),
        Err(e) => Err(err(e)),
    }
}

pub(super) async fn update_shipping_method(store: &crate::Backend, m: &ShippingMethod) -> Result<bool, OrdersError> {
    let result = ::sqlx::query("UPDATE shipping_methods SET code = $1, position = $2, doc = $3 WHERE id = $4")
        .bind(&m.code)
        .bind(i64::from(m.position))
        .bind(::sqlx::types::Json(m))
        .bind(m.id)
        .execute(&store.pool)
        .await;
    match result {
        Ok(r) => Ok(r.rows_affected() > 0),
        Err(e) if is_unique(&e) => Err(duplicate("a shipping method with this code exists")),
        Err(e) => Err(err(e)),
    }
}

pub(super) async fn delete_shipping_method(store: &crate::Backend, id: Uuid) -> Result<bool, OrdersError> {
    let r =
        ::sqlx::query("DELETE FROM shipping_methods WHERE id = $1").bind(id).execute(&store.pool).await.map_err(err)?;
    Ok(r.rows_affected() > 0)
}

pub(super) async fn tax_rates(store: &crate::Backend) -> Result<Vec<TaxRate>, OrdersError> {
    let rows = ::sqlx::query("SELECT doc FROM tax_rates ORDER BY country, region")
        .fetch_all(&store.pool)
        .await
        .map_err(err)?;
    rows.iter().map(doc::<TaxRate>).collect::<Result<Vec<_>, _>>().map_err(err)
}

pub(super) async fn insert_tax_rate(store: &crate::Backend, r: &TaxRate) -> Result<(), OrdersError> {
    let result = ::sqlx::query("INSERT INTO tax_rates (id, country, region, doc) VALUES ($1, $2, $3, $4)")
        .bind(r.id)
        .bind(&r.country)
        .bind(r.region.as_deref().unwrap_or(""))
        .bind(::sqlx::types::Json(r))
        .execute(&store.pool)
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) if is_unique(&e) => Err(duplicate("a rate for this country and region exists")),
        Err(e) => Err(err(e)),
    }
}

pub(super) async fn update_tax_rate(store: &crate::Backend, r: &TaxRate) -> Result<bool, OrdersError> {
    let result = ::sqlx::query("UPDATE tax_rates SET country = $1, region = $2, doc = $3 WHERE id = $4")
        .bind(&r.country)
        .bind(r.region.as_deref().unwrap_or(""))
        .bind(::sqlx::types::Json(r))
        .bind(r.id)
        .execute(&store.pool)
        .await;
    match result {
        Ok(r) => Ok(r.rows_affected() > 0),
        Err(e) if is_unique(&e) => Err(duplicate("a rate for this country and region exists")),
        Err(e) => Err(err(e)),
    }
}

pub(super) async fn delete_tax_rate(store: &crate::Backend, id: Uuid) -> Result<bool, OrdersError> {
    let r = ::sqlx::query("DELETE FROM tax_rates WHERE id = $1").bind(id).execute(&store.pool).await.map_err(err)?;
    Ok(r.rows_affected() > 0)
}
