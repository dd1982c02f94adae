//! Stock levels, changes to them and the ledger.

use kernel::Event;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::topics;

/// The shop's one location until multi-location stock is built; every level
/// names its location so the model is ready for more.
pub const DEFAULT_LOCATION: Uuid = Uuid::from_u128(0x0000_0000_0000_7000_8000_0000_0000_0001);

/// Largest quantity a level may hold or a change may move (keeps sums far from overflow).
pub const MAX_QUANTITY: i64 = 1_000_000_000;

/// Threshold given to a level created without one.
pub const DEFAULT_LOW_STOCK_THRESHOLD: i64 = 5;

/// Stock of one variant at one location.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StockLevel {
    pub variant_id: Uuid,
    pub sku: String,
    pub location_id: Uuid,
    pub on_hand: i64,
    /// Held by open reservations (checkouts awaiting payment).
    pub reserved: i64,
    /// `stock.low` is sent when `available` falls to or below this.
    pub low_stock_threshold: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl StockLevel {
    /// A level at zero, as a variant's first change finds it.
    pub fn empty(variant_id: Uuid, sku: &str, location_id: Uuid, at: OffsetDateTime) -> StockLevel {
        StockLevel {
            variant_id,
            sku: sku.to_owned(),
            location_id,
            on_hand: 0,
            reserved: 0,
            low_stock_threshold: DEFAULT_LOW_STOCK_THRESHOLD,
            updated_at: at,
        }
    }

    pub fn available(&self) -> i64 {
        self.on_hand - self.reserved
    }

    pub fn is_low(&self) -> bool {
        self.available() <= self.low_stock_threshold
    }
}

/// Why stock moved (the ledger's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MovementReason {
    /// Staff set the on-hand count (a stock take).
    Set,
    /// Staff added or removed units (delivery, damage, correction…).
    Adjustment,
    /// A checkout held units until it is paid or expires (`reserved` rises).
    Reservation,
    /// A hold ended without a sale: cancelled or expired (`reserved` falls).
    Release,
    /// A paid checkout took its held units (`on_hand` and `reserved` both fall).
    Sale,
    /// Units of a cancelled paid order went back on the shelf.
    Restock,
}

impl MovementReason {
    pub fn as_str(self) -> &'static str {
        match self {
            MovementReason::Set => "set",
            MovementReason::Adjustment => "adjustment",
            MovementReason::Reservation => "reservation",
            MovementReason::Release => "release",
            MovementReason::Sale => "sale",
            MovementReason::Restock => "restock",
        }
    }

    pub fn parse(s: &str) -> Option<MovementReason> {
        match s {
            "set" => Some(MovementReason::Set),
            "adjustment" => Some(MovementReason::Adjustment),
            "reservation" => Some(MovementReason::Reservation),
            "release" => Some(MovementReason::Release),
            "sale" => Some(MovementReason::Sale),
            "restock" => Some(MovementReason::Restock),
            _ => None,
        }
    }
}

/// One line of the ledger: every change to a level, with who and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Movement {
    pub id: Uuid,
    pub variant_id: Uuid,
    pub sku: String,
    pub location_id: Uuid,
    pub on_hand_delta: i64,
    pub reserved_delta: i64,
    /// `on_hand` after the change.
    pub on_hand_after: i64,
    pub reason: MovementReason,
    /// Who made it (a user id), `None` for the system.
    pub actor: Option<Uuid>,
    /// What it belongs to (a checkout, an order, a delivery note…).
    pub reference: Option<String>,
    pub note: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// What a change does to `on_hand`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnHand {
    Set(i64),
    Add(i64),
}

/// A change to one level, applied by the store inside its transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelChange {
    pub variant_id: Uuid,
    pub sku: String,
    pub location_id: Uuid,
    pub on_hand: Option<OnHand>,
    pub low_stock_threshold: Option<i64>,
    pub reason: MovementReason,
    pub actor: Option<Uuid>,
    pub reference: Option<String>,
    pub note: Option<String>,
    pub movement_id: Uuid,
    pub at: OffsetDateTime,
}

/// Why a change was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// On hand would fall below what open reservations hold (or below zero).
    #[error("on hand would be {on_hand}, below the {reserved} reserved")]
    BelowReserved { on_hand: i64, reserved: i64 },
    #[error("on hand would exceed {MAX_QUANTITY}")]
    TooMany,
}

/// The level after `change`, or why it cannot happen. `before` is the row as
/// it is inside the write transaction.
pub fn apply_change(before: &StockLevel, change: &LevelChange) -> Result<StockLevel, Refusal> {
    let on_hand = match change.on_hand {
        None => before.on_hand,
        Some(OnHand::Set(n)) => n,
        Some(OnHand::Add(delta)) => before.on_hand.checked_add(delta).ok_or(Refusal::TooMany)?,
    };
    if on_hand > MAX_QUANTITY {
        return Err(Refusal::TooMany);
    }
    if on_hand < before.reserved || on_hand < 0 {
        return Err(Refusal::BelowReserved { on_hand, reserved: before.reserved });
    }
    Ok(StockLevel {
        sku: change.sku.clone(),
        on_hand,
        low_stock_threshold: change.low_stock_threshold.unwrap_or(before.low_stock_threshold),
        updated_at: change.at,
        ..before.clone()
    })
}

/// The ledger line for a change from `before` to `after`.
pub fn movement_for(before: &StockLevel, after: &StockLevel, change: &LevelChange) -> Movement {
    Movement {
        id: change.movement_id,
        variant_id: after.variant_id,
        sku: after.sku.clone(),
        location_id: after.location_id,
        on_hand_delta: after.on_hand - before.on_hand,
        reserved_delta: after.reserved - before.reserved,
        on_hand_after: after.on_hand,
        reason: change.reason,
        actor: change.actor,
        reference: change.reference.clone(),
        note: change.note.clone(),
        at: change.at,
    }
}

/// The event a level sends when only its SKU changed: `stock.changed`, so
/// that whoever keeps availability by SKU (the catalogue's cache, the search
/// index) learns the new SKU's count.
pub fn renamed_events(after: &StockLevel) -> Vec<Event> {
    vec![changed_event(Some(after.available()), after)]
}

/// The events a change from `before` (`None`: the level did not exist) to `after` sends:
/// `stock.changed` when anything changed, `stock.low` when availability crossed the threshold.
pub fn events_for(before: Option<&StockLevel>, after: &StockLevel) -> Vec<Event> {
    let unchanged = before.is_some_and(|b| {
        b.on_hand == after.on_hand && b.reserved == after.reserved && b.low_stock_threshold == after.low_stock_threshold
    });
    if unchanged {
        return Vec::new();
    }
    let changed = changed_event(before.map(StockLevel::available), after);
    let payload = changed.payload.clone();
    let mut events = vec![changed];
    let was_low = before.is_some_and(StockLevel::is_low);
    if after.is_low() && !was_low {
        events.push(Event::new(topics::STOCK_LOW, after.variant_id, after.updated_at, payload));
    }
    events
}

/// `stock.changed` for a level now at `after`, available `previous_available` before.
fn changed_event(previous_available: Option<i64>, after: &StockLevel) -> Event {
    let payload = json!({
        "variant_id": after.variant_id,
        "sku": after.sku,
        "location_id": after.location_id,
        "on_hand": after.on_hand,
        "reserved": after.reserved,
        "available": after.available(),
        // `null` when the level is new: whether it crossed zero.
        "previous_available": previous_available,
        "low_stock_threshold": after.low_stock_threshold,
    });
    Event::new(topics::STOCK_CHANGED, after.variant_id, after.updated_at, payload)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn level(on_hand: i64, reserved: i64) -> StockLevel {
        StockLevel {
            on_hand,
            reserved,
            ..StockLevel::empty(Uuid::nil(), "SKU", DEFAULT_LOCATION, OffsetDateTime::UNIX_EPOCH)
        }
    }

    fn change(on_hand: Option<OnHand>, threshold: Option<i64>) -> LevelChange {
        LevelChange {
            variant_id: Uuid::nil(),
            sku: "SKU".into(),
            location_id: DEFAULT_LOCATION,
            on_hand,
            low_stock_threshold: threshold,
            reason: MovementReason::Adjustment,
            actor: None,
            reference: None,
            note: None,
            movement_id: Uuid::nil(),
            at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn on_hand_never_falls_below_reserved() {
        let before = level(10, 4);
        assert_eq!(apply_change(&before, &change(Some(OnHand::Add(-6)), None)).unwrap().available(), 0);
        assert_eq!(
            apply_change(&before, &change(Some(OnHand::Add(-7)), None)),
            Err(Refusal::BelowReserved { on_hand: 3, reserved: 4 })
        );
        assert_eq!(
            apply_change(&before, &change(Some(OnHand::Set(3)), None)),
            Err(Refusal::BelowReserved { on_hand: 3, reserved: 4 })
        );
        assert_eq!(
            apply_change(&level(0, 0), &change(Some(OnHand::Add(-1)), None)),
            Err(Refusal::BelowReserved { on_hand: -1, reserved: 0 })
        );
        assert_eq!(apply_change(&before, &change(Some(OnHand::Add(MAX_QUANTITY)), None)), Err(Refusal::TooMany));
        assert_eq!(apply_change(&before, &change(Some(OnHand::Add(i64::MAX)), None)), Err(Refusal::TooMany));
    }

    #[test]
    fn the_ledger_records_the_delta() {
        let before = level(10, 4);
        let c = change(Some(OnHand::Set(25)), Some(2));
        let after = apply_change(&before, &c).unwrap();
        let m = movement_for(&before, &after, &c);
        assert_eq!((m.on_hand_delta, m.reserved_delta, m.on_hand_after), (15, 0, 25));
        assert_eq!(after.low_stock_threshold, 2);
    }

    #[test]
    fn low_stock_is_sent_on_crossing_only() {
        let high = level(20, 0);
        let low = level(5, 0);
        let topics_of = |events: Vec<Event>| events.into_iter().map(|e| e.topic).collect::<Vec<_>>();
        assert_eq!(topics_of(events_for(Some(&high), &low)), ["stock.changed", "stock.low"]);
        assert_eq!(topics_of(events_for(Some(&low), &level(4, 0))), ["stock.changed"]);
        assert_eq!(topics_of(events_for(Some(&low), &low)), Vec::<String>::new());
        assert_eq!(topics_of(events_for(None, &level(50, 0))), ["stock.changed"]);
        assert_eq!(topics_of(events_for(None, &level(1, 0))), ["stock.changed", "stock.low"]);
    }
}
