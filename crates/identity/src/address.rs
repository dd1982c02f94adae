//! Postal addresses. A user has at most one default shipping and one
//! default billing address; the first address becomes both.

use kernel::FieldErrors;
use kernel::postal::PostalFields;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Address {
    pub id: Uuid,
    #[serde(skip)]
    pub user_id: Uuid,
    pub full_name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub phone: Option<String>,
    pub is_default_shipping: bool,
    pub is_default_billing: bool,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
}

/// The address fields a client sends (create, and full replacement).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct AddressInput {
    pub full_name: String,
    pub line1: String,
    pub line2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub postal_code: String,
    pub country: String,
    pub phone: Option<String>,
    pub is_default_shipping: Option<bool>,
    pub is_default_billing: Option<bool>,
}

/// A partial update: absent fields keep their value; `null` clears an
/// optional one.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct AddressPatch {
    pub full_name: Option<String>,
    pub line1: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub line2: Option<Option<String>>,
    pub city: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub region: Option<Option<String>>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    pub phone: Option<Option<String>>,
    pub is_default_shipping: Option<bool>,
    pub is_default_billing: Option<bool>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl Address {
    pub fn apply(&mut self, patch: AddressPatch) {
        let AddressPatch {
            full_name,
            line1,
            line2,
            city,
            region,
            postal_code,
            country,
            phone,
            is_default_shipping,
            is_default_billing,
        } = patch;
        set(&mut self.full_name, full_name);
        set(&mut self.line1, line1);
        set(&mut self.line2, line2);
        set(&mut self.city, city);
        set(&mut self.region, region);
        set(&mut self.postal_code, postal_code);
        set(&mut self.country, country);
        set(&mut self.phone, phone);
        set(&mut self.is_default_shipping, is_default_shipping);
        set(&mut self.is_default_billing, is_default_billing);
    }

    /// Normalises every field in place and reports every invalid one.
    pub fn normalise(&mut self) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        let fields = PostalFields {
            full_name: &mut self.full_name,
            line1: &mut self.line1,
            line2: &mut self.line2,
            city: &mut self.city,
            region: &mut self.region,
            postal_code: &mut self.postal_code,
            country: &mut self.country,
            phone: &mut self.phone,
        };
        kernel::postal::normalise(&mut errors, "", fields);
        errors.into_result()
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Address {
        Address {
            id: kernel::new_id(),
            user_id: kernel::new_id(),
            full_name: " Ada Lovelace ".into(),
            line1: "12 St James's Square".into(),
            line2: Some("  ".into()),
            city: "London".into(),
            region: None,
            postal_code: "SW1Y 4JH".into(),
            country: "gb".into(),
            phone: Some("+44 20 7946 0958".into()),
            is_default_shipping: false,
            is_default_billing: false,
            created_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn normalises_valid_address() {
        let mut a = sample();
        assert_eq!(a.normalise(), Ok(()));
        assert_eq!((a.full_name.as_str(), a.country.as_str(), a.line2.clone()), ("Ada Lovelace", "GB", None));
    }

    #[test]
    fn names_every_bad_field() {
        let mut a = sample();
        a.city = " ".into();
        a.country = "XX".into();
        a.phone = Some("call me".into());
        let errors = a.normalise().expect_err("invalid");
        let fields: Vec<_> = errors.fields.keys().map(String::as_str).collect();
        assert_eq!(fields, ["city", "country", "phone"]);
    }

    #[test]
    fn patch_keeps_absent_and_clears_null() {
        let mut a = sample();
        let patch: AddressPatch = serde_json::from_str(r#"{"city": "Paris", "phone": null}"#).expect("json");
        a.apply(patch);
        assert_eq!((a.city.as_str(), a.phone.clone(), a.line1.as_str()), ("Paris", None, "12 St James's Square"));
    }
}
