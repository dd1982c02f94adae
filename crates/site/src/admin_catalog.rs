//! The admin's products: list and filter, and create (the editor is
//! `crate::admin_product`).

use crate::Site;
use crate::admin::{page_spec, staff};
use crate::admin_categories::CategoryChoice;
use crate::page::{
    Chrome, PageError, PageResult, Pager, choice, money, parse_amount, query_string, render, render_status,
};
use crate::session::Visitor;
use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use catalog::{ProductFilter, ProductInput, ProductOption, ProductStatus, VariantInput};
use identity::{Action, Resource};
use kernel::Money;
use serde::Deserialize;
use std::collections::BTreeMap;
use uuid::Uuid;

pub fn router() -> Router<Site> {
    Router::new()
        .merge(crate::admin_product::router())
        .route("/admin/products", get(list).post(create))
        .route("/admin/products/new", get(new_page))
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    q: Option<String>,
    status: Option<String>,
    category: Option<String>,
    page: Option<u32>,
    msg: Option<String>,
}

pub struct ProductRow {
    pub title: String,
    pub href: String,
    pub status: String,
    pub price: String,
    pub variants: usize,
    pub thumb: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/products.html")]
struct ProductsPage {
    c: Chrome,
    rows: Vec<ProductRow>,
    pager: Pager,
    total: u64,
    q: String,
    status: String,
    categories: Vec<CategoryChoice>,
}

async fn list(State(site): State<Site>, visitor: Visitor, Query(query): Query<ListQuery>) -> PageResult {
    staff(&site, &visitor, "/admin/products", Resource::Products, Action::Read)?;
    let spec = page_spec(query.page)?;
    let q = query.q.unwrap_or_default().trim().to_owned();
    let status_text = query.status.unwrap_or_default();
    let status =
        choice(&status_text, |s| s.parse::<ProductStatus>().ok(), "Status must be draft, active or archived.")?;
    let category_text = query.category.unwrap_or_default().trim().to_owned();
    let category_id = choice(&category_text, |id| Uuid::parse_str(id).ok(), "Choose the category from the list.")?;
    let filter =
        ProductFilter { q: Some(q.clone()).filter(|q| !q.is_empty()), status, category_id, ..ProductFilter::default() };
    let found = site.app.catalog.list_products(filter, spec).await?;
    let rows = found
        .items
        .iter()
        .map(|p| ProductRow {
            title: p.title.clone(),
            href: format!("/admin/products/{}", p.id),
            status: crate::page::humanize(p.status.as_str()),
            price: p.variants.iter().map(|v| v.price).min_by_key(|m| m.amount).as_ref().map(money).unwrap_or_default(),
            variants: p.variants.len(),
            thumb: p.images.first().map(|i| i.rendition_urls.get("thumb").cloned().unwrap_or_else(|| i.url.clone())),
        })
        .collect();
    let base = format!(
        "/admin/products?{}",
        query_string(&[("q", &q), ("status", &status_text), ("category", &category_text)])
    );
    let categories =
        crate::admin_categories::category_choices(&site.app.catalog.categories().await?, &category_text, "Any", &[]);
    Ok(render(&ProductsPage {
        c: Chrome::admin(&site, &visitor, "Products").with_notice(query.msg.as_deref()),
        rows,
        pager: Pager::new(base.trim_end_matches('?'), spec.page, spec.per_page, found.total),
        total: found.total,
        q,
        status: status_text,
        categories,
    }))
}

/// The product form's fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct ProductForm {
    #[serde(default)]
    pub(crate) title: String,
    #[serde(default)]
    pub(crate) description: String,
    #[serde(default)]
    pub(crate) category_id: String,
    #[serde(default)]
    pub(crate) status: String,
    /// `Size: S, M, L; Colour: Red, Blue`.
    #[serde(default)]
    pub(crate) options: String,
    #[serde(default)]
    pub(crate) sku: String,
    #[serde(default)]
    pub(crate) price: String,
}

/// The category `<select>` of the product forms.
pub(crate) async fn category_choices(site: &Site, selected: &str) -> Result<Vec<CategoryChoice>, PageError> {
    Ok(crate::admin_categories::category_choices(&site.app.catalog.categories().await?, selected, "— none —", &[]))
}

#[derive(Template)]
#[template(path = "admin/product_new.html")]
struct NewPage {
    c: Chrome,
    form: ProductForm,
    categories: Vec<CategoryChoice>,
    error: Option<String>,
}

async fn new_view(
    site: &Site,
    visitor: &Visitor,
    form: ProductForm,
    error: Option<String>,
    status: StatusCode,
) -> PageResult {
    let categories = category_choices(site, &form.category_id).await?;
    Ok(render_status(status, &NewPage { c: Chrome::admin(site, visitor, "New product"), form, categories, error }))
}

async fn new_page(State(site): State<Site>, visitor: Visitor) -> PageResult {
    staff(&site, &visitor, "/admin/products/new", Resource::Products, Action::Write)?;
    new_view(&site, &visitor, ProductForm::default(), None, StatusCode::OK).await
}

/// `Size: S, M, L; Colour: Red, Blue` as product options.
pub(crate) fn parse_options(text: &str) -> Result<Vec<ProductOption>, String> {
    let mut out = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, values) =
            part.split_once(':').ok_or_else(|| format!("Write options as “Size: S, M, L” (got “{part}”)."))?;
        let values: Vec<String> = values.split(',').map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()).collect();
        if name.trim().is_empty() || values.is_empty() {
            return Err(format!("Give each option a name and at least one value (got “{part}”)."));
        }
        out.push(ProductOption { name: name.trim().to_owned(), values });
    }
    Ok(out)
}

/// `Size=M, Colour=Red` as a variant's option values.
pub(crate) fn parse_pairs(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| format!("Write option values as “Size=M” (got “{part}”)."))?;
        out.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(out)
}

pub(crate) fn price(site: &Site, text: &str) -> Result<Money, String> {
    let currency = kernel::Currency::parse(&site.config.currency).map_err(|e| e.to_string())?;
    parse_amount(text, currency.as_str())
        .map(|amount| Money::new(amount, currency))
        .ok_or_else(|| "Enter the price like 19.99.".to_owned())
}

pub(crate) fn category(text: &str) -> Result<Option<Uuid>, String> {
    match text.trim() {
        "" => Ok(None),
        t => Uuid::parse_str(t).map(Some).map_err(|_| "Choose a category from the list.".to_owned()),
    }
}

async fn create(State(site): State<Site>, visitor: Visitor, Form(form): Form<ProductForm>) -> PageResult {
    staff(&site, &visitor, "/admin/products/new", Resource::Products, Action::Write)?;
    let parsed = (|| -> Result<ProductInput, String> {
        let options = parse_options(&form.options)?;
        let variants = if form.sku.trim().is_empty() && form.price.trim().is_empty() {
            Vec::new()
        } else {
            // The first variant takes each option's first value.
            let values = options.iter().map(|o| (o.name.clone(), o.values[0].clone())).collect();
            vec![VariantInput {
                sku: form.sku.trim().to_owned(),
                price: price(&site, &form.price)?,
                compare_at_price: None,
                options: values,
                weight_grams: None,
            }]
        };
        Ok(ProductInput {
            title: form.title.clone(),
            slug: None,
            description: Some(form.description.clone()),
            category_id: category(&form.category_id)?,
            seller_id: None,
            status: Some(form.status.parse().unwrap_or(ProductStatus::Draft)),
            options,
            attributes: serde_json::Map::new(),
            tags: Vec::new(),
            variants,
        })
    })();
    let input = match parsed {
        Ok(input) => input,
        Err(message) => return new_view(&site, &visitor, form, Some(message), StatusCode::UNPROCESSABLE_ENTITY).await,
    };
    match site.app.catalog.create_product(input).await {
        Ok(product) => Ok(Redirect::to(&format!("/admin/products/{}?msg=created", product.id)).into_response()),
        Err(e) => {
            let e = PageError::from(e);
            new_view(&site, &visitor, form, Some(e.message), e.status).await
        }
    }
}
