//! Money is an integer count of minor units plus an ISO 4217 currency code.
//! Arithmetic is checked: mixing currencies or overflowing is an error, never
//! a silently wrong total.

use serde::{Deserialize, Serialize};
use std::fmt;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
#[schema(value_type = String, example = "USD")]
pub struct Currency([u8; 3]);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MoneyError {
    #[error("currency must be an ISO 4217 code such as USD or EUR")]
    BadCurrency,
    #[error("cannot combine {0} with {1}")]
    CurrencyMismatch(Currency, Currency),
    #[error("amount overflow")]
    Overflow,
}

impl Currency {
    /// A code of ISO 4217's list of active currencies (upper case, as
    /// written there): `ZZZ` has the shape of one and is refused.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let bytes = code.as_bytes();
        if bytes.len() == 3 && ISO_4217.binary_search(&code).is_ok() {
            Ok(Currency([bytes[0], bytes[1], bytes[2]]))
        } else {
            Err(MoneyError::BadCurrency)
        }
    }
    /// Listed by ISO 4217 today: what new prices may be in. A code
    /// withdrawn since reads back from a stored document, but input in it
    /// is refused where prices are set.
    pub fn is_current(&self) -> bool {
        ISO_4217.binary_search(&self.as_str()).is_ok()
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

/// ISO 4217's active codes (list one, as published by SIX), sorted for
/// binary search; the funds codes (`BOV`, `CHE`, …) and the precious metals
/// and testing codes (`XAU`, `XTS`, `XXX`) included, as the standard lists them.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
    "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF",
    "CLP", "CNY", "COP", "COU", "CRC", "CUC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB",
    "EUR", "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR",
    "ILS", "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD",
    "KZT", "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR",
    "MVR", "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK",
    "PHP", "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP",
    "SLE", "SLL", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD",
    "TWD", "TZS", "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF",
    "XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR", "XOF", "XPD", "XPF", "XPT", "XSU", "XTS", "XUA",
    "XXX", "YER", "ZAR", "ZMW", "ZWG", "ZWL",
];

/// Codes ISO 4217 has withdrawn (its list three) since the euro and the
/// redenominations of the last decades, sorted: accepted when reading what
/// was stored, never as a new shop's currency.
const WITHDRAWN: &[&str] = &[
    "ADP", "AFA", "ATS", "AZM", "BEF", "BGL", "BYB", "BYR", "CSD", "CYP", "DEM", "ECS", "EEK", "ESP", "FIM", "FRF",
    "GHC", "GRD", "HRK", "IEP", "ITL", "LTL", "LUF", "LVL", "MGF", "MRO", "MTL", "MZM", "NLG", "PTE", "ROL", "RUR",
    "SDD", "SIT", "SKK", "SRG", "STD", "TMM", "TRL", "VEB", "VEF", "XEU", "YUM", "ZMK", "ZWD", "ZWN", "ZWR",
];

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    /// Any code ISO 4217 lists or has listed: a document stored in a
    /// currency since withdrawn (`HRK` before 2023) still reads.
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Currency::parse(&value).or_else(|e| {
            if WITHDRAWN.binary_search(&value.as_str()).is_ok() {
                let b = value.as_bytes();
                Ok(Currency([b[0], b[1], b[2]]))
            } else {
                Err(e)
            }
        })
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub struct Money {
    /// Amount in minor units (cents for USD).
    pub amount: i64,
    pub currency: Currency,
}

impl Money {
    pub fn new(amount: i64, currency: Currency) -> Self {
        Money { amount, currency }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self.amount.checked_add(other.amount).ok_or(MoneyError::Overflow)?;
        Ok(Money { amount, currency: self.currency })
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let amount = self.amount.checked_sub(other.amount).ok_or(MoneyError::Overflow)?;
        Ok(Money { amount, currency: self.currency })
    }

    pub fn checked_mul(self, quantity: i64) -> Result<Money, MoneyError> {
        let amount = self.amount.checked_mul(quantity).ok_or(MoneyError::Overflow)?;
        Ok(Money { amount, currency: self.currency })
    }

    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }
}

/// The number of digits after the decimal point of an ISO 4217 currency's
/// minor unit (2 for USD, 0 for JPY, 3 for KWD).
pub fn currency_exponent(code: &str) -> u32 {
    match code {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX" | "UYI" | "VND"
        | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        "CLF" | "UYW" => 4,
        _ => 2,
    }
}

/// Minor units as people read them: `$1,234.50`, `€12.34`, `£12.34`,
/// `¥1,234`, or `12.34 CHF`.
pub fn display_amount(minor: i64, currency: &str) -> String {
    let exponent = currency_exponent(currency);
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    let number = if exponent == 0 {
        group_thousands(abs)
    } else {
        let unit = 10u64.pow(exponent);
        format!("{}.{:0width$}", group_thousands(abs / unit), abs % unit, width = exponent as usize)
    };
    match currency {
        "USD" => format!("{sign}${number}"),
        "EUR" => format!("{sign}€{number}"),
        "GBP" => format!("{sign}£{number}"),
        "JPY" => format!("{sign}¥{number}"),
        other => format!("{sign}{number} {other}"),
    }
}

fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

impl fmt::Display for Money {
    /// As [`display_amount`] writes it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&display_amount(self.amount, self.currency.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(amount: i64) -> Money {
        Money::new(amount, Currency::parse("USD").expect("valid"))
    }

    #[test]
    fn currency_codes() {
        assert!(Currency::parse("EUR").is_ok());
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]), "sorted for binary search");
        assert!(WITHDRAWN.windows(2).all(|w| w[0] < w[1]), "sorted for binary search");
        assert!(Currency::parse("HRK").is_err(), "withdrawn: not a new currency");
        assert_eq!(Currency::try_from("HRK".to_owned()).map(|c| c.to_string()), Ok("HRK".to_owned()), "but it reads");
        assert!(!Currency::try_from("HRK".to_owned()).expect("reads").is_current(), "and is not current");
        assert!(Currency::parse("EUR").expect("valid").is_current());
        assert!(Currency::try_from("ZZZ".to_owned()).is_err());
        for good in ["USD", "JPY", "KWD", "CHF", "XOF"] {
            assert!(Currency::parse(good).is_ok(), "{good}");
        }
        for bad in ["eur", "EU", "EURO", "E1R", "", "ZZZ", "ABC", "USA"] {
            assert_eq!(Currency::parse(bad), Err(MoneyError::BadCurrency), "{bad}");
        }
    }

    #[test]
    fn exponents() {
        assert_eq!(currency_exponent("USD"), 2);
        assert_eq!(currency_exponent("JPY"), 0);
        assert_eq!(currency_exponent("KWD"), 3);
    }

    #[test]
    fn arithmetic_is_checked() {
        assert_eq!(usd(1999).checked_add(usd(1)), Ok(usd(2000)));
        assert_eq!(usd(5).checked_sub(usd(7)), Ok(usd(-2)));
        assert_eq!(usd(1999).checked_mul(3), Ok(usd(5997)));
        assert_eq!(usd(i64::MAX).checked_add(usd(1)), Err(MoneyError::Overflow));
        let eur = Money::new(1, Currency::parse("EUR").expect("valid"));
        assert!(matches!(usd(1).checked_add(eur), Err(MoneyError::CurrencyMismatch(..))));
    }

    #[test]
    fn json_shape() {
        let json = serde_json::to_value(usd(1999)).expect("serialise");
        assert_eq!(json, serde_json::json!({"amount": 1999, "currency": "USD"}));
        let bad: Result<Money, _> = serde_json::from_value(serde_json::json!({"amount": 1, "currency": "usd"}));
        assert!(bad.is_err());
    }
}
