//! Paying a placed checkout (card form, Solana Pay transfer, verification)
//! and the order confirmation.

use crate::Site;
use crate::page::{Chrome, PageError, PageResult, money, parse_id, render, render_status};
use crate::session::Visitor;
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use base64::Engine as _;
use orders::{CheckoutState, PaymentStatus, Provider};
use serde::Deserialize;
use uuid::Uuid;

pub fn router() -> Router<Site> {
    Router::new()
        .route("/checkout/pay/{payment_id}", get(pay_page))
        .route("/checkout/pay/{payment_id}/card", post(pay_by_card))
        .route("/checkout/pay/{payment_id}/verify", post(verify))
        .route("/checkout/done/{payment_id}", get(done))
}

/// The checkout behind a payment, if the visitor placed it: their account's,
/// or a guest checkout made from the cart in their cookie.
async fn owned_checkout(site: &Site, visitor: &Visitor, payment_id: &str) -> Result<CheckoutState, PageError> {
    let id = parse_id(payment_id)?;
    let store = site.app.orders.store();
    let checkout_id = store.checkout_of_payment(id).await?.ok_or_else(PageError::not_found)?;
    let state = store.checkout(checkout_id).await?.ok_or_else(PageError::not_found)?;
    let mine = match (state.user_id, &visitor.user, &visitor.cart_token) {
        (Some(owner), Some(user), _) => owner == user.id,
        (None, _, Some(token)) => {
            store.cart_by_token(&orders::hash_token(token)).await?.is_some_and(|c| c.id == state.cart_id)
        }
        _ => false,
    };
    if !mine {
        // Someone else's order: as if it did not exist.
        return Err(PageError::not_found());
    }
    Ok(state)
}

pub struct TransferView {
    pub url: String,
    pub qr: String,
    pub amount: String,
    pub recipient: String,
    pub paid: bool,
}

#[derive(Template)]
#[template(path = "pay.html")]
struct PayPage {
    c: Chrome,
    payment_id: Uuid,
    provider: String,
    amount: String,
    message: String,
    expires: String,
    error: Option<String>,
    stripe_key: Option<String>,
    client_secret: Option<String>,
    transfers: Vec<TransferView>,
}

async fn pay_page(State(site): State<Site>, visitor: Visitor, Path(payment_id): Path<String>) -> PageResult {
    pay_view(&site, &visitor, &payment_id, None, StatusCode::OK).await
}

async fn pay_view(
    site: &Site,
    visitor: &Visitor,
    payment_id: &str,
    error: Option<String>,
    status: StatusCode,
) -> PageResult {
    let state = owned_checkout(site, visitor, payment_id).await?;
    let payment = site.app.orders.payment(state.payment.id).await?;
    if payment.status != PaymentStatus::Pending || payment.provider == Provider::Manual {
        return Ok(Redirect::to(&format!("/checkout/done/{}", payment.id)).into_response());
    }
    let next = web::views::NextAction::of(&payment);
    let transfers = next
        .transfers
        .iter()
        .map(|t| TransferView {
            url: t.url.clone(),
            qr: format!(
                "data:image/svg+xml;base64,{}",
                base64::engine::general_purpose::STANDARD.encode(t.qr_svg.as_bytes())
            ),
            amount: t.amount.clone(),
            recipient: t.recipient.clone(),
            paid: t.paid,
        })
        .collect();
    let page = PayPage {
        c: Chrome::new(site, visitor, "Payment"),
        payment_id: payment.id,
        provider: payment.provider.as_str().to_owned(),
        amount: money(&payment.amount),
        message: next.message.clone(),
        expires: crate::page::date_time(&payment.expires_at),
        error: error.or_else(|| payment.last_error.clone().map(|e| crate::page::sentence(&e))),
        stripe_key: site.config.stripe_publishable_key.clone(),
        client_secret: next.client_secret.clone(),
        transfers,
    };
    Ok(render_status(status, &page))
}

#[derive(Deserialize)]
struct CardForm {
    card_number: String,
}

async fn pay_by_card(
    State(site): State<Site>,
    visitor: Visitor,
    Path(payment_id): Path<String>,
    Form(form): Form<CardForm>,
) -> PageResult {
    let state = owned_checkout(&site, &visitor, &payment_id).await?;
    let number: String = form.card_number.chars().filter(|c| !c.is_whitespace() && *c != '-').collect();
    match site.app.orders.confirm_payment(state.payment.id, &number).await {
        Ok(_) => Ok(Redirect::to(&format!("/checkout/done/{}", state.payment.id)).into_response()),
        Err(e) => {
            let e = PageError::from(e);
            pay_view(&site, &visitor, &payment_id, Some(e.message), e.status).await
        }
    }
}

async fn verify(State(site): State<Site>, visitor: Visitor, Path(payment_id): Path<String>) -> PageResult {
    let state = owned_checkout(&site, &visitor, &payment_id).await?;
    match site.app.orders.verify_payment(state.payment.id).await {
        Ok(view) if view.status != PaymentStatus::Pending => {
            Ok(Redirect::to(&format!("/checkout/done/{}", state.payment.id)).into_response())
        }
        Ok(_) => {
            let note = "We have not seen the payment on chain yet. It can take a few seconds after you approve it.";
            pay_view(&site, &visitor, &payment_id, Some(note.into()), StatusCode::OK).await
        }
        Err(e) => {
            let e = PageError::from(e);
            pay_view(&site, &visitor, &payment_id, Some(e.message), e.status).await
        }
    }
}

pub struct OrderSummary {
    pub number: String,
    pub href: Option<String>,
    pub status: String,
    pub lines: Vec<(String, i64, String)>,
    pub total: String,
}

#[derive(Template)]
#[template(path = "done.html")]
struct DonePage {
    c: Chrome,
    paid: bool,
    status: String,
    message: String,
    email: String,
    orders: Vec<OrderSummary>,
    payment_id: Uuid,
}

async fn done(State(site): State<Site>, visitor: Visitor, Path(payment_id): Path<String>) -> PageResult {
    let state = owned_checkout(&site, &visitor, &payment_id).await?;
    let payment = site.app.orders.payment(state.payment.id).await?;
    let signed_in = visitor.user.is_some();
    let orders = state
        .orders
        .iter()
        .map(|o| OrderSummary {
            number: o.number.clone(),
            href: signed_in.then(|| format!("/account/orders/{}", o.id)),
            status: crate::page::humanize(o.status.as_str()),
            lines: o.lines.iter().map(|l| (l.title.clone(), l.quantity, money(&l.total))).collect(),
            total: money(&o.total),
        })
        .collect();
    let paid = matches!(payment.status, PaymentStatus::Succeeded);
    Ok(render(&DonePage {
        c: Chrome::new(&site, &visitor, "Thank you"),
        paid,
        status: crate::page::humanize(payment.status.as_str()),
        message: web::views::NextAction::of(&payment).message,
        email: state.email.clone(),
        orders,
        payment_id: payment.id,
    }))
}
