//! Postal address rules shared by the address book (identity) and checkout
//! (orders): trimmed fields with length limits, an assigned ISO 3166-1
//! country code, a plausible phone number.

use crate::FieldErrors;

/// The fields of a postal address, borrowed for normalising in place.
#[derive(Debug)]
pub struct PostalFields<'a> {
    pub full_name: &'a mut String,
    pub line1: &'a mut String,
    pub line2: &'a mut Option<String>,
    pub city: &'a mut String,
    pub region: &'a mut Option<String>,
    pub postal_code: &'a mut String,
    pub country: &'a mut String,
    pub phone: &'a mut Option<String>,
}

/// Trims every field, upper-cases the country, turns blank optional fields
/// into `None`, and records each invalid field as `{prefix}{field}`
/// (`prefix` is empty or ends with a dot, e.g. `shipping_address.`).
pub fn normalise(errors: &mut FieldErrors, prefix: &str, f: PostalFields<'_>) {
    let name = |field: &str| format!("{prefix}{field}");
    required(errors, &name("full_name"), f.full_name, 200);
    required(errors, &name("line1"), f.line1, 200);
    optional(errors, &name("line2"), f.line2, 200);
    required(errors, &name("city"), f.city, 100);
    optional(errors, &name("region"), f.region, 100);
    required(errors, &name("postal_code"), f.postal_code, 20);
    optional(errors, &name("phone"), f.phone, 32);
    let country = f.country.trim().to_ascii_uppercase();
    if is_country_code(&country) {
        *f.country = country;
    } else {
        errors.add(&name("country"), "must be an ISO 3166-1 alpha-2 code such as US or DE");
    }
    if let Some(phone) = f.phone.as_deref() {
        let ok = phone.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c))
            && phone.chars().filter(char::is_ascii_digit).count() >= 5;
        if !ok {
            errors.add(&name("phone"), "must be a phone number of digits, spaces and + - ( ) .");
        }
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
