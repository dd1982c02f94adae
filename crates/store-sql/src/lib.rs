//! SQL that is the same on SQLite and PostgreSQL, written once.
//!
//! sqlx has no practical way to write one function generic over both
//! drivers without its `Any` driver (which we refuse: it loses types), so the
//! shared implementations are macros that each backend crate instantiates
//! for its own pool type. Both dialects accept `$n` placeholders,
//! `RETURNING` and `ON CONFLICT`. What differs is passed in: how a write
//! transaction begins (SQLite must take the write lock up front with
//! `BEGIN IMMEDIATE`, or two readers upgrading at once deadlock into
//! `SQLITE_BUSY`) and each backend's DDL, which lives in its own
//! `migrations/`.
//!
//! Every query here is exercised on both backends by the contract tests in
//! `crates/emporium/tests`.

mod identity;
mod outbox;
