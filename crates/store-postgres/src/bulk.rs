//! The catalogue's bulk inserts (products with their variants and images,
//! reviews), used by one-row writes and by the demo seed alike. PostgreSQL:
//! one `INSERT … SELECT FROM UNNEST(…)` per 5,000 rows, the values bound as
//! arrays.

use crate::catalog::to_json;
use ::catalog::{Image, Product, Review, Variant};

type Tx = crate::WriteTx;

/// Rows per statement.
const ROWS: usize = 5_000;

fn col<T, U>(rows: &[T], f: impl Fn(&T) -> U) -> Vec<U> {
    rows.iter().map(f).collect()
}

pub(crate) async fn insert_variants(tx: &mut Tx, variants: &[&Variant]) -> Result<(), ::sqlx::Error> {
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
pub(crate) async fn insert_products(tx: &mut Tx, products: &[&Product]) -> Result<(), ::sqlx::Error> {
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

pub(crate) async fn insert_images(tx: &mut Tx, images: &[&Image]) -> Result<(), ::sqlx::Error> {
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

pub(crate) async fn insert_reviews(tx: &mut Tx, reviews: &[Review]) -> Result<(), ::sqlx::Error> {
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
