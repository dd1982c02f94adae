//! The catalogue's bulk inserts (products with their variants and images,
//! reviews), used by one-row writes and by the demo seed alike. SQLite: a
//! multi-row `INSERT … VALUES` per 400 rows.

use crate::catalog::to_json;
use ::catalog::{Image, Product, Review, Variant};

type Tx = crate::WriteTx;

/// Rows per multi-row `INSERT`: one statement per few hundred rows, not one
/// per row (a round trip per row makes bulk loads crawl).
const ROWS: usize = 400;

pub(crate) async fn insert_variants(tx: &mut Tx, variants: &[&Variant]) -> Result<(), ::sqlx::Error> {
    for chunk in variants.chunks(ROWS) {
        let mut q = ::sqlx::QueryBuilder::<::sqlx::Sqlite>::new(
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
pub(crate) async fn insert_products(tx: &mut Tx, products: &[&Product]) -> Result<(), ::sqlx::Error> {
    for chunk in products.chunks(ROWS) {
        let mut q = ::sqlx::QueryBuilder::<::sqlx::Sqlite>::new(
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

pub(crate) async fn insert_images(tx: &mut Tx, images: &[&Image]) -> Result<(), ::sqlx::Error> {
    for chunk in images.chunks(ROWS) {
        let mut q = ::sqlx::QueryBuilder::<::sqlx::Sqlite>::new(
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

pub(crate) async fn insert_reviews(tx: &mut Tx, reviews: &[Review]) -> Result<(), ::sqlx::Error> {
    for chunk in reviews.chunks(ROWS) {
        let mut q = ::sqlx::QueryBuilder::<::sqlx::Sqlite>::new(
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
