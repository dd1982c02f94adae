//! Helpers for the cart, checkout, order and payment tests.

use crate::catalog_helpers::product_body;
use crate::helpers::{Response, TestApp};
use reqwest::Method;
use serde_json::{Value, json};

pub fn address() -> Value {
    json!({"full_name": "Ada Buyer", "line1": "1 Main St", "city": "Los Angeles", "region": "CA",
           "postal_code": "90001", "country": "US"})
}

pub fn checkout_body(email: Option<&str>) -> Value {
    let mut body = json!({"shipping_address": address(), "payment_provider": "test"});
    if let Some(email) = email {
        body["email"] = json!(email);
    }
    body
}

pub fn new_key() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl TestApp {
    /// An active product with one variant per `(sku, price)` and `stock` units of each.
    pub async fn stocked(&self, admin: &str, title: &str, variants: &[(&str, i64)], stock: i64) -> Value {
        let rows: Vec<(&str, i64, &str)> =
            variants.iter().enumerate().map(|(i, (sku, price))| (*sku, *price, ["S", "M", "L", "XL"][i % 4])).collect();
        let product = self.product(admin, product_body(title, None, &rows)).await;
        for (sku, _) in variants {
            self.set_stock(admin, sku, stock).await;
        }
        product
    }

    pub async fn set_stock(&self, admin: &str, sku: &str, on_hand: i64) {
        self.request(
            Method::PUT,
            &format!("/api/v1/admin/inventory/{sku}"),
            Some(admin),
            Some(json!({"on_hand": on_hand})),
        )
        .await
        .assert(200);
    }

    pub async fn level(&self, admin: &str, sku: &str) -> (i64, i64) {
        let res = self.get(&format!("/api/v1/admin/inventory/{sku}"), Some(admin)).await;
        res.assert(200);
        (res.body["on_hand"].as_i64().unwrap_or(-1), res.body["reserved"].as_i64().unwrap_or(-1))
    }

    /// Adds to a guest cart (`token` None makes a new one); returns the response and the token.
    pub async fn add_to_cart(&self, token: Option<&str>, sku: &str, quantity: i64) -> (Response, String) {
        let headers: Vec<(&str, &str)> = token.map(|t| vec![("x-cart-token", t)]).unwrap_or_default();
        let res = self
            .send(Method::POST, "/api/v1/cart/items", None, &headers, Some(json!({"sku": sku, "quantity": quantity})))
            .await;
        let token =
            token.map(str::to_owned).or_else(|| res.body["cart_token"].as_str().map(str::to_owned)).unwrap_or_default();
        (res, token)
    }

    /// Sets a guest cart line's quantity (`PATCH /cart/items/{line}`).
    pub async fn set_line_quantity(&self, token: &str, line: &str, quantity: i64) -> Response {
        let path = format!("/api/v1/cart/items/{line}");
        self.send(Method::PATCH, &path, None, &[("x-cart-token", token)], Some(json!({"quantity": quantity}))).await
    }

    pub async fn guest_checkout(&self, token: &str, key: &str, body: Value) -> Response {
        self.send(
            Method::POST,
            "/api/v1/checkout",
            None,
            &[("x-cart-token", token), ("idempotency-key", key)],
            Some(body),
        )
        .await
    }

    pub async fn pay(&self, payment_id: &str, card: &str) -> Response {
        self.post(&format!("/api/v1/payments/{payment_id}/confirm"), None, json!({"card_number": card})).await
    }

    /// Staff refund `amount` of an order with an `Idempotency-Key`.
    pub async fn admin_refund(&self, admin: &str, order_id: &str, amount: i64, reason: &str, key: &str) -> Response {
        self.send(
            Method::POST,
            &format!("/api/v1/admin/orders/{order_id}/refunds"),
            Some(admin),
            &[("idempotency-key", key)],
            Some(json!({"amount": amount, "reason": reason})),
        )
        .await
    }

    pub async fn outbox_count(&self, topic: &str) -> i64 {
        self.scalar_i64("SELECT COUNT(*) FROM outbox WHERE topic = $1", topic).await
    }
}
