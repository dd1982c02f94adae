//! Signing up, in and out, and the customer's account pages: profile,
//! orders with their timeline and tracking, addresses and wishlist.

use crate::Site;
use crate::page::{
    AddressForm, Chrome, Notice, PageError, PageResult, Pager, date, date_time, humanize, money, parse_id, render,
    render_status,
};
use crate::pay::OrderSummary;
use crate::session::{CART_COOKIE, SESSION_COOKIE, Visitor, set_cookie};
use crate::shop::Card;
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use identity::{AuthSession, IdentityError, Registration};
use kernel::PageRequest;
use orders::OrderFilter;
use serde::Deserialize;
use uuid::Uuid;

pub fn router(site: &Site) -> Router<Site> {
    let limited = Router::new()
        .route("/login", post(login))
        .route("/signup", post(signup))
        .route_layer(axum::middleware::from_fn_with_state(site.clone(), limit_sign_in));
    Router::new()
        .route("/login", get(login_page))
        .route("/signup", get(signup_page))
        .merge(limited)
        .route("/logout", post(logout))
        .route("/account", get(profile).post(save_profile))
        .route("/account/orders", get(orders_page))
        .route("/account/orders/{id}", get(order_page))
        .route("/account/orders/{id}/cancel", post(cancel_order))
        .route("/account/addresses", get(addresses_page).post(add_address))
        .route("/account/addresses/{id}/delete", post(delete_address))
        .route("/account/wishlist", get(wishlist_page))
        .route("/wishlist/{product_id}", post(add_to_wishlist))
        .route("/wishlist/{product_id}/remove", post(remove_from_wishlist))
}

/// Sign-in and sign-up share the API's per-client limit on password guessing.
async fn limit_sign_in(State(site): State<Site>, request: Request, next: Next) -> Response {
    if let Some(ip) = site.app.config.client_address.of(&request)
        && let Err(wait) = site.app.auth_limiter.check(ip, std::time::Instant::now())
    {
        let message = format!("Too many attempts. Please wait {} seconds and try again.", wait.as_secs().max(1));
        return PageError::new(StatusCode::TOO_MANY_REQUESTS, message).into_response();
    }
    next.run(request).await
}

/// A local path to go back to after signing in (never another site).
fn safe_next(next: Option<&str>) -> Option<String> {
    let next = next?.trim();
    (next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && !next.chars().any(char::is_control))
        .then(|| next.to_owned())
}

#[derive(Debug, Default, Deserialize)]
struct AuthForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    full_name: String,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "login.html")]
struct AuthPage {
    c: Chrome,
    signup: bool,
    email: String,
    full_name: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

fn auth_page(site: &Site, visitor: &Visitor, signup: bool, form: &AuthForm, error: Option<String>) -> AuthPage {
    AuthPage {
        c: Chrome::new(site, visitor, if signup { "Create an account" } else { "Sign in" }),
        signup,
        email: form.email.clone(),
        full_name: form.full_name.clone(),
        next: safe_next(form.next.as_deref()).unwrap_or_default(),
        error,
    }
}

async fn login_page(State(site): State<Site>, visitor: Visitor, Query(q): Query<NextQuery>) -> Response {
    render(&auth_page(&site, &visitor, false, &AuthForm { next: q.next, ..AuthForm::default() }, None))
}

async fn signup_page(State(site): State<Site>, visitor: Visitor, Query(q): Query<NextQuery>) -> Response {
    render(&auth_page(&site, &visitor, true, &AuthForm { next: q.next, ..AuthForm::default() }, None))
}

/// Starts the browser session: the session cookie is set, the guest cart
/// joins the account's and its cookie is dropped.
async fn signed_in(
    site: &Site,
    visitor: &Visitor,
    session: AuthSession,
    next: Option<String>,
    msg: &str,
) -> PageResult {
    if let Some(token) = &visitor.cart_token {
        site.app.orders.merge_guest_cart(session.user.id, token).await?;
    }
    let default = if session.user.role == identity::Role::Customer { "/" } else { "/admin" };
    let to = next.unwrap_or_else(|| default.to_owned());
    let sep = if to.contains('?') { '&' } else { '?' };
    let mut response = Redirect::to(&format!("{to}{sep}msg={msg}")).into_response();
    let age = site.app.identity.session_ttl().whole_seconds();
    let headers = response.headers_mut();
    headers.append(header::SET_COOKIE, set_cookie(site, SESSION_COOKIE, &session.refresh_token, age));
    if visitor.cart_token.is_some() {
        headers.append(header::SET_COOKIE, set_cookie(site, CART_COOKIE, "", 0));
    }
    Ok(response)
}

async fn login(State(site): State<Site>, visitor: Visitor, Form(form): Form<AuthForm>) -> PageResult {
    match site.app.identity.login(&form.email, &form.password).await {
        Ok(session) => signed_in(&site, &visitor, session, safe_next(form.next.as_deref()), "signed-in").await,
        Err(e) => {
            let (status, message) = match e {
                IdentityError::InvalidCredentials => {
                    (StatusCode::UNAUTHORIZED, "That email and password do not match an account.".to_owned())
                }
                other => {
                    let e = PageError::from(other);
                    (e.status, e.message)
                }
            };
            Ok(render_status(status, &auth_page(&site, &visitor, false, &form, Some(message))))
        }
    }
}

async fn signup(State(site): State<Site>, visitor: Visitor, Form(form): Form<AuthForm>) -> PageResult {
    let registration =
        Registration { email: form.email.clone(), password: form.password.clone(), full_name: form.full_name.clone() };
    match site.app.identity.register(registration).await {
        Ok(session) => signed_in(&site, &visitor, session, safe_next(form.next.as_deref()), "signed-up").await,
        Err(e) => {
            let e = PageError::from(e);
            Ok(render_status(e.status, &auth_page(&site, &visitor, true, &form, Some(e.message))))
        }
    }
}

async fn logout(State(site): State<Site>, visitor: Visitor) -> PageResult {
    if let Some(token) = &visitor.session {
        site.app.identity.logout(token).await?;
    }
    let mut response = Redirect::to("/?msg=signed-out").into_response();
    response.headers_mut().append(header::SET_COOKIE, set_cookie(&site, SESSION_COOKIE, "", 0));
    Ok(response)
}

#[derive(Template)]
#[template(path = "account.html")]
struct ProfilePage {
    c: Chrome,
    full_name: String,
    email: String,
    since: String,
    error: Option<String>,
}

async fn profile(State(site): State<Site>, visitor: Visitor, Query(n): Query<Notice>) -> PageResult {
    let user = visitor.require_user("/account")?;
    Ok(render(&ProfilePage {
        c: Chrome::new(&site, &visitor, "Your account").with_notice(n.msg.as_deref()),
        full_name: user.full_name.clone(),
        email: user.email.as_str().to_owned(),
        since: date(&user.created_at),
        error: None,
    }))
}

#[derive(Deserialize)]
struct ProfileForm {
    full_name: String,
}

async fn save_profile(State(site): State<Site>, visitor: Visitor, Form(form): Form<ProfileForm>) -> PageResult {
    let user = visitor.require_user("/account")?;
    let patch = identity::UserPatch { full_name: Some(form.full_name.clone()) };
    match site.app.identity.update_profile(user, patch).await {
        Ok(_) => Ok(Redirect::to("/account?msg=saved").into_response()),
        Err(e) => {
            let e = PageError::from(e);
            let page = ProfilePage {
                c: Chrome::new(&site, &visitor, "Your account"),
                full_name: form.full_name,
                email: user.email.as_str().to_owned(),
                since: date(&user.created_at),
                error: Some(e.message),
            };
            Ok(render_status(e.status, &page))
        }
    }
}

pub struct OrderRow {
    pub number: String,
    pub href: String,
    pub date: String,
    pub status: String,
    pub total: String,
    pub items: i64,
}

#[derive(Template)]
#[template(path = "account_orders.html")]
struct OrdersPage {
    c: Chrome,
    orders: Vec<OrderRow>,
    pager: Pager,
}

async fn orders_page(State(site): State<Site>, visitor: Visitor, Query(page): Query<PageRequest>) -> PageResult {
    let user = visitor.require_user("/account/orders")?;
    let spec = PageRequest { page: page.page, per_page: Some(page.per_page.unwrap_or(20)) }
        .validate()
        .map_err(|e| PageError::new(StatusCode::UNPROCESSABLE_ENTITY, crate::page::sentence(&e.to_string())))?;
    let filter = OrderFilter { user_id: Some(user.id), ..OrderFilter::default() };
    let found = site.app.orders.orders(&filter, spec).await?;
    let orders = found
        .items
        .iter()
        .map(|o| OrderRow {
            number: o.number.clone(),
            href: format!("/account/orders/{}", o.id),
            date: date(&o.created_at),
            status: humanize(o.status.as_str()),
            total: money(&o.total),
            items: o.lines.iter().map(|l| l.quantity).sum(),
        })
        .collect();
    Ok(render(&OrdersPage {
        c: Chrome::new(&site, &visitor, "Your orders"),
        orders,
        pager: Pager::new("/account/orders", spec.page, spec.per_page, found.total),
    }))
}

pub struct TimelineRow {
    pub at: String,
    pub label: String,
    pub note: Option<String>,
}

pub struct TrackingRow {
    pub carrier: String,
    pub number: String,
    pub at: String,
}

/// An order as the customer and the admin both see it.
pub struct OrderDetail {
    pub id: Uuid,
    pub summary: OrderSummary,
    pub email: String,
    pub placed: String,
    pub subtotal: String,
    pub discount: Option<String>,
    pub shipping: String,
    pub shipping_method: Option<String>,
    pub tax: String,
    pub refunded: Option<String>,
    pub address: Vec<String>,
    pub timeline: Vec<TimelineRow>,
    pub tracking: Vec<TrackingRow>,
    pub cancellable: bool,
    pub flags: Vec<String>,
    pub status_code: &'static str,
    pub total_minor: i64,
    pub refunded_minor: i64,
}

impl OrderDetail {
    pub fn of(o: &orders::Order) -> OrderDetail {
        let a = &o.shipping_address;
        let mut address = vec![a.full_name.clone(), a.line1.clone()];
        address.extend(a.line2.clone());
        address.push(format!("{} {}", a.postal_code, a.city));
        address.extend(a.region.clone());
        address.push(a.country.clone());
        OrderDetail {
            id: o.id,
            summary: OrderSummary {
                number: o.number.clone(),
                href: None,
                status: humanize(o.status.as_str()),
                lines: o.lines.iter().map(|l| (l.title.clone(), l.quantity, money(&l.total))).collect(),
                total: money(&o.total),
            },
            email: o.email.clone(),
            placed: date_time(&o.created_at),
            subtotal: money(&o.subtotal),
            discount: (o.discount_total.amount > 0)
                .then(|| format!("{} ({})", money(&o.discount_total), o.discount_code.clone().unwrap_or_default())),
            shipping: money(&o.shipping_total),
            shipping_method: o.shipping_method.as_ref().map(|m| m.name.clone()),
            tax: money(&o.tax_total),
            refunded: (o.refunded_total.amount > 0).then(|| money(&o.refunded_total)),
            address,
            timeline: o
                .timeline
                .iter()
                .map(|t| TimelineRow {
                    at: date_time(&t.at),
                    label: match t.from {
                        None => "Order placed".to_owned(),
                        Some(_) => humanize(t.to.as_str()),
                    },
                    note: t.note.clone(),
                })
                .collect(),
            tracking: o
                .fulfillments
                .iter()
                .map(|f| TrackingRow {
                    carrier: f.carrier.clone(),
                    number: f.tracking_number.clone(),
                    at: date(&f.created_at),
                })
                .collect(),
            cancellable: matches!(
                o.status,
                orders::OrderStatus::PendingPayment | orders::OrderStatus::Paid | orders::OrderStatus::Processing
            ),
            flags: o.flags.iter().map(|f| format!("{f:?}")).collect(),
            status_code: o.status.as_str(),
            total_minor: o.total.amount,
            refunded_minor: o.refunded_total.amount,
        }
    }
}

#[derive(Template)]
#[template(path = "account_order.html")]
struct OrderPage {
    c: Chrome,
    o: OrderDetail,
}

async fn order_page(
    State(site): State<Site>,
    visitor: Visitor,
    Path(id): Path<String>,
    Query(n): Query<Notice>,
) -> PageResult {
    let user = visitor.require_user(&format!("/account/orders/{id}"))?;
    let order = site.app.orders.customer_order(user.id, parse_id(&id)?).await?;
    Ok(render(&OrderPage {
        c: Chrome::new(&site, &visitor, format!("Order {}", order.number)).with_notice(n.msg.as_deref()),
        o: OrderDetail::of(&order),
    }))
}

async fn cancel_order(State(site): State<Site>, visitor: Visitor, Path(id): Path<String>) -> PageResult {
    let user = visitor.require_user(&format!("/account/orders/{id}"))?;
    let order = site.app.orders.customer_order(user.id, parse_id(&id)?).await?;
    site.app.orders.cancel_order(order.id, Some(user.id), Some("cancelled by the customer".into())).await?;
    Ok(Redirect::to(&format!("/account/orders/{}?msg=cancelled", order.id)).into_response())
}

pub struct AddressRow {
    pub id: Uuid,
    pub lines: Vec<String>,
    pub default: bool,
}

#[derive(Template)]
#[template(path = "account_addresses.html")]
struct AddressesPage {
    c: Chrome,
    addresses: Vec<AddressRow>,
    form: AddressForm,
    error: Option<String>,
}

async fn addresses_view(
    site: &Site,
    visitor: &Visitor,
    form: AddressForm,
    error: Option<String>,
    msg: Option<&str>,
    status: StatusCode,
) -> PageResult {
    let user = visitor.require_user("/account/addresses")?;
    let addresses = site
        .app
        .identity
        .addresses(user)
        .await?
        .into_iter()
        .map(|a| {
            let mut lines = vec![a.full_name, a.line1];
            lines.extend(a.line2);
            lines.push(format!("{} {}", a.postal_code, a.city));
            lines.extend(a.region);
            lines.push(a.country);
            lines.extend(a.phone);
            AddressRow { id: a.id, lines, default: a.is_default_shipping }
        })
        .collect();
    let page =
        AddressesPage { c: Chrome::new(site, visitor, "Your addresses").with_notice(msg), addresses, form, error };
    Ok(render_status(status, &page))
}

async fn addresses_page(State(site): State<Site>, visitor: Visitor, Query(n): Query<Notice>) -> PageResult {
    let form = AddressForm { country: "US".into(), ..AddressForm::default() };
    addresses_view(&site, &visitor, form, None, n.msg.as_deref(), StatusCode::OK).await
}

async fn add_address(State(site): State<Site>, visitor: Visitor, Form(form): Form<AddressForm>) -> PageResult {
    let user = visitor.require_user("/account/addresses")?;
    match site.app.identity.add_address(user, form.to_input()).await {
        Ok(_) => Ok(Redirect::to("/account/addresses?msg=address-added").into_response()),
        Err(e) => {
            let e = PageError::from(e);
            addresses_view(&site, &visitor, form, Some(e.message), None, e.status).await
        }
    }
}

async fn delete_address(State(site): State<Site>, visitor: Visitor, Path(id): Path<String>) -> PageResult {
    let user = visitor.require_user("/account/addresses")?;
    site.app.identity.delete_address(user, parse_id(&id)?).await?;
    Ok(Redirect::to("/account/addresses?msg=deleted").into_response())
}

#[derive(Template)]
#[template(path = "account_wishlist.html")]
struct WishlistPage {
    c: Chrome,
    items: Vec<(Uuid, Card)>,
}

async fn wishlist_page(State(site): State<Site>, visitor: Visitor, Query(n): Query<Notice>) -> PageResult {
    let user = visitor.require_user("/account/wishlist")?;
    let mut items = Vec::new();
    for item in site.app.catalog.wishlist(user.id).await? {
        // A product taken off sale since is left out.
        if let Ok(product) = site.app.catalog.storefront_product(&item.product_id.to_string()).await {
            let card = catalog::ProductCard::new(&product, true);
            items.push((product.id, Card::from_card(&card)));
        }
    }
    Ok(render(&WishlistPage { c: Chrome::new(&site, &visitor, "Your wishlist").with_notice(n.msg.as_deref()), items }))
}

async fn add_to_wishlist(State(site): State<Site>, visitor: Visitor, Path(product_id): Path<String>) -> PageResult {
    let id = parse_id(&product_id)?;
    let product = site.app.catalog.storefront_product(&id.to_string()).await?;
    let user = visitor.require_user(&format!("/p/{}", product.slug))?;
    site.app.catalog.add_to_wishlist(user.id, id).await?;
    Ok(Redirect::to(&format!("/p/{}?msg=wishlist-added", product.slug)).into_response())
}

async fn remove_from_wishlist(
    State(site): State<Site>,
    visitor: Visitor,
    Path(product_id): Path<String>,
) -> PageResult {
    let user = visitor.require_user("/account/wishlist")?;
    match site.app.catalog.remove_from_wishlist(user.id, parse_id(&product_id)?).await {
        Ok(()) | Err(catalog::CatalogError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(Redirect::to("/account/wishlist?msg=wishlist-removed").into_response())
}
