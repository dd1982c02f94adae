//! The cart page and its edits (add, quantity, discount code); the
//! checkout (`crate::checkout`) and payment (`crate::pay`) follow it.
//!
//! A guest's cart token lives in the `em_cart` cookie; a signed-in
//! customer's cart is found by account, and a guest cart whose cookie comes
//! along is merged into it (then the cookie is dropped).

use crate::Site;
use crate::page::{Chrome, Notice, PageError, PageResult, money, parse_id, render_status};
use crate::session::{CART_COOKIE, Visitor, set_cookie};
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use orders::{Cart, CartView, VariantRef};
use serde::Deserialize;
use uuid::Uuid;

pub fn router() -> Router<Site> {
    Router::new()
        .route("/cart", get(cart_page))
        .route("/cart/add", post(add))
        .route("/cart/lines/{id}", post(set_quantity))
        .route("/cart/discount", post(apply_discount))
        .route("/cart/discount/remove", post(remove_discount))
        .merge(crate::checkout::router())
        .merge(crate::pay::router())
}

/// The visitor's cart (made when missing) and, for a new guest cart, the
/// `Set-Cookie` that keeps its token. `lazily` leaves a new guest cart
/// unsaved until its first line.
pub(crate) async fn open(site: &Site, visitor: &Visitor, lazily: bool) -> Result<(Cart, Option<String>), PageError> {
    let customer = visitor.customer();
    let token = visitor.cart_token.as_deref();
    let (cart, new_token) = if lazily {
        site.app.orders.open_cart_lazily(customer.as_ref(), token).await?
    } else {
        site.app.orders.open_cart(customer.as_ref(), token).await?
    };
    Ok((cart, new_token))
}

/// Adds the cookie changes an [`open`] implies: a new guest token is kept;
/// a signed-in visitor's guest token (merged by now) is dropped.
pub(crate) fn keep_token(site: &Site, visitor: &Visitor, new_token: Option<&str>, mut response: Response) -> Response {
    if let Some(token) = new_token {
        response.headers_mut().append(header::SET_COOKIE, set_cookie(site, CART_COOKIE, token, 30 * 86_400));
    } else if visitor.user.is_some() && visitor.cart_token.is_some() {
        response.headers_mut().append(header::SET_COOKIE, set_cookie(site, CART_COOKIE, "", 0));
    }
    response
}

pub struct LineRow {
    pub id: Uuid,
    pub title: String,
    pub sku: String,
    pub quantity: i64,
    pub unit_price: String,
    pub total: String,
    pub note: Option<String>,
}

pub struct CartSummary {
    pub lines: Vec<LineRow>,
    pub item_count: i64,
    pub subtotal: String,
    pub discount_code: Option<String>,
    pub discount: Option<String>,
    pub total: String,
}

impl CartSummary {
    pub fn of(view: &CartView) -> CartSummary {
        CartSummary {
            lines: view
                .lines
                .iter()
                .map(|l| LineRow {
                    id: l.id,
                    title: l.title.clone(),
                    sku: l.sku.clone(),
                    quantity: l.quantity,
                    unit_price: money(l.current_price.as_ref().unwrap_or(&l.unit_price)),
                    total: money(&l.total),
                    note: if l.current_price.is_none() {
                        Some("No longer for sale: remove it to check out.".into())
                    } else if l.available.is_some_and(|a| a < l.quantity) {
                        Some(format!("Only {} left.", l.available.unwrap_or(0).max(0)))
                    } else if l.price_changed {
                        Some(format!("The price changed since you added it (was {}).", money(&l.unit_price)))
                    } else {
                        None
                    },
                })
                .collect(),
            item_count: view.item_count,
            subtotal: money(&view.subtotal),
            discount_code: view.discount.as_ref().map(|d| d.code.clone()),
            discount: (view.discount_total.amount > 0).then(|| money(&view.discount_total)),
            total: money(&view.total),
        }
    }
}

#[derive(Template)]
#[template(path = "cart.html")]
struct CartPage {
    c: Chrome,
    cart: CartSummary,
    error: Option<String>,
}

async fn cart_page(State(site): State<Site>, visitor: Visitor, Query(q): Query<Notice>) -> PageResult {
    show_cart(&site, &visitor, q.msg.as_deref(), None, StatusCode::OK).await
}

async fn show_cart(
    site: &Site,
    visitor: &Visitor,
    msg: Option<&str>,
    error: Option<String>,
    status: StatusCode,
) -> PageResult {
    // An unsaved new cart has no token worth keeping yet.
    let (cart, _) = open(site, visitor, true).await?;
    let view = site.app.orders.view(&cart, None).await?;
    let page =
        CartPage { c: Chrome::new(site, visitor, "Your cart").with_notice(msg), cart: CartSummary::of(&view), error };
    Ok(keep_token(site, visitor, None, render_status(status, &page)))
}

#[derive(Deserialize)]
struct AddForm {
    variant_id: String,
    quantity: Option<String>,
    /// The product page to show again when the line cannot be added.
    slug: Option<String>,
}

async fn add(State(site): State<Site>, visitor: Visitor, Form(form): Form<AddForm>) -> PageResult {
    let Ok(variant_id) = Uuid::parse_str(form.variant_id.trim()) else {
        return Err(PageError::new(StatusCode::UNPROCESSABLE_ENTITY, "Choose an option before adding to the cart."));
    };
    let quantity = form.quantity.as_deref().map_or(Ok(1), |q| q.trim().parse::<i64>()).unwrap_or(0);
    let (cart, new_token) = open(&site, &visitor, true).await?;
    match site.app.orders.add_item(&cart, VariantRef::Id(variant_id), quantity, new_token.clone()).await {
        Ok(_) => Ok(keep_token(&site, &visitor, new_token.as_deref(), Redirect::to("/cart?msg=added").into_response())),
        Err(e) => {
            let e = PageError::from(e);
            match form.slug.as_deref() {
                // Show the product again with the reason.
                Some(slug) if e.status != StatusCode::NOT_FOUND && !slug.is_empty() => {
                    let mut page = crate::product::product_view(&site, &visitor, slug, None, Some(e.message)).await?;
                    *page.status_mut() = e.status;
                    Ok(page)
                }
                _ => Err(e),
            }
        }
    }
}

#[derive(Deserialize)]
struct QuantityForm {
    quantity: String,
}

async fn set_quantity(
    State(site): State<Site>,
    visitor: Visitor,
    Path(line_id): Path<String>,
    Form(form): Form<QuantityForm>,
) -> PageResult {
    let line_id = parse_id(&line_id)?;
    let Ok(quantity) = form.quantity.trim().parse::<i64>() else {
        return show_cart(
            &site,
            &visitor,
            None,
            Some("Enter a whole number.".into()),
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    };
    let (cart, _) = open(&site, &visitor, false).await?;
    match site.app.orders.set_quantity(&cart, line_id, quantity).await {
        Ok(_) => Ok(Redirect::to("/cart?msg=cart-updated").into_response()),
        Err(e) => {
            let e = PageError::from(e);
            show_cart(&site, &visitor, None, Some(e.message), e.status).await
        }
    }
}

#[derive(Deserialize)]
struct CodeForm {
    code: String,
}

async fn apply_discount(State(site): State<Site>, visitor: Visitor, Form(form): Form<CodeForm>) -> PageResult {
    let (cart, _) = open(&site, &visitor, false).await?;
    match site.app.orders.apply_discount(&cart, &form.code).await {
        Ok(_) => Ok(Redirect::to("/cart?msg=code-applied").into_response()),
        Err(e) => {
            let e = PageError::from(e);
            show_cart(&site, &visitor, None, Some(e.message), e.status).await
        }
    }
}

async fn remove_discount(State(site): State<Site>, visitor: Visitor) -> PageResult {
    let (cart, _) = open(&site, &visitor, false).await?;
    site.app.orders.remove_discount(&cart).await?;
    Ok(Redirect::to("/cart?msg=code-removed").into_response())
}
