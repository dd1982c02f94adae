//! The admin's pricing: discount codes, shipping methods and tax rates.

use crate::Site;
use crate::admin::{page_spec, staff};
use crate::page::{
    Chrome, PageError, PageResult, Pager, amount, money, page_of, parse_amount, parse_id, query_string, render_status,
};
use crate::session::Visitor;
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use identity::{Action, Resource};
use kernel::{Currency, Money};
use orders::{DiscountInput, DiscountKind, ShippingMethodInput, TaxRateInput};
use serde::Deserialize;
use uuid::Uuid;

pub fn router() -> Router<Site> {
    Router::new()
        .route("/admin/discounts", get(discounts).post(create_discount))
        .route("/admin/discounts/{id}/active", post(toggle_discount))
        .route("/admin/discounts/{id}/delete", post(delete_discount))
        .route("/admin/settings", get(settings))
        .route("/admin/settings/shipping", post(create_shipping))
        .route("/admin/settings/shipping/{id}/delete", post(delete_shipping))
        .route("/admin/settings/tax", post(create_tax))
        .route("/admin/settings/tax/{id}/delete", post(delete_tax))
}

pub struct DiscountRow {
    pub id: Uuid,
    pub code: String,
    pub value: String,
    pub limits: String,
    pub used: i64,
    pub active: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DiscountForm {
    code: String,
    kind: String,
    value: String,
    min_subtotal: String,
    usage_limit: String,
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    q: Option<String>,
    page: Option<u32>,
    msg: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/discounts.html")]
struct DiscountsPage {
    c: Chrome,
    rows: Vec<DiscountRow>,
    pager: Pager,
    q: String,
    form: DiscountForm,
    error: Option<String>,
}

fn currency(site: &Site) -> Result<Currency, PageError> {
    Currency::parse(&site.config.currency)
        .map_err(|_| PageError::new(StatusCode::INTERNAL_SERVER_ERROR, "The shop's currency is not set right."))
}

async fn discounts_view(
    site: &Site,
    visitor: &Visitor,
    query: ListQuery,
    form: DiscountForm,
    error: Option<String>,
    status: StatusCode,
) -> PageResult {
    staff(site, visitor, "/admin/discounts", Resource::Pricing, Action::Read)?;
    let spec = page_spec(query.page)?;
    let q = query.q.unwrap_or_default().trim().to_owned();
    let found = site.app.orders.discount_codes(Some(q.as_str()).filter(|q| !q.is_empty()), spec).await?;
    let rows = found
        .items
        .iter()
        .map(|d| {
            let cur = d.currency.as_ref().map_or("USD", Currency::as_str);
            let value = match d.kind {
                DiscountKind::Percentage => format!("{} %", d.value),
                DiscountKind::Fixed => amount(d.value, cur),
            };
            let mut limits = Vec::new();
            if let Some(min) = d.min_subtotal {
                limits.push(format!("from {}", amount(min, cur)));
            }
            if let Some(limit) = d.usage_limit {
                limits.push(format!("{limit} uses"));
            }
            DiscountRow {
                id: d.id,
                code: d.code.clone(),
                value,
                limits: limits.join(", "),
                used: d.times_used,
                active: d.active,
            }
        })
        .collect();
    Ok(render_status(
        status,
        &DiscountsPage {
            c: Chrome::admin(site, visitor, "Discount codes").with_notice(query.msg.as_deref()),
            rows,
            pager: Pager::new(
                format!("/admin/discounts?{}", query_string(&[("q", &q)])).trim_end_matches('?'),
                spec.page,
                spec.per_page,
                found.total,
            ),
            q,
            form,
            error,
        },
    ))
}

async fn discounts(State(site): State<Site>, visitor: Visitor, Query(query): Query<ListQuery>) -> PageResult {
    discounts_view(&site, &visitor, query, DiscountForm::default(), None, StatusCode::OK).await
}

fn whole(text: &str, what: &str) -> Result<Option<i64>, String> {
    match text.trim() {
        "" => Ok(None),
        t => t.parse::<i64>().map(Some).map_err(|_| format!("Enter {what} as a whole number.")),
    }
}

async fn create_discount(State(site): State<Site>, visitor: Visitor, Form(form): Form<DiscountForm>) -> PageResult {
    staff(&site, &visitor, "/admin/discounts", Resource::Pricing, Action::Write)?;
    let cur = currency(&site)?;
    let input = (|| -> Result<DiscountInput, String> {
        let (kind, value) = match form.kind.as_str() {
            "percentage" => (DiscountKind::Percentage, whole(&form.value, "the percentage")?),
            "fixed" => (
                DiscountKind::Fixed,
                Some(parse_amount(&form.value, cur.as_str()).ok_or("Enter the amount off like 5.00.")?),
            ),
            _ => return Err("Choose percentage or fixed amount.".into()),
        };
        let min_subtotal = match form.min_subtotal.trim() {
            "" => None,
            t => Some(parse_amount(t, cur.as_str()).ok_or("Enter the minimum order like 50.00.")?),
        };
        Ok(DiscountInput {
            code: Some(form.code.trim().to_owned()),
            kind: Some(kind),
            value,
            currency: Some(cur),
            min_subtotal: Some(min_subtotal),
            usage_limit: Some(whole(&form.usage_limit, "the number of uses")?),
            active: Some(true),
            ..DiscountInput::default()
        })
    })();
    let outcome = match input {
        Ok(input) => site.app.orders.create_discount(input).await.map(|_| ()).map_err(PageError::from),
        Err(message) => Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, message)),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to("/admin/discounts?msg=created").into_response()),
        Err(e) => discounts_view(&site, &visitor, ListQuery::default(), form, Some(e.message), e.status).await,
    }
}

#[derive(Deserialize)]
struct ActiveForm {
    active: String,
}

async fn toggle_discount(
    State(site): State<Site>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<ActiveForm>,
) -> PageResult {
    staff(&site, &visitor, "/admin/discounts", Resource::Pricing, Action::Write)?;
    let input = DiscountInput { active: Some(form.active == "true"), ..DiscountInput::default() };
    site.app.orders.update_discount(parse_id(&id)?, input).await?;
    Ok(Redirect::to("/admin/discounts?msg=saved").into_response())
}

async fn delete_discount(State(site): State<Site>, visitor: Visitor, Path(id): Path<String>) -> PageResult {
    staff(&site, &visitor, "/admin/discounts", Resource::Pricing, Action::Delete)?;
    site.app.orders.delete_discount(parse_id(&id)?).await?;
    Ok(Redirect::to("/admin/discounts?msg=deleted").into_response())
}

pub struct ShippingRow {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    pub price: String,
    pub free_above: Option<String>,
    pub active: bool,
}

pub struct TaxRow {
    pub id: Uuid,
    pub place: String,
    pub name: String,
    pub rate: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ShippingForm {
    code: String,
    name: String,
    price: String,
    free_above: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TaxForm {
    country: String,
    region: String,
    name: String,
    rate: String,
}

/// The settings page's filter (both lists) and each list's page.
#[derive(Debug, Default, Deserialize)]
struct SettingsQuery {
    q: Option<String>,
    spage: Option<u32>,
    tpage: Option<u32>,
    msg: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/settings.html")]
struct SettingsPage {
    c: Chrome,
    q: String,
    shipping: Vec<ShippingRow>,
    shipping_pager: Pager,
    taxes: Vec<TaxRow>,
    tax_pager: Pager,
    shipping_form: ShippingForm,
    tax_form: TaxForm,
    error: Option<String>,
}

async fn settings_view(
    site: &Site,
    visitor: &Visitor,
    query: SettingsQuery,
    shipping_form: ShippingForm,
    tax_form: TaxForm,
    error: Option<String>,
    status: StatusCode,
) -> PageResult {
    staff(site, visitor, "/admin/settings", Resource::Pricing, Action::Read)?;
    let (shipping_spec, tax_spec) = (page_spec(query.spage)?, page_spec(query.tpage)?);
    let q = query.q.unwrap_or_default().trim().to_lowercase();
    let found = |fields: &[&str]| q.is_empty() || fields.iter().any(|f| f.to_lowercase().contains(&q));
    let shipping = site
        .app
        .orders
        .shipping_methods()
        .await?
        .iter()
        .filter(|m| found(&[m.code.as_str(), m.name.as_str()]))
        .map(|m| ShippingRow {
            id: m.id,
            code: m.code.clone(),
            name: m.name.clone(),
            price: money(&m.price),
            free_above: m.free_above.map(|f| amount(f, m.price.currency.as_str())),
            active: m.active,
        })
        .collect();
    let taxes = site
        .app
        .orders
        .tax_rates()
        .await?
        .iter()
        .filter(|t| found(&[t.country.as_str(), t.region.as_deref().unwrap_or(""), t.name.as_str()]))
        .map(|t| TaxRow {
            id: t.id,
            place: match &t.region {
                Some(region) => format!("{} / {region}", t.country),
                None => t.country.clone(),
            },
            name: t.name.clone(),
            rate: format!("{}.{:02} %", t.rate_bp / 100, t.rate_bp % 100),
        })
        .collect();
    let base = format!("/admin/settings?{}", query_string(&[("q", &q)]));
    let base = base.trim_end_matches('?');
    let (shipping, shipping_total) = page_of(shipping, shipping_spec);
    let (taxes, tax_total) = page_of(taxes, tax_spec);
    let pager = |param, spec: kernel::PageSpec, total| {
        let other = if param == "spage" { ("tpage", tax_spec.page) } else { ("spage", shipping_spec.page) };
        let sep = if base.contains('?') { '&' } else { '?' };
        let base = if other.1 > 1 { format!("{base}{sep}{}={}", other.0, other.1) } else { base.to_owned() };
        Pager::with_param(&base, param, spec.page, spec.per_page, total)
    };
    Ok(render_status(
        status,
        &SettingsPage {
            c: Chrome::admin(site, visitor, "Shipping and tax").with_notice(query.msg.as_deref()),
            shipping_pager: pager("spage", shipping_spec, shipping_total),
            tax_pager: pager("tpage", tax_spec, tax_total),
            q,
            shipping,
            taxes,
            shipping_form,
            tax_form,
            error,
        },
    ))
}

async fn settings(State(site): State<Site>, visitor: Visitor, Query(query): Query<SettingsQuery>) -> PageResult {
    settings_view(&site, &visitor, query, ShippingForm::default(), TaxForm::default(), None, StatusCode::OK).await
}

async fn create_shipping(State(site): State<Site>, visitor: Visitor, Form(form): Form<ShippingForm>) -> PageResult {
    staff(&site, &visitor, "/admin/settings", Resource::Pricing, Action::Write)?;
    let cur = currency(&site)?;
    let input = (|| -> Result<ShippingMethodInput, String> {
        let price = parse_amount(&form.price, cur.as_str()).ok_or("Enter the price like 4.99.")?;
        let free_above = match form.free_above.trim() {
            "" => None,
            t => Some(parse_amount(t, cur.as_str()).ok_or("Enter the free-shipping threshold like 50.00.")?),
        };
        Ok(ShippingMethodInput {
            code: Some(form.code.trim().to_owned()),
            name: Some(form.name.trim().to_owned()),
            price: Some(Money::new(price, cur)),
            free_above: Some(free_above),
            active: Some(true),
            position: None,
        })
    })();
    let outcome = match input {
        Ok(input) => site.app.orders.create_shipping_method(input).await.map(|_| ()).map_err(PageError::from),
        Err(message) => Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, message)),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to("/admin/settings?msg=created").into_response()),
        Err(e) => {
            let query = SettingsQuery::default();
            settings_view(&site, &visitor, query, form, TaxForm::default(), Some(e.message), e.status).await
        }
    }
}

async fn delete_shipping(State(site): State<Site>, visitor: Visitor, Path(id): Path<String>) -> PageResult {
    staff(&site, &visitor, "/admin/settings", Resource::Pricing, Action::Delete)?;
    site.app.orders.delete_shipping_method(parse_id(&id)?).await?;
    Ok(Redirect::to("/admin/settings?msg=deleted").into_response())
}

/// "20", "7.25" or "7,25" percent as basis points.
fn basis_points(text: &str) -> Option<i64> {
    let text = text.trim().trim_end_matches('%').trim().replace(',', ".");
    parse_amount(&text, "USD").filter(|bp| *bp <= 10_000)
}

async fn create_tax(State(site): State<Site>, visitor: Visitor, Form(form): Form<TaxForm>) -> PageResult {
    staff(&site, &visitor, "/admin/settings", Resource::Pricing, Action::Write)?;
    let outcome = match basis_points(&form.rate) {
        Some(rate_bp) => {
            let input = TaxRateInput {
                country: Some(form.country.trim().to_uppercase()),
                region: Some(form.region.trim().to_owned()).filter(|r| !r.is_empty()),
                rate_bp: Some(rate_bp),
                name: Some(form.name.trim().to_owned()),
            };
            site.app.orders.create_tax_rate(input).await.map(|_| ()).map_err(PageError::from)
        }
        None => Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "Enter the rate in percent, like 20 or 7.25.")),
    };
    match outcome {
        Ok(()) => Ok(Redirect::to("/admin/settings?msg=created").into_response()),
        Err(e) => {
            let query = SettingsQuery::default();
            settings_view(&site, &visitor, query, ShippingForm::default(), form, Some(e.message), e.status).await
        }
    }
}

async fn delete_tax(State(site): State<Site>, visitor: Visitor, Path(id): Path<String>) -> PageResult {
    staff(&site, &visitor, "/admin/settings", Resource::Pricing, Action::Delete)?;
    site.app.orders.delete_tax_rate(parse_id(&id)?).await?;
    Ok(Redirect::to("/admin/settings?msg=deleted").into_response())
}

#[cfg(test)]
mod tests {
    use super::basis_points;

    #[test]
    fn reads_percentages() {
        assert_eq!(basis_points("20"), Some(2000));
        assert_eq!(basis_points("7.25 %"), Some(725));
        assert_eq!(basis_points("7,5"), Some(750));
        assert_eq!(basis_points("100"), Some(10_000));
        assert_eq!(basis_points("101"), None);
        assert_eq!(basis_points("-1"), None);
        assert_eq!(basis_points("x"), None);
    }
}
