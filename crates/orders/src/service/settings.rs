//! Staff-managed pricing data: discount codes, shipping methods, tax rates.

use super::OrdersService;
use crate::error::{OrdersError, Result, SettingsError};
use crate::pricing::{DiscountCode, DiscountKind, ShippingMethod, TaxRate};
use kernel::{Currency, FieldErrors, Money, Page, PageSpec, new_id};
use serde::Deserialize;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// Create or replace a discount code (PATCH sends only what changes).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscountInput {
    pub code: Option<String>,
    pub kind: Option<DiscountKind>,
    /// Percent (1–100) or minor units.
    pub value: Option<i64>,
    pub currency: Option<Currency>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub min_subtotal: Option<Option<i64>>,
    #[serde(default, with = "double_option_time")]
    #[schema(value_type = Option<String>)]
    pub starts_at: Option<Option<OffsetDateTime>>,
    #[serde(default, with = "double_option_time")]
    #[schema(value_type = Option<String>)]
    pub ends_at: Option<Option<OffsetDateTime>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub usage_limit: Option<Option<i64>>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub per_customer_limit: Option<Option<i64>>,
    pub active: Option<bool>,
}

/// `null` and absent differ: absent keeps, `null` clears.
mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
        Option::<i64>::deserialize(d).map(Some)
    }
}

mod double_option_time {
    use serde::{Deserialize, Deserializer};
    use time::OffsetDateTime;
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<OffsetDateTime>>, D::Error> {
        #[derive(Deserialize)]
        struct W(#[serde(with = "time::serde::rfc3339::option")] Option<OffsetDateTime>);
        W::deserialize(d).map(|w| Some(w.0))
    }
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShippingMethodInput {
    pub code: Option<String>,
    pub name: Option<String>,
    pub price: Option<Money>,
    #[serde(default, with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub free_above: Option<Option<i64>>,
    pub active: Option<bool>,
    pub position: Option<i32>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TaxRateInput {
    pub country: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    /// Basis points: 2000 is 20 %.
    pub rate_bp: Option<i64>,
    pub name: Option<String>,
}

fn code_ok(code: &str) -> bool {
    !code.is_empty() && code.len() <= 64 && code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks `d` as it would be stored; `given` is the currency the request
/// sets (a stored one ISO 4217 has withdrawn since is kept through edits).
fn validate_discount(d: &DiscountCode, given: Option<Currency>) -> Result<()> {
    let mut e = FieldErrors::new();
    if !code_ok(&d.code) {
        e.add("code", "1–64 letters, digits, - or _");
    }
    match d.kind {
        DiscountKind::Percentage if !(1..=100).contains(&d.value) => e.add("value", "a percentage from 1 to 100"),
        DiscountKind::Fixed if !(1..=100_000_000).contains(&d.value) => {
            e.add("value", "an amount in minor units above 0")
        }
        DiscountKind::Fixed if d.currency.is_none() => e.add("currency", "is required for a fixed amount"),
        _ => {}
    }
    if let Some(c) = given.filter(|c| !c.is_current()) {
        e.add("currency", format!("{c} is no longer an ISO 4217 currency"));
    }
    if d.min_subtotal.is_some_and(|m| m < 0) {
        e.add("min_subtotal", "cannot be negative");
    }
    if let (Some(s), Some(end)) = (d.starts_at, d.ends_at)
        && end <= s
    {
        e.add("ends_at", "must be after starts_at");
    }
    if d.usage_limit.is_some_and(|l| l < 1) {
        e.add("usage_limit", "at least 1, or null for no limit");
    }
    if d.per_customer_limit.is_some_and(|l| l < 1) {
        e.add("per_customer_limit", "at least 1, or null for no limit");
    }
    Ok(e.into_result()?)
}

fn apply_discount(d: &mut DiscountCode, input: DiscountInput) {
    if let Some(code) = input.code {
        d.code = DiscountCode::normalize_code(&code);
    }
    if let Some(kind) = input.kind {
        d.kind = kind;
    }
    if let Some(value) = input.value {
        d.value = value;
    }
    if input.currency.is_some() {
        d.currency = input.currency;
    }
    if let Some(v) = input.min_subtotal {
        d.min_subtotal = v;
    }
    if let Some(v) = input.starts_at {
        d.starts_at = v;
    }
    if let Some(v) = input.ends_at {
        d.ends_at = v;
    }
    if let Some(v) = input.usage_limit {
        d.usage_limit = v;
    }
    if let Some(v) = input.per_customer_limit {
        d.per_customer_limit = v;
    }
    if let Some(v) = input.active {
        d.active = v;
    }
}

/// Checks `m` as it would be stored; `given` is the price the request sets.
fn validate_method(m: &ShippingMethod, given: Option<Money>) -> Result<()> {
    let mut e = FieldErrors::new();
    if !code_ok(&m.code) {
        e.add("code", "1–64 letters, digits, - or _");
    }
    if m.name.trim().is_empty() || m.name.chars().count() > 100 {
        e.add("name", "1–100 characters");
    }
    if !(0..=100_000_000).contains(&m.price.amount) {
        e.add("price", "0 or more minor units");
    }
    if let Some(price) = given.filter(|p| !p.currency.is_current()) {
        e.add("price.currency", format!("{} is no longer an ISO 4217 currency", price.currency));
    }
    if m.free_above.is_some_and(|f| f < 0) {
        e.add("free_above", "cannot be negative");
    }
    Ok(e.into_result()?)
}

fn validate_rate(r: &TaxRate) -> Result<()> {
    let mut e = FieldErrors::new();
    if r.country.len() != 2 || !r.country.bytes().all(|b| b.is_ascii_uppercase()) {
        e.add("country", "an ISO 3166-1 alpha-2 code such as DE");
    }
    if r.region.as_ref().is_some_and(|x| x.is_empty() || x.chars().count() > 100) {
        e.add("region", "1–100 characters, or null for the whole country");
    }
    if !(0..=10_000).contains(&r.rate_bp) {
        e.add("rate_bp", "0 to 10000 basis points");
    }
    if r.name.chars().count() > 100 {
        e.add("name", "at most 100 characters");
    }
    Ok(e.into_result()?)
}

impl OrdersService {
    /// Codes in alphabetical order; with `q`, those containing it.
    pub async fn discount_codes(&self, q: Option<&str>, page: PageSpec) -> Result<Page<DiscountCode>, SettingsError> {
        let (items, total) = self.store.discount_codes(q, page).await?;
        Ok(Page::new(items, page, total))
    }

    pub async fn create_discount(&self, input: DiscountInput) -> Result<DiscountCode, SettingsError> {
        let mut e = FieldErrors::new();
        if input.code.is_none() {
            e.add("code", "is required");
        }
        if input.kind.is_none() {
            e.add("kind", "is required (percentage or fixed)");
        }
        if input.value.is_none() {
            e.add("value", "is required");
        }
        e.into_result()?;
        let mut d = DiscountCode {
            id: new_id(),
            code: String::new(),
            kind: DiscountKind::Percentage,
            value: 0,
            currency: None,
            min_subtotal: None,
            starts_at: None,
            ends_at: None,
            usage_limit: None,
            per_customer_limit: None,
            times_used: 0,
            active: true,
            created_at: self.now(),
        };
        let given = input.currency;
        apply_discount(&mut d, input);
        validate_discount(&d, given)?;
        self.store.insert_discount(&d).await?;
        Ok(d)
    }

    pub async fn update_discount(&self, id: Uuid, input: DiscountInput) -> Result<DiscountCode, SettingsError> {
        let mut d = self.store.discount(id).await?.ok_or(OrdersError::NotFound("discount code"))?;
        let given = input.currency;
        apply_discount(&mut d, input);
        validate_discount(&d, given)?;
        if !self.store.update_discount(&d).await? {
            return Err(SettingsError::NotFound("discount code"));
        }
        Ok(d)
    }

    pub async fn delete_discount(&self, id: Uuid) -> Result<(), SettingsError> {
        if self.store.delete_discount(id).await? { Ok(()) } else { Err(SettingsError::NotFound("discount code")) }
    }

    /// Every method, active first then by position.
    pub async fn shipping_methods(&self) -> Result<Vec<ShippingMethod>, SettingsError> {
        Ok(self.store.shipping_methods().await?)
    }

    pub async fn create_shipping_method(&self, input: ShippingMethodInput) -> Result<ShippingMethod, SettingsError> {
        let (Some(code), Some(name), Some(price)) = (input.code.clone(), input.name.clone(), input.price) else {
            let mut e = FieldErrors::new();
            for (f, missing) in
                [("code", input.code.is_none()), ("name", input.name.is_none()), ("price", input.price.is_none())]
            {
                if missing {
                    e.add(f, "is required");
                }
            }
            return Err(e.into());
        };
        let m = ShippingMethod {
            id: new_id(),
            code: code.trim().to_owned(),
            name: name.trim().to_owned(),
            price,
            free_above: input.free_above.flatten(),
            active: input.active.unwrap_or(true),
            position: input.position.unwrap_or(0),
        };
        validate_method(&m, Some(price))?;
        self.store.insert_shipping_method(&m).await?;
        self.settings_changed();
        Ok(m)
    }

    pub async fn update_shipping_method(
        &self,
        id: Uuid,
        input: ShippingMethodInput,
    ) -> Result<ShippingMethod, SettingsError> {
        let mut m = self
            .store
            .shipping_methods()
            .await?
            .into_iter()
            .find(|m| m.id == id)
            .ok_or(OrdersError::NotFound("shipping method"))?;
        if let Some(v) = input.code {
            m.code = v.trim().to_owned();
        }
        if let Some(v) = input.name {
            m.name = v.trim().to_owned();
        }
        if let Some(v) = input.price {
            m.price = v;
        }
        if let Some(v) = input.free_above {
            m.free_above = v;
        }
        if let Some(v) = input.active {
            m.active = v;
        }
        if let Some(v) = input.position {
            m.position = v;
        }
        validate_method(&m, input.price)?;
        let updated = self.store.update_shipping_method(&m).await?;
        self.settings_changed();
        if !updated {
            return Err(SettingsError::NotFound("shipping method"));
        }
        Ok(m)
    }

    pub async fn delete_shipping_method(&self, id: Uuid) -> Result<(), SettingsError> {
        let deleted = self.store.delete_shipping_method(id).await?;
        self.settings_changed();
        if deleted { Ok(()) } else { Err(SettingsError::NotFound("shipping method")) }
    }

    pub async fn tax_rates(&self) -> Result<Vec<TaxRate>, SettingsError> {
        Ok(self.store.tax_rates().await?)
    }

    pub async fn create_tax_rate(&self, input: TaxRateInput) -> Result<TaxRate, SettingsError> {
        let (Some(country), Some(rate_bp)) = (input.country.clone(), input.rate_bp) else {
            let mut e = FieldErrors::new();
            if input.country.is_none() {
                e.add("country", "is required");
            }
            if input.rate_bp.is_none() {
                e.add("rate_bp", "is required");
            }
            return Err(e.into());
        };
        let r = TaxRate {
            id: new_id(),
            country: country.trim().to_ascii_uppercase(),
            region: input.region.map(|r| r.trim().to_owned()),
            rate_bp,
            name: input.name.unwrap_or_default().trim().to_owned(),
        };
        validate_rate(&r)?;
        self.store.insert_tax_rate(&r).await?;
        self.settings_changed();
        Ok(r)
    }

    pub async fn update_tax_rate(&self, id: Uuid, input: TaxRateInput) -> Result<TaxRate, SettingsError> {
        let mut r =
            self.store.tax_rates().await?.into_iter().find(|r| r.id == id).ok_or(OrdersError::NotFound("tax rate"))?;
        if let Some(v) = input.country {
            r.country = v.trim().to_ascii_uppercase();
        }
        if let Some(v) = input.region {
            r.region = Some(v.trim().to_owned());
        }
        if let Some(v) = input.rate_bp {
            r.rate_bp = v;
        }
        if let Some(v) = input.name {
            r.name = v.trim().to_owned();
        }
        validate_rate(&r)?;
        let updated = self.store.update_tax_rate(&r).await?;
        self.settings_changed();
        if !updated {
            return Err(SettingsError::NotFound("tax rate"));
        }
        Ok(r)
    }

    pub async fn delete_tax_rate(&self, id: Uuid) -> Result<(), SettingsError> {
        let deleted = self.store.delete_tax_rate(id).await?;
        self.settings_changed();
        if deleted { Ok(()) } else { Err(SettingsError::NotFound("tax rate")) }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::DiscountKind;

    #[test]
    fn a_withdrawn_currency_is_refused_when_given_and_kept_when_stored() {
        let hrk = Currency::try_from("HRK".to_owned()).unwrap();
        let d = DiscountCode {
            id: Uuid::nil(),
            code: "KUNA".into(),
            kind: DiscountKind::Fixed,
            value: 500,
            currency: Some(hrk),
            min_subtotal: None,
            starts_at: None,
            ends_at: None,
            usage_limit: None,
            per_customer_limit: None,
            times_used: 0,
            active: false,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        };
        assert!(validate_discount(&d, Some(hrk)).is_err(), "not for a new code");
        assert!(validate_discount(&d, None).is_ok(), "a stored one stays editable (deactivated here)");
        let m = ShippingMethod {
            id: Uuid::nil(),
            code: "old".into(),
            name: "Old".into(),
            price: Money::new(500, hrk),
            free_above: None,
            active: true,
            position: 0,
        };
        assert!(validate_method(&m, Some(m.price)).is_err());
        assert!(validate_method(&m, None).is_ok());
    }
}
