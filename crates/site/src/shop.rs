//! The storefront's browsing pages: home, category and search listings with
//! facets and suggestions as you type (the product page is `crate::product`).

use crate::Site;
use crate::page::{Chrome, Notice, PageError, PageResult, Pager, money, render};
use crate::session::Visitor;
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, RawQuery, State};
use axum::routing::get;
use catalog::{CategoryNode, ProductCard};
use search::{SearchQuery, Sort};
use serde::Deserialize;
use uuid::Uuid;
use web::routes::products as api;

pub fn router() -> Router<Site> {
    Router::new()
        .merge(crate::product::router())
        .route("/", get(home))
        .route("/search", get(search_page))
        .route("/search/suggest", get(suggest))
        .route("/c/{slug}", get(category_page))
}

/// A product in a grid.
pub struct Card {
    pub title: String,
    pub href: String,
    pub price: String,
    pub compare_at: Option<String>,
    pub image: Option<(String, String)>,
    pub rating: Option<String>,
    pub in_stock: bool,
}

impl Card {
    pub fn from_card(card: &ProductCard) -> Card {
        Card {
            title: card.title.clone(),
            href: format!("/p/{}", card.slug),
            price: card.price.as_ref().map(money).unwrap_or_default(),
            compare_at: card.compare_at_price.as_ref().map(money),
            image: card.image.as_ref().map(|i| (i.url.clone(), i.alt.clone())),
            rating: (card.rating.count > 0).then(|| format!("★ {:.1} ({})", card.rating.average, card.rating.count)),
            in_stock: card.in_stock,
        }
    }
}

/// The cards of a search's hits (each hit carries its card as JSON).
pub fn cards(results: &search::SearchResults) -> Vec<Card> {
    results
        .hits
        .iter()
        .filter_map(|h| serde_json::from_str::<ProductCard>(&h.summary_json).ok())
        .map(|c| Card::from_card(&c))
        .collect()
}

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    c: Chrome,
    categories: Vec<CategoryNode>,
    newest: Vec<Card>,
    top_rated: Vec<Card>,
}

async fn home(State(site): State<Site>, visitor: Visitor, Query(n): Query<Notice>) -> PageResult {
    let categories = site.app.catalog.category_tree().await?;
    let query = |sort| SearchQuery { sort, limit: 8, ..SearchQuery::default() };
    let newest = api::run_search(&site.app, query(Sort::Newest)).await?;
    let top = api::run_search(&site.app, query(Sort::Rating)).await?;
    Ok(render(&Home {
        c: Chrome::new(&site, &visitor, "Home").with_notice(n.msg.as_deref()),
        categories,
        newest: cards(&newest),
        top_rated: cards(&top),
    }))
}

/// A link that adds or removes one filter value, with its count.
pub struct FacetLink {
    pub label: String,
    pub href: String,
    pub count: u64,
    pub active: bool,
}

pub struct FacetGroup {
    pub name: String,
    pub links: Vec<FacetLink>,
}

#[derive(Template)]
#[template(path = "listing.html")]
struct Listing {
    c: Chrome,
    heading: String,
    description: Option<String>,
    cards: Vec<Card>,
    total: u64,
    pager: Pager,
    subcategories: Vec<FacetLink>,
    groups: Vec<FacetGroup>,
    prices: Vec<FacetLink>,
    in_stock: FacetLink,
    sorts: Vec<crate::page::Choice>,
    /// The filters to keep when the sort changes.
    keep: Vec<(String, String)>,
    clear: Option<String>,
}

const SORTS: [(&str, &str); 5] = [
    ("relevance", "Best match"),
    ("newest", "Newest"),
    ("price_asc", "Price: low to high"),
    ("price_desc", "Price: high to low"),
    ("rating", "Top rated"),
];

fn parse_pairs(raw: Option<&str>) -> Vec<(String, String)> {
    raw.map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

fn href(path: &str, pairs: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    let q = s.finish();
    if q.is_empty() { path.to_owned() } else { format!("{path}?{q}") }
}

/// `pairs` with `(key, value)` toggled, and without the page number.
fn toggled(pairs: &[(String, String)], key: &str, value: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = pairs.iter().filter(|(k, _)| k != "page").cloned().collect();
    if let Some(i) = out.iter().position(|(k, v)| k == key && v == value) {
        out.remove(i);
    } else {
        out.push((key.to_owned(), value.to_owned()));
    }
    out
}

async fn search_page(State(site): State<Site>, visitor: Visitor, RawQuery(raw): RawQuery) -> PageResult {
    let pairs = parse_pairs(raw.as_deref());
    let q = pairs.iter().find(|(k, _)| k == "q").map(|(_, v)| v.trim().to_owned()).unwrap_or_default();
    let heading = if q.is_empty() { "All products".to_owned() } else { format!("Results for “{q}”") };
    listing(&site, &visitor, "/search", pairs, None, heading, None, q).await
}

async fn category_page(
    State(site): State<Site>,
    visitor: Visitor,
    Path(slug): Path<String>,
    RawQuery(raw): RawQuery,
) -> PageResult {
    let category = site.app.catalog.find_category(&slug).await?.ok_or_else(PageError::not_found)?;
    let pairs: Vec<(String, String)> =
        parse_pairs(raw.as_deref()).into_iter().filter(|(k, _)| k != "category").collect();
    let path = format!("/c/{}", category.slug);
    listing(
        &site,
        &visitor,
        &path,
        pairs,
        Some(category.id),
        category.name.clone(),
        category.description.clone(),
        String::new(),
    )
    .await
}

// Long because it is one page: the query read, the search run, then the facets,
// filters and pagination laid out in the order the page shows them.
#[allow(clippy::too_many_arguments)]
async fn listing(
    site: &Site,
    visitor: &Visitor,
    path: &str,
    pairs: Vec<(String, String)>,
    category: Option<Uuid>,
    heading: String,
    description: Option<String>,
    q: String,
) -> PageResult {
    let mut search_pairs = pairs.clone();
    if let Some(id) = category {
        search_pairs.push(("category".into(), id.to_string()));
    }
    if !search_pairs.iter().any(|(k, _)| k == "per_page") {
        search_pairs.push(("per_page".into(), "24".into()));
    }
    let (query, page, per_page) = api::search_query(&site.app, search_pairs).await?;
    let results = api::run_search(&site.app, query).await?;
    let all_categories = site.app.catalog.categories().await?;
    let facets = api::facets_view(&all_categories, &results);
    let without_page: Vec<(String, String)> = pairs.iter().filter(|(k, _)| k != "page").cloned().collect();
    let base = href(path, &without_page);
    let active = |k: &str, v: &str| pairs.iter().any(|(pk, pv)| pk == k && pv == v);

    let mut subcategories = Vec::new();
    let mut groups = Vec::new();
    let mut prices = Vec::new();
    if let Some(f) = &facets {
        // Children of the category shown (or the roots on a search).
        for cf in f.categories.iter().filter(|cf| cf.parent_id == category && cf.count > 0) {
            subcategories.push(FacetLink {
                label: cf.name.clone(),
                href: href(&format!("/c/{}", cf.slug), &without_page),
                count: cf.count,
                active: false,
            });
        }
        for option in &f.options {
            let links = option
                .values
                .iter()
                .map(|v| FacetLink {
                    label: v.value.clone(),
                    href: href(path, &toggled(&pairs, &option.name, &v.value)),
                    count: v.count,
                    active: active(&option.name, &v.value),
                })
                .collect();
            groups.push(FacetGroup { name: option.name.clone(), links });
        }
        // Prices are in the shop's one currency; read it off a hit.
        let currency = results
            .hits
            .first()
            .and_then(|h| serde_json::from_str::<ProductCard>(&h.summary_json).ok())
            .and_then(|c| c.price.map(|p| p.currency.as_str().to_owned()))
            .unwrap_or_else(|| "USD".to_owned());
        let currency = currency.as_str();
        for bucket in &f.price {
            let min = bucket.min.to_string();
            let is_active =
                active("min_price", &min) && bucket.max.is_none_or(|m| active("max_price", &(m - 1).to_string()));
            let mut next: Vec<(String, String)> =
                without_page.iter().filter(|(k, _)| k != "min_price" && k != "max_price").cloned().collect();
            if !is_active {
                next.push(("min_price".into(), min));
                if let Some(max) = bucket.max {
                    next.push(("max_price".into(), (max - 1).to_string()));
                }
            }
            let label = match bucket.max {
                Some(max) if bucket.min == 0 => format!("Under {}", crate::page::amount(max, currency)),
                Some(max) => {
                    format!("{} – {}", crate::page::amount(bucket.min, currency), crate::page::amount(max, currency))
                }
                None => format!("{} and up", crate::page::amount(bucket.min, currency)),
            };
            prices.push(FacetLink { label, href: href(path, &next), count: bucket.count, active: is_active });
        }
    }
    let in_stock_on = active("in_stock", "true");
    let in_stock = FacetLink {
        label: "In stock only".into(),
        href: href(path, &toggled(&pairs, "in_stock", "true")),
        count: 0,
        active: in_stock_on,
    };
    let sort = pairs
        .iter()
        .find(|(k, _)| k == "sort")
        .map(|(_, v)| v.clone())
        .unwrap_or_else(|| if q.is_empty() { "newest".into() } else { "relevance".into() });
    let keep = without_page.iter().filter(|(k, _)| k != "sort").cloned().collect();
    let filtered = without_page.iter().any(|(k, _)| k != "q" && k != "sort");
    let clear = filtered.then(|| href(path, &pairs.iter().filter(|(k, _)| k == "q").cloned().collect::<Vec<_>>()));
    let mut c = Chrome::new(site, visitor, heading.clone());
    c.q = q;
    Ok(render(&Listing {
        c,
        heading,
        description,
        pager: Pager::new(&base, page, per_page, results.total.min(api::MAX_RESULT_WINDOW)),
        cards: cards(&results),
        total: results.total,
        subcategories,
        groups,
        prices,
        in_stock,
        sorts: SORTS
            .iter()
            .map(|(value, label)| crate::page::Choice {
                value: (*value).to_owned(),
                label: (*label).to_owned(),
                checked: *value == sort,
            })
            .collect(),
        keep,
        clear,
    }))
}

#[derive(Deserialize)]
struct SuggestQuery {
    q: Option<String>,
}

#[derive(Template)]
#[template(path = "suggest.html")]
struct Suggestions {
    items: Vec<Card>,
    q: String,
}

/// Up to six products for the words typed so far (an htmx fragment).
async fn suggest(State(site): State<Site>, Query(query): Query<SuggestQuery>) -> PageResult {
    let q: String = query.q.unwrap_or_default().trim().chars().take(100).collect();
    if q.is_empty() || q.chars().any(char::is_control) {
        return Ok(render(&Suggestions { items: Vec::new(), q }));
    }
    let search = SearchQuery { text: Some(q.clone()), limit: 6, ..SearchQuery::default() };
    let results = api::run_search(&site.app, search).await?;
    Ok(render(&Suggestions { items: cards(&results), q }))
}
