/// Implements `catalog::CatalogStore` for a store type with a `pool` field
/// and a `begin_write()` method. Requires `impl_outbox_store!` in the same
/// module (for `insert_event`). Expands to a private module so its helpers
/// do not clash with other contexts' macros.
#[macro_export]
// `crate::WriteTx` and `crate::DbPool` name the calling store's own types, on purpose.
#[allow(clippy::crate_in_macro_def)]
macro_rules! impl_catalog_store {
    ($store:ty, $db:ty) => {
        $crate::impl_catalog_store!(@impl $store, $db, catalog_bulk_values);
    };
    // PostgreSQL: bulk inserts bind one array per column (`UNNEST`).
    ($store:ty, $db:ty, bulk = unnest) => {
        $crate::impl_catalog_store!(@impl $store, $db, catalog_bulk_unnest);
    };
    (@impl $store:ty, $db:ty, $bulk:ident) => {
        mod catalog_store {
            use super::*;
            use ::catalog::{
                Category, DeleteOutcome, Image, OpeningHours, Product, ProductFilter, ProductOption, RatingSummary,
                Review, ReviewFilter, Seller, Store, StoreError, StoreResult, Variant, WishlistItem,
            };
            use ::kernel::{Currency, Event, Money, PageSpec};
            use ::sqlx::Row as _;
            use ::std::collections::HashMap;
            use ::uuid::Uuid;

            type Row = <$db as ::sqlx::Database>::Row;
            type Tx = crate::WriteTx;

            const PRODUCT_COLUMNS: &str = "id, slug, title, description, status, seller_id, category_id, attributes, \
                                           tags, options, created_at, updated_at";
            const VARIANT_COLUMNS: &str = "id, product_id, sku, options, price_amount, currency, compare_at_amount, \
                                           weight_grams, position, created_at, updated_at";
            const IMAGE_COLUMNS: &str =
                "id, product_id, key, alt, width, height, renditions, position, created_at";
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

            fn to_json<T: ::serde::Serialize>(value: &T) -> String {
                // Serialising plain maps and lists of strings cannot fail.
                ::serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned())
            }

            fn placeholders(from: usize, n: usize) -> String {
                (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
            }

            fn money(amount: i64, currency: &str) -> Result<Money, ::sqlx::Error> {
                Ok(Money::new(amount, Currency::parse(currency).map_err(decode)?))
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
                ::sqlx::query("UPDATE catalog_revision SET revision = revision + 1 WHERE id = 1")
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            async fn touch_product(tx: &mut Tx, id: Uuid, at: ::time::OffsetDateTime) -> Result<bool, ::sqlx::Error> {
                let done = ::sqlx::query("UPDATE products SET updated_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(id)
                    .execute(&mut **tx)
                    .await?;
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

            $crate::$bulk!($db);

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

            $crate::catalog_store_impl!($store, $db);
        }
    };
}

/// The bulk inserts of `impl_catalog_store!` as multi-row `INSERT … VALUES`
/// (SQLite, which has no arrays): one statement per few hundred rows.
#[doc(hidden)]
#[macro_export]
macro_rules! catalog_bulk_values {
    ($db:ty) => {
        /// Rows per multi-row `INSERT`: one statement per few hundred rows, not one
        /// per row (a round trip per row makes bulk loads crawl).
        const ROWS: usize = 400;

        async fn insert_variants(tx: &mut Tx, variants: &[&Variant]) -> Result<(), ::sqlx::Error> {
            for chunk in variants.chunks(ROWS) {
                let mut q = ::sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO variants (id, product_id, sku, options, price_amount, currency, compare_at_amount, \
                     weight_grams, position, created_at, updated_at) ",
                );
                q.push_values(chunk, |mut b, v| {
                    b.push_bind(v.id)
                        .push_bind(v.product_id)
                        .push_bind(v.sku.clone())
                        .push_bind(to_json(&v.options))
                        .push_bind(v.price.amount)
                        .push_bind(v.price.currency.as_str().to_owned())
                        .push_bind(v.compare_at_price.map(|m| m.amount))
                        .push_bind(v.weight_grams)
                        .push_bind(v.position)
                        .push_bind(v.created_at)
                        .push_bind(v.updated_at);
                });
                q.build().execute(&mut **tx).await?;
            }
            Ok(())
        }

        /// Inserts the products with their variants and images.
        async fn insert_products(tx: &mut Tx, products: &[&Product]) -> Result<(), ::sqlx::Error> {
            for chunk in products.chunks(ROWS) {
                let mut q = ::sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO products (id, slug, title, description, status, seller_id, category_id, attributes, \
                     tags, options, created_at, updated_at) ",
                );
                q.push_values(chunk, |mut b, p| {
                    b.push_bind(p.id)
                        .push_bind(p.slug.clone())
                        .push_bind(p.title.clone())
                        .push_bind(p.description.clone())
                        .push_bind(p.status.as_str())
                        .push_bind(p.seller_id)
                        .push_bind(p.category_id)
                        .push_bind(to_json(&p.attributes))
                        .push_bind(to_json(&p.tags))
                        .push_bind(to_json(&p.options))
                        .push_bind(p.created_at)
                        .push_bind(p.updated_at);
                });
                q.build().execute(&mut **tx).await?;
            }
            let variants: Vec<&Variant> = products.iter().flat_map(|p| &p.variants).collect();
            insert_variants(tx, &variants).await?;
            let images: Vec<&Image> = products.iter().flat_map(|p| &p.images).collect();
            insert_images(tx, &images).await
        }

        async fn insert_images(tx: &mut Tx, images: &[&Image]) -> Result<(), ::sqlx::Error> {
            for chunk in images.chunks(ROWS) {
                let mut q = ::sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO product_images (id, product_id, key, alt, width, height, renditions, position, created_at) ",
                );
                q.push_values(chunk, |mut b, i| {
                    b.push_bind(i.id)
                        .push_bind(i.product_id)
                        .push_bind(i.key.clone())
                        .push_bind(i.alt.clone())
                        .push_bind(i.width as i32)
                        .push_bind(i.height as i32)
                        .push_bind(to_json(&i.renditions))
                        .push_bind(i.position)
                        .push_bind(i.created_at);
                });
                q.build().execute(&mut **tx).await?;
            }
            Ok(())
        }

        async fn insert_reviews(tx: &mut Tx, reviews: &[Review]) -> Result<(), ::sqlx::Error> {
            for chunk in reviews.chunks(ROWS) {
                let mut q = ::sqlx::QueryBuilder::<$db>::new(
                    "INSERT INTO reviews (id, product_id, user_id, author_name, rating, title, body, verified_purchase, \
                     status, created_at, updated_at) ",
                );
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.id)
                        .push_bind(r.product_id)
                        .push_bind(r.user_id)
                        .push_bind(r.author_name.clone())
                        .push_bind(i32::from(r.rating))
                        .push_bind(r.title.clone())
                        .push_bind(r.body.clone())
                        .push_bind(r.verified_purchase)
                        .push_bind(r.status.as_str())
                        .push_bind(r.created_at)
                        .push_bind(r.updated_at);
                });
                q.build().execute(&mut **tx).await?;
            }
            Ok(())
        }
    };
}

/// The bulk inserts of `impl_catalog_store!` for PostgreSQL: one statement per
/// table per chunk of thousands of rows, each column bound as one array and
/// turned back into rows by `UNNEST` (a few parameters instead of thousands,
/// so there is little to parse, plan or send).
#[doc(hidden)]
#[macro_export]
macro_rules! catalog_bulk_unnest {
    ($db:ty) => {
        /// Rows per statement.
        const ROWS: usize = 5_000;

        fn col<T, U>(rows: &[T], f: impl Fn(&T) -> U) -> Vec<U> {
            rows.iter().map(f).collect()
        }

        async fn insert_variants(tx: &mut Tx, variants: &[&Variant]) -> Result<(), ::sqlx::Error> {
            for chunk in variants.chunks(ROWS) {
                ::sqlx::query(
                    "INSERT INTO variants (id, product_id, sku, options, price_amount, currency, compare_at_amount, \
                     weight_grams, position, created_at, updated_at) \
                     SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int8[], $6::text[], \
                     $7::int8[], $8::int4[], $9::int4[], $10::timestamptz[], $11::timestamptz[])",
                )
                .bind(col(chunk, |v| v.id))
                .bind(col(chunk, |v| v.product_id))
                .bind(col(chunk, |v| v.sku.clone()))
                .bind(col(chunk, |v| to_json(&v.options)))
                .bind(col(chunk, |v| v.price.amount))
                .bind(col(chunk, |v| v.price.currency.as_str().to_owned()))
                .bind(col(chunk, |v| v.compare_at_price.map(|m| m.amount)))
                .bind(col(chunk, |v| v.weight_grams))
                .bind(col(chunk, |v| v.position))
                .bind(col(chunk, |v| v.created_at))
                .bind(col(chunk, |v| v.updated_at))
                .execute(&mut **tx)
                .await?;
            }
            Ok(())
        }

        /// Inserts the products with their variants and images.
        async fn insert_products(tx: &mut Tx, products: &[&Product]) -> Result<(), ::sqlx::Error> {
            for chunk in products.chunks(ROWS) {
                ::sqlx::query(
                    "INSERT INTO products (id, slug, title, description, status, seller_id, category_id, attributes, \
                     tags, options, created_at, updated_at) \
                     SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::uuid[], \
                     $7::uuid[], $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::timestamptz[])",
                )
                .bind(col(chunk, |p| p.id))
                .bind(col(chunk, |p| p.slug.clone()))
                .bind(col(chunk, |p| p.title.clone()))
                .bind(col(chunk, |p| p.description.clone()))
                .bind(col(chunk, |p| p.status.as_str().to_owned()))
                .bind(col(chunk, |p| p.seller_id))
                .bind(col(chunk, |p| p.category_id))
                .bind(col(chunk, |p| to_json(&p.attributes)))
                .bind(col(chunk, |p| to_json(&p.tags)))
                .bind(col(chunk, |p| to_json(&p.options)))
                .bind(col(chunk, |p| p.created_at))
                .bind(col(chunk, |p| p.updated_at))
                .execute(&mut **tx)
                .await?;
            }
            let variants: Vec<&Variant> = products.iter().flat_map(|p| &p.variants).collect();
            insert_variants(tx, &variants).await?;
            let images: Vec<&Image> = products.iter().flat_map(|p| &p.images).collect();
            insert_images(tx, &images).await
        }

        async fn insert_images(tx: &mut Tx, images: &[&Image]) -> Result<(), ::sqlx::Error> {
            for chunk in images.chunks(ROWS) {
                ::sqlx::query(
                    "INSERT INTO product_images (id, product_id, key, alt, width, height, renditions, position, \
                     created_at) \
                     SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::int4[], $6::int4[], \
                     $7::text[], $8::int4[], $9::timestamptz[])",
                )
                .bind(col(chunk, |i| i.id))
                .bind(col(chunk, |i| i.product_id))
                .bind(col(chunk, |i| i.key.clone()))
                .bind(col(chunk, |i| i.alt.clone()))
                .bind(col(chunk, |i| i.width as i32))
                .bind(col(chunk, |i| i.height as i32))
                .bind(col(chunk, |i| to_json(&i.renditions)))
                .bind(col(chunk, |i| i.position))
                .bind(col(chunk, |i| i.created_at))
                .execute(&mut **tx)
                .await?;
            }
            Ok(())
        }

        async fn insert_reviews(tx: &mut Tx, reviews: &[Review]) -> Result<(), ::sqlx::Error> {
            for chunk in reviews.chunks(ROWS) {
                ::sqlx::query(
                    "INSERT INTO reviews (id, product_id, user_id, author_name, rating, title, body, \
                     verified_purchase, status, created_at, updated_at) \
                     SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int4[], $6::text[], \
                     $7::text[], $8::bool[], $9::text[], $10::timestamptz[], $11::timestamptz[])",
                )
                .bind(col(chunk, |r| r.id))
                .bind(col(chunk, |r| r.product_id))
                .bind(col(chunk, |r| r.user_id))
                .bind(col(chunk, |r| r.author_name.clone()))
                .bind(col(chunk, |r| i32::from(r.rating)))
                .bind(col(chunk, |r| r.title.clone()))
                .bind(col(chunk, |r| r.body.clone()))
                .bind(col(chunk, |r| r.verified_purchase))
                .bind(col(chunk, |r| r.status.as_str().to_owned()))
                .bind(col(chunk, |r| r.created_at))
                .bind(col(chunk, |r| r.updated_at))
                .execute(&mut **tx)
                .await?;
            }
            Ok(())
        }
    };
}
