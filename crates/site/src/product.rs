//! The product page: variants, photos, stock, reviews, related products,
//! and posting a review.

use crate::Site;
use crate::page::{Chrome, Notice, PageError, PageResult, money, render};
use crate::session::Visitor;
use crate::shop::{Card, cards};
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use kernel::PageSpec;
use search::{SearchQuery, Sort};
use serde::Deserialize;
use uuid::Uuid;
use web::routes::products as api;

pub fn router() -> Router<Site> {
    Router::new().route("/p/{slug}", get(product_page)).route("/p/{slug}/reviews", post(add_review))
}

pub struct VariantChoice {
    pub id: Uuid,
    pub label: String,
    pub price: String,
    pub compare_at: Option<String>,
    pub stock: String,
    pub available: bool,
    /// Preselected: the first one that can be bought.
    pub checked: bool,
}

pub struct Photo {
    pub src: String,
    pub srcset: String,
    pub alt: String,
    pub width: u32,
    pub height: u32,
}

pub struct ReviewView {
    pub author: String,
    pub stars: String,
    pub title: String,
    pub body: String,
    pub date: String,
    pub verified: bool,
}

#[derive(Template)]
#[template(path = "product.html")]
pub(crate) struct ProductView {
    c: Chrome,
    id: Uuid,
    slug: String,
    title: String,
    description: String,
    breadcrumbs: Vec<(String, String)>,
    photos: Vec<Photo>,
    variants: Vec<VariantChoice>,
    available: bool,
    rating: Option<String>,
    reviews: Vec<ReviewView>,
    related: Vec<Card>,
    signed_in: bool,
    error: Option<String>,
}

pub(crate) fn stars(n: u8) -> String {
    let n = usize::from(n.min(5));
    format!("{}{}", "★".repeat(n), "☆".repeat(5 - n))
}

pub(crate) async fn product_page(
    State(site): State<Site>,
    visitor: Visitor,
    Path(slug): Path<String>,
    Query(n): Query<Notice>,
) -> PageResult {
    product_view(&site, &visitor, &slug, n.msg.as_deref(), None).await
}

// Long because it is one page assembled in the order it shows (gallery, options,
// stock, reviews, related); each part is a few lines over the same product.
pub(crate) async fn product_view(
    site: &Site,
    visitor: &Visitor,
    slug: &str,
    msg: Option<&str>,
    error: Option<String>,
) -> PageResult {
    let page = api::product_page(&site.app, slug).await?;
    let product = &page.product;
    let photos = product
        .images
        .iter()
        .map(|i| {
            let pick = |name: &str| i.rendition_urls.get(name).cloned();
            let src = pick("medium").unwrap_or_else(|| i.url.clone());
            let srcset = [("small", 400), ("medium", 800)]
                .iter()
                .filter_map(|(n, w)| Some(format!("{} {w}w", i.rendition_urls.get(*n)?)))
                .collect::<Vec<_>>()
                .join(", ");
            Photo { src, srcset, alt: i.alt.clone(), width: i.width, height: i.height }
        })
        .collect();
    let variants: Vec<VariantChoice> = product
        .variants
        .iter()
        .map(|v| {
            let a = page.availability.get(&v.sku);
            let available = a.is_none_or(|a| a.available);
            let stock = match a.and_then(|a| a.quantity) {
                Some(0) => "Out of stock".to_owned(),
                Some(q) if q <= 5 => format!("Only {q} left"),
                _ if available => "In stock".to_owned(),
                _ => "Out of stock".to_owned(),
            };
            let label = if v.options.is_empty() {
                v.sku.clone()
            } else {
                v.options.values().cloned().collect::<Vec<_>>().join(" / ")
            };
            VariantChoice {
                id: v.id,
                label,
                price: money(&v.price),
                compare_at: v.compare_at_price.as_ref().map(money),
                stock,
                available,
                checked: false,
            }
        })
        .collect();
    let mut variants = variants;
    if let Some(first) = variants.iter_mut().find(|v| v.available) {
        first.checked = true;
    }
    let reviews = site
        .app
        .catalog
        .product_reviews(product.id, PageSpec { page: 1, per_page: 10 })
        .await?
        .items
        .into_iter()
        .map(|r| ReviewView {
            author: r.author_name,
            stars: stars(r.rating),
            title: r.title,
            body: r.body,
            date: crate::page::date(&r.created_at),
            verified: r.verified_purchase,
        })
        .collect();
    let related_query = SearchQuery {
        category: product.category_id,
        exclude: Some(product.id),
        sort: Sort::Rating,
        limit: 4,
        ..SearchQuery::default()
    };
    let related = cards(&*api::run_search(&site.app, related_query).await?);
    let rating = (product.rating.count > 0).then(|| {
        format!(
            "{} {:.1} out of 5 ({} reviews)",
            stars(product.rating.average.round() as u8),
            product.rating.average,
            product.rating.count
        )
    });
    Ok(render(&ProductView {
        c: Chrome::new(site, visitor, product.title.clone()).with_notice(msg),
        id: product.id,
        slug: product.slug.clone(),
        title: product.title.clone(),
        description: product.description.clone(),
        breadcrumbs: page.breadcrumbs.iter().map(|b| (b.name.clone(), format!("/c/{}", b.slug))).collect(),
        photos,
        variants,
        available: page.available,
        rating,
        reviews,
        related,
        signed_in: visitor.user.is_some(),
        error,
    }))
}

#[derive(Deserialize)]
pub(crate) struct ReviewForm {
    rating: String,
    title: String,
    body: String,
}

pub(crate) async fn add_review(
    State(site): State<Site>,
    visitor: Visitor,
    Path(slug): Path<String>,
    Form(form): Form<ReviewForm>,
) -> PageResult {
    let user = visitor.require_user(&format!("/p/{slug}"))?;
    let product = site.app.catalog.storefront_product(&slug).await?;
    let input =
        catalog::ReviewInput { rating: form.rating.trim().parse().unwrap_or(0), title: form.title, body: form.body };
    match site.app.catalog.create_review(user.id, &user.full_name, product.id, input).await {
        Ok(_) => Ok(Redirect::to(&format!("/p/{}?msg=review-sent#reviews", product.slug)).into_response()),
        Err(e) => {
            let e = PageError::from(e);
            if e.status == StatusCode::NOT_FOUND {
                return Err(e);
            }
            let mut page = product_view(&site, &visitor, &slug, None, Some(e.message)).await?;
            *page.status_mut() = e.status;
            Ok(page)
        }
    }
}
