//! Discounts, shipping and tax, in integer minor units.
//!
//! Rounding rule: every percentage is applied once, to a whole amount (the
//! cart's subtotal for a discount, an order's taxable amount for tax), and
//! rounded half away from zero to the minor unit. A discount shared by
//! several orders is split in proportion to their subtotals, the remainder
//! going to the largest shares first, so the parts always add up.

use kernel::{Currency, Money};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

/// `amount × numerator / denominator`, rounded half away from zero.
pub fn mul_div_round(amount: i64, numerator: i64, denominator: i64) -> i64 {
    if denominator == 0 {
        return 0;
    }
    let n = i128::from(amount) * i128::from(numerator);
    let d = i128::from(denominator);
    let (q, r) = (n / d, n % d);
    let rounded = if 2 * r.abs() >= d.abs() { q + n.signum() * d.signum() } else { q };
    i64::try_from(rounded).unwrap_or(if rounded > 0 { i64::MAX } else { i64::MIN })
}

/// Splits `total` over `weights` in proportion (largest remainder); the
/// parts add up to `total` exactly. All zero weights → split evenly.
pub fn allocate(total: i64, weights: &[i64]) -> Vec<i64> {
    if weights.is_empty() {
        return Vec::new();
    }
    let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    let weights: Vec<i128> =
        if sum == 0 { vec![1; weights.len()] } else { weights.iter().map(|w| i128::from(*w)).collect() };
    let sum: i128 = weights.iter().sum();
    let total128 = i128::from(total);
    let mut parts: Vec<i128> = weights.iter().map(|w| total128 * w / sum).collect();
    let mut remainders: Vec<(usize, i128)> = weights.iter().enumerate().map(|(i, w)| (i, total128 * w % sum)).collect();
    remainders.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut left = total128 - parts.iter().sum::<i128>();
    for (i, _) in remainders {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts.into_iter().map(|p| i64::try_from(p).unwrap_or(0)).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiscountKind {
    /// `value` is a percentage, 1–100.
    Percentage,
    /// `value` is an amount in minor units of `currency`.
    Fixed,
}

/// A code customers type at the cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DiscountCode {
    pub id: Uuid,
    /// Stored upper case; matched case-insensitively.
    pub code: String,
    pub kind: DiscountKind,
    pub value: i64,
    /// Required for `fixed`; for `percentage`, the currency of `min_subtotal`.
    pub currency: Option<Currency>,
    /// The cart subtotal (before discount) must be at least this.
    pub min_subtotal: Option<i64>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub starts_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    /// Checkouts that may use it in total; `null` for no limit.
    pub usage_limit: Option<i64>,
    /// Checkouts per customer (account, or email for guests); `null` for no limit.
    pub per_customer_limit: Option<i64>,
    /// Checkouts that hold it now (paid, or awaiting payment).
    pub times_used: i64,
    pub active: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Why a code does not apply to a cart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotApplicable {
    #[error("this code is not active")]
    Inactive,
    #[error("this code is not valid yet")]
    NotStarted,
    #[error("this code has expired")]
    Ended,
    #[error("this code has been used up")]
    UsedUp,
    #[error("the subtotal must be at least {0} (minor units) for this code")]
    BelowMinimum(i64),
    #[error("this code is for carts in {0}")]
    WrongCurrency(Currency),
}

impl DiscountCode {
    pub fn normalize_code(code: &str) -> String {
        code.trim().to_uppercase()
    }

    /// Whether it applies to a cart with this subtotal now; the usage limits
    /// are checked again, under lock, when the checkout is placed.
    pub fn check(&self, subtotal: Money, now: OffsetDateTime) -> Result<(), NotApplicable> {
        if !self.active {
            return Err(NotApplicable::Inactive);
        }
        if self.starts_at.is_some_and(|s| now < s) {
            return Err(NotApplicable::NotStarted);
        }
        if self.ends_at.is_some_and(|e| now >= e) {
            return Err(NotApplicable::Ended);
        }
        if self.usage_limit.is_some_and(|l| self.times_used >= l) {
            return Err(NotApplicable::UsedUp);
        }
        if let Some(c) = self.currency
            && c != subtotal.currency
        {
            return Err(NotApplicable::WrongCurrency(c));
        }
        if let Some(min) = self.min_subtotal
            && subtotal.amount < min
        {
            return Err(NotApplicable::BelowMinimum(min));
        }
        Ok(())
    }

    /// The discount on `subtotal` (never more than it).
    pub fn amount_off(&self, subtotal: i64) -> i64 {
        let off = match self.kind {
            DiscountKind::Percentage => mul_div_round(subtotal, self.value.clamp(0, 100), 100),
            DiscountKind::Fixed => self.value.max(0),
        };
        off.min(subtotal).max(0)
    }
}

/// A way to ship, priced per order (each seller ships its own parcel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShippingMethod {
    pub id: Uuid,
    /// Stable name used at checkout, e.g. `standard`.
    pub code: String,
    pub name: String,
    pub price: Money,
    /// Free when the order's subtotal after discount reaches this (same currency as `price`).
    pub free_above: Option<i64>,
    pub active: bool,
    pub position: i32,
}

impl ShippingMethod {
    pub fn cost(&self, discounted_subtotal: i64) -> i64 {
        match self.free_above {
            Some(threshold) if discounted_subtotal >= threshold => 0,
            _ => self.price.amount,
        }
    }
}

/// A tax rate for a country, or for one region of it (which wins).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TaxRate {
    pub id: Uuid,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// A region (state, province) code or name; `null` for the whole country.
    pub region: Option<String>,
    /// In basis points: 2000 is 20 %.
    pub rate_bp: i64,
    pub name: String,
}

/// The rate for an address: its region's, else its country's, else zero.
pub fn rate_for(rates: &[TaxRate], country: &str, region: Option<&str>) -> i64 {
    let region_match = region.and_then(|r| {
        rates.iter().find(|t| t.country == country && t.region.as_deref().is_some_and(|x| x.eq_ignore_ascii_case(r)))
    });
    region_match.or_else(|| rates.iter().find(|t| t.country == country && t.region.is_none())).map_or(0, |t| t.rate_bp)
}

/// Tax on a taxable amount: on top of it (`inclusive = false`) or the part
/// of it that is tax (`inclusive = true`).
pub fn tax(taxable: i64, rate_bp: i64, inclusive: bool) -> i64 {
    if inclusive { mul_div_round(taxable, rate_bp, 10_000 + rate_bp) } else { mul_div_round(taxable, rate_bp, 10_000) }
}

/// One order's money, computed from its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    pub subtotal: i64,
    pub discount: i64,
    pub shipping: i64,
    pub tax: i64,
    pub total: i64,
}

/// Shipping is taxed like the goods. With `inclusive` prices the tax is
/// already inside the subtotal and shipping, so the total does not grow.
pub fn order_totals(
    subtotal: i64,
    discount: i64,
    shipping: Option<&ShippingMethod>,
    rate_bp: i64,
    inclusive: bool,
) -> Totals {
    let shipping = shipping.map_or(0, |m| m.cost(subtotal - discount));
    let taxable = subtotal - discount + shipping;
    let tax = tax(taxable, rate_bp, inclusive);
    let total = if inclusive { taxable } else { taxable + tax };
    Totals { subtotal, discount, shipping, tax, total }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(mul_div_round(1, 1, 2), 1);
        assert_eq!(mul_div_round(-1, 1, 2), -1);
        assert_eq!(mul_div_round(1249, 2000, 10_000), 250); // 249.8
        assert_eq!(mul_div_round(1225, 2000, 10_000), 245); // exact
        assert_eq!(mul_div_round(1999, 825, 10_000), 165); // 164.9175
        assert_eq!(mul_div_round(10, 1, 0), 0);
    }

    #[test]
    fn allocation_adds_up() {
        assert_eq!(allocate(100, &[1, 1, 1]), vec![34, 33, 33]);
        assert_eq!(allocate(10, &[3000, 1000]), vec![8, 2]);
        assert_eq!(allocate(7, &[0, 0]), vec![4, 3]);
        for total in [0, 1, 99, 12_345] {
            let parts = allocate(total, &[17, 4, 99, 1]);
            assert_eq!(parts.iter().sum::<i64>(), total);
        }
    }

    #[test]
    fn tax_exclusive_and_inclusive() {
        // 20 % on 10.00 plus 5.00 shipping.
        let ship = ShippingMethod {
            id: Uuid::nil(),
            code: "standard".into(),
            name: "Standard".into(),
            price: Money::new(500, Currency::parse("USD").unwrap()),
            free_above: Some(5000),
            active: true,
            position: 0,
        };
        let t = order_totals(1000, 0, Some(&ship), 2000, false);
        assert_eq!((t.shipping, t.tax, t.total), (500, 300, 1800));
        let t = order_totals(1200, 0, Some(&ship), 2000, true);
        assert_eq!((t.shipping, t.tax, t.total), (500, 283, 1700)); // 1700 / 1.2 = 1416.67 → tax 283.33
        // Free shipping above the threshold, judged after the discount.
        assert_eq!(order_totals(6000, 500, Some(&ship), 0, false).shipping, 0);
        assert_eq!(order_totals(6000, 1500, Some(&ship), 0, false).shipping, 500);
    }

    #[test]
    fn regional_rates_win() {
        let rate = |country: &str, region: Option<&str>, bp| TaxRate {
            id: Uuid::nil(),
            country: country.into(),
            region: region.map(Into::into),
            rate_bp: bp,
            name: String::new(),
        };
        let rates = [rate("US", None, 0), rate("US", Some("CA"), 725), rate("DE", None, 1900)];
        assert_eq!(rate_for(&rates, "US", Some("ca")), 725);
        assert_eq!(rate_for(&rates, "US", Some("NY")), 0);
        assert_eq!(rate_for(&rates, "DE", None), 1900);
        assert_eq!(rate_for(&rates, "FR", None), 0);
    }

    #[test]
    fn discounts() {
        let usd = Currency::parse("USD").unwrap();
        let now = OffsetDateTime::UNIX_EPOCH + time::Duration::days(10);
        let mut code = DiscountCode {
            id: Uuid::nil(),
            code: "TEN".into(),
            kind: DiscountKind::Percentage,
            value: 10,
            currency: None,
            min_subtotal: Some(2000),
            starts_at: Some(OffsetDateTime::UNIX_EPOCH),
            ends_at: Some(now + time::Duration::days(1)),
            usage_limit: Some(2),
            per_customer_limit: None,
            times_used: 1,
            active: true,
            created_at: now,
        };
        assert_eq!(code.check(Money::new(2500, usd), now), Ok(()));
        assert_eq!(code.amount_off(2505), 251);
        assert_eq!(code.check(Money::new(1999, usd), now), Err(NotApplicable::BelowMinimum(2000)));
        assert_eq!(code.check(Money::new(2500, usd), now + time::Duration::days(1)), Err(NotApplicable::Ended));
        code.times_used = 2;
        assert_eq!(code.check(Money::new(2500, usd), now), Err(NotApplicable::UsedUp));
        code.kind = DiscountKind::Fixed;
        code.value = 5000;
        assert_eq!(code.amount_off(3000), 3000);
    }
}
