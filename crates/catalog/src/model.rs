//! The catalog's entities as the rest of the system sees them.

use kernel::Money;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::str::FromStr;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProductStatus {
    /// Being prepared; invisible to shoppers.
    Draft,
    /// On sale: the only status the storefront shows.
    Active,
    /// Withdrawn; kept for order history and admin.
    Archived,
}

impl ProductStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProductStatus::Draft => "draft",
            ProductStatus::Active => "active",
            ProductStatus::Archived => "archived",
        }
    }
}

impl FromStr for ProductStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "draft" => Ok(ProductStatus::Draft),
            "active" => Ok(ProductStatus::Active),
            "archived" => Ok(ProductStatus::Archived),
            other => Err(format!("unknown product status {other:?}")),
        }
    }
}

/// Who sells a product and gets paid for it. Every shop has one default
/// seller (the shop itself); marketplaces add more.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Seller {
    pub id: Uuid,
    pub name: String,
    /// Solana address receiving Solana Pay transfers (base58).
    pub payout_wallet: Option<String>,
    /// Connected Stripe account (`acct_…`).
    pub stripe_account_id: Option<String>,
    pub is_default: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Category {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    /// Order among siblings, from 0.
    pub position: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// A category with its children, as the storefront menu shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CategoryNode {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub description: Option<String>,
    #[schema(no_recursion)]
    pub children: Vec<CategoryNode>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProductOption {
    /// e.g. "size".
    pub name: String,
    /// e.g. ["S", "M", "L"], in display order.
    pub values: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Variant {
    pub id: Uuid,
    pub product_id: Uuid,
    pub sku: String,
    /// Option name → value, one entry per product option.
    pub options: BTreeMap<String, String>,
    pub price: Money,
    /// The "was" price shown struck through; above `price` when set.
    pub compare_at_price: Option<Money>,
    pub weight_grams: Option<i32>,
    pub position: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Variant {
    /// "M / Red", or "Default" for a product without options.
    pub fn title(&self, options: &[ProductOption]) -> String {
        let parts: Vec<&str> = options.iter().filter_map(|o| self.options.get(&o.name).map(String::as_str)).collect();
        if parts.is_empty() { "Default".to_owned() } else { parts.join(" / ") }
    }
}

/// One uploaded picture and its generated renditions. Keys are content
/// hashes, so a URL never changes meaning and can be cached for a year.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Image {
    pub id: Uuid,
    pub product_id: Uuid,
    /// Object key of the original.
    pub key: String,
    pub alt: String,
    pub width: u32,
    pub height: u32,
    /// Rendition name ("thumb", "small", "medium") → object key.
    pub renditions: BTreeMap<String, String>,
    /// Where the original is served.
    pub url: String,
    /// Rendition name → where it is served.
    pub rendition_urls: BTreeMap<String, String>,
    pub position: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Image {
    /// Fills `url` and `rendition_urls` from the keys.
    pub fn with_urls(mut self) -> Self {
        self.url = crate::media_url(&self.key);
        self.rendition_urls = self.renditions.iter().map(|(n, k)| (n.clone(), crate::media_url(k))).collect();
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, ToSchema)]
pub struct RatingSummary {
    /// Mean of published ratings, two decimals; 0 when there are none.
    pub average: f64,
    pub count: u32,
    /// Published reviews per star: index 0 is one star.
    pub histogram: [u32; 5],
}

impl RatingSummary {
    pub fn from_histogram(histogram: [u32; 5]) -> Self {
        let count: u32 = histogram.iter().sum();
        let stars: u64 = histogram.iter().enumerate().map(|(i, n)| (i as u64 + 1) * u64::from(*n)).sum();
        let average = if count == 0 { 0.0 } else { (stars as f64 / f64::from(count) * 100.0).round() / 100.0 };
        RatingSummary { average, count, histogram }
    }
}

/// A product with everything a product page shows.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Product {
    pub id: Uuid,
    pub slug: String,
    pub title: String,
    pub description: String,
    pub status: ProductStatus,
    pub seller_id: Uuid,
    pub category_id: Option<Uuid>,
    /// Typed attributes: each value is a string, number, boolean or list of strings.
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    pub tags: Vec<String>,
    pub options: Vec<ProductOption>,
    pub variants: Vec<Variant>,
    /// In display order; the first is the primary image.
    pub images: Vec<Image>,
    pub rating: RatingSummary,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl Product {
    /// The lowest variant price ("from $19.99").
    pub fn min_price(&self) -> Option<Money> {
        self.variants.iter().map(|v| v.price).min_by_key(|m| m.amount)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    Published,
    /// Hidden by a moderator: not shown and not counted in the rating.
    Hidden,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::Published => "published",
            ReviewStatus::Hidden => "hidden",
        }
    }
}

impl FromStr for ReviewStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "published" => Ok(ReviewStatus::Published),
            "hidden" => Ok(ReviewStatus::Hidden),
            other => Err(format!("unknown review status {other:?}")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Review {
    pub id: Uuid,
    pub product_id: Uuid,
    pub user_id: Uuid,
    /// The reviewer's name as shown (first name and initial).
    pub author_name: String,
    pub rating: u8,
    pub title: String,
    pub body: String,
    /// Set by the server from the customer's orders, never by the client.
    pub verified_purchase: bool,
    pub status: ReviewStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct OpeningHours {
    /// "mon" … "sun".
    pub day: String,
    /// "09:00".
    pub opens: String,
    /// "18:00"; after `opens`.
    pub closes: String,
}

/// A physical shop for the store locator.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Store {
    pub id: Uuid,
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub latitude: f64,
    pub longitude: f64,
    pub phone: Option<String>,
    pub opening_hours: Vec<OpeningHours>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct StoreWithDistance {
    #[serde(flatten)]
    pub store: Store,
    /// Great-circle distance from the given point, when one was given.
    pub distance_km: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct WishlistItem {
    pub product_id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub added_at: OffsetDateTime,
}
