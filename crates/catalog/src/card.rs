//! The product card: what a listing, search result or wishlist shows of a
//! product. The search index stores it ready-made, so a listing page is
//! served without touching the database.

use crate::media_url;
use crate::model::{Product, RatingSummary};
use kernel::Money;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CardImage {
    /// A mid-size rendition (the original when none).
    pub url: String,
    pub thumb_url: String,
    pub alt: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CardRating {
    pub average: f64,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProductCard {
    pub id: Uuid,
    pub slug: String,
    pub title: String,
    /// The lowest variant price.
    pub price: Option<Money>,
    /// That variant's compare-at price, when it is on sale.
    pub compare_at_price: Option<Money>,
    pub image: Option<CardImage>,
    pub rating: CardRating,
    pub in_stock: bool,
    pub category_id: Option<Uuid>,
    pub seller_id: Uuid,
    pub variant_count: u32,
}

impl ProductCard {
    pub fn new(product: &Product, in_stock: bool) -> Self {
        let cheapest = product.variants.iter().min_by_key(|v| v.price.amount);
        let image = product.images.first().map(|i| {
            let pick = |names: &[&str]| {
                names.iter().find_map(|n| i.renditions.get(*n)).map_or_else(|| media_url(&i.key), |k| media_url(k))
            };
            CardImage { url: pick(&["small", "medium"]), thumb_url: pick(&["thumb", "small"]), alt: i.alt.clone() }
        });
        let RatingSummary { average, count, .. } = product.rating;
        ProductCard {
            id: product.id,
            slug: product.slug.clone(),
            title: product.title.clone(),
            price: cheapest.map(|v| v.price),
            compare_at_price: cheapest.and_then(|v| v.compare_at_price),
            image,
            rating: CardRating { average, count },
            in_stock,
            category_id: product.category_id,
            seller_id: product.seller_id,
            variant_count: product.variants.len() as u32,
        }
    }
}
