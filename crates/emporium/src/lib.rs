//! The Emporium binary's library half: settings, backend selection and
//! wiring, kept out of `main.rs` so integration tests start the very same
//! application the binary runs.

pub mod backend;
pub mod dead_letters;
pub mod followers;
pub mod seed;
pub mod server;
pub mod settings;
pub mod shop;

pub use backend::Backend;
pub use server::{Running, StartOptions, prune, start, start_with};
pub use settings::Settings;
pub use shop::Shop;
