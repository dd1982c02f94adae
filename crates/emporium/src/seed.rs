//! Demo and benchmark data: a believable shop generated locally and
//! deterministically (no downloads), written in bulk.

mod taxonomy;

use crate::shop::Shop;
use anyhow::Context as _;
use catalog::{
    Category, CategoryInput, Image, OpeningHours, Product, ProductFilter, ProductOption, ProductStatus, RatingSummary,
    Review, ReviewStatus, SellerInput, StoreInput, Variant, display_name_for_seed,
};
use identity::{Registration, Role};
use kernel::{Currency, Money, PageSpec, new_id};
use media::{DemoShape, ImagePolicy};
use std::collections::{BTreeMap, HashMap, HashSet};
use taxonomy::{Kind, Leaf};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub const DEMO_PASSWORD: &str = "emporium-demo";
pub const DEMO_ACCOUNTS: [(&str, &str, Role); 2] =
    [("admin@example.com", "Demo Admin", Role::Superadmin), ("customer@example.com", "Demo Customer", Role::Customer)];
pub const DEMO_PRODUCTS: usize = 1_000;
/// Products written per transaction.
const CHUNK: usize = 1_000;
/// Distinct pictures per shape; products share them (content-hashed, so stored once).
const HUES_PER_SHAPE: u64 = 6;

/// Where long operations report how far they are.
pub trait Progress {
    fn start(&mut self, label: &str, total: u64);
    fn advance(&mut self, n: u64);
    fn finish(&mut self);
}

/// Reports nothing (server start-up, tests).
pub struct Quiet;

impl Progress for Quiet {
    fn start(&mut self, _label: &str, _total: u64) {}
    fn advance(&mut self, _n: u64) {}
    fn finish(&mut self) {}
}

/// Deterministic pseudo-random numbers (SplitMix64): the same seed gives
/// the same shop on every machine and every version of our dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo + 1).max(1) as u64) as i64
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Creates the demo accounts and, when the shop has no catalogue yet, the
/// demo catalogue (sellers, categories, 1,000 products, reviews, stores).
pub async fn demo(shop: &Shop, progress: &mut dyn Progress) -> anyhow::Result<bool> {
    for (email, name, role) in DEMO_ACCOUNTS {
        let registration =
            Registration { email: email.to_owned(), password: DEMO_PASSWORD.to_owned(), full_name: name.to_owned() };
        match shop.identity.create_user(registration, role).await {
            Ok(_) | Err(identity::IdentityError::EmailTaken) => {}
            Err(e) => return Err(anyhow::anyhow!("creating demo account {email}: {e}")),
        }
    }
    let empty = shop.catalog.categories().await.map_err(anyhow_err)?.is_empty()
        && shop
            .catalog
            .list_products(ProductFilter::default(), PageSpec { page: 1, per_page: 1 })
            .await
            .map_err(anyhow_err)?
            .total
            == 0;
    if !empty {
        return Ok(false);
    }
    products(shop, DEMO_PRODUCTS, 1, false, progress).await?;
    for (name, line1, city, postal_code, country, latitude, longitude, phone) in taxonomy::STORES {
        let weekdays = ["mon", "tue", "wed", "thu", "fri", "sat"].map(|day| OpeningHours {
            day: day.to_owned(),
            opens: "09:00".to_owned(),
            closes: if day == "sat" { "17:00" } else { "19:00" }.to_owned(),
        });
        let input = StoreInput {
            name: name.to_owned(),
            line1: line1.to_owned(),
            line2: None,
            city: city.to_owned(),
            region: None,
            postal_code: postal_code.to_owned(),
            country: country.to_owned(),
            latitude,
            longitude,
            phone: Some(phone.to_owned()),
            opening_hours: weekdays.to_vec(),
        };
        shop.catalog.create_store(input).await.map_err(anyhow_err)?;
    }
    checkout_setup(shop).await?;
    stock(shop).await?;
    Ok(true)
}

/// Shipping methods, a few tax rates and a welcome code, so a demo checkout works at once.
async fn checkout_setup(shop: &Shop) -> anyhow::Result<()> {
    let usd = Currency::parse("USD")?;
    let fail = |e: orders::SettingsError| anyhow::anyhow!("{e}");
    for (code, name, price, free_above, position) in
        [("standard", "Standard (3–5 days)", 499, Some(5000), 0), ("express", "Express (next day)", 1499, None, 1)]
    {
        let input = orders::ShippingMethodInput {
            code: Some(code.into()),
            name: Some(name.into()),
            price: Some(Money::new(price, usd)),
            free_above: Some(free_above),
            active: Some(true),
            position: Some(position),
        };
        shop.orders.create_shipping_method(input).await.map_err(fail)?;
    }
    for (country, region, rate_bp, name) in
        [("US", Some("CA"), 725, "California sales tax"), ("DE", None, 1900, "MwSt"), ("GB", None, 2000, "VAT")]
    {
        let input = orders::TaxRateInput {
            country: Some(country.into()),
            region: region.map(Into::into),
            rate_bp: Some(rate_bp),
            name: Some(name.into()),
        };
        shop.orders.create_tax_rate(input).await.map_err(fail)?;
    }
    let welcome = orders::DiscountInput {
        code: Some("WELCOME10".into()),
        kind: Some(orders::DiscountKind::Percentage),
        value: Some(10),
        per_customer_limit: Some(Some(1)),
        ..orders::DiscountInput::default()
    };
    shop.orders.create_discount(welcome).await.map_err(fail)?;
    Ok(())
}

/// Stock for every demo variant: mostly 5–40 units, one in twenty sold out.
async fn stock(shop: &Shop) -> anyhow::Result<()> {
    let mut rng = Rng(0x5eed_570c);
    let mut page = 1;
    loop {
        let spec = PageSpec { page, per_page: 100 };
        let listed = shop.catalog.list_products(ProductFilter::default(), spec).await.map_err(anyhow_err)?;
        for product in &listed.items {
            for variant in &product.variants {
                let on_hand = if rng.chance(5) { 0 } else { rng.range(5, 40) };
                let origin = inventory::service::Origin { note: Some("demo stock".into()), ..Default::default() };
                shop.inventory
                    .set(variant.id, &variant.sku, on_hand, None, origin)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }
        if listed.items.len() < 100 {
            return Ok(());
        }
        page += 1;
    }
}

fn anyhow_err(e: catalog::CatalogError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// Makes sure the demo sellers and category tree exist; returns the seller
/// ids (default first) and the leaf category id of each taxonomy leaf.
async fn taxonomy(shop: &Shop) -> anyhow::Result<(Vec<Uuid>, Vec<Uuid>)> {
    let mut sellers = vec![shop.catalog.default_seller().await.map_err(anyhow_err)?.id];
    let existing = shop.catalog.sellers().await.map_err(anyhow_err)?;
    for (name, wallet) in taxonomy::SELLERS {
        let id = match existing.iter().find(|s| s.name == name) {
            Some(s) => s.id,
            None => {
                let input = SellerInput {
                    name: name.to_owned(),
                    payout_wallet: wallet.map(str::to_owned),
                    stripe_account_id: None,
                };
                shop.catalog.create_seller(input).await.map_err(anyhow_err)?.id
            }
        };
        sellers.push(id);
    }
    let mut leaves = Vec::new();
    for leaf in taxonomy::leaves() {
        let mut parent: Option<Uuid> = None;
        for (slug, name) in leaf.path {
            let found: Option<Category> = shop.catalog.find_category(slug).await.map_err(anyhow_err)?;
            let id = match found {
                Some(c) => c.id,
                None => {
                    let input = CategoryInput {
                        name: name.to_owned(),
                        slug: Some(slug.to_owned()),
                        parent_id: parent,
                        description: Some(format!("Everything in {name}.")),
                        position: None,
                    };
                    shop.catalog.create_category(input).await.map_err(anyhow_err)?.id
                }
            };
            parent = Some(id);
        }
        leaves.push(parent.context("a taxonomy leaf has no path")?);
    }
    Ok((sellers, leaves))
}

/// A stored demo picture: original key, width, height, rendition keys.
type Picture = (String, u32, u32, BTreeMap<String, String>);
type Pictures = HashMap<(DemoShape, u64), Vec<Picture>>;

/// Draws, processes and stores the shared demo pictures: one per shape and hue.
async fn pictures(shop: &Shop) -> anyhow::Result<Pictures> {
    let jobs: Vec<(DemoShape, u64)> =
        DemoShape::ALL.iter().flat_map(|s| (0..HUES_PER_SHAPE).map(move |h| (*s, h))).collect();
    let handles: Vec<_> = jobs
        .into_iter()
        .map(|(shape, hue)| {
            tokio::task::spawn_blocking(move || {
                let bytes = media::draw_demo_image(
                    hue * 7919 + shape as u64,
                    hue as f32 * 360.0 / HUES_PER_SHAPE as f32,
                    shape,
                    800,
                );
                media::process_upload(&bytes, &ImagePolicy::default()).map(|p| ((shape, hue), p))
            })
        })
        .collect();
    let mut out = HashMap::new();
    for handle in handles {
        let ((shape, hue), processed) = handle.await?.map_err(|e| anyhow::anyhow!("demo image: {e}"))?;
        let mut renditions = BTreeMap::new();
        for r in &processed.renditions {
            if !shop.media.exists(&r.key).await? {
                shop.media.put(&r.key, r.bytes.clone(), r.content_type).await?;
            }
            if r.name != "original" {
                renditions.insert(r.name.clone(), r.key.clone());
            }
        }
        let original = processed.rendition("original").context("no original rendition")?.key.clone();
        out.entry((shape, hue)).or_insert_with(Vec::new).push((
            original,
            processed.width,
            processed.height,
            renditions,
        ));
    }
    Ok(out)
}

/// Adds `count` generated products (with variants, an image and reviews)
/// across the demo taxonomy, `CHUNK` per transaction, then rebuilds the
/// search index. `seed` picks the variation; with `tagged`, SKUs and slugs
/// carry a run tag so repeated runs add rather than clash.
pub async fn products(
    shop: &Shop,
    count: usize,
    seed: u64,
    tagged: bool,
    progress: &mut dyn Progress,
) -> anyhow::Result<()> {
    let (sellers, leaves) = taxonomy(shop).await?;
    let pictures = pictures(shop).await?;
    let kinds = taxonomy::leaves();
    let usd = Currency::parse("USD").map_err(|e| anyhow::anyhow!("{e}"))?;
    let run = shop.catalog.store().catalog_fingerprint().await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let tag = if tagged { format!("{:04x}", (fxhash(&run) ^ seed) & 0xffff) } else { String::new() };
    let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ fxhash(&tag));
    let now = OffsetDateTime::now_utc();
    let mut slugs = HashSet::new();
    progress.start("products", count as u64);
    let mut done = 0;
    while done < count {
        let n = CHUNK.min(count - done);
        let mut products = Vec::with_capacity(n);
        let mut reviews = Vec::new();
        for i in done..done + n {
            let leaf_index = i % kinds.len();
            let leaf = &kinds[leaf_index];
            let seller = sellers[leaf.seller.min(sellers.len() - 1)];
            // Spread creation dates over the past year so "newest" means something.
            let created_at = now - Duration::minutes(rng.range(0, 525_600));
            let product =
                product(&mut rng, leaf, i, &tag, leaves[leaf_index], seller, created_at, usd, &pictures, &mut slugs);
            for _ in 0..rng.below(7) {
                reviews.push(review(&mut rng, product.id, created_at, now));
            }
            products.push(product);
        }
        // One review per customer per product: drop repeats of a reviewer.
        let mut seen = HashSet::new();
        reviews.retain(|r: &Review| seen.insert((r.product_id, r.user_id)));
        shop.catalog.store().seed(&products, &reviews).await.map_err(|e| anyhow::anyhow!("{e}"))?;
        done += n;
        progress.advance(n as u64);
    }
    progress.finish();
    Ok(())
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

// Long because it makes up one demo product field by field (title, description,
// options, variants and their prices, pictures), each a few lines of the same dice.
#[allow(clippy::too_many_arguments)]
fn product(
    rng: &mut Rng,
    leaf: &Leaf,
    index: usize,
    tag: &str,
    category: Uuid,
    seller: Uuid,
    created_at: OffsetDateTime,
    currency: Currency,
    pictures: &Pictures,
    slugs: &mut HashSet<String>,
) -> Product {
    let kind: &Kind = &leaf.kind;
    let brand = *rng.pick(taxonomy::BRANDS);
    let mut attributes = serde_json::Map::new();
    let title = if kind.book {
        let author = *rng.pick(taxonomy::AUTHORS);
        attributes.insert("author".into(), author.into());
        attributes.insert("pages".into(), rng.range(120, 640).into());
        format!("The {} {}", rng.pick(taxonomy::BOOK_ADJECTIVES), rng.pick(taxonomy::BOOK_NOUNS))
    } else {
        let material = *rng.pick(kind.materials);
        if !material.is_empty() {
            attributes.insert("material".into(), material.to_lowercase().into());
        }
        attributes.insert("brand".into(), brand.into());
        // The very first hoodie is plain "Zephyr Hoodie", the search demo's example.
        if index == 1 && tag.is_empty() {
            "Zephyr Hoodie".to_owned()
        } else {
            [brand, material, *rng.pick(kind.nouns)]
                .iter()
                .filter(|w| !w.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    let mut slug = catalog::slug::slugify(&title);
    if !slugs.insert(slug.clone()) || !tag.is_empty() {
        slug = format!("{slug}-{tag}{index}");
        slugs.insert(slug.clone());
    }
    let blurb = rng.pick(kind.blurb);
    let description = if kind.book {
        format!("{title} is {blurb}. Written by {}.", attributes.get("author").and_then(|a| a.as_str()).unwrap_or(""))
    } else {
        format!("The {title} from {brand}: {blurb}. Made to last, easy to care for, and backed by our 30-day returns.")
    };
    // Each option keeps 1–4 of its values, in catalogue order.
    let options: Vec<ProductOption> = kind
        .options
        .iter()
        .map(|(name, values)| {
            let keep = 1 + rng.below(values.len().min(4));
            let start = rng.below(values.len() - keep + 1);
            ProductOption {
                name: (*name).to_owned(),
                values: values[start..start + keep].iter().map(|v| (*v).to_owned()).collect(),
            }
        })
        .collect();
    let base = rng.range(kind.price.0, kind.price.1) / 100 * 100 + 99;
    let on_sale = rng.chance(20);
    let id = new_id();
    let mut combos: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
    for option in &options {
        combos = combos
            .into_iter()
            .flat_map(|c| {
                option.values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.insert(option.name.clone(), v.clone());
                    c
                })
            })
            .collect();
    }
    combos.truncate(8);
    let variants = combos
        .into_iter()
        .enumerate()
        .map(|(i, values)| {
            // Bigger sizes and hardcovers cost a little more.
            let price = base + i as i64 * if kind.book { 500 } else { 100 };
            let code: String = values
                .values()
                .map(|v| v.chars().filter(char::is_ascii_alphanumeric).collect::<String>())
                .collect::<Vec<_>>()
                .join("-");
            Variant {
                id: new_id(),
                product_id: id,
                sku: format!(
                    "{}{}-{:06}-{}",
                    tag.to_uppercase(),
                    &leaf.path[2].0[..3].to_uppercase(),
                    index,
                    if code.is_empty() { "STD".into() } else { code.to_uppercase() }
                ),
                options: values,
                price: Money::new(price, currency),
                compare_at_price: on_sale.then(|| Money::new(price + price / 4 / 100 * 100, currency)),
                weight_grams: Some(rng.range(100, 3_000) as i32),
                position: i as i32,
                created_at,
                updated_at: created_at,
            }
        })
        .collect();
    let hue = rng.next() % HUES_PER_SHAPE;
    let images = pictures
        .get(&(kind.shape, hue))
        .and_then(|v| v.first())
        .map(|(key, width, height, renditions)| {
            vec![
                Image {
                    id: new_id(),
                    product_id: id,
                    key: key.clone(),
                    alt: title.clone(),
                    width: *width,
                    height: *height,
                    renditions: renditions.clone(),
                    url: String::new(),
                    rendition_urls: BTreeMap::new(),
                    position: 0,
                    created_at,
                }
                .with_urls(),
            ]
        })
        .unwrap_or_default();
    Product {
        id,
        slug,
        title,
        description,
        // A few drafts and archived products make the admin side realistic.
        status: match rng.below(50) {
            0 => ProductStatus::Draft,
            1 => ProductStatus::Archived,
            _ => ProductStatus::Active,
        },
        seller_id: seller,
        category_id: Some(category),
        attributes,
        tags: vec![leaf.path[2].1.to_lowercase(), brand.to_lowercase()],
        options,
        variants,
        images,
        rating: RatingSummary::default(),
        created_at,
        updated_at: created_at,
    }
}

fn review(rng: &mut Rng, product_id: Uuid, after: OffsetDateTime, now: OffsetDateTime) -> Review {
    // Skewed towards happy customers, as real shops are.
    let rating = *rng.pick(&[5u8, 5, 5, 4, 4, 4, 3, 2, 1]);
    let (title, body) = taxonomy::REVIEW_TEXT[usize::from(rating - 1)];
    let reviewer = rng.below(taxonomy::REVIEWERS.len());
    let span = (now - after).whole_minutes().max(1);
    let at = after + Duration::minutes(rng.range(0, span));
    Review {
        id: new_id(),
        product_id,
        // Demo reviewers are not accounts; a stable id per name keeps one review each.
        user_id: Uuid::from_u128(0xdead_0000_0000_0000_0000_0000_0000_0000 | reviewer as u128),
        author_name: display_name_for_seed(taxonomy::REVIEWERS[reviewer]),
        rating,
        title: title.to_owned(),
        body: body.to_owned(),
        verified_purchase: false,
        status: ReviewStatus::Published,
        created_at: at,
        updated_at: at,
    }
}
