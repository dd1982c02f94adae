//! Black-box tests of the real application over HTTP, on SQLite always and
//! on PostgreSQL when `EMPORIUM_TEST_POSTGRES_URL` is set (each test gets a
//! database of its own, dropped afterwards).

mod catalog_helpers;
mod helpers;
mod shop_helpers;
mod site_helpers;

mod addresses;
mod admin;
mod auth;
mod broker;
mod browser;
mod catalog_admin;
mod catalog_extras;
mod catalog_search;
mod checkout;
mod checkout_concurrency;
mod cli;
mod concurrency;
mod contract;
mod events;
mod fake_s3;
mod fake_solana;
mod fake_stripe;
mod gateway;
mod inventory;
mod mail;
mod me;
mod media_s3;
mod notifications;
mod payments_solana;
mod payments_stripe;
mod pg_pool;
mod platform;
mod site;
mod site_admin;
mod store_contract;
mod tokens;
mod webdriver;
