//! `orders::OrdersStore`: carts, pricing settings, checkouts (placement and
//! every later change) and the orders' reads, one module each; the trait's
//! impl here forwards every method to its module. The checkout holds and
//! moves stock with inventory's own SQL (`crate::inventory`), inside the
//! checkout's transaction.
//!
//! Locks are always taken in one order — the checkout row, then the
//! discount code, then stock rows by variant id — so two transactions can
//! wait for each other but never deadlock.
//!
//! On PostgreSQL a placement without a discount is one statement
//! (`checkout::place_at_once`) and most changes are decided without a lock
//! and written guarded by the checkout's version (`checkout::change_at_once`);
//! the transactional paths below serve the rest.

mod carts;
mod checkout;
// The orders' own reads; named as the layout asks, inside `orders`.
#[allow(clippy::module_inception)]
#[path = "../../store-sql/shared/orders/orders.rs"]
mod orders;
#[path = "../../store-sql/shared/orders/settings.rs"]
mod settings;

use crate::outbox::{push_events, push_events_guarded};
use ::inventory::MovementReason;
use ::orders::store::{Change, Decide};
use ::orders::{
    Cart, CartStatus, CheckoutState, DiscountCode, Hold, Order, OrderFilter, OrdersError, OrdersStore, Payment, Placed,
    Placement, Reservation, ReservationStatus, ShippingMethod, ShortLine, StockOp, TaxRate,
};

use ::sqlx::Row as _;
use ::uuid::Uuid;

type Row = <::sqlx::Postgres as ::sqlx::Database>::Row;

type Tx = crate::WriteTx;

type Conn = <::sqlx::Postgres as ::sqlx::Database>::Connection;

type Query<'q> = ::sqlx::query::Query<'q, ::sqlx::Postgres, <::sqlx::Postgres as ::sqlx::Database>::Arguments>;

fn err(e: ::sqlx::Error) -> OrdersError {
    if let Some(db) = e.as_database_error() {
        // Deadlock or serialization failure: the service retries.
        if matches!(db.code().as_deref(), Some("40P01" | "40001")) {
            return OrdersError::Contended;
        }
    }
    OrdersError::Unexpected(e.into())
}

fn is_unique(e: &::sqlx::Error) -> bool {
    e.as_database_error().is_some_and(|d| d.is_unique_violation())
}

fn doc<T: ::serde::de::DeserializeOwned>(row: &Row) -> Result<T, ::sqlx::Error> {
    let ::sqlx::types::Json(value): ::sqlx::types::Json<T> = row.try_get("doc")?;
    Ok(value)
}

fn ms(t: ::time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

fn from_ms(ms: i64) -> ::time::OffsetDateTime {
    ::time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(::time::OffsetDateTime::UNIX_EPOCH)
}

#[::async_trait::async_trait]
impl OrdersStore for crate::PostgresStore {
    async fn cart(&self, id: Uuid) -> Result<Option<Cart>, OrdersError> {
        carts::cart(self, id).await
    }

    async fn cart_by_token(&self, token_hash: &str) -> Result<Option<Cart>, OrdersError> {
        carts::cart_by_token(self, token_hash).await
    }

    /// The copy of the cart this process wrote last, if it kept one
    /// (handed out once), else the cart as read. The placement checks the
    /// cart's version, so a stale copy is never placed.
    async fn cart_for_checkout(&self, token_hash: &str) -> Result<Option<Cart>, OrdersError> {
        carts::cart_for_checkout(self, token_hash).await
    }

    async fn active_cart_of(&self, user_id: Uuid) -> Result<Option<Cart>, OrdersError> {
        carts::active_cart_of(self, user_id).await
    }

    async fn insert_cart(&self, cart: &Cart) -> Result<(), OrdersError> {
        carts::insert_cart(self, cart).await
    }

    async fn write_cart_if_available(
        &self,
        cart: &Cart,
        new: bool,
        need: &::orders::StockNeed,
    ) -> Result<::orders::Stocked, OrdersError> {
        carts::write_cart_if_available(self, cart, new, need).await
    }

    async fn save_carts(&self, carts: &[Cart]) -> Result<(), OrdersError> {
        carts::save_carts(self, carts).await
    }

    async fn prune_guest_carts(&self, before: ::time::OffsetDateTime) -> Result<u64, OrdersError> {
        carts::prune_guest_carts(self, before).await
    }

    async fn discount_codes(
        &self,
        q: Option<&str>,
        page: ::kernel::PageSpec,
    ) -> Result<(Vec<DiscountCode>, u64), OrdersError> {
        settings::discount_codes(self, q, page).await
    }

    async fn discount_by_code(&self, code: &str) -> Result<Option<DiscountCode>, OrdersError> {
        settings::discount_by_code(self, code).await
    }

    async fn discount(&self, id: Uuid) -> Result<Option<DiscountCode>, OrdersError> {
        settings::discount(self, id).await
    }

    async fn insert_discount(&self, d: &DiscountCode) -> Result<(), OrdersError> {
        settings::insert_discount(self, d).await
    }

    async fn update_discount(&self, d: &DiscountCode) -> Result<bool, OrdersError> {
        settings::update_discount(self, d).await
    }

    async fn delete_discount(&self, id: Uuid) -> Result<bool, OrdersError> {
        settings::delete_discount(self, id).await
    }

    async fn shipping_methods(&self) -> Result<Vec<ShippingMethod>, OrdersError> {
        settings::shipping_methods(self).await
    }

    async fn insert_shipping_method(&self, m: &ShippingMethod) -> Result<(), OrdersError> {
        settings::insert_shipping_method(self, m).await
    }

    async fn update_shipping_method(&self, m: &ShippingMethod) -> Result<bool, OrdersError> {
        settings::update_shipping_method(self, m).await
    }

    async fn delete_shipping_method(&self, id: Uuid) -> Result<bool, OrdersError> {
        settings::delete_shipping_method(self, id).await
    }

    async fn tax_rates(&self) -> Result<Vec<TaxRate>, OrdersError> {
        settings::tax_rates(self).await
    }

    async fn insert_tax_rate(&self, r: &TaxRate) -> Result<(), OrdersError> {
        settings::insert_tax_rate(self, r).await
    }

    async fn update_tax_rate(&self, r: &TaxRate) -> Result<bool, OrdersError> {
        settings::update_tax_rate(self, r).await
    }

    async fn delete_tax_rate(&self, id: Uuid) -> Result<bool, OrdersError> {
        settings::delete_tax_rate(self, id).await
    }

    async fn place_checkout(&self, p: &Placement) -> Result<Placed, OrdersError> {
        checkout::place_checkout(self, p).await
    }

    async fn checkout(&self, id: Uuid) -> Result<Option<CheckoutState>, OrdersError> {
        checkout::checkout(self, id).await
    }

    async fn checkout_by_key(&self, scope: &str, key: &str) -> Result<Option<(Uuid, String)>, OrdersError> {
        checkout::checkout_by_key(self, scope, key).await
    }

    async fn change_checkout(&self, id: Uuid, decide: &Decide<'_>) -> Result<CheckoutState, OrdersError> {
        checkout::change_checkout(self, id, decide).await
    }

    async fn checkout_of_order(&self, order_id: Uuid) -> Result<Option<Uuid>, OrdersError> {
        checkout::checkout_of_order(self, order_id).await
    }

    async fn checkout_of_payment(&self, payment_id: Uuid) -> Result<Option<Uuid>, OrdersError> {
        checkout::checkout_of_payment(self, payment_id).await
    }

    async fn expired_checkouts(&self, now: ::time::OffsetDateTime, limit: u32) -> Result<Vec<Uuid>, OrdersError> {
        checkout::expired_checkouts(self, now, limit).await
    }

    async fn order(&self, id: Uuid) -> Result<Option<Order>, OrdersError> {
        orders::order(self, id).await
    }

    async fn orders(&self, filter: &OrderFilter, page: ::kernel::PageSpec) -> Result<(Vec<Order>, u64), OrdersError> {
        orders::orders(self, filter, page).await
    }

    async fn daily_sales(&self, since: ::time::OffsetDateTime) -> Result<Vec<::orders::DailySales>, OrdersError> {
        orders::daily_sales(self, since).await
    }

    async fn payment(&self, id: Uuid) -> Result<Option<Payment>, OrdersError> {
        checkout::payment(self, id).await
    }

    async fn claim_ref(&self, kind: &str, reference: &str, payment_id: Uuid) -> Result<Uuid, OrdersError> {
        checkout::claim_ref(self, kind, reference, payment_id).await
    }

    async fn ref_owner(&self, kind: &str, reference: &str) -> Result<Option<Uuid>, OrdersError> {
        checkout::ref_owner(self, kind, reference).await
    }

    async fn pending_payments(&self, limit: u32) -> Result<Vec<Payment>, OrdersError> {
        checkout::pending_payments(self, limit).await
    }

    async fn open_reservations(&self) -> Result<Vec<Reservation>, OrdersError> {
        checkout::open_reservations(self).await
    }
}

fn duplicate(message: &str) -> OrdersError {
    OrdersError::Duplicate(message.to_owned())
}
