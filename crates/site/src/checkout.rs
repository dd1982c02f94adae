//! The checkout page and placing the order.

use crate::Site;
use crate::cart::{CartSummary, open};
use crate::page::{AddressForm, Choice, Chrome, PageError, PageResult, money, optional, render_status};
use crate::session::Visitor;
use askama::Template;
use axum::Router;
use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use orders::{Address, CheckoutRequest};
use serde::Deserialize;
use uuid::Uuid;

pub fn router() -> Router<Site> {
    Router::new().route("/checkout", get(checkout_page).post(place_order))
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
