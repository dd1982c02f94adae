//! The admin's orders: filter and page through them; an order's detail with
//! its timeline; moving it along the state machine, shipping it with
//! tracking and refunding it.

use crate::Site;
use crate::account::OrderDetail;
use crate::admin::{OrderLink, page_spec, staff};
use crate::page::{
    Chrome, Notice, PageError, PageResult, Pager, choice, humanize, parse_amount, parse_id, query_string, render,
    render_status,
};
use crate::session::Visitor;
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use identity::{Action, Resource};
use orders::{OrderFilter, OrderStatus};
use serde::Deserialize;
use uuid::Uuid;

pub fn router() -> Router<Site> {
    Router::new()
        .route("/admin/orders", get(list))
        .route("/admin/orders/{id}", get(detail))
        .route("/admin/orders/{id}/transition", post(transition))
        .route("/admin/orders/{id}/fulfil", post(fulfil))
        .route("/admin/orders/{id}/refund", post(refund))
}

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    q: Option<String>,
    status: Option<String>,
    page: Option<u32>,
}

pub struct StatusChoice {
    pub value: &'static str,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "admin/orders.html")]
struct OrdersPage {
    c: Chrome,
    rows: Vec<OrderLink>,
    pager: Pager,
    total: u64,
    q: String,
    statuses: Vec<StatusChoice>,
}

async fn list(State(site): State<Site>, visitor: Visitor, Query(query): Query<ListQuery>) -> PageResult {
    staff(&site, &visitor, "/admin/orders", Resource::Orders, Action::Read)?;
    let spec = page_spec(query.page)?;
    let q = query.q.unwrap_or_default().trim().to_owned();
    let status_text = query.status.unwrap_or_default();
    let status = choice(&status_text, OrderStatus::parse, "Unknown order status.")?;
    let filter = OrderFilter { status, q: Some(q.clone()).filter(|q| !q.is_empty()), ..OrderFilter::default() };
    let found = site.app.orders.orders(&filter, spec).await?;
    let base = format!("/admin/orders?{}", query_string(&[("q", &q), ("status", &status_text)]));
    let mut statuses = vec![StatusChoice { value: "", label: "Any status".into(), selected: status.is_none() }];
    statuses.extend(OrderStatus::ALL.iter().map(|s| StatusChoice {
        value: s.as_str(),
        label: humanize(s.as_str()),
        selected: Some(*s) == status,
    }));
    Ok(render(&OrdersPage {
        c: Chrome::admin(&site, &visitor, "Orders"),
        rows: found.items.iter().map(OrderLink::of).collect(),
        pager: Pager::new(base.trim_end_matches('?'), spec.page, spec.per_page, found.total),
        total: found.total,
        q,
        statuses,
    }))
}

#[derive(Template)]
#[template(path = "admin/order.html")]
struct OrderPage {
    c: Chrome,
    o: OrderDetail,
    next: Vec<(&'static str, String)>,
    can_fulfil: bool,
    refundable: String,
    /// Sent with the refund form: submitting it twice refunds once.
    refund_key: String,
    error: Option<String>,
}

async fn order_view(
    site: &Site,
    visitor: &Visitor,
    id: Uuid,
    error: Option<String>,
    msg: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let order = site.app.orders.order(id).await?;
    // Shipping goes through the fulfil form (it needs tracking).
    let next = OrderStatus::ALL
        .into_iter()
        .filter(|to| order.status.can_become(*to).is_ok() && *to != OrderStatus::Shipped)
        .map(|to| (to.as_str(), humanize(to.as_str())))
        .collect();
    let can_fulfil = matches!(order.status, OrderStatus::Paid | OrderStatus::Processing);
    let refundable = crate::page::amount(order.total.amount - order.refunded_total.amount, order.currency.as_str());
    Ok(render_status(
        status,
        &OrderPage {
            c: Chrome::admin(site, visitor, format!("Order {}", order.number)).with_notice(msg),
            o: OrderDetail::of(&order),
            next,
            can_fulfil,
            refundable,
            refund_key: Uuid::new_v4().to_string(),
            error,
        },
    ))
}

async fn detail(
    State(site): State<Site>,
    visitor: Visitor,
    Path(id): Path<String>,
    Query(m): Query<Notice>,
) -> PageResult {
    staff(&site, &visitor, &format!("/admin/orders/{id}"), Resource::Orders, Action::Read)?;
    order_view(&site, &visitor, parse_id(&id)?, None, m.msg.as_deref(), StatusCode::OK).await
}

/// After a change: back to the order with a notice, or the order again
/// with the reason it could not be made.
async fn answer(site: &Site, visitor: &Visitor, id: Uuid, outcome: Result<(), PageError>, msg: &str) -> PageResult {
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("/admin/orders/{id}?msg={msg}")).into_response()),
        Err(e) if e.status == StatusCode::NOT_FOUND => Err(e),
        Err(e) => order_view(site, visitor, id, Some(e.message), None, e.status).await,
    }
}

#[derive(Deserialize)]
struct TransitionForm {
    to: String,
    #[serde(default)]
    note: String,
}

async fn transition(
    State(site): State<Site>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<TransitionForm>,
) -> PageResult {
    let user = staff(&site, &visitor, &format!("/admin/orders/{id}"), Resource::Orders, Action::Write)?;
    let id = parse_id(&id)?;
    let outcome = match OrderStatus::parse(form.to.trim()) {
        Some(to) => {
            let note = Some(form.note.trim().to_owned()).filter(|n| !n.is_empty());
            site.app.orders.transition(id, to, user.id, note).await.map(|_| ()).map_err(PageError::from)
        }
        None => Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "Choose the next status.")),
    };
    answer(&site, &visitor, id, outcome, "saved").await
}

#[derive(Deserialize)]
struct FulfilForm {
    #[serde(default)]
    carrier: String,
    #[serde(default)]
    tracking_number: String,
}

async fn fulfil(
    State(site): State<Site>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<FulfilForm>,
) -> PageResult {
    let user = staff(&site, &visitor, &format!("/admin/orders/{id}"), Resource::Orders, Action::Write)?;
    let id = parse_id(&id)?;
    let outcome = site
        .app
        .orders
        .fulfill(id, &form.carrier, &form.tracking_number, user.id)
        .await
        .map(|_| ())
        .map_err(PageError::from);
    answer(&site, &visitor, id, outcome, "fulfilled").await
}

#[derive(Deserialize)]
struct RefundForm {
    #[serde(default)]
    amount: String,
    #[serde(default)]
    reason: String,
    /// Minted with the form: a double submit refunds once.
    #[serde(default)]
    key: String,
}

async fn refund(
    State(site): State<Site>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<RefundForm>,
) -> PageResult {
    let user = staff(&site, &visitor, &format!("/admin/orders/{id}"), Resource::Orders, Action::Write)?;
    let id = parse_id(&id)?;
    let order = site.app.orders.order(id).await?;
    let outcome = match parse_amount(&form.amount, order.currency.as_str()) {
        Some(amount) if amount > 0 => {
            let key = Some(form.key.trim()).filter(|k| !k.is_empty());
            site.app.orders.refund(id, amount, &form.reason, key, user.id).await.map(|_| ()).map_err(PageError::from)
        }
        _ => Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "Enter the amount to refund, like 12.50.")),
    };
    answer(&site, &visitor, id, outcome, "refunded").await
}
