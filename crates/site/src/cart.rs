//! Cart, checkout, payment and the order confirmation.
//!
//! A guest's cart token lives in the `em_cart` cookie; a signed-in
//! customer's cart is found by account, and a guest cart whose cookie comes
//! along is merged into it (then the cookie is dropped).

use crate::Site;
use crate::page::{
    AddressForm, Choice, Chrome, Notice, PageError, PageResult, money, optional, parse_id, render, render_status,
};
use crate::session::{CART_COOKIE, Visitor, set_cookie};
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use orders::{Address, Cart, CartView, CheckoutRequest, CheckoutState, PaymentStatus, Provider, VariantRef};
use serde::Deserialize;
use uuid::Uuid;

pub fn router() -> Router<Site> {
    Router::new()
        .route("/cart", get(cart_page))
        .route("/cart/add", post(add))
        .route("/cart/lines/{id}", post(set_quantity))
        .route("/cart/discount", post(apply_discount))
        .route("/cart/discount/remove", post(remove_discount))
        .route("/checkout", get(checkout_page).post(place_order))
        .route("/checkout/pay/{payment_id}", get(pay_page))
        .route("/checkout/pay/{payment_id}/card", post(pay_by_card))
        .route("/checkout/pay/{payment_id}/verify", post(verify))
        .route("/checkout/done/{payment_id}", get(done))
}

/// The visitor's cart (made when missing) and, for a new guest cart, the
/// `Set-Cookie` that keeps its token. `lazily` leaves a new guest cart
/// unsaved until its first line.
async fn open(site: &Site, visitor: &Visitor, lazily: bool) -> Result<(Cart, Option<String>), PageError> {
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
fn keep_token(site: &Site, visitor: &Visitor, new_token: Option<&str>, mut response: Response) -> Response {
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
                    let mut page = crate::shop::product_view(&site, &visitor, slug, None, Some(e.message)).await?;
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

/// What the checkout form was sent with, to show it again after an error.
#[derive(Debug, Default, Deserialize)]
struct CheckoutForm {
    #[serde(default)]
    email: String,
    /// A saved address's id, or empty for the fields below.
    #[serde(default)]
    address_id: String,
    #[serde(flatten)]
    address: AddressForm,
    #[serde(default)]
    save_address: Option<String>,
    #[serde(default)]
    shipping_method: String,
    #[serde(default)]
    payment_provider: String,
    /// The idempotency key minted with the form: sending it twice places one order.
    #[serde(default)]
    key: String,
}

#[derive(Template)]
#[template(path = "checkout.html")]
struct CheckoutPage {
    c: Chrome,
    cart: CartSummary,
    form: CheckoutForm,
    signed_in: bool,
    addresses: Vec<Choice>,
    shipping: Vec<Choice>,
    providers: Vec<Choice>,
    error: Option<String>,
}

fn provider_label(code: &str) -> &'static str {
    match code {
        "test" => "Test card (no real money)",
        "manual" => "Pay later (bank transfer or cash; staff confirm it)",
        "stripe" => "Card (Stripe)",
        "solana" => "Solana Pay",
        _ => "Other",
    }
}

async fn checkout_page(State(site): State<Site>, visitor: Visitor) -> PageResult {
    let form = CheckoutForm { key: Uuid::new_v4().to_string(), ..CheckoutForm::default() };
    checkout_form(&site, &visitor, form, None, StatusCode::OK).await
}

async fn checkout_form(
    site: &Site,
    visitor: &Visitor,
    mut form: CheckoutForm,
    error: Option<String>,
    status: StatusCode,
) -> PageResult {
    let (cart, _) = open(site, visitor, true).await?;
    if cart.lines.is_empty() {
        return Ok(Redirect::to("/cart").into_response());
    }
    let view = site.app.orders.view(&cart, None).await?;
    let saved = match &visitor.user {
        Some(user) => site.app.identity.addresses(user).await?,
        None => Vec::new(),
    };
    if form.address_id.is_empty()
        && form.address.line1.is_empty()
        && let Some(default) = saved.iter().find(|a| a.is_default_shipping).or(saved.first())
    {
        form.address_id = default.id.to_string();
    }
    let mut addresses: Vec<Choice> = saved
        .iter()
        .map(|a| Choice {
            value: a.id.to_string(),
            label: format!("{}, {}, {} {}, {}", a.full_name, a.line1, a.postal_code, a.city, a.country),
            checked: form.address_id == a.id.to_string(),
        })
        .collect();
    if !addresses.is_empty() {
        addresses.push(Choice {
            value: String::new(),
            label: "A new address".into(),
            checked: form.address_id.is_empty(),
        });
    }
    let methods = site.app.orders.shipping_methods().await?;
    let shipping = methods
        .iter()
        .filter(|m| m.active)
        .enumerate()
        .map(|(i, m)| {
            let free =
                m.free_above.map(|f| format!(", free from {}", crate::page::amount(f, m.price.currency.as_str())));
            Choice {
                value: m.code.clone(),
                label: format!("{} — {}{}", m.name, money(&m.price), free.unwrap_or_default()),
                checked: if form.shipping_method.is_empty() { i == 0 } else { form.shipping_method == m.code },
            }
        })
        .collect();
    let providers = site
        .app
        .orders
        .provider_names()
        .into_iter()
        .enumerate()
        .map(|(i, p)| Choice {
            value: p.to_owned(),
            label: provider_label(p).to_owned(),
            checked: if form.payment_provider.is_empty() { i == 0 } else { form.payment_provider == p },
        })
        .collect();
    if form.address.country.is_empty() {
        form.address.country = "US".into();
    }
    let page = CheckoutPage {
        c: Chrome::new(site, visitor, "Checkout"),
        cart: CartSummary::of(&view),
        signed_in: visitor.user.is_some(),
        form,
        addresses,
        shipping,
        providers,
        error,
    };
    Ok(render_status(status, &page))
}

async fn place_order(State(site): State<Site>, visitor: Visitor, Form(form): Form<CheckoutForm>) -> PageResult {
    let user = visitor.user.as_ref();
    let address = match (user, Uuid::parse_str(form.address_id.trim()).ok()) {
        (Some(user), Some(id)) => {
            let saved = site.app.identity.addresses(user).await?;
            let Some(a) = saved.into_iter().find(|a| a.id == id) else {
                return checkout_form(
                    &site,
                    &visitor,
                    form,
                    Some("Choose one of your addresses.".into()),
                    StatusCode::UNPROCESSABLE_ENTITY,
                )
                .await;
            };
            Address {
                full_name: a.full_name,
                line1: a.line1,
                line2: a.line2,
                city: a.city,
                region: a.region,
                postal_code: a.postal_code,
                country: a.country,
                phone: a.phone,
            }
        }
        _ => form.address.to_order_address(),
    };
    let request = CheckoutRequest {
        email: if user.is_some() { None } else { Some(form.email.clone()) },
        shipping_address: address,
        billing_address: None,
        shipping_method: optional(&form.shipping_method),
        payment_provider: form.payment_provider.clone(),
    };
    let key = match orders::check_idempotency_key(Some(form.key.as_str())) {
        Ok(key) => key,
        Err(_) => Uuid::new_v4().to_string(),
    };
    let (cart, _) = open(&site, &visitor, false).await?;
    match site.app.orders.checkout(visitor.customer().as_ref(), &cart, &key, request).await {
        Ok(answer) => {
            if let (Some(user), true) = (user, form.save_address.is_some() && form.address_id.trim().is_empty()) {
                // The order is placed; a full address book only means it is not saved.
                if let Err(e) = site.app.identity.add_address(user, form.address.to_input()).await {
                    tracing::info!(error = %e, "checkout address not saved");
                }
            }
            Ok(Redirect::to(&format!("/checkout/pay/{}", answer.payment.id)).into_response())
        }
        Err(e) => {
            let e = PageError::from(e);
            if e.status == StatusCode::NOT_FOUND {
                return Err(e);
            }
            checkout_form(&site, &visitor, form, Some(e.message), e.status).await
        }
    }
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
    let transfers = payment
        .next_action
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
        message: payment.next_action.message.clone(),
        expires: crate::page::date_time(&payment.expires_at),
        error: error.or_else(|| payment.last_error.clone().map(|e| crate::page::sentence(&e))),
        stripe_key: site.config.stripe_publishable_key.clone(),
        client_secret: payment.next_action.client_secret.clone(),
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
        message: payment.next_action.message.clone(),
        email: state.email.clone(),
        orders,
        payment_id: payment.id,
    }))
}
