//! The admin's products: list and filter, create, edit with variants and
//! images, publish and archive.

use crate::Site;
use crate::admin::{page_spec, staff};
use crate::admin_categories::CategoryChoice;
use crate::page::{
    Chrome, Notice, PageError, PageResult, Pager, choice, money, parse_amount, parse_id, query_string, render,
    render_status,
};
use crate::session::Visitor;
use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use catalog::{
    ImagePatch, ProductFilter, ProductInput, ProductOption, ProductPatch, ProductStatus, VariantInput, VariantPatch,
};
use identity::{Action, Resource};
use kernel::Money;
use serde::Deserialize;
use std::collections::BTreeMap;
use uuid::Uuid;

pub fn router() -> Router<Site> {
    let upload_limit = DefaultBodyLimit::max(media::ImagePolicy::default().max_bytes.max(16 * 1024 * 1024) + 64 * 1024);
    Router::new()
        .route("/admin/products", get(list).post(create))
        .route("/admin/products/new", get(new_page))
        .route("/admin/products/{id}", get(edit_page).post(save))
        .route("/admin/products/{id}/status", post(set_status))
        .route("/admin/products/{id}/variants", post(add_variant))
        .route("/admin/products/{id}/variants/{variant_id}", post(save_variant))
        .route("/admin/products/{id}/variants/{variant_id}/delete", post(delete_variant))
        .route("/admin/products/{id}/images/{image_id}", post(save_image))
        .route("/admin/products/{id}/images/{image_id}/delete", post(delete_image))
        .route("/admin/products/{id}/images", post(upload).layer(upload_limit))
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
struct ProductForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    category_id: String,
    #[serde(default)]
    status: String,
    /// `Size: S, M, L; Colour: Red, Blue`.
    #[serde(default)]
    options: String,
    #[serde(default)]
    sku: String,
    #[serde(default)]
    price: String,
}

/// The category `<select>` of the product forms.
async fn category_choices(site: &Site, selected: &str) -> Result<Vec<CategoryChoice>, PageError> {
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
fn parse_options(text: &str) -> Result<Vec<ProductOption>, String> {
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
fn parse_pairs(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| format!("Write option values as “Size=M” (got “{part}”)."))?;
        out.insert(k.trim().to_owned(), v.trim().to_owned());
    }
    Ok(out)
}

fn price(site: &Site, text: &str) -> Result<Money, String> {
    let currency = kernel::Currency::parse(&site.config.currency).map_err(|e| e.to_string())?;
    parse_amount(text, currency.as_str())
        .map(|amount| Money::new(amount, currency))
        .ok_or_else(|| "Enter the price like 19.99.".to_owned())
}

fn category(text: &str) -> Result<Option<Uuid>, String> {
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

pub struct VariantRow {
    pub id: Uuid,
    pub sku: String,
    pub options: String,
    pub price: String,
}

pub struct ImageRow {
    pub id: Uuid,
    pub src: String,
    pub alt: String,
    pub first: bool,
}

#[derive(Template)]
#[template(path = "admin/product_edit.html")]
struct EditPage {
    c: Chrome,
    id: Uuid,
    slug: String,
    status: String,
    form: ProductForm,
    categories: Vec<CategoryChoice>,
    variants: Vec<VariantRow>,
    images: Vec<ImageRow>,
    option_names: String,
    error: Option<String>,
}

async fn edit_view(
    site: &Site,
    visitor: &Visitor,
    id: Uuid,
    form: Option<ProductForm>,
    error: Option<String>,
    msg: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let product = site.app.catalog.product(id).await?;
    let options =
        product.options.iter().map(|o| format!("{}: {}", o.name, o.values.join(", "))).collect::<Vec<_>>().join("; ");
    let form = form.unwrap_or_else(|| ProductForm {
        title: product.title.clone(),
        description: product.description.clone(),
        category_id: product.category_id.map(|c| c.to_string()).unwrap_or_default(),
        status: product.status.as_str().to_owned(),
        options,
        sku: String::new(),
        price: String::new(),
    });
    let categories = category_choices(site, &form.category_id).await?;
    let page = EditPage {
        c: Chrome::admin(site, visitor, format!("Edit {}", product.title)).with_notice(msg),
        id: product.id,
        slug: product.slug.clone(),
        status: product.status.as_str().to_owned(),
        categories,
        variants: product
            .variants
            .iter()
            .map(|v| VariantRow {
                id: v.id,
                sku: v.sku.clone(),
                options: v.options.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", "),
                price: crate::page::amount(v.price.amount, v.price.currency.as_str())
                    .trim_start_matches(['$', '€', '£', '¥'])
                    .replace(',', ""),
            })
            .collect(),
        images: product
            .images
            .iter()
            .enumerate()
            .map(|(n, i)| ImageRow {
                id: i.id,
                src: i.rendition_urls.get("small").cloned().unwrap_or_else(|| i.url.clone()),
                alt: i.alt.clone(),
                first: n == 0,
            })
            .collect(),
        option_names: product.options.iter().map(|o| format!("{}=…", o.name)).collect::<Vec<_>>().join(", "),
        form,
        error,
    };
    Ok(render_status(status, &page))
}

async fn edit_page(
    State(site): State<Site>,
    visitor: Visitor,
    Path(id): Path<String>,
    Query(m): Query<Notice>,
) -> PageResult {
    staff(&site, &visitor, &format!("/admin/products/{id}"), Resource::Products, Action::Read)?;
    edit_view(&site, &visitor, parse_id(&id)?, None, None, m.msg.as_deref(), StatusCode::OK).await
}

async fn save(
    State(site): State<Site>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<ProductForm>,
) -> PageResult {
    staff(&site, &visitor, &format!("/admin/products/{id}"), Resource::Products, Action::Write)?;
    let id = parse_id(&id)?;
    let parsed = (|| -> Result<ProductPatch, String> {
        Ok(ProductPatch {
            title: Some(form.title.clone()),
            description: Some(form.description.clone()),
            category_id: Some(category(&form.category_id)?),
            status: Some(form.status.parse().map_err(|_| "Choose a status.".to_owned())?),
            options: Some(parse_options(&form.options)?),
            ..ProductPatch::default()
        })
    })();
    let outcome = match parsed {
        Ok(patch) => site.app.catalog.update_product(id, patch).await.map(|_| ()).map_err(PageError::from),
        Err(message) => Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, message)),
    };
    answer(&site, &visitor, id, outcome, "saved", Some(form)).await
}

/// After a change to product `id`: back to its page with a notice, or the
/// page again with the reason the change was refused (a missing product is 404).
async fn answer(
    site: &Site,
    visitor: &Visitor,
    id: Uuid,
    outcome: Result<(), PageError>,
    msg: &str,
    form: Option<ProductForm>,
) -> PageResult {
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("/admin/products/{id}?msg={msg}")).into_response()),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(e),
        Err(e) => edit_view(site, visitor, id, form, Some(e.message), None, e.status).await,
    }
}

#[derive(Deserialize)]
struct StatusForm {
    status: String,
}

/// Publish (active), archive or return to draft.
async fn set_status(
    State(site): State<Site>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<StatusForm>,
) -> PageResult {
    staff(&site, &visitor, &format!("/admin/products/{id}"), Resource::Products, Action::Write)?;
    let id = parse_id(&id)?;
    let outcome = match form.status.parse::<ProductStatus>() {
        Ok(status) => {
            let patch = ProductPatch { status: Some(status), ..ProductPatch::default() };
            site.app.catalog.update_product(id, patch).await.map(|_| ()).map_err(PageError::from)
        }
        Err(_) => Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "Choose a status.")),
    };
    answer(&site, &visitor, id, outcome, "saved", None).await
}

#[derive(Deserialize)]
struct VariantForm {
    #[serde(default)]
    sku: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    options: String,
}

async fn add_variant(
    State(site): State<Site>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<VariantForm>,
) -> PageResult {
    staff(&site, &visitor, &format!("/admin/products/{id}"), Resource::Products, Action::Write)?;
    let id = parse_id(&id)?;
    let input = (|| -> Result<VariantInput, String> {
        Ok(VariantInput {
            sku: form.sku.trim().to_owned(),
            price: price(&site, &form.price)?,
            compare_at_price: None,
            options: parse_pairs(&form.options)?,
            weight_grams: None,
        })
    })();
    let outcome = match input {
        Ok(input) => site.app.catalog.add_variant(id, input).await.map(|_| ()).map_err(PageError::from),
        Err(message) => Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, message)),
    };
    answer(&site, &visitor, id, outcome, "created", None).await
}

async fn save_variant(
    State(site): State<Site>,
    visitor: Visitor,
    Path((id, variant_id)): Path<(String, String)>,
    Form(form): Form<VariantForm>,
) -> PageResult {
    staff(&site, &visitor, &format!("/admin/products/{id}"), Resource::Products, Action::Write)?;
    let (id, variant_id) = (parse_id(&id)?, parse_id(&variant_id)?);
    let outcome = match price(&site, &form.price) {
        Ok(price) => {
            let patch = VariantPatch { price: Some(price), ..VariantPatch::default() };
            site.app.catalog.update_variant(id, variant_id, patch).await.map(|_| ()).map_err(PageError::from)
        }
        Err(message) => Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, message)),
    };
    answer(&site, &visitor, id, outcome, "saved", None).await
}

/// Removes a variant (admins only; an active product keeps at least one).
async fn delete_variant(
    State(site): State<Site>,
    visitor: Visitor,
    Path((id, variant_id)): Path<(String, String)>,
) -> PageResult {
    staff(&site, &visitor, &format!("/admin/products/{id}"), Resource::Products, Action::Delete)?;
    let (id, variant_id) = (parse_id(&id)?, parse_id(&variant_id)?);
    let outcome = site.app.catalog.delete_variant(id, variant_id).await.map_err(PageError::from);
    answer(&site, &visitor, id, outcome, "deleted", None).await
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ImageForm {
    alt: Option<String>,
    /// "first" makes it the primary image.
    to: String,
}

/// Changes an image's description, or makes it the first (primary) one.
async fn save_image(
    State(site): State<Site>,
    visitor: Visitor,
    Path((id, image_id)): Path<(String, String)>,
    Form(form): Form<ImageForm>,
) -> PageResult {
    staff(&site, &visitor, &format!("/admin/products/{id}"), Resource::Products, Action::Write)?;
    let (id, image_id) = (parse_id(&id)?, parse_id(&image_id)?);
    let patch = match form.to.as_str() {
        "first" => Ok(ImagePatch { alt: None, position: Some(0) }),
        "" => Ok(ImagePatch { alt: Some(form.alt.unwrap_or_default().trim().to_owned()), position: None }),
        _ => Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "Choose what to do with the image.")),
    };
    let outcome = match patch {
        Ok(patch) => site.app.catalog.update_image(id, image_id, patch).await.map(|_| ()).map_err(PageError::from),
        Err(e) => Err(e),
    };
    answer(&site, &visitor, id, outcome, "saved", None).await
}

async fn delete_image(
    State(site): State<Site>,
    visitor: Visitor,
    Path((id, image_id)): Path<(String, String)>,
) -> PageResult {
    staff(&site, &visitor, &format!("/admin/products/{id}"), Resource::Products, Action::Write)?;
    let (id, image_id) = (parse_id(&id)?, parse_id(&image_id)?);
    let outcome = site.app.catalog.delete_image(id, image_id).await.map_err(PageError::from);
    answer(&site, &visitor, id, outcome, "deleted", None).await
}

/// The upload form (multipart; its CSRF token rides in the query string).
async fn upload(State(site): State<Site>, visitor: Visitor, Path(id): Path<String>, form: Multipart) -> PageResult {
    // Read the body first, so a refused upload is answered, not reset.
    let read = web::routes::admin_images::read_form(form, site.app.image_policy.max_bytes).await;
    staff(&site, &visitor, &format!("/admin/products/{id}"), Resource::Products, Action::Write)?;
    let id = parse_id(&id)?;
    site.app.catalog.product(id).await?;
    let outcome = match read {
        Ok((Some(file), alt)) if !file.is_empty() => {
            let alt = alt.filter(|a| !a.trim().is_empty());
            web::routes::admin_images::save_upload(&site.app, id, file, alt).await.map(|_| ()).map_err(PageError::from)
        }
        Ok(_) => Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "Choose an image file to upload.")),
        Err(e) => Err(PageError::from(e)),
    };
    answer(&site, &visitor, id, outcome, "uploaded", None).await
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_options_and_values() {
        let options = parse_options("Size: S, M, L; Colour: Red").unwrap();
        assert_eq!(options.len(), 2);
        assert_eq!(options[0].name, "Size");
        assert_eq!(options[0].values, vec!["S", "M", "L"]);
        assert!(parse_options("Size S").is_err());
        assert!(parse_options("Size:").is_err());
        assert!(parse_options("").unwrap().is_empty());
        let pairs = parse_pairs("Size=M, Colour=Red").unwrap();
        assert_eq!(pairs.get("Colour").map(String::as_str), Some("Red"));
        assert!(parse_pairs("Size").is_err());
    }
}
