//! Step 1 of placing a checkout: the request, its fields checked and each
//! bad one named at once, and the `Idempotency-Key` header.

use crate::error::{OrdersError, Result};
use crate::model::Address;
use crate::payment::Provider;
use crate::service::{Customer, OrdersService};
use kernel::FieldErrors;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// Required for guests; a signed-in customer's account email otherwise.
    #[serde(default)]
    pub email: Option<String>,
    pub shipping_address: Address,
    /// Defaults to the shipping address.
    #[serde(default)]
    pub billing_address: Option<Address>,
    /// A shipping method code; defaults to the first active method.
    #[serde(default)]
    pub shipping_method: Option<String>,
    /// `test`, `manual`, and `stripe` or `solana` when enabled.
    pub payment_provider: String,
}

/// The longest `Idempotency-Key` accepted.
pub const MAX_IDEMPOTENCY_KEY: usize = 255;

pub fn check_idempotency_key(key: Option<&str>) -> Result<String> {
    let key = key.map(str::trim).filter(|k| !k.is_empty()).ok_or_else(|| {
        OrdersError::field("Idempotency-Key", "this request needs an `Idempotency-Key` header (for example a UUID)")
    })?;
    if key.len() > MAX_IDEMPOTENCY_KEY || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(OrdersError::field(
            "Idempotency-Key",
            format!("at most {MAX_IDEMPOTENCY_KEY} printable ASCII characters"),
        ));
    }
    Ok(key.to_owned())
}

fn email_ok(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else { return false };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= 254
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl OrdersService {
    /// Step 1: the request's fields, each bad one named at once.
    pub(super) async fn check_request(
        &self,
        customer: Option<&Customer>,
        request: &CheckoutRequest,
    ) -> Result<Checked> {
        let mut errors = FieldErrors::new();
        let email = match (customer, request.email.as_deref().map(str::trim).filter(|e| !e.is_empty())) {
            (_, Some(e)) if !email_ok(e) => {
                errors.add("email", "is not an email address");
                String::new()
            }
            (_, Some(e)) => e.to_owned(),
            (Some(c), None) => c.email.clone(),
            (None, None) => {
                errors.add("email", "is required to check out as a guest");
                String::new()
            }
        };
        let shipping_address = request.shipping_address.clone().normalized("shipping_address", &mut errors);
        let billing_address = match request.billing_address.clone() {
            Some(a) => a.normalized("billing_address", &mut errors),
            None => shipping_address.clone(),
        };
        let provider = Provider::parse(&request.payment_provider).filter(|p| self.provider_enabled(*p));
        if provider.is_none() {
            errors.add("payment_provider", format!("must be one of {}", self.provider_names().join(", ")));
        }
        let methods = self.shipping_cached().await?;
        let active: Vec<_> = methods.iter().filter(|m| m.active).cloned().collect();
        let method = match request.shipping_method.as_deref() {
            Some(code) => {
                let found = active.iter().find(|m| m.code == code).cloned();
                if found.is_none() {
                    errors.add("shipping_method", "no such active shipping method");
                }
                found
            }
            None => active.first().cloned(),
        };
        errors.into_result()?;
        let Some(provider) = provider else { return Err(OrdersError::field("payment_provider", "unknown")) };
        Ok(Checked { email, shipping_address, billing_address, provider, method })
    }
}

/// What `check_request` makes of a checkout request.
pub(super) struct Checked {
    pub(super) email: String,
    pub(super) shipping_address: Address,
    pub(super) billing_address: Address,
    pub(super) provider: Provider,
    pub(super) method: Option<crate::ShippingMethod>,
}
