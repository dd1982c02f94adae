//! The admin's customers (role, suspension) and review moderation.

use crate::Site;
use crate::admin::{page_spec, staff};
use crate::page::{
    Chrome, PageError, PageResult, Pager, choice, date, humanize, parse_id, query_string, render, render_status,
};
use crate::session::Visitor;
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use catalog::{ReviewFilter, ReviewStatus};
use identity::{Action, AdminUserPatch, Resource, Role, UserFilter};
use serde::Deserialize;
use uuid::Uuid;

pub fn router() -> Router<Site> {
    Router::new()
        .route("/admin/customers", get(customers))
        .route("/admin/customers/{id}", post(update_customer))
        .route("/admin/reviews", get(reviews))
        .route("/admin/reviews/{id}", post(moderate))
}

#[derive(Debug, Default, Deserialize)]
struct CustomerQuery {
    q: Option<String>,
    role: Option<String>,
    page: Option<u32>,
    msg: Option<String>,
}

pub struct CustomerRow {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub since: String,
    pub suspended: bool,
    pub roles: Vec<(&'static str, bool)>,
}

#[derive(Template)]
#[template(path = "admin/customers.html")]
struct CustomersPage {
    c: Chrome,
    rows: Vec<CustomerRow>,
    pager: Pager,
    total: u64,
    q: String,
    role: String,
    error: Option<String>,
}

async fn customers_view(
    site: &Site,
    visitor: &Visitor,
    query: CustomerQuery,
    error: Option<String>,
    status: StatusCode,
) -> PageResult {
    let actor = staff(site, visitor, "/admin/customers", Resource::Users, Action::Read)?;
    let spec = page_spec(query.page)?;
    let q = query.q.unwrap_or_default().trim().to_owned();
    let role_text = query.role.unwrap_or_default();
    let role = choice(&role_text, |r| r.parse::<Role>().ok(), "Unknown role.")?;
    let filter = UserFilter { q: Some(q.clone()).filter(|q| !q.is_empty()), role, suspended: None };
    let found = site.app.identity.list_users(actor, filter, spec).await?;
    let rows = found
        .items
        .iter()
        .map(|u| CustomerRow {
            id: u.id,
            name: u.full_name.clone(),
            email: u.email.as_str().to_owned(),
            since: date(&u.created_at),
            suspended: u.suspended,
            roles: Role::ALL.iter().map(|r| (r.as_str(), *r == u.role)).collect(),
        })
        .collect();
    let base = format!("/admin/customers?{}", query_string(&[("q", &q), ("role", &role_text)]));
    Ok(render_status(
        status,
        &CustomersPage {
            c: Chrome::admin(site, visitor, "Customers").with_notice(query.msg.as_deref()),
            rows,
            pager: Pager::new(base.trim_end_matches('?'), spec.page, spec.per_page, found.total),
            total: found.total,
            q,
            role: role_text,
            error,
        },
    ))
}

async fn customers(State(site): State<Site>, visitor: Visitor, Query(query): Query<CustomerQuery>) -> PageResult {
    customers_view(&site, &visitor, query, None, StatusCode::OK).await
}

#[derive(Deserialize)]
struct CustomerForm {
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    suspended: Option<String>,
}

async fn update_customer(
    State(site): State<Site>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<CustomerForm>,
) -> PageResult {
    let actor = staff(&site, &visitor, "/admin/customers", Resource::Users, Action::Write)?;
    let id = parse_id(&id)?;
    let role = match form.role.as_deref() {
        None | Some("") => None,
        Some(r) => match r.parse::<Role>() {
            Ok(role) => Some(role),
            Err(_) => {
                return customers_view(
                    &site,
                    &visitor,
                    CustomerQuery::default(),
                    Some("Unknown role.".into()),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            }
        },
    };
    let suspended = form.suspended.as_deref().map(|s| s == "true");
    match site.app.identity.admin_update_user(actor, id, AdminUserPatch { role, suspended }).await {
        Ok(_) => Ok(Redirect::to("/admin/customers?msg=saved").into_response()),
        Err(e) => {
            let e = PageError::from(e);
            if e.status == StatusCode::NOT_FOUND {
                return Err(e);
            }
            customers_view(&site, &visitor, CustomerQuery::default(), Some(e.message), e.status).await
        }
    }
}

#[derive(Debug, Default, Deserialize)]
struct ReviewQuery {
    status: Option<String>,
    page: Option<u32>,
    msg: Option<String>,
}

pub struct ReviewRow {
    pub id: Uuid,
    pub product: String,
    pub author: String,
    pub rating: u8,
    pub title: String,
    pub body: String,
    pub date: String,
    pub status: String,
    pub hidden: bool,
}

#[derive(Template)]
#[template(path = "admin/reviews.html")]
struct ReviewsPage {
    c: Chrome,
    rows: Vec<ReviewRow>,
    pager: Pager,
    status: String,
}

async fn reviews(State(site): State<Site>, visitor: Visitor, Query(query): Query<ReviewQuery>) -> PageResult {
    staff(&site, &visitor, "/admin/reviews", Resource::Products, Action::Read)?;
    let spec = page_spec(query.page)?;
    let status_text = query.status.unwrap_or_default();
    let status = choice(&status_text, |s| s.parse::<ReviewStatus>().ok(), "Status must be published or hidden.")?;
    let found = site.app.catalog.reviews(ReviewFilter { product_id: None, status }, spec).await?;
    let mut rows = Vec::with_capacity(found.items.len());
    for r in &found.items {
        let product = site.app.catalog.product(r.product_id).await.map(|p| p.title).unwrap_or_default();
        rows.push(ReviewRow {
            id: r.id,
            product,
            author: r.author_name.clone(),
            rating: r.rating,
            title: r.title.clone(),
            body: r.body.clone(),
            date: date(&r.created_at),
            status: humanize(r.status.as_str()),
            hidden: r.status == ReviewStatus::Hidden,
        });
    }
    let base = format!("/admin/reviews?{}", query_string(&[("status", &status_text)]));
    Ok(render(&ReviewsPage {
        c: Chrome::admin(&site, &visitor, "Reviews").with_notice(query.msg.as_deref()),
        rows,
        pager: Pager::new(base.trim_end_matches('?'), spec.page, spec.per_page, found.total),
        status: status_text,
    }))
}

#[derive(Deserialize)]
struct ModerateForm {
    status: String,
}

async fn moderate(
    State(site): State<Site>,
    visitor: Visitor,
    Path(id): Path<String>,
    Form(form): Form<ModerateForm>,
) -> PageResult {
    staff(&site, &visitor, "/admin/reviews", Resource::Products, Action::Write)?;
    let id = parse_id(&id)?;
    let status = form
        .status
        .parse::<ReviewStatus>()
        .map_err(|_| PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "Status must be published or hidden."))?;
    site.app.catalog.moderate_review(id, status).await?;
    Ok(Redirect::to(&format!("/admin/reviews?msg={}", status.as_str())).into_response())
}
