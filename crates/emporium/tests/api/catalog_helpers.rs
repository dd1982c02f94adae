//! Helpers for the catalog tests: one per endpoint, plus `settle` to wait
//! for the search index to catch up with the outbox.

use crate::helpers::{Response, TestApp};
use serde_json::{Value, json};
use std::time::Duration;

impl TestApp {
    /// Waits until every outbox event has been delivered (the in-process bus
    /// runs consumers, the search index among them, before the relay marks
    /// an event published).
    pub async fn settle(&self) {
        for _ in 0..500 {
            let pending =
                self.scalar_i64("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL AND $1 = $1", "x").await;
            if pending == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the outbox did not drain");
    }

    pub async fn create_category(&self, token: &str, name: &str, parent: Option<&str>) -> Value {
        let res = self.post("/api/v1/admin/categories", Some(token), json!({"name": name, "parent_id": parent})).await;
        res.assert(201);
        res.body
    }

    pub async fn create_product(&self, token: &str, body: Value) -> Response {
        self.post("/api/v1/admin/products", Some(token), body).await
    }

    /// Creates an active product and returns it.
    pub async fn product(&self, token: &str, body: Value) -> Value {
        let res = self.create_product(token, body).await;
        res.assert(201);
        res.body
    }

    pub async fn search(&self, query: &str) -> Value {
        self.settle().await;
        let res = self.get(&format!("/api/v1/products{query}"), None).await;
        res.assert(200);
        res.body
    }
}

/// A product body: `variants` as (sku, price cents, size).
pub fn product_body(title: &str, category: Option<&str>, variants: &[(&str, i64, &str)]) -> Value {
    let sizes: Vec<&str> = variants.iter().map(|v| v.2).collect();
    json!({
        "title": title,
        "status": "active",
        "category_id": category,
        "options": [{"name": "size", "values": sizes}],
        "variants": variants.iter().map(|(sku, price, size)| json!({
            "sku": sku, "price": {"amount": price, "currency": "USD"}, "options": {"size": size}
        })).collect::<Vec<_>>(),
    })
}

/// Titles of a search answer's items, in order.
pub fn titles(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .map(|items| items.iter().filter_map(|i| i["title"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

/// A believable JPEG (1000×1000) that differs by `seed`.
pub fn jpeg(seed: u64) -> Vec<u8> {
    media::draw_demo_image(seed, 200.0, media::DemoShape::Mug, 1000)
}

/// Uploads `bytes` as a product image (multipart field `file`, alt "A blue mug").
pub async fn upload(
    app: &TestApp,
    token: &str,
    product: &str,
    bytes: Vec<u8>,
    file_name: &str,
) -> crate::helpers::Response {
    let part =
        reqwest::multipart::Part::bytes(bytes).file_name(file_name.to_owned()).mime_str("image/jpeg").expect("mime");
    let form = reqwest::multipart::Form::new().part("file", part).text("alt", "A blue mug");
    let res = app
        .client
        .post(app.url(&format!("/api/v1/admin/products/{product}/images")))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .expect("upload request");
    let status = res.status();
    let headers = res.headers().clone();
    let text = res.text().await.expect("upload answer");
    crate::helpers::Response { status, headers, body: serde_json::from_str(&text).unwrap_or_default(), text }
}
