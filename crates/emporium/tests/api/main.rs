//! Black-box tests of the real application over HTTP, on SQLite always and
//! on PostgreSQL when `EMPORIUM_TEST_POSTGRES_URL` is set (each test gets a
//! database of its own, dropped afterwards).

mod helpers;

mod addresses;
mod admin;
mod auth;
mod cli;
mod concurrency;
mod events;
mod me;
mod platform;
mod store_contract;
mod tokens;
