//! The payment providers that move real money, each reached over its own
//! wire protocol:
//!
//! - [`stripe`]: PaymentIntents and Refunds over Stripe's form-encoded REST
//!   API (pinned API version, an `Idempotency-Key` on every POST, retries
//!   with the same key), and webhook signature checks as Stripe documents them.
//! - [`solana`]: Solana Pay transfer requests (URL and QR code), exact
//!   conversion of minor units into lamports or token base units, and the
//!   on-chain check of a transfer over Solana's JSON-RPC.
//!
//! [`gateway`] implements the `orders` crate's gateway ports over them;
//! `orders` decides what the answers mean for a checkout and knows nothing
//! of these protocols.

pub mod gateway;
pub mod solana;
pub mod stripe;

pub use gateway::SolanaPay;
