//! Postal addresses. A user has at most one default shipping and one
//! default billing address; the first address becomes both.

use kernel::FieldErrors;
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
        required(&mut errors, "full_name", &mut self.full_name, 200);
        required(&mut errors, "line1", &mut self.line1, 200);
        optional(&mut errors, "line2", &mut self.line2, 200);
        required(&mut errors, "city", &mut self.city, 100);
        optional(&mut errors, "region", &mut self.region, 100);
        required(&mut errors, "postal_code", &mut self.postal_code, 20);
        optional(&mut errors, "phone", &mut self.phone, 32);
        let country = self.country.trim().to_ascii_uppercase();
        if is_country_code(&country) {
            self.country = country;
        } else {
            errors.add("country", "must be an ISO 3166-1 alpha-2 code such as US or DE");
        }
        if let Some(phone) = &self.phone {
            let ok = phone.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c))
                && phone.chars().filter(char::is_ascii_digit).count() >= 5;
            if !ok {
                errors.add("phone", "must be a phone number of digits, spaces and + - ( ) .");
            }
        }
        errors.into_result()
    }
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *slot = value;
    }
}

fn required(errors: &mut FieldErrors, field: &str, value: &mut String, max: usize) {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        errors.add(field, "must not be empty");
    } else if trimmed.chars().count() > max {
        errors.add(field, format!("must be at most {max} characters"));
    } else if trimmed.chars().any(char::is_control) {
        errors.add(field, "must not contain control characters");
    }
    *value = trimmed.to_owned();
}

fn optional(errors: &mut FieldErrors, field: &str, value: &mut Option<String>, max: usize) {
    if let Some(v) = value {
        if v.trim().is_empty() {
            *value = None;
        } else {
            required(errors, field, v, max);
        }
    }
}

/// ISO 3166-1 alpha-2 codes currently assigned.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

pub fn is_country_code(code: &str) -> bool {
    code.len() == 2 && COUNTRIES.split(' ').any(|c| c == code)
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
