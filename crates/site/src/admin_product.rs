//! The admin's product editor: the product's fields, status, variants and
//! images (upload, alt text, order, delete).

use crate::Site;
use crate::admin::staff;
use crate::admin_catalog::*;
use crate::admin_categories::CategoryChoice;
use crate::page::{Chrome, Notice, PageError, PageResult, parse_id, render_status};
use crate::session::Visitor;
use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Form, Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use catalog::{ImagePatch, ProductPatch, ProductStatus, VariantInput, VariantPatch};
use identity::{Action, Resource};
use serde::Deserialize;
use uuid::Uuid;

pub fn router() -> Router<Site> {
    let upload_limit = DefaultBodyLimit::max(media::ImagePolicy::default().max_bytes.max(16 * 1024 * 1024) + 64 * 1024);
    Router::new()
        .route("/admin/products/{id}", get(edit_page).post(save))
        .route("/admin/products/{id}/status", post(set_status))
        .route("/admin/products/{id}/variants", post(add_variant))
        .route("/admin/products/{id}/variants/{variant_id}", post(save_variant))
        .route("/admin/products/{id}/variants/{variant_id}/delete", post(delete_variant))
        .route("/admin/products/{id}/images/{image_id}", post(save_image))
        .route("/admin/products/{id}/images/{image_id}/delete", post(delete_image))
        .route("/admin/products/{id}/images", post(upload).layer(upload_limit))
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
pub(crate) struct EditPage {
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

pub(crate) async fn edit_view(
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

pub(crate) async fn edit_page(
    State(site): State<Site>,
    visitor: Visitor,
    Path(id): Path<String>,
    Query(m): Query<Notice>,
) -> PageResult {
    staff(&site, &visitor, &format!("/admin/products/{id}"), Resource::Products, Action::Read)?;
    edit_view(&site, &visitor, parse_id(&id)?, None, None, m.msg.as_deref(), StatusCode::OK).await
}

pub(crate) async fn save(
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
pub(crate) async fn answer(
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
pub(crate) struct StatusForm {
    status: String,
}

/// Publish (active), archive or return to draft.
pub(crate) async fn set_status(
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
pub(crate) struct VariantForm {
    #[serde(default)]
    sku: String,
    #[serde(default)]
    price: String,
    #[serde(default)]
    options: String,
}

pub(crate) async fn add_variant(
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

pub(crate) async fn save_variant(
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
pub(crate) async fn delete_variant(
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
pub(crate) struct ImageForm {
    alt: Option<String>,
    /// "first" makes it the primary image.
    to: String,
}

/// Changes an image's description, or makes it the first (primary) one.
pub(crate) async fn save_image(
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

pub(crate) async fn delete_image(
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
pub(crate) async fn upload(
    State(site): State<Site>,
    visitor: Visitor,
    Path(id): Path<String>,
    form: Multipart,
) -> PageResult {
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
