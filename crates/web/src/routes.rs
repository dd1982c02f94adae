//! One module per area; each exposes `router() -> OpenApiRouter<AppState>`.

pub mod addresses;
pub mod admin_users;
pub mod auth;
pub mod docs;
pub mod health;
pub mod me;
