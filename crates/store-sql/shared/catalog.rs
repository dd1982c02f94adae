//! Shared by both backends: compiled into `store-postgres` and `store-sqlite`
//! (each declares it with `#[path]`), with that crate's `Db` and `Backend`.

use crate::bulk::{insert_images, insert_products, insert_reviews, insert_variants};
use crate::outbox::insert_event;
use ::catalog::{
    Category, DeleteOutcome, Image, OpeningHours, Product, ProductFilter, ProductOption, RatingSummary, Review,
    ReviewFilter, Seller, Store, StoreError, StoreResult, Variant, WishlistItem,
};
use ::kernel::{Currency, Event, Money, PageSpec};
use ::sqlx::Row as _;
use ::std::collections::HashMap;
use ::uuid::Uuid;

type Row = <crate::Db as ::sqlx::Database>::Row;
type Tx = crate::WriteTx;

const PRODUCT_COLUMNS: &str = "id, slug, title, description, status, seller_id, category_id, attributes, \
                               tags, options, created_at, updated_at";
const VARIANT_COLUMNS: &str = "id, product_id, sku, options, price_amount, currency, compare_at_amount, \
                               weight_grams, position, created_at, updated_at";
const IMAGE_COLUMNS: &str = "id, product_id, key, alt, width, height, renditions, position, created_at";
const REVIEW_COLUMNS: &str = "id, product_id, user_id, author_name, rating, title, body, \
                              verified_purchase, status, created_at, updated_at";
const STORE_COLUMNS: &str = "id, name, line1, line2, city, region, postal_code, country, latitude, \
                             longitude, phone, opening_hours, created_at, updated_at";
/// Ids per `IN (...)` list: well under SQLite's and PostgreSQL's parameter limits.
const CHUNK: usize = 500;

fn err(e: ::sqlx::Error) -> StoreError {
    if let ::sqlx::Error::Database(db) = &e {
        if db.is_unique_violation() {
            // The constraint (PostgreSQL) or message (SQLite) names the column.
            let text = format!("{} {}", db.constraint().unwrap_or(""), db.message());
            let field = if text.contains("sku") {
                "sku"
            } else if text.contains("slug") {
                "slug"
            } else if text.contains("reviews") {
                "review"
            } else {
                "value"
            };
            return StoreError::Duplicate(field);
        }
        if db.is_foreign_key_violation() {
            return StoreError::InUse("other records still refer to this one");
        }
    }
    StoreError::Unexpected(e.into())
}

fn decode<E: ::std::error::Error + Send + Sync + 'static>(e: E) -> ::sqlx::Error {
    ::sqlx::Error::Decode(Box::new(e))
}

fn json<T: ::serde::de::DeserializeOwned>(row: &Row, column: &str) -> Result<T, ::sqlx::Error> {
    let text: String = row.try_get(column)?;
    ::serde_json::from_str(&text).map_err(decode)
}

pub(crate) fn to_json<T: ::serde::Serialize>(value: &T) -> String {
    // Serialising plain maps and lists of strings cannot fail.
    ::serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
}

fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

fn money(amount: i64, currency: &str) -> Result<Money, ::sqlx::Error> {
    Ok(Money::new(amount, Currency::try_from(currency.to_owned()).map_err(decode)?))
}

fn seller_from_row(row: &Row) -> Result<Seller, ::sqlx::Error> {
    Ok(Seller {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        payout_wallet: row.try_get("payout_wallet")?,
        stripe_account_id: row.try_get("stripe_account_id")?,
        is_default: row.try_get("is_default")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn category_from_row(row: &Row) -> Result<Category, ::sqlx::Error> {
    Ok(Category {
        id: row.try_get("id")?,
        parent_id: row.try_get("parent_id")?,
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        position: row.try_get("position")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn product_from_row(row: &Row) -> Result<Product, ::sqlx::Error> {
    let status: String = row.try_get("status")?;
    Ok(Product {
        id: row.try_get("id")?,
        slug: row.try_get("slug")?,
        title: row.try_get("title")?,
        description: row.try_get("description")?,
        status: status.parse().map_err(|e: String| decode(::std::io::Error::other(e)))?,
        seller_id: row.try_get("seller_id")?,
        category_id: row.try_get("category_id")?,
        attributes: json(row, "attributes")?,
        tags: json(row, "tags")?,
        options: json::<Vec<ProductOption>>(row, "options")?,
        variants: Vec::new(),
        images: Vec::new(),
        rating: RatingSummary::default(),
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn variant_from_row(row: &Row) -> Result<Variant, ::sqlx::Error> {
    let currency: String = row.try_get("currency")?;
    let compare: Option<i64> = row.try_get("compare_at_amount")?;
    Ok(Variant {
        id: row.try_get("id")?,
        product_id: row.try_get("product_id")?,
        sku: row.try_get("sku")?,
        options: json(row, "options")?,
        price: money(row.try_get("price_amount")?, &currency)?,
        compare_at_price: compare.map(|a| money(a, &currency)).transpose()?,
        weight_grams: row.try_get("weight_grams")?,
        position: row.try_get("position")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn image_from_row(row: &Row) -> Result<Image, ::sqlx::Error> {
    let width: i32 = row.try_get("width")?;
    let height: i32 = row.try_get("height")?;
    Ok(Image {
        id: row.try_get("id")?,
        product_id: row.try_get("product_id")?,
        key: row.try_get("key")?,
        alt: row.try_get("alt")?,
        width: width.max(0) as u32,
        height: height.max(0) as u32,
        renditions: json(row, "renditions")?,
        url: String::new(),
        rendition_urls: Default::default(),
        position: row.try_get("position")?,
        created_at: row.try_get("created_at")?,
    }
    .with_urls())
}

fn review_from_row(row: &Row) -> Result<Review, ::sqlx::Error> {
    let status: String = row.try_get("status")?;
    let rating: i32 = row.try_get("rating")?;
    Ok(Review {
        id: row.try_get("id")?,
        product_id: row.try_get("product_id")?,
        user_id: row.try_get("user_id")?,
        author_name: row.try_get("author_name")?,
        rating: rating.clamp(1, 5) as u8,
        title: row.try_get("title")?,
        body: row.try_get("body")?,
        verified_purchase: row.try_get("verified_purchase")?,
        status: status.parse().map_err(|e: String| decode(::std::io::Error::other(e)))?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn store_from_row(row: &Row) -> Result<Store, ::sqlx::Error> {
    Ok(Store {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        line1: row.try_get("line1")?,
        line2: row.try_get("line2")?,
        city: row.try_get("city")?,
        region: row.try_get("region")?,
        postal_code: row.try_get("postal_code")?,
        country: row.try_get("country")?,
        latitude: row.try_get("latitude")?,
        longitude: row.try_get("longitude")?,
        phone: row.try_get("phone")?,
        opening_hours: json::<Vec<OpeningHours>>(row, "opening_hours")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

/// Writes the event and bumps the catalog revision, in the caller's transaction.
async fn catalog_event(tx: &mut Tx, event: &Event) -> Result<(), ::sqlx::Error> {
    insert_event(tx, event).await?;
    ::sqlx::query("UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1").execute(&mut **tx).await?;
    Ok(())
}

async fn touch_product(tx: &mut Tx, id: Uuid, at: ::time::OffsetDateTime) -> Result<bool, ::sqlx::Error> {
    let done =
        ::sqlx::query("UPDATE products SET updated_at = $1 WHERE id = $2").bind(at).bind(id).execute(&mut **tx).await?;
    Ok(done.rows_affected() > 0)
}

/// Gives the rows of `table` the positions of `order` (0, 1, …).
async fn renumber(tx: &mut Tx, table: &str, order: &[Uuid]) -> Result<(), ::sqlx::Error> {
    let sql = format!("UPDATE {table} SET position = $1 WHERE id = $2");
    for (i, id) in order.iter().enumerate() {
        ::sqlx::query(::sqlx::AssertSqlSafe(sql.clone())).bind(i as i32).bind(*id).execute(&mut **tx).await?;
    }
    Ok(())
}

/// Fills in variants, images and ratings for product rows, a chunk of ids per query.
async fn complete(pool: &crate::DbPool, mut products: Vec<Product>) -> Result<Vec<Product>, ::sqlx::Error> {
    let index: HashMap<Uuid, usize> = products.iter().enumerate().map(|(i, p)| (p.id, i)).collect();
    let ids: Vec<Uuid> = products.iter().map(|p| p.id).collect();
    for chunk in ids.chunks(CHUNK) {
        let list = placeholders(1, chunk.len());
        let sql = format!(
            "SELECT {VARIANT_COLUMNS} FROM variants WHERE product_id IN ({list}) ORDER BY position, created_at"
        );
        let mut q = ::sqlx::query(::sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        for row in q.fetch_all(pool).await? {
            let v = variant_from_row(&row)?;
            if let Some(&i) = index.get(&v.product_id) {
                products[i].variants.push(v);
            }
        }
        let sql = format!(
            "SELECT {IMAGE_COLUMNS} FROM product_images WHERE product_id IN ({list}) ORDER BY position, created_at"
        );
        let mut q = ::sqlx::query(::sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        for row in q.fetch_all(pool).await? {
            let image = image_from_row(&row)?;
            if let Some(&i) = index.get(&image.product_id) {
                products[i].images.push(image);
            }
        }
        let sql = format!(
            "SELECT product_id, rating, COUNT(*) AS n FROM reviews \
             WHERE status = 'published' AND product_id IN ({list}) GROUP BY product_id, rating"
        );
        let mut q = ::sqlx::query(::sqlx::AssertSqlSafe(sql));
        for id in chunk {
            q = q.bind(*id);
        }
        let mut histograms: HashMap<Uuid, [u32; 5]> = HashMap::new();
        for row in q.fetch_all(pool).await? {
            let product_id: Uuid = row.try_get("product_id")?;
            let rating: i32 = row.try_get("rating")?;
            let n: i64 = row.try_get("n")?;
            if (1..=5).contains(&rating) {
                histograms.entry(product_id).or_default()[(rating - 1) as usize] = n as u32;
            }
        }
        for (id, histogram) in histograms {
            if let Some(&i) = index.get(&id) {
                products[i].rating = RatingSummary::from_histogram(histogram);
            }
        }
    }
    Ok(products)
}

#[::async_trait::async_trait]
impl ::catalog::CatalogStore for crate::Backend {
    async fn ensure_default_seller(&self, seller: &Seller) -> StoreResult<Seller> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let existing = ::sqlx::query("SELECT * FROM sellers WHERE is_default = $1")
            .bind(true)
            .fetch_optional(&mut *tx)
            .await
            .map_err(err)?;
        let seller = match existing {
            Some(row) => seller_from_row(&row).map_err(err)?,
            None => {
                self.insert_seller_in(&mut tx, seller).await.map_err(err)?;
                seller.clone()
            }
        };
        tx.commit().await.map_err(err)?;
        Ok(seller)
    }

    async fn sellers(&self) -> StoreResult<Vec<Seller>> {
        let rows = ::sqlx::query("SELECT * FROM sellers ORDER BY is_default DESC, name")
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter().map(seller_from_row).collect::<Result<_, _>>().map_err(err)
    }

    async fn seller(&self, id: Uuid) -> StoreResult<Option<Seller>> {
        let row = ::sqlx::query("SELECT * FROM sellers WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)?;
        row.as_ref().map(seller_from_row).transpose().map_err(err)
    }

    async fn insert_seller(&self, seller: &Seller) -> StoreResult<()> {
        let mut tx = self.begin_write().await.map_err(err)?;
        self.insert_seller_in(&mut tx, seller).await.map_err(err)?;
        tx.commit().await.map_err(err)
    }

    async fn update_seller(&self, s: &Seller) -> StoreResult<bool> {
        let done = ::sqlx::query(
            "UPDATE sellers SET name = $1, payout_wallet = $2, stripe_account_id = $3, updated_at = $4 WHERE id = $5",
        )
        .bind(&s.name)
        .bind(&s.payout_wallet)
        .bind(&s.stripe_account_id)
        .bind(s.updated_at)
        .bind(s.id)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_seller(&self, id: Uuid) -> StoreResult<DeleteOutcome> {
        let done = ::sqlx::query("DELETE FROM sellers WHERE id = $1 AND is_default = $2")
            .bind(id)
            .bind(false)
            .execute(&self.pool)
            .await
            .map_err(|e| match err(e) {
                StoreError::InUse(_) => StoreError::InUse("the seller still has products"),
                other => other,
            })?;
        Ok(if done.rows_affected() > 0 { DeleteOutcome::Deleted } else { DeleteOutcome::NotFound })
    }

    async fn categories(&self) -> StoreResult<Vec<Category>> {
        let rows = ::sqlx::query("SELECT * FROM categories ORDER BY position, name")
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        rows.iter().map(category_from_row).collect::<Result<_, _>>().map_err(err)
    }

    async fn insert_category(&self, c: &Category, order: &[Uuid], event: &Event) -> StoreResult<()> {
        let mut tx = self.begin_write().await.map_err(err)?;
        ::sqlx::query(
            "INSERT INTO categories (id, parent_id, slug, name, description, position, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(c.id)
        .bind(c.parent_id)
        .bind(&c.slug)
        .bind(&c.name)
        .bind(&c.description)
        .bind(c.position)
        .bind(c.created_at)
        .bind(c.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        renumber(&mut tx, "categories", order).await.map_err(err)?;
        catalog_event(&mut tx, event).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.events_written();
        Ok(())
    }

    async fn update_category(&self, c: &Category, order: &[Uuid], event: &Event) -> StoreResult<()> {
        let mut tx = self.begin_write().await.map_err(err)?;
        if let Some(parent) = c.parent_id {
            // Re-check for a cycle inside the transaction: a concurrent
            // move could have put `parent` under `c` since the caller looked.
            let mut current = Some(parent);
            let mut steps = 0;
            while let Some(id) = current {
                if id == c.id || steps > 1_000 {
                    return Err(StoreError::InUse("a category cannot be moved under itself"));
                }
                current = ::sqlx::query_scalar::<_, Option<Uuid>>("SELECT parent_id FROM categories WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(err)?
                    .flatten();
                steps += 1;
            }
        }
        let done = ::sqlx::query(
            "UPDATE categories SET parent_id = $1, slug = $2, name = $3, description = $4, position = $5, \
         updated_at = $6 WHERE id = $7",
        )
        .bind(c.parent_id)
        .bind(&c.slug)
        .bind(&c.name)
        .bind(&c.description)
        .bind(c.position)
        .bind(c.updated_at)
        .bind(c.id)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        if done.rows_affected() == 0 {
            return Err(StoreError::InUse("the category was deleted meanwhile"));
        }
        renumber(&mut tx, "categories", order).await.map_err(err)?;
        catalog_event(&mut tx, event).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.events_written();
        Ok(())
    }

    async fn delete_category(&self, id: Uuid, event: &Event) -> StoreResult<DeleteOutcome> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let children: i64 = ::sqlx::query_scalar("SELECT COUNT(*) FROM categories WHERE parent_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(err)?;
        if children > 0 {
            return Err(StoreError::InUse("the category has subcategories; move or delete them first"));
        }
        let products: i64 = ::sqlx::query_scalar("SELECT COUNT(*) FROM products WHERE category_id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .map_err(err)?;
        if products > 0 {
            return Err(StoreError::InUse("the category still holds products; move them first"));
        }
        // The foreign keys catch a product or child added concurrently (PostgreSQL).
        let done =
            ::sqlx::query("DELETE FROM categories WHERE id = $1").bind(id).execute(&mut *tx).await.map_err(|e| {
                match err(e) {
                    StoreError::InUse(_) => StoreError::InUse("the category still holds products or subcategories"),
                    other => other,
                }
            })?;
        if done.rows_affected() == 0 {
            return Ok(DeleteOutcome::NotFound);
        }
        catalog_event(&mut tx, event).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.events_written();
        Ok(DeleteOutcome::Deleted)
    }

    async fn insert_product(&self, p: &Product, event: &Event) -> StoreResult<()> {
        let mut tx = self.begin_write().await.map_err(err)?;
        insert_products(&mut tx, &[p]).await.map_err(err)?;
        catalog_event(&mut tx, event).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.events_written();
        Ok(())
    }

    async fn update_product(&self, p: &Product, event: &Event) -> StoreResult<bool> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let done = ::sqlx::query(
            "UPDATE products SET slug = $1, title = $2, description = $3, status = $4, seller_id = $5, \
         category_id = $6, attributes = $7, tags = $8, options = $9, updated_at = $10 WHERE id = $11",
        )
        .bind(&p.slug)
        .bind(&p.title)
        .bind(&p.description)
        .bind(p.status.as_str())
        .bind(p.seller_id)
        .bind(p.category_id)
        .bind(to_json(&p.attributes))
        .bind(to_json(&p.tags))
        .bind(to_json(&p.options))
        .bind(p.updated_at)
        .bind(p.id)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        catalog_event(&mut tx, event).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.events_written();
        Ok(true)
    }

    async fn delete_product(&self, id: Uuid, event: &Event) -> StoreResult<DeleteOutcome> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let done = ::sqlx::query("DELETE FROM products WHERE id = $1").bind(id).execute(&mut *tx).await.map_err(err)?;
        if done.rows_affected() == 0 {
            return Ok(DeleteOutcome::NotFound);
        }
        catalog_event(&mut tx, event).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.events_written();
        Ok(DeleteOutcome::Deleted)
    }

    async fn product(&self, id: Uuid) -> StoreResult<Option<Product>> {
        let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id = $1");
        let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await.map_err(err)?;
        let Some(row) = row else { return Ok(None) };
        let product = product_from_row(&row).map_err(err)?;
        Ok(complete(&self.pool, vec![product]).await.map_err(err)?.pop())
    }

    async fn product_id_by_slug(&self, slug: &str) -> StoreResult<Option<Uuid>> {
        ::sqlx::query_scalar("SELECT id FROM products WHERE slug = $1")
            .bind(slug)
            .fetch_optional(&self.pool)
            .await
            .map_err(err)
    }

    async fn list_products(&self, filter: &ProductFilter, page: PageSpec) -> StoreResult<(Vec<Product>, u64)> {
        let mut conditions = vec!["1 = 1".to_owned()];
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        let pattern = filter.q.as_ref().map(|q| {
            let escaped = q.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            format!("%{escaped}%")
        });
        if pattern.is_some() {
            let (a, b, c) = (next(), next(), next());
            conditions.push(format!(
                "(LOWER(title) LIKE {a} ESCAPE '\\' OR slug LIKE {b} ESCAPE '\\' OR EXISTS (SELECT 1 FROM variants v \
             WHERE v.product_id = products.id AND LOWER(v.sku) LIKE {c} ESCAPE '\\'))"
            ));
        }
        if filter.status.is_some() {
            conditions.push(format!("status = {}", next()));
        }
        if filter.category_id.is_some() {
            conditions.push(format!("category_id = {}", next()));
        }
        if filter.seller_id.is_some() {
            conditions.push(format!("seller_id = {}", next()));
        }
        let (limit, offset) = (next(), next());
        let where_clause = conditions.join(" AND ");
        macro_rules! bind_filters {
            ($q:expr) => {{
                let mut q = $q;
                if let Some(p) = &pattern {
                    q = q.bind(p.clone()).bind(p.clone()).bind(p.clone());
                }
                if let Some(s) = filter.status {
                    q = q.bind(s.as_str());
                }
                if let Some(c) = filter.category_id {
                    q = q.bind(c);
                }
                if let Some(s) = filter.seller_id {
                    q = q.bind(s);
                }
                q
            }};
        }
        let count_sql = format!("SELECT COUNT(*) FROM products WHERE {where_clause}");
        let total: i64 = bind_filters!(::sqlx::query_scalar(::sqlx::AssertSqlSafe(count_sql)))
            .fetch_one(&self.pool)
            .await
            .map_err(err)?;
        let sql = format!(
            "SELECT {PRODUCT_COLUMNS} FROM products WHERE {where_clause} ORDER BY created_at DESC, id DESC \
         LIMIT {limit} OFFSET {offset}"
        );
        let rows = bind_filters!(::sqlx::query(::sqlx::AssertSqlSafe(sql)))
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        let products = rows.iter().map(product_from_row).collect::<Result<Vec<_>, _>>().map_err(err)?;
        Ok((complete(&self.pool, products).await.map_err(err)?, total.max(0) as u64))
    }

    async fn products_after(&self, after: Option<Uuid>, limit: u32) -> StoreResult<Vec<Product>> {
        let rows = match after {
            Some(after) => {
                let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE id > $1 ORDER BY id LIMIT $2");
                ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(after).bind(i64::from(limit)).fetch_all(&self.pool).await
            }
            None => {
                let sql = format!("SELECT {PRODUCT_COLUMNS} FROM products ORDER BY id LIMIT $1");
                ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(i64::from(limit)).fetch_all(&self.pool).await
            }
        }
        .map_err(err)?;
        let products = rows.iter().map(product_from_row).collect::<Result<Vec<_>, _>>().map_err(err)?;
        complete(&self.pool, products).await.map_err(err)
    }

    async fn variant_by_sku(&self, sku: &str) -> StoreResult<Option<Variant>> {
        let sql = format!("SELECT {VARIANT_COLUMNS} FROM variants WHERE sku = $1");
        let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(sku).fetch_optional(&self.pool).await.map_err(err)?;
        row.as_ref().map(variant_from_row).transpose().map_err(err)
    }

    async fn variant(&self, id: Uuid) -> StoreResult<Option<Variant>> {
        let sql = format!("SELECT {VARIANT_COLUMNS} FROM variants WHERE id = $1");
        let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await.map_err(err)?;
        row.as_ref().map(variant_from_row).transpose().map_err(err)
    }

    async fn product_ids_in_categories(&self, category_ids: &[Uuid]) -> StoreResult<Vec<Uuid>> {
        let mut out = Vec::new();
        for chunk in category_ids.chunks(CHUNK) {
            let sql = format!("SELECT id FROM products WHERE category_id IN ({})", placeholders(1, chunk.len()));
            let mut q = ::sqlx::query_scalar::<_, Uuid>(::sqlx::AssertSqlSafe(sql));
            for id in chunk {
                q = q.bind(*id);
            }
            out.extend(q.fetch_all(&self.pool).await.map_err(err)?);
        }
        Ok(out)
    }

    async fn catalog_fingerprint(&self) -> StoreResult<String> {
        let revision: i64 = ::sqlx::query_scalar("SELECT revision FROM catalog_revision WHERE id = 1")
            .fetch_one(&self.pool)
            .await
            .map_err(err)?;
        Ok(format!("catalog-revision-{revision}"))
    }

    async fn insert_variant(&self, v: &Variant, event: &Event) -> StoreResult<()> {
        let mut tx = self.begin_write().await.map_err(err)?;
        insert_variants(&mut tx, &[v]).await.map_err(err)?;
        touch_product(&mut tx, v.product_id, v.updated_at).await.map_err(err)?;
        catalog_event(&mut tx, event).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.events_written();
        Ok(())
    }

    async fn update_variant(&self, v: &Variant, event: &Event) -> StoreResult<bool> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let done = ::sqlx::query(
            "UPDATE variants SET sku = $1, options = $2, price_amount = $3, currency = $4, compare_at_amount = $5, \
         weight_grams = $6, position = $7, updated_at = $8 WHERE id = $9 AND product_id = $10",
        )
        .bind(&v.sku)
        .bind(to_json(&v.options))
        .bind(v.price.amount)
        .bind(v.price.currency.as_str())
        .bind(v.compare_at_price.map(|m| m.amount))
        .bind(v.weight_grams)
        .bind(v.position)
        .bind(v.updated_at)
        .bind(v.id)
        .bind(v.product_id)
        .execute(&mut *tx)
        .await
        .map_err(err)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        touch_product(&mut tx, v.product_id, v.updated_at).await.map_err(err)?;
        catalog_event(&mut tx, event).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.events_written();
        Ok(true)
    }

    async fn delete_variant(&self, product_id: Uuid, variant_id: Uuid, event: &Event) -> StoreResult<DeleteOutcome> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let done = ::sqlx::query("DELETE FROM variants WHERE id = $1 AND product_id = $2")
            .bind(variant_id)
            .bind(product_id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        if done.rows_affected() == 0 {
            return Ok(DeleteOutcome::NotFound);
        }
        touch_product(&mut tx, product_id, event.occurred_at).await.map_err(err)?;
        catalog_event(&mut tx, event).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.events_written();
        Ok(DeleteOutcome::Deleted)
    }

    async fn insert_image(&self, image: &Image, order: &[Uuid], event: &Event) -> StoreResult<()> {
        let mut tx = self.begin_write().await.map_err(err)?;
        insert_images(&mut tx, &[image]).await.map_err(err)?;
        renumber(&mut tx, "product_images", order).await.map_err(err)?;
        touch_product(&mut tx, image.product_id, event.occurred_at).await.map_err(err)?;
        catalog_event(&mut tx, event).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.events_written();
        Ok(())
    }

    async fn update_image(&self, image: &Image, order: &[Uuid], event: &Event) -> StoreResult<bool> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let done = ::sqlx::query("UPDATE product_images SET alt = $1 WHERE id = $2 AND product_id = $3")
            .bind(&image.alt)
            .bind(image.id)
            .bind(image.product_id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        renumber(&mut tx, "product_images", order).await.map_err(err)?;
        touch_product(&mut tx, image.product_id, event.occurred_at).await.map_err(err)?;
        catalog_event(&mut tx, event).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.events_written();
        Ok(true)
    }

    async fn delete_image(&self, product_id: Uuid, image_id: Uuid, event: &Event) -> StoreResult<DeleteOutcome> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let done = ::sqlx::query("DELETE FROM product_images WHERE id = $1 AND product_id = $2")
            .bind(image_id)
            .bind(product_id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        if done.rows_affected() == 0 {
            return Ok(DeleteOutcome::NotFound);
        }
        let remaining: Vec<Uuid> =
            ::sqlx::query_scalar("SELECT id FROM product_images WHERE product_id = $1 ORDER BY position, created_at")
                .bind(product_id)
                .fetch_all(&mut *tx)
                .await
                .map_err(err)?;
        renumber(&mut tx, "product_images", &remaining).await.map_err(err)?;
        touch_product(&mut tx, product_id, event.occurred_at).await.map_err(err)?;
        catalog_event(&mut tx, event).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.events_written();
        Ok(DeleteOutcome::Deleted)
    }

    async fn insert_review(&self, review: &Review, event: &Event) -> StoreResult<()> {
        let mut tx = self.begin_write().await.map_err(err)?;
        insert_reviews(&mut tx, std::slice::from_ref(review)).await.map_err(err)?;
        catalog_event(&mut tx, event).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.events_written();
        Ok(())
    }

    async fn reviews(&self, filter: &ReviewFilter, page: PageSpec) -> StoreResult<(Vec<Review>, u64)> {
        // Both filters are optional; `$n IS NULL OR column = $n` keeps one static statement.
        let product = filter.product_id;
        let status = filter.status.map(|s| s.as_str());
        let total: i64 = ::sqlx::query_scalar(
            "SELECT COUNT(*) FROM reviews WHERE ($1 IS NULL OR product_id = $1) AND ($2 IS NULL OR status = $2)",
        )
        .bind(product)
        .bind(status)
        .fetch_one(&self.pool)
        .await
        .map_err(err)?;
        let sql = format!(
            "SELECT {REVIEW_COLUMNS} FROM reviews WHERE ($1 IS NULL OR product_id = $1) \
         AND ($2 IS NULL OR status = $2) ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
        );
        let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
            .bind(product)
            .bind(status)
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await
            .map_err(err)?;
        let reviews = rows.iter().map(review_from_row).collect::<Result<_, _>>().map_err(err)?;
        Ok((reviews, total.max(0) as u64))
    }

    async fn review(&self, id: Uuid) -> StoreResult<Option<Review>> {
        let sql = format!("SELECT {REVIEW_COLUMNS} FROM reviews WHERE id = $1");
        let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(&self.pool).await.map_err(err)?;
        row.as_ref().map(review_from_row).transpose().map_err(err)
    }

    async fn set_review_status(&self, review: &Review, event: &Event) -> StoreResult<bool> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let done = ::sqlx::query("UPDATE reviews SET status = $1, updated_at = $2 WHERE id = $3")
            .bind(review.status.as_str())
            .bind(review.updated_at)
            .bind(review.id)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        catalog_event(&mut tx, event).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.events_written();
        Ok(true)
    }

    async fn delete_review(&self, id: Uuid, event: &Event) -> StoreResult<DeleteOutcome> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let done = ::sqlx::query("DELETE FROM reviews WHERE id = $1").bind(id).execute(&mut *tx).await.map_err(err)?;
        if done.rows_affected() == 0 {
            return Ok(DeleteOutcome::NotFound);
        }
        catalog_event(&mut tx, event).await.map_err(err)?;
        tx.commit().await.map_err(err)?;
        self.events_written();
        Ok(DeleteOutcome::Deleted)
    }

    async fn wishlist(&self, user_id: Uuid) -> StoreResult<Vec<WishlistItem>> {
        let rows = ::sqlx::query(
            "SELECT product_id, added_at FROM wishlist_items WHERE user_id = $1 ORDER BY added_at DESC, product_id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(err)?;
        rows.iter()
            .map(|row| Ok(WishlistItem { product_id: row.try_get("product_id")?, added_at: row.try_get("added_at")? }))
            .collect::<Result<_, ::sqlx::Error>>()
            .map_err(err)
    }

    async fn add_to_wishlist(&self, user_id: Uuid, item: &WishlistItem) -> StoreResult<()> {
        ::sqlx::query(
            "INSERT INTO wishlist_items (user_id, product_id, added_at) VALUES ($1, $2, $3) \
         ON CONFLICT (user_id, product_id) DO NOTHING",
        )
        .bind(user_id)
        .bind(item.product_id)
        .bind(item.added_at)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn remove_from_wishlist(&self, user_id: Uuid, product_id: Uuid) -> StoreResult<DeleteOutcome> {
        let done = ::sqlx::query("DELETE FROM wishlist_items WHERE user_id = $1 AND product_id = $2")
            .bind(user_id)
            .bind(product_id)
            .execute(&self.pool)
            .await
            .map_err(err)?;
        Ok(if done.rows_affected() > 0 { DeleteOutcome::Deleted } else { DeleteOutcome::NotFound })
    }

    async fn stores(&self) -> StoreResult<Vec<Store>> {
        let sql = format!("SELECT {STORE_COLUMNS} FROM stores ORDER BY name");
        let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql)).fetch_all(&self.pool).await.map_err(err)?;
        rows.iter().map(store_from_row).collect::<Result<_, _>>().map_err(err)
    }

    async fn insert_store(&self, s: &Store) -> StoreResult<()> {
        ::sqlx::query(
            "INSERT INTO stores (id, name, line1, line2, city, region, postal_code, country, latitude, longitude, \
         phone, opening_hours, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(s.id)
        .bind(&s.name)
        .bind(&s.line1)
        .bind(&s.line2)
        .bind(&s.city)
        .bind(&s.region)
        .bind(&s.postal_code)
        .bind(&s.country)
        .bind(s.latitude)
        .bind(s.longitude)
        .bind(&s.phone)
        .bind(to_json(&s.opening_hours))
        .bind(s.created_at)
        .bind(s.updated_at)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(())
    }

    async fn update_store(&self, s: &Store) -> StoreResult<bool> {
        let done = ::sqlx::query(
            "UPDATE stores SET name = $1, line1 = $2, line2 = $3, city = $4, region = $5, postal_code = $6, \
         country = $7, latitude = $8, longitude = $9, phone = $10, opening_hours = $11, updated_at = $12 \
         WHERE id = $13",
        )
        .bind(&s.name)
        .bind(&s.line1)
        .bind(&s.line2)
        .bind(&s.city)
        .bind(&s.region)
        .bind(&s.postal_code)
        .bind(&s.country)
        .bind(s.latitude)
        .bind(s.longitude)
        .bind(&s.phone)
        .bind(to_json(&s.opening_hours))
        .bind(s.updated_at)
        .bind(s.id)
        .execute(&self.pool)
        .await
        .map_err(err)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_store(&self, id: Uuid) -> StoreResult<DeleteOutcome> {
        let done = ::sqlx::query("DELETE FROM stores WHERE id = $1").bind(id).execute(&self.pool).await.map_err(err)?;
        Ok(if done.rows_affected() > 0 { DeleteOutcome::Deleted } else { DeleteOutcome::NotFound })
    }

    async fn seed(&self, products: &[Product], reviews: &[Review]) -> StoreResult<()> {
        let mut tx = self.begin_write().await.map_err(err)?;
        let products: Vec<&Product> = products.iter().collect();
        insert_products(&mut tx, &products).await.map_err(err)?;
        insert_reviews(&mut tx, reviews).await.map_err(err)?;
        ::sqlx::query("UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tx.commit().await.map_err(err)
    }
}

impl crate::Backend {
    async fn insert_seller_in(&self, tx: &mut Tx, s: &Seller) -> Result<(), ::sqlx::Error> {
        ::sqlx::query(
            "INSERT INTO sellers (id, name, payout_wallet, stripe_account_id, is_default, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(s.id)
        .bind(&s.name)
        .bind(&s.payout_wallet)
        .bind(&s.stripe_account_id)
        .bind(s.is_default)
        .bind(s.created_at)
        .bind(s.updated_at)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }
}
