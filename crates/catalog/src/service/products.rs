use super::{CatalogService, PRODUCT_CACHE_CAPACITY};
use crate::error::{CatalogError, Result};
use crate::input::{self, ImagePatch, ProductInput, ProductPatch, VariantInput, VariantPatch, optional_text, text};
use crate::model::{Image, Product, ProductOption, ProductStatus, RatingSummary, Variant};
use crate::slug;
use crate::store::{DeleteOutcome, ProductFilter, StoreError};
use crate::topics;
use kernel::{FieldErrors, Page, PageSpec, new_id};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use time::OffsetDateTime;
use uuid::Uuid;

pub const MAX_VARIANTS: usize = 100;

/// What the image pipeline produced, ready to attach to a product.
#[derive(Debug, Clone)]
pub struct NewImage {
    pub key: String,
    pub width: u32,
    pub height: u32,
    pub renditions: BTreeMap<String, String>,
    pub alt: Option<String>,
}

/// Checks one variant against the product's options and currency.
fn variant(
    errors: &mut FieldErrors,
    field: &str,
    options: &[ProductOption],
    input: &VariantInput,
    product_id: Uuid,
    position: i32,
    now: OffsetDateTime,
) -> Variant {
    let sku = input::sku(errors, &format!("{field}.sku"), &input.sku);
    input::price(errors, &format!("{field}.price"), input.price);
    if let Some(compare) = input.compare_at_price {
        input::price(errors, &format!("{field}.compare_at_price"), compare);
        if compare.currency != input.price.currency {
            errors.add(&format!("{field}.compare_at_price"), "must be in the price's currency");
        } else if compare.amount <= input.price.amount {
            errors.add(&format!("{field}.compare_at_price"), "must be above the price");
        }
    }
    if let Some(w) = input.weight_grams
        && !(0..=1_000_000).contains(&w)
    {
        errors.add(&format!("{field}.weight_grams"), "must be between 0 and 1000000");
    }
    let values = input::variant_options(errors, &format!("{field}.options"), options, &input.options);
    Variant {
        id: new_id(),
        product_id,
        sku,
        options: values,
        price: input.price,
        compare_at_price: input.compare_at_price,
        weight_grams: input.weight_grams,
        position,
        created_at: now,
        updated_at: now,
    }
}

/// Rules across variants: one currency, distinct SKUs and option combinations.
fn check_variant_set(errors: &mut FieldErrors, options: &[ProductOption], variants: &[Variant]) {
    if variants.len() > MAX_VARIANTS {
        errors.add("variants", format!("at most {MAX_VARIANTS} variants"));
    }
    if options.is_empty() && variants.len() > 1 {
        errors.add("variants", "a product without options has one variant");
    }
    let mut skus = BTreeSet::new();
    let mut combos = BTreeSet::new();
    for (i, v) in variants.iter().enumerate() {
        if !skus.insert(v.sku.to_lowercase()) {
            errors.add(&format!("variants[{i}].sku"), "appears twice");
        }
        if !options.is_empty() && !combos.insert(&v.options) {
            errors.add(&format!("variants[{i}].options"), "another variant has the same option values");
        }
        if let Some(first) = variants.first()
            && v.price.currency != first.price.currency
        {
            errors.add(&format!("variants[{i}].price"), "all variants must use one currency");
        }
    }
}

impl CatalogService {
    async fn check_refs(&self, errors: &mut FieldErrors, category: Option<Uuid>, seller: Option<Uuid>) -> Result<()> {
        if let Some(id) = category
            && !self.categories().await?.iter().any(|c| c.id == id)
        {
            errors.add("category_id", "unknown category");
        }
        if let Some(id) = seller
            && self.store.seller(id).await?.is_none()
        {
            errors.add("seller_id", "unknown seller");
        }
        Ok(())
    }

    pub async fn create_product(&self, input: ProductInput) -> Result<Product> {
        let now = self.clock.now();
        let id = new_id();
        let mut errors = FieldErrors::new();
        let title = text(&mut errors, "title", &input.title, 200);
        let description = optional_text(&mut errors, "description", input.description.as_deref(), 20_000);
        let explicit_slug = input.slug.is_some();
        let slug = match input.slug {
            Some(s) => {
                errors.check("slug", slug::validate(&s));
                s
            }
            None => slug::slugify(&title),
        };
        let options = input::options(&mut errors, &input.options);
        let attributes = input::attributes(&mut errors, &input.attributes);
        let tags = input::tags(&mut errors, &input.tags);
        let variants: Vec<Variant> = input
            .variants
            .iter()
            .enumerate()
            .map(|(i, v)| {
                input::given_price(&mut errors, &format!("variants[{i}].price"), Some(v.price));
                input::given_price(&mut errors, &format!("variants[{i}].compare_at_price"), v.compare_at_price);
                variant(&mut errors, &format!("variants[{i}]"), &options, v, id, i as i32, now)
            })
            .collect();
        check_variant_set(&mut errors, &options, &variants);
        let status = input.status.unwrap_or(ProductStatus::Draft);
        if status == ProductStatus::Active && variants.is_empty() {
            errors.add("variants", "an active product needs at least one variant");
        }
        self.check_refs(&mut errors, input.category_id, input.seller_id).await?;
        errors.into_result()?;
        let seller_id = match input.seller_id {
            Some(id) => id,
            None => self.default_seller().await?.id,
        };
        let mut product = Product {
            id,
            slug: if slug.is_empty() { id.simple().to_string() } else { slug },
            title,
            description: description.unwrap_or_default(),
            status,
            seller_id,
            category_id: input.category_id,
            attributes,
            tags,
            options,
            variants,
            images: Vec::new(),
            rating: RatingSummary::default(),
            created_at: now,
            updated_at: now,
        };
        let event = self.product_event(topics::PRODUCT_CREATED, id);
        match self.store.insert_product(&product, &event).await {
            Err(StoreError::Duplicate("slug")) if !explicit_slug => {
                // A generated slug may clash: suffix it with part of the id.
                product.slug = format!("{}-{}", product.slug, &id.simple().to_string()[24..]);
                self.store.insert_product(&product, &event).await?;
            }
            other => other?,
        }
        Ok(product)
    }

    /// The variant with this SKU, of any product (admin: inventory is addressed by SKU).
    pub async fn variant_by_sku(&self, sku: &str) -> Result<Variant> {
        self.store.variant_by_sku(sku.trim()).await?.ok_or(CatalogError::NotFound("SKU"))
    }

    /// A variant that can be bought now (its product is active), with its
    /// product, by variant id or SKU; `None` when unknown or not for sale.
    pub async fn on_sale(
        &self,
        variant_id: Option<Uuid>,
        sku: Option<&str>,
    ) -> Result<Option<(Arc<Product>, Variant)>> {
        let sku = sku.map(str::trim);
        if variant_id.is_none()
            && let Some(sku) = sku
        {
            let cached = self.caches.sku_variants.read().ok().and_then(|m| m.get(sku).copied());
            if let Some((product_id, variant_id)) = cached
                && let Some(found) = self.on_sale_in(product_id, variant_id).await?
                && found.1.sku == sku
            {
                return Ok(Some(found));
            }
        }
        let cached = variant_id.and_then(|v| self.caches.variant_products.read().ok().and_then(|m| m.get(&v).copied()));
        let (product_id, variant_id) = match (cached, variant_id, sku) {
            (Some(product_id), Some(v), _) => (product_id, v),
            (None, Some(v), _) => match self.store.variant(v).await? {
                Some(variant) => (variant.product_id, variant.id),
                None => return Ok(None),
            },
            (_, None, Some(sku)) => match self.store.variant_by_sku(sku).await? {
                Some(variant) => {
                    remember(&self.caches.sku_variants, sku.to_owned(), (variant.product_id, variant.id));
                    (variant.product_id, variant.id)
                }
                None => return Ok(None),
            },
            (_, None, None) => return Ok(None),
        };
        remember(&self.caches.variant_products, variant_id, product_id);
        self.on_sale_in(product_id, variant_id).await
    }

    /// The variant of this active product, if both still exist.
    async fn on_sale_in(&self, product_id: Uuid, variant_id: Uuid) -> Result<Option<(Arc<Product>, Variant)>> {
        let product = match self.storefront_product(&product_id.to_string()).await {
            Ok(p) => p,
            Err(CatalogError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let variant = product.variants.iter().find(|v| v.id == variant_id).cloned();
        Ok(variant.map(|v| (product, v)))
    }

    /// Any product, whatever its status (admin).
    pub async fn product(&self, id: Uuid) -> Result<Product> {
        self.store.product(id).await?.ok_or(CatalogError::NotFound("product"))
    }

    /// An active product by id or slug, as the storefront shows it (cached).
    pub async fn storefront_product(&self, id_or_slug: &str) -> Result<Arc<Product>> {
        let id = match Uuid::parse_str(id_or_slug) {
            Ok(id) => id,
            Err(_) => {
                let cached = self.caches.slugs.read().ok().and_then(|s| s.get(id_or_slug).copied());
                match cached {
                    Some(id) => id,
                    None => {
                        self.store.product_id_by_slug(id_or_slug).await?.ok_or(CatalogError::NotFound("product"))?
                    }
                }
            }
        };
        let cached = self.caches.products.read().ok().and_then(|p| p.get(&id).cloned());
        let product = match cached {
            Some(p) => p,
            None => {
                let generation = self.caches.generation();
                let product = Arc::new(self.store.product(id).await?.ok_or(CatalogError::NotFound("product"))?);
                if let (Ok(mut products), Ok(mut slugs)) = (self.caches.products.write(), self.caches.slugs.write())
                    && self.caches.generation() == generation
                {
                    if products.len() >= PRODUCT_CACHE_CAPACITY {
                        products.clear();
                        slugs.clear();
                    }
                    products.insert(id, product.clone());
                    slugs.insert(product.slug.clone(), id);
                }
                product
            }
        };
        if product.status != ProductStatus::Active {
            return Err(CatalogError::NotFound("product"));
        }
        Ok(product)
    }

    pub async fn list_products(&self, filter: ProductFilter, page: PageSpec) -> Result<Page<Product>> {
        let (items, total) = self.store.list_products(&filter, page).await?;
        Ok(Page::new(items, page, total))
    }

    pub async fn update_product(&self, id: Uuid, patch: ProductPatch) -> Result<Product> {
        let mut product = self.product(id).await?;
        let mut errors = FieldErrors::new();
        if let Some(title) = &patch.title {
            product.title = text(&mut errors, "title", title, 200);
        }
        if let Some(s) = patch.slug {
            errors.check("slug", slug::validate(&s));
            product.slug = s;
        }
        if let Some(description) = &patch.description {
            product.description =
                optional_text(&mut errors, "description", Some(description), 20_000).unwrap_or_default();
        }
        if let Some(category) = patch.category_id {
            product.category_id = category;
        }
        if let Some(seller) = patch.seller_id {
            product.seller_id = seller;
        }
        if let Some(status) = patch.status {
            product.status = status;
        }
        if let Some(attributes) = &patch.attributes {
            product.attributes = input::attributes(&mut errors, attributes);
        }
        if let Some(tags) = &patch.tags {
            product.tags = input::tags(&mut errors, tags);
        }
        if let Some(options) = &patch.options {
            product.options = input::options(&mut errors, options);
            // Existing variants must still fit the new options.
            for (i, v) in product.variants.iter().enumerate() {
                input::variant_options(&mut errors, &format!("variants[{i}].options"), &product.options, &v.options);
            }
            check_variant_set(&mut errors, &product.options, &product.variants);
        }
        if product.status == ProductStatus::Active && product.variants.is_empty() {
            errors.add("status", "an active product needs at least one variant");
        }
        self.check_refs(&mut errors, patch.category_id.flatten(), patch.seller_id).await?;
        errors.into_result()?;
        product.updated_at = self.clock.now();
        let event = self.product_event(topics::PRODUCT_UPDATED, id);
        if !self.store.update_product(&product, &event).await? {
            return Err(CatalogError::NotFound("product"));
        }
        Ok(product)
    }

    pub async fn delete_product(&self, id: Uuid) -> Result<()> {
        let event = self.product_event(topics::PRODUCT_DELETED, id);
        match self.store.delete_product(id, &event).await? {
            DeleteOutcome::Deleted => Ok(()),
            DeleteOutcome::NotFound => Err(CatalogError::NotFound("product")),
        }
    }

    pub async fn add_variant(&self, product_id: Uuid, input: VariantInput) -> Result<Variant> {
        let product = self.product(product_id).await?;
        let mut errors = FieldErrors::new();
        let now = self.clock.now();
        let position = product.variants.iter().map(|v| v.position + 1).max().unwrap_or(0);
        input::given_price(&mut errors, "variant.price", Some(input.price));
        input::given_price(&mut errors, "variant.compare_at_price", input.compare_at_price);
        let new = variant(&mut errors, "variant", &product.options, &input, product_id, position, now);
        let mut all = product.variants.clone();
        all.push(new.clone());
        check_variant_set(&mut errors, &product.options, &all);
        errors.into_result()?;
        let event = self.product_event(topics::PRODUCT_UPDATED, product_id);
        self.store.insert_variant(&new, &event).await?;
        Ok(new)
    }

    pub async fn update_variant(&self, product_id: Uuid, variant_id: Uuid, patch: VariantPatch) -> Result<Variant> {
        let product = self.product(product_id).await?;
        let current =
            product.variants.iter().find(|v| v.id == variant_id).ok_or(CatalogError::NotFound("variant"))?.clone();
        let merged = VariantInput {
            sku: patch.sku.unwrap_or(current.sku.clone()),
            price: patch.price.unwrap_or(current.price),
            compare_at_price: patch.compare_at_price.unwrap_or(current.compare_at_price),
            options: patch.options.unwrap_or(current.options.clone()),
            weight_grams: patch.weight_grams.unwrap_or(current.weight_grams),
        };
        let mut errors = FieldErrors::new();
        input::given_price(&mut errors, "variant.price", patch.price);
        input::given_price(&mut errors, "variant.compare_at_price", patch.compare_at_price.flatten());
        let now = self.clock.now();
        let mut updated = variant(
            &mut errors,
            "variant",
            &product.options,
            &merged,
            product_id,
            patch.position.unwrap_or(current.position),
            now,
        );
        updated.id = current.id;
        updated.created_at = current.created_at;
        let all: Vec<Variant> =
            product.variants.iter().map(|v| if v.id == variant_id { updated.clone() } else { v.clone() }).collect();
        check_variant_set(&mut errors, &product.options, &all);
        errors.into_result()?;
        let mut event = self.product_event(topics::PRODUCT_UPDATED, product_id);
        if updated.sku != current.sku {
            // Inventory keeps each level's SKU beside the variant id and follows this.
            event.payload["sku_changed"] = json!({"variant_id": variant_id, "from": current.sku, "to": updated.sku});
        }
        if !self.store.update_variant(&updated, &event).await? {
            return Err(CatalogError::NotFound("variant"));
        }
        Ok(updated)
    }

    pub async fn delete_variant(&self, product_id: Uuid, variant_id: Uuid) -> Result<()> {
        let product = self.product(product_id).await?;
        if !product.variants.iter().any(|v| v.id == variant_id) {
            return Err(CatalogError::NotFound("variant"));
        }
        if product.status == ProductStatus::Active && product.variants.len() == 1 {
            return Err(CatalogError::Conflict(
                "an active product needs at least one variant; archive the product or add another variant first".into(),
            ));
        }
        let event = self.product_event(topics::PRODUCT_UPDATED, product_id);
        match self.store.delete_variant(product_id, variant_id, &event).await? {
            DeleteOutcome::Deleted => Ok(()),
            DeleteOutcome::NotFound => Err(CatalogError::NotFound("variant")),
        }
    }

    /// Attaches an uploaded image at the end of the gallery.
    pub async fn add_image(&self, product_id: Uuid, new: NewImage) -> Result<Image> {
        let product = self.product(product_id).await?;
        let mut errors = FieldErrors::new();
        let alt = optional_text(&mut errors, "alt", new.alt.as_deref(), 500).unwrap_or_else(|| product.title.clone());
        errors.into_result()?;
        if product.images.len() >= 50 {
            return Err(CatalogError::Conflict("a product holds at most 50 images".into()));
        }
        let image = Image {
            id: new_id(),
            product_id,
            key: new.key,
            alt,
            width: new.width,
            height: new.height,
            renditions: new.renditions,
            url: String::new(),
            rendition_urls: BTreeMap::new(),
            position: product.images.len() as i32,
            created_at: self.clock.now(),
        }
        .with_urls();
        let mut order: Vec<Uuid> = product.images.iter().map(|i| i.id).collect();
        order.push(image.id);
        let event = self.product_event(topics::PRODUCT_UPDATED, product_id);
        self.store.insert_image(&image, &order, &event).await?;
        Ok(image)
    }

    /// Changes alt text or moves an image; position 0 makes it the primary.
    pub async fn update_image(&self, product_id: Uuid, image_id: Uuid, patch: ImagePatch) -> Result<Image> {
        let product = self.product(product_id).await?;
        let mut image =
            product.images.iter().find(|i| i.id == image_id).cloned().ok_or(CatalogError::NotFound("image"))?;
        let mut errors = FieldErrors::new();
        if let Some(alt) = &patch.alt {
            image.alt = text(&mut errors, "alt", alt, 500);
        }
        errors.into_result()?;
        let mut order: Vec<Uuid> = product.images.iter().map(|i| i.id).filter(|id| *id != image_id).collect();
        let at = patch.position.map_or(image.position, |p| p.max(0));
        order.insert(usize::try_from(at).unwrap_or(0).min(order.len()), image_id);
        image.position = order.iter().position(|id| *id == image_id).unwrap_or(0) as i32;
        let event = self.product_event(topics::PRODUCT_UPDATED, product_id);
        if !self.store.update_image(&image, &order, &event).await? {
            return Err(CatalogError::NotFound("image"));
        }
        Ok(image)
    }

    /// Removes an image from the gallery. The stored files stay: the same
    /// bytes (same content-hashed key) may belong to another product.
    pub async fn delete_image(&self, product_id: Uuid, image_id: Uuid) -> Result<()> {
        let event = self.product_event(topics::PRODUCT_UPDATED, product_id);
        match self.store.delete_image(product_id, image_id, &event).await? {
            DeleteOutcome::Deleted => Ok(()),
            DeleteOutcome::NotFound => Err(CatalogError::NotFound("image")),
        }
    }
}

/// Adds to one of the id maps (cheap entries, so a generous bound: when
/// full, it starts again empty).
fn remember<K: std::hash::Hash + Eq, V>(map: &std::sync::RwLock<std::collections::HashMap<K, V>>, key: K, value: V) {
    if let Ok(mut map) = map.write() {
        if map.len() >= PRODUCT_CACHE_CAPACITY * 4 {
            map.clear();
        }
        map.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kernel::{Currency, Money};

    fn input(sku: &str, amount: i64, size: &str) -> VariantInput {
        VariantInput {
            sku: sku.into(),
            price: Money::new(amount, Currency::parse("USD").unwrap_or_else(|_| unreachable!())),
            compare_at_price: None,
            options: BTreeMap::from([("Size".to_owned(), size.to_owned())]),
            weight_grams: None,
        }
    }

    #[test]
    fn variant_rules_name_each_field() {
        let options = vec![ProductOption { name: "size".into(), values: vec!["S".into(), "M".into()] }];
        let now = OffsetDateTime::UNIX_EPOCH;
        let mut errors = FieldErrors::new();
        let a = variant(&mut errors, "variants[0]", &options, &input("A-1", 100, "s"), Uuid::nil(), 0, now);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            a.options.get("size").map(String::as_str),
            Some("S"),
            "values are normalised to the option's spelling"
        );
        let b = variant(&mut errors, "variants[1]", &options, &input("bad sku!", -1, "XL"), Uuid::nil(), 1, now);
        for field in ["variants[1].sku", "variants[1].price", "variants[1].options"] {
            assert!(errors.fields.contains_key(field), "{field}: {errors:?}");
        }
        let mut set_errors = FieldErrors::new();
        let dup = Variant { id: Uuid::from_u128(2), sku: "a-1".into(), ..a.clone() };
        check_variant_set(&mut set_errors, &options, &[a, dup, b]);
        assert!(set_errors.fields.contains_key("variants[1].sku"));
        assert!(set_errors.fields.contains_key("variants[1].options"));
    }
}
