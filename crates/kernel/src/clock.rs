//! Time comes from a `Clock` so rules that depend on it (token expiry,
//! reservation expiry) can be tested without sleeping.

use std::sync::Arc;
use time::OffsetDateTime;

pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant in UTC, truncated to microseconds so that a value
    /// survives a round trip through either database unchanged.
    fn now(&self) -> OffsetDateTime;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        truncate_to_micros(OffsetDateTime::now_utc())
    }
}

pub type SharedClock = Arc<dyn Clock>;

pub fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    let micros = t.microsecond();
    t.replace_nanosecond(micros * 1_000).unwrap_or(t)
}
