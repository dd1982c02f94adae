//! The storefront catalogue: `GET /products` (search, filters, facets),
//! `GET /products/{id_or_slug}` and `GET /products/{id}/related`.
//!
//! Listings come from the search index alone: each hit carries its product
//! card as stored JSON, copied into the answer without a database read.

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::state::AppState;
use axum::extract::State;
use catalog::{Category, Product, ProductCard, ProductStatus};
use kernel::{FieldErrors, PageRequest};
use search::{SearchQuery, SearchResults, Sort};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::sync::Arc;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(show)).routes(routes!(related))
}

/// Price-facet bucket boundaries in minor units: under 25, 25–50, 50–100, 100–250, 250 and up.
pub const PRICE_BUCKETS: [i64; 4] = [2_500, 5_000, 10_000, 25_000];
/// Deepest result served (page × per_page), as search engines do: deep
/// offsets cost memory for nothing a shopper reads.
pub const MAX_RESULT_WINDOW: u64 = 10_000;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // Documents the parameters; the handler reads them from the raw pairs.
pub struct ProductSearchParams {
    /// Full text, typo tolerant: "zephir hodie" finds "Zephyr Hoodie".
    q: Option<String>,
    /// Category slug or id; includes its subcategories.
    category: Option<String>,
    /// Lowest price in minor units (any variant).
    min_price: Option<i64>,
    max_price: Option<i64>,
    in_stock: Option<bool>,
    /// relevance (default with `q`), price_asc, price_desc, newest (default without `q`), rating.
    sort: Option<String>,
    #[param(minimum = 1)]
    page: Option<u32>,
    #[param(minimum = 1, maximum = 100)]
    per_page: Option<u32>,
    /// Include `facets` (default true).
    facets: Option<bool>,
    /// Any other parameter filters on a product option: `size=M`, `colour=Red,Blue`
    /// (values of one option are alternatives; different options must all match).
    #[param(value_type = Option<String>, example = "M")]
    size: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryFacet {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub parent_id: Option<Uuid>,
    pub count: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ValueCount {
    pub value: String,
    pub count: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct OptionFacet {
    pub name: String,
    pub values: Vec<ValueCount>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PriceFacet {
    /// Inclusive, minor units.
    pub min: i64,
    /// Exclusive; absent for the top bucket.
    pub max: Option<i64>,
    pub count: u64,
}

/// Counts for each facet value, computed with every other active filter
/// applied (so picking a value gives exactly that many results).
#[derive(Debug, Serialize, ToSchema)]
pub struct FacetsView {
    pub categories: Vec<CategoryFacet>,
    pub options: Vec<OptionFacet>,
    pub price: Vec<PriceFacet>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProductList {
    #[schema(value_type = Vec<ProductCard>)]
    pub items: Vec<Box<RawValue>>,
    pub page: u32,
    pub per_page: u32,
    pub total: u64,
    pub facets: Option<FacetsView>,
}

fn parse<T: std::str::FromStr>(errors: &mut FieldErrors, field: &str, value: &str, what: &str) -> Option<T> {
    match value.trim().parse() {
        Ok(v) => Some(v),
        Err(_) => {
            errors.add(field, format!("must be {what}"));
            None
        }
    }
}

/// Reads the raw query pairs into a search; every bad parameter is named.
pub async fn search_query(state: &AppState, pairs: Vec<(String, String)>) -> ApiResult<(SearchQuery, u32, u32)> {
    let mut errors = FieldErrors::new();
    let mut query = SearchQuery { facets: true, price_buckets: PRICE_BUCKETS.to_vec(), ..SearchQuery::default() };
    let (mut page, mut per_page) = (None, None);
    let mut options: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in pairs {
        if value.chars().any(char::is_control) || value.chars().count() > 200 {
            errors.add(&key, "must be at most 200 characters, without control characters");
            continue;
        }
        match key.as_str() {
            "q" => query.text = Some(value).filter(|v| !v.trim().is_empty()),
            "category" if !value.trim().is_empty() => match state.catalog.find_category(value.trim()).await? {
                Some(c) => query.category = Some(c.id),
                None => errors.add("category", "unknown category"),
            },
            "min_price" => query.min_price = parse(&mut errors, "min_price", &value, "a whole number of minor units"),
            "max_price" => query.max_price = parse(&mut errors, "max_price", &value, "a whole number of minor units"),
            "in_stock" => query.in_stock = parse(&mut errors, "in_stock", &value, "true or false"),
            "facets" => query.facets = parse(&mut errors, "facets", &value, "true or false").unwrap_or(true),
            "page" => page = parse(&mut errors, "page", &value, "a positive whole number"),
            "per_page" => per_page = parse(&mut errors, "per_page", &value, "a whole number from 1 to 100"),
            "sort" => {
                query.sort = match value.as_str() {
                    "relevance" => Sort::Relevance,
                    "price_asc" => Sort::PriceAsc,
                    "price_desc" => Sort::PriceDesc,
                    "newest" => Sort::Newest,
                    "rating" => Sort::Rating,
                    _ => {
                        errors.add("sort", "must be relevance, price_asc, price_desc, newest or rating");
                        Sort::Relevance
                    }
                }
            }
            "category" => {}
            name => {
                let values = value.split(',').map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
                options.entry(name.to_owned()).or_default().extend(values);
            }
        }
    }
    if let (Some(min), Some(max)) = (query.min_price, query.max_price)
        && min > max
    {
        errors.add("max_price", "must not be below min_price");
    }
    for (field, value) in [("min_price", query.min_price), ("max_price", query.max_price)] {
        if value.is_some_and(|v| v < 0) {
            errors.add(field, "must not be negative");
        }
    }
    if options.len() > search::MAX_OPTION_FILTERS {
        errors.add("options", "too many option filters");
    }
    let spec = match (PageRequest { page, per_page }).validate() {
        Ok(spec) => Some(spec),
        Err(e) => {
            let field = if matches!(e, kernel::page::PageError::Page) { "page" } else { "per_page" };
            errors.add(field, e.to_string());
            None
        }
    };
    if let Some(spec) = spec
        && u64::from(spec.page) * u64::from(spec.per_page) > MAX_RESULT_WINDOW
    {
        errors.add("page", format!("results beyond the first {MAX_RESULT_WINDOW} are not served; narrow the search"));
    }
    errors.into_result().map_err(ApiError::validation)?;
    let spec = spec.ok_or_else(|| ApiError::field("page", "invalid"))?;
    query.options = options.into_iter().collect();
    query.offset = spec.offset() as usize;
    query.limit = spec.per_page as usize;
    if query.sort == Sort::Relevance && query.text.is_none() {
        // Without words there is no relevance: show the newest first.
        query.sort = Sort::Newest;
    }
    Ok((query, spec.page, spec.per_page))
}

pub async fn run_search(state: &AppState, query: SearchQuery) -> ApiResult<Arc<SearchResults>> {
    state.search.search_async(query).await.map_err(ApiError::internal)
}

pub fn raw_cards(results: &SearchResults) -> ApiResult<Vec<Box<RawValue>>> {
    results
        .hits
        .iter()
        .map(|h| RawValue::from_string(h.summary_json.clone()).map_err(|e| ApiError::internal(e.into())))
        .collect()
}

pub fn facets_view(categories: &[Category], results: &SearchResults) -> Option<FacetsView> {
    let facets = results.facets.as_ref()?;
    let by_id: BTreeMap<Uuid, &Category> = categories.iter().map(|c| (c.id, c)).collect();
    Some(FacetsView {
        categories: facets
            .categories
            .iter()
            .filter_map(|(id, count)| {
                let c = by_id.get(id)?;
                Some(CategoryFacet {
                    id: c.id,
                    slug: c.slug.clone(),
                    name: c.name.clone(),
                    parent_id: c.parent_id,
                    count: *count,
                })
            })
            .collect(),
        options: facets
            .options
            .iter()
            .map(|(name, values)| OptionFacet {
                name: name.clone(),
                values: values
                    .iter()
                    .map(|(value, count)| ValueCount { value: value.clone(), count: *count })
                    .collect(),
            })
            .collect(),
        price: facets.prices.iter().map(|b| PriceFacet { min: b.min, max: b.max, count: b.count }).collect(),
    })
}

/// Search and browse active products.
#[utoipa::path(get, path = "/products", tag = "catalog", params(ProductSearchParams),
    responses((status = 200, body = ProductList), (status = 422, description = "Names each bad parameter", body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Query(pairs): Query<Vec<(String, String)>>,
) -> ApiResult<Json<ProductList>> {
    let (query, page, per_page) = search_query(&state, pairs).await?;
    let results = run_search(&state, query).await?;
    let categories = state.catalog.categories().await?;
    Ok(Json(ProductList {
        items: raw_cards(&results)?,
        page,
        per_page,
        total: results.total,
        facets: facets_view(&categories, &results),
    }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct VariantAvailability {
    pub available: bool,
    /// Units that can be sold; absent when inventory does not track the SKU.
    pub quantity: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CategoryRef {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

/// A product page: the product, its availability and its category path.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductPage {
    #[serde(flatten)]
    pub product: Product,
    /// Some variant can be bought.
    pub available: bool,
    /// SKU → availability.
    pub availability: BTreeMap<String, VariantAvailability>,
    /// Root first, ending with the product's own category.
    pub breadcrumbs: Vec<CategoryRef>,
}

/// A product by id or slug, with variants, images, options, rating summary and availability.
#[utoipa::path(get, path = "/products/{id_or_slug}", tag = "catalog", params(("id_or_slug" = String, Path)),
    responses((status = 200, body = ProductPage), (status = 404, body = ErrorBody)))]
pub async fn show(State(state): State<AppState>, Path(id_or_slug): Path<String>) -> ApiResult<Json<ProductPage>> {
    Ok(Json(product_page(&state, &id_or_slug).await?))
}

/// An active product with its availability and category path.
pub async fn product_page(state: &AppState, id_or_slug: &str) -> ApiResult<ProductPage> {
    let product = state.catalog.storefront_product(id_or_slug).await?;
    let levels = state.catalog.availability(&product).await?;
    let availability: BTreeMap<String, VariantAvailability> = levels
        .into_iter()
        .map(|(sku, quantity)| (sku, VariantAvailability { available: quantity.is_none_or(|q| q > 0), quantity }))
        .collect();
    let categories = state.catalog.categories().await?;
    let breadcrumbs = product
        .category_id
        .map(|id| catalog::category_path(&categories, id))
        .unwrap_or_default()
        .into_iter()
        .filter_map(|id| categories.iter().find(|c| c.id == id))
        .map(|c| CategoryRef { id: c.id, slug: c.slug.clone(), name: c.name.clone() })
        .collect();
    Ok(ProductPage {
        product: product.as_ref().clone(),
        available: availability.values().any(|a| a.available),
        availability,
        breadcrumbs,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RelatedQuery {
    /// How many, 1 to 24 (default 8).
    #[param(minimum = 1, maximum = 24)]
    pub limit: Option<u32>,
}

/// Products shoppers may also like: the best rated of the same category,
/// widened to the parent category when there are too few.
#[utoipa::path(get, path = "/products/{id}/related", tag = "catalog", params(("id" = String, Path), RelatedQuery),
    responses((status = 200, body = [ProductCard]), (status = 404, body = ErrorBody)))]
pub async fn related(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<RelatedQuery>,
) -> ApiResult<Json<Vec<Box<RawValue>>>> {
    let limit = query.limit.unwrap_or(8);
    if !(1..=24).contains(&limit) {
        return Err(ApiError::field("limit", "must be 1 to 24"));
    }
    let product = state.catalog.storefront_product(&id).await?;
    debug_assert_eq!(product.status, ProductStatus::Active);
    let categories = state.catalog.categories().await?;
    let path = product.category_id.map(|id| catalog::category_path(&categories, id)).unwrap_or_default();
    let mut cards: Vec<Box<RawValue>> = Vec::new();
    let mut seen = vec![product.id];
    // The own category first, then each ancestor up to the root.
    for category in path.iter().rev().map(|c| Some(*c)).chain(path.is_empty().then_some(None)) {
        let query = SearchQuery {
            category,
            exclude: Some(product.id),
            sort: Sort::Rating,
            limit: limit as usize + seen.len(),
            ..SearchQuery::default()
        };
        let results = run_search(&state, query).await?;
        for hit in &results.hits {
            if cards.len() < limit as usize && !seen.contains(&hit.id) {
                seen.push(hit.id);
                cards.push(RawValue::from_string(hit.summary_json.clone()).map_err(|e| ApiError::internal(e.into()))?);
            }
        }
        if cards.len() >= limit as usize {
            break;
        }
    }
    Ok(Json(cards))
}
