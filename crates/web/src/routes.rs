//! One module per area; each exposes `router() -> OpenApiRouter<AppState>`.

pub mod addresses;
pub mod admin_images;
pub mod admin_inventory;
pub mod admin_notifications;
pub mod admin_orders;
pub mod admin_products;
pub mod admin_stores_reviews;
pub mod admin_taxonomy;
pub mod admin_users;
pub mod auth;
pub mod cart;
pub mod docs;
pub mod health;
pub mod keys;
pub mod me;
pub mod media;
pub mod products;
pub mod storefront;
