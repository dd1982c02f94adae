//! What clients send, and the checks that turn it into domain values. Every
//! check adds to one `FieldErrors`, so a 422 names every bad field at once.

use crate::model::{OpeningHours, ProductOption, ProductStatus, ReviewStatus};
use kernel::{FieldErrors, Money};
use serde::{Deserialize, Deserializer};
use std::collections::{BTreeMap, BTreeSet};
use utoipa::ToSchema;
use uuid::Uuid;

/// `Some(None)` when the field is present and null, `None` when absent: lets
/// a PATCH clear a value (`"parent_id": null`) as well as leave it alone.
pub fn double_option<'de, D, T>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(de).map(Some)
}

pub const MAX_PRICE: i64 = 1_000_000_000_000;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SellerInput {
    pub name: String,
    pub payout_wallet: Option<String>,
    pub stripe_account_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SellerPatch {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub payout_wallet: Option<Option<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub stripe_account_id: Option<Option<String>>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryInput {
    pub name: String,
    pub slug: Option<String>,
    pub parent_id: Option<Uuid>,
    pub description: Option<String>,
    /// Place among the siblings (0 = first); at the end when absent.
    pub position: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CategoryPatch {
    pub name: Option<String>,
    pub slug: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// Move under another category; `null` makes it a top-level category.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub parent_id: Option<Option<Uuid>>,
    /// New place among the siblings (0 = first).
    pub position: Option<i32>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantInput {
    pub sku: String,
    pub price: Money,
    pub compare_at_price: Option<Money>,
    /// Option name → value; one entry for each of the product's options.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    pub weight_grams: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VariantPatch {
    pub sku: Option<String>,
    pub price: Option<Money>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Money>)]
    pub compare_at_price: Option<Option<Money>>,
    pub options: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i32>)]
    pub weight_grams: Option<Option<i32>>,
    pub position: Option<i32>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductInput {
    pub title: String,
    pub slug: Option<String>,
    pub description: Option<String>,
    pub category_id: Option<Uuid>,
    /// The shop's default seller when absent.
    pub seller_id: Option<Uuid>,
    /// `draft` when absent.
    pub status: Option<ProductStatus>,
    #[serde(default)]
    pub options: Vec<ProductOption>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub variants: Vec<VariantInput>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    pub title: Option<String>,
    pub slug: Option<String>,
    pub description: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub category_id: Option<Option<Uuid>>,
    pub seller_id: Option<Uuid>,
    pub status: Option<ProductStatus>,
    /// Replaces the options; every variant must still name a value of each.
    pub options: Option<Vec<ProductOption>>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    pub tags: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImagePatch {
    pub alt: Option<String>,
    /// New place in the gallery; 0 makes it the primary image.
    pub position: Option<i32>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    /// 1 to 5 stars.
    pub rating: i64,
    pub title: String,
    pub body: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewModeration {
    pub status: ReviewStatus,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StoreInput {
    pub name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
    pub latitude: f64,
    pub longitude: f64,
    pub phone: Option<String>,
    #[serde(default)]
    pub opening_hours: Vec<OpeningHours>,
}

/// Trimmed, non-empty, at most `max` characters.
pub(crate) fn text(errors: &mut FieldErrors, field: &str, value: &str, max: usize) -> String {
    let value = value.trim();
    if value.is_empty() {
        errors.add(field, "must not be empty");
    } else if value.chars().count() > max {
        errors.add(field, format!("must be at most {max} characters"));
    } else if value.chars().any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t') {
        errors.add(field, "must not contain control characters");
    }
    value.to_owned()
}

/// Like `text`, but empty means absent.
pub(crate) fn optional_text(errors: &mut FieldErrors, field: &str, value: Option<&str>, max: usize) -> Option<String> {
    let value = value.map(str::trim).filter(|v| !v.is_empty())?;
    Some(text(errors, field, value, max))
}

pub(crate) fn options(errors: &mut FieldErrors, input: &[ProductOption]) -> Vec<ProductOption> {
    if input.len() > 5 {
        errors.add("options", "at most 5 options");
    }
    let mut names = BTreeSet::new();
    input
        .iter()
        .enumerate()
        .map(|(i, option)| {
            let name = text(errors, &format!("options[{i}].name"), &option.name, 50);
            if !names.insert(name.to_lowercase()) {
                errors.add(&format!("options[{i}].name"), "appears twice");
            }
            if option.values.is_empty() || option.values.len() > 100 {
                errors.add(&format!("options[{i}].values"), "must hold 1 to 100 values");
            }
            let mut seen = BTreeSet::new();
            let values = option
                .values
                .iter()
                .enumerate()
                .map(|(j, value)| {
                    let value = text(errors, &format!("options[{i}].values[{j}]"), value, 100);
                    if !seen.insert(value.to_lowercase()) {
                        errors.add(&format!("options[{i}].values[{j}]"), "appears twice");
                    }
                    value
                })
                .collect();
            ProductOption { name, values }
        })
        .collect()
}

pub(crate) fn attributes(
    errors: &mut FieldErrors,
    input: &serde_json::Map<String, serde_json::Value>,
) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::Value;
    if input.len() > 50 {
        errors.add("attributes", "at most 50 attributes");
    }
    for (key, value) in input {
        let field = format!("attributes.{key}");
        if key.trim().is_empty() || key.chars().count() > 64 || key.chars().any(char::is_control) {
            errors.add(&field, "names must be 1 to 64 characters");
        }
        let ok = match value {
            Value::String(s) => s.chars().count() <= 1000,
            Value::Number(_) | Value::Bool(_) => true,
            Value::Array(items) => {
                items.len() <= 50 && items.iter().all(|i| i.as_str().is_some_and(|s| s.len() <= 200))
            }
            Value::Null | Value::Object(_) => false,
        };
        if !ok {
            errors.add(&field, "must be a string, number, boolean or list of strings");
        }
    }
    input.clone()
}

pub(crate) fn tags(errors: &mut FieldErrors, input: &[String]) -> Vec<String> {
    if input.len() > 50 {
        errors.add("tags", "at most 50 tags");
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, tag) in input.iter().enumerate() {
        let tag = text(errors, &format!("tags[{i}]"), tag, 50);
        if seen.insert(tag.to_lowercase()) {
            out.push(tag);
        }
    }
    out
}

pub(crate) fn sku(errors: &mut FieldErrors, field: &str, sku: &str) -> String {
    let sku = sku.trim();
    let ok = sku.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'));
    if sku.is_empty() || sku.len() > 64 || !ok {
        errors.add(field, "must be 1 to 64 letters, digits, '-', '_', '.' or '/'");
    }
    sku.to_owned()
}

/// A price a request gives: in a currency ISO 4217 lists today. (A stored
/// price in one withdrawn since is kept through edits that do not set it.)
pub(crate) fn given_price(errors: &mut FieldErrors, field: &str, price: Option<Money>) {
    if let Some(price) = price.filter(|p| !p.currency.is_current()) {
        errors.add(&format!("{field}.currency"), format!("{} is no longer an ISO 4217 currency", price.currency));
    }
}

pub(crate) fn price(errors: &mut FieldErrors, field: &str, price: Money) {
    if price.amount < 0 {
        errors.add(field, "must not be negative");
    } else if price.amount > MAX_PRICE {
        errors.add(field, "is too large");
    }
}

/// Checks a variant's option values against the product's options.
pub(crate) fn variant_options(
    errors: &mut FieldErrors,
    field: &str,
    product_options: &[ProductOption],
    values: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for option in product_options {
        // Names match case-insensitively, values as spelled in the option.
        let given = values.iter().find(|(k, _)| k.trim().eq_ignore_ascii_case(&option.name)).map(|(_, v)| v.trim());
        match given {
            None => errors.add(field, format!("needs a value for option {:?}", option.name)),
            Some(value) => match option.values.iter().find(|v| v.eq_ignore_ascii_case(value)) {
                Some(v) => {
                    out.insert(option.name.clone(), v.clone());
                }
                None => errors.add(field, format!("{value:?} is not a value of option {:?}", option.name)),
            },
        }
    }
    for key in values.keys() {
        if !product_options.iter().any(|o| o.name.eq_ignore_ascii_case(key.trim())) {
            errors.add(field, format!("the product has no option {key:?}"));
        }
    }
    out
}

pub(crate) fn opening_hours(errors: &mut FieldErrors, hours: &[OpeningHours]) -> Vec<OpeningHours> {
    const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    fn minutes(hhmm: &str) -> Option<u32> {
        let (h, m) = hhmm.split_once(':')?;
        let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
        (h <= 24 && m < 60 && h * 60 + m <= 24 * 60 && hhmm.len() == 5).then_some(h * 60 + m)
    }
    for (i, entry) in hours.iter().enumerate() {
        if !DAYS.contains(&entry.day.as_str()) {
            errors.add(&format!("opening_hours[{i}].day"), "must be one of mon, tue, wed, thu, fri, sat, sun");
        }
        match (minutes(&entry.opens), minutes(&entry.closes)) {
            (Some(o), Some(c)) if o < c => {}
            (Some(_), Some(_)) => errors.add(&format!("opening_hours[{i}].closes"), "must be after opens"),
            _ => errors.add(&format!("opening_hours[{i}]"), "times must be HH:MM"),
        }
    }
    hours.to_vec()
}
