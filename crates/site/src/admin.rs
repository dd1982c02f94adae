//! The admin's dashboard and inventory pages. Every admin page asks for a
//! signed-in staff member (anonymous visitors are sent to sign in,
//! customers get 403) and then for the permission its action needs.

use crate::Site;
use crate::page::{
    Chrome, Notice, PageError, PageResult, Pager, amount, date, money, query_string, render, render_status,
};
use crate::session::Visitor;
use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use identity::{Action, Resource, User};
use inventory::LevelFilter;
use kernel::{PageRequest, PageSpec};
use orders::{OrderFilter, OrderStatus};
use serde::Deserialize;
use std::collections::BTreeMap;
use time::{Duration, OffsetDateTime};

pub fn router() -> Router<Site> {
    Router::new().route("/admin", get(dashboard)).route("/admin/inventory", get(inventory_page).post(adjust))
}

/// The signed-in staff member allowed `action` on `resource`.
pub fn staff<'a>(
    site: &Site,
    visitor: &'a Visitor,
    back: &str,
    resource: Resource,
    action: Action,
) -> Result<&'a User, PageError> {
    let user = visitor.require_staff(back)?;
    site.app
        .identity
        .authorize(user, resource, action)
        .map_err(|_| PageError::new(StatusCode::FORBIDDEN, "Your role does not allow this. Ask an administrator."))?;
    Ok(user)
}

/// A page number and size from a list's query string (20 a page by default).
pub fn page_spec(page: Option<u32>) -> Result<PageSpec, PageError> {
    PageRequest { page, per_page: Some(20) }
        .validate()
        .map_err(|e| PageError::new(StatusCode::UNPROCESSABLE_ENTITY, crate::page::sentence(&e.to_string())))
}

/// One day's sales as a bar of the chart.
pub struct Bar {
    pub x: f64,
    pub y: f64,
    pub height: f64,
    pub label: String,
}

pub struct Chart {
    pub bars: Vec<Bar>,
    pub bar_width: f64,
    pub top: String,
    pub first_day: String,
    pub last_day: String,
    pub total: String,
}

const CHART_W: f64 = 600.0;
const CHART_H: f64 = 180.0;
const CHART_DAYS: i64 = 30;

/// The sales in `currency` per day (a chart adds up one currency: the shop's).
fn chart_sales(days: &[orders::DailySales], currency: &str) -> BTreeMap<time::Date, i64> {
    days.iter().filter(|d| d.currency.as_str() == currency).map(|d| (d.day, d.amount)).collect()
}

/// Bars for `days` days ending `today`, from (day, minor units) sales.
pub fn chart(sales: &BTreeMap<time::Date, i64>, today: time::Date, days: i64, currency: &str) -> Chart {
    let first = today - Duration::days(days - 1);
    let values: Vec<(time::Date, i64)> =
        (0..days).map(|i| first + Duration::days(i)).map(|d| (d, sales.get(&d).copied().unwrap_or(0))).collect();
    let max = values.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let slot = CHART_W / days as f64;
    let bars = values
        .iter()
        .enumerate()
        .map(|(i, (day, v))| {
            let height = ((*v as f64 / max as f64) * CHART_H * 10.0).round() / 10.0;
            Bar {
                x: (i as f64 * slot * 10.0).round() / 10.0 + 1.0,
                y: CHART_H - height,
                height,
                label: format!("{}: {}", date_of(*day), amount(*v, currency)),
            }
        })
        .collect();
    Chart {
        bars,
        bar_width: (slot - 2.0).max(1.0),
        top: amount(max, currency),
        first_day: date_of(first),
        last_day: date_of(today),
        total: amount(values.iter().map(|(_, v)| v).sum(), currency),
    }
}

fn date_of(d: time::Date) -> String {
    format!("{} {}", d.day(), &d.month().to_string()[..3])
}

pub struct OrderLink {
    pub number: String,
    pub href: String,
    pub email: String,
    pub total: String,
    pub status: String,
    pub date: String,
}

impl OrderLink {
    pub fn of(o: &orders::Order) -> OrderLink {
        OrderLink {
            number: o.number.clone(),
            href: format!("/admin/orders/{}", o.id),
            email: o.email.clone(),
            total: money(&o.total),
            status: crate::page::humanize(o.status.as_str()),
            date: date(&o.created_at),
        }
    }
}

pub struct StockRow {
    pub sku: String,
    pub on_hand: i64,
    pub reserved: i64,
    pub available: i64,
    pub threshold: i64,
    pub low: bool,
}

impl StockRow {
    fn of(l: &inventory::StockLevel) -> StockRow {
        let available = l.on_hand - l.reserved;
        StockRow {
            sku: l.sku.clone(),
            on_hand: l.on_hand,
            reserved: l.reserved,
            available,
            threshold: l.low_stock_threshold,
            low: available <= l.low_stock_threshold,
        }
    }
}

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct Dashboard {
    c: Chrome,
    chart: Chart,
    to_fulfil: Vec<OrderLink>,
    to_fulfil_total: u64,
    low_stock: Vec<StockRow>,
    low_stock_total: u64,
}

async fn dashboard(State(site): State<Site>, visitor: Visitor, Query(n): Query<Notice>) -> PageResult {
    staff(&site, &visitor, "/admin", Resource::Orders, Action::Read)?;
    let now = OffsetDateTime::now_utc();
    let since = now - Duration::days(CHART_DAYS);
    let sales = chart_sales(&site.app.orders.daily_sales(since).await?, &site.config.currency);
    let paid = OrderFilter { status: Some(OrderStatus::Paid), ..OrderFilter::default() };
    let to_fulfil = site.app.orders.orders(&paid, PageSpec { page: 1, per_page: 10 }).await?;
    let low = LevelFilter { low_stock: true, q: None };
    let low_stock = site.app.inventory.levels(&low, PageSpec { page: 1, per_page: 10 }).await?;
    Ok(render(&Dashboard {
        c: Chrome::admin(&site, &visitor, "Dashboard").with_notice(n.msg.as_deref()),
        chart: chart(&sales, now.date(), CHART_DAYS, &site.config.currency),
        to_fulfil: to_fulfil.items.iter().map(OrderLink::of).collect(),
        to_fulfil_total: to_fulfil.total,
        low_stock: low_stock.items.iter().map(StockRow::of).collect(),
        low_stock_total: low_stock.total,
    }))
}

#[derive(Debug, Default, Deserialize)]
struct InventoryQuery {
    q: Option<String>,
    low: Option<String>,
    page: Option<u32>,
    msg: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/inventory.html")]
struct InventoryPage {
    c: Chrome,
    rows: Vec<StockRow>,
    pager: Pager,
    q: String,
    low: bool,
    error: Option<String>,
    form: AdjustForm,
}

async fn inventory_view(
    site: &Site,
    visitor: &Visitor,
    query: InventoryQuery,
    form: AdjustForm,
    error: Option<String>,
    status: StatusCode,
) -> PageResult {
    staff(site, visitor, "/admin/inventory", Resource::Inventory, Action::Read)?;
    let spec = page_spec(query.page)?;
    let q = query.q.unwrap_or_default().trim().to_owned();
    let low = query.low.is_some_and(|l| l == "1" || l == "on" || l == "true");
    let filter = LevelFilter { low_stock: low, q: Some(q.clone()).filter(|q| !q.is_empty()) };
    let found = site.app.inventory.levels(&filter, spec).await?;
    let base = format!("/admin/inventory?{}", query_string(&[("q", &q), ("low", if low { "1" } else { "" })]));
    Ok(render_status(
        status,
        &InventoryPage {
            c: Chrome::admin(site, visitor, "Inventory").with_notice(query.msg.as_deref()),
            rows: found.items.iter().map(StockRow::of).collect(),
            pager: Pager::new(base.trim_end_matches('?'), spec.page, spec.per_page, found.total),
            q,
            low,
            error,
            form,
        },
    ))
}

async fn inventory_page(State(site): State<Site>, visitor: Visitor, Query(query): Query<InventoryQuery>) -> PageResult {
    inventory_view(&site, &visitor, query, AdjustForm::default(), None, StatusCode::OK).await
}

#[derive(Debug, Default, Deserialize)]
struct AdjustForm {
    #[serde(default)]
    sku: String,
    #[serde(default)]
    delta: String,
    #[serde(default)]
    reason: String,
}

async fn adjust(State(site): State<Site>, visitor: Visitor, Form(form): Form<AdjustForm>) -> PageResult {
    let user = staff(&site, &visitor, "/admin/inventory", Resource::Inventory, Action::Write)?;
    let sku = form.sku.trim().to_owned();
    let outcome = match form.delta.trim().trim_start_matches('+').parse::<i64>() {
        Err(_) => {
            Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "Enter the change as a whole number, like 5 or -2."))
        }
        Ok(delta) => match site.app.catalog.variant_by_sku(&sku).await {
            Err(catalog::CatalogError::NotFound(_)) => {
                Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, format!("No product has the SKU “{sku}”.")))
            }
            Err(e) => return Err(e.into()),
            Ok(variant) => site
                .app
                .inventory
                .adjust(variant.id, &sku, delta, &form.reason, Some(user.id))
                .await
                .map_err(PageError::from),
        },
    };
    match outcome {
        Ok(_) => {
            let to = format!("/admin/inventory?{}", query_string(&[("q", &sku), ("msg", "adjusted")]));
            Ok(Redirect::to(&to).into_response())
        }
        Err(e) => inventory_view(&site, &visitor, InventoryQuery::default(), form, Some(e.message), e.status).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_adds_up_the_shops_currency_only() {
        let day = time::macros::date!(2026 - 11 - 21);
        let sales = |d: time::Date, c: &str, amount: i64| orders::DailySales {
            day: d,
            currency: kernel::Currency::parse(c).expect("currency"),
            amount,
        };
        let days = [
            sales(day - Duration::days(1), "EUR", 90_000),
            sales(day - Duration::days(1), "USD", 1_000),
            sales(day, "USD", 2_000),
        ];
        let usd = chart_sales(&days, "USD");
        assert_eq!(usd.into_iter().collect::<Vec<_>>(), vec![(day - Duration::days(1), 1_000), (day, 2_000)]);
        assert!(chart_sales(&days, "GBP").is_empty());
    }

    #[test]
    fn chart_scales_to_the_best_day() {
        let today = time::macros::date!(2026 - 11 - 21);
        let mut sales = BTreeMap::new();
        sales.insert(today, 5_000);
        sales.insert(today - Duration::days(2), 2_500);
        sales.insert(today - Duration::days(40), 99_999); // outside the window
        let c = chart(&sales, today, 30, "USD");
        assert_eq!(c.bars.len(), 30);
        assert_eq!(c.bars[29].height, CHART_H);
        assert_eq!(c.bars[27].height, CHART_H / 2.0);
        assert_eq!(c.bars[0].height, 0.0);
        assert_eq!(c.top, "$50.00");
        assert_eq!(c.total, "$75.00");
        assert_eq!(c.last_day, "21 Nov");
    }
}
