//! The admin's notifications log: every message to customers and staff,
//! per channel (email, SMS), with what became of it (pending, sent,
//! failed with the reason, skipped, or only logged without a server),
//! filtered by words, template and status.

use crate::Site;
use crate::admin::{page_spec, staff};
use crate::page::{Chrome, PageError, PageResult, Pager, choice, date_time, humanize, query_string, render};
use crate::session::Visitor;
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use identity::{Action, Resource};
use notifications::DeliveryStatus;
use serde::Deserialize;

pub fn router() -> Router<Site> {
    Router::new().route("/admin/notifications", get(list))
}

use notifications::TEMPLATES;

#[derive(Debug, Default, Deserialize)]
struct ListQuery {
    q: Option<String>,
    template: Option<String>,
    status: Option<String>,
    page: Option<u32>,
}

pub struct NotificationRow {
    pub when: String,
    pub template: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub status: String,
    pub channel: String,
    /// Why it failed, was skipped, or waits to be tried again.
    pub error: Option<String>,
    pub attempts: u32,
}

#[derive(Template)]
#[template(path = "admin/notifications.html")]
struct NotificationsPage {
    c: Chrome,
    rows: Vec<NotificationRow>,
    pager: Pager,
    total: u64,
    q: String,
    template: String,
    status: String,
    templates: Vec<(&'static str, String)>,
    statuses: Vec<&'static str>,
}

async fn list(State(site): State<Site>, visitor: Visitor, Query(query): Query<ListQuery>) -> PageResult {
    staff(&site, &visitor, "/admin/notifications", Resource::Users, Action::Read)?;
    let spec = page_spec(query.page)?;
    let (q, template, status) = (
        query.q.unwrap_or_default().trim().to_owned(),
        query.template.unwrap_or_default(),
        query.status.unwrap_or_default(),
    );
    let status_filter = choice(
        &status,
        |s| s.parse::<DeliveryStatus>().ok(),
        "Status must be pending, logged, sent, failed or skipped.",
    )?;
    let filter =
        web::routes::admin_notifications::notification_filter(Some(q.clone()), Some(template.clone()), status_filter)
            .map_err(PageError::from)?;
    let found = site
        .app
        .notifications
        .list(&filter, spec)
        .await
        .map_err(|e| PageError::from(web::error::ApiError::internal(e)))?;
    let rows = found
        .items
        .iter()
        .map(|n| NotificationRow {
            when: date_time(&n.created_at),
            template: humanize(&n.template),
            recipient: n.recipient.clone(),
            subject: n.subject.clone(),
            body: n.body.clone(),
            status: n.status.to_string(),
            channel: n.channel.as_str().to_owned(),
            error: n.error.clone(),
            attempts: n.attempts,
        })
        .collect();
    let base =
        format!("/admin/notifications?{}", query_string(&[("q", &q), ("template", &template), ("status", &status)]));
    Ok(render(&NotificationsPage {
        c: Chrome::admin(&site, &visitor, "Notifications"),
        rows,
        pager: Pager::new(base.trim_end_matches('?'), spec.page, spec.per_page, found.total),
        total: found.total,
        q,
        template,
        status,
        templates: TEMPLATES.iter().map(|t| (*t, humanize(t))).collect(),
        statuses: DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect(),
    }))
}
