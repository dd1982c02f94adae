//! Product images in an S3-compatible bucket (`EMPORIUM_MEDIA_STORE=s3`), against a local server
//! that speaks S3's REST API and checks every signature. Storage does not touch the database, so
//! these run on SQLite only.

// Test code: a failed unwrap is a failed test with its location.
#![allow(clippy::unwrap_used)]

use crate::catalog_helpers::{jpeg, product_body, upload};
use crate::fake_s3::{self, FakeS3};
use crate::helpers::{Db, TestApp};
use emporium::settings::{MediaStoreKind, S3Settings, Secret};
use identity::Role;
use std::sync::atomic::Ordering;

async fn shop_on(s3: &FakeS3, secret: &str) -> TestApp {
    let endpoint = s3.endpoint();
    let secret = secret.to_string();
    TestApp::spawn_with(Db::Sqlite, move |settings| {
        settings.media_store = MediaStoreKind::S3;
        settings.s3 = S3Settings {
            endpoint,
            bucket: fake_s3::BUCKET.into(),
            region: fake_s3::REGION.into(),
            access_key_id: fake_s3::ACCESS_KEY.into(),
            secret_access_key: Some(Secret(secret)),
            prefix: "shop-1/images/".into(),
            virtual_hosted: false,
        };
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_are_stored_in_and_served_from_the_bucket() {
    let s3 = FakeS3::start().await;
    let app = shop_on(&s3, fake_s3::SECRET_KEY).await;
    let staff = app.account_with_role(Role::Staff).await;
    let product = app.product(&staff.access, product_body("Bucket Mug", None, &[("S3-1", 1500, "One")])).await;
    let id = product["id"].as_str().unwrap();

    let res = upload(&app, &staff.access, id, jpeg(7), "mug.jpg").await;
    res.assert(201);
    // The original and three thumbnails, under the prefix, written immutable with their type.
    let keys = s3.keys();
    assert_eq!(keys.len(), 4, "{keys:?}");
    assert!(keys.iter().all(|k| k.starts_with("shop-1/images/")), "{keys:?}");
    let original_key = res.body["url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    let original = s3.object(&format!("shop-1/images/{original_key}")).unwrap();
    assert_eq!(original.bytes, jpeg(7));
    assert_eq!(original.content_type, "image/jpeg");
    assert_eq!(original.cache_control, "public, max-age=31536000, immutable");
    // Nothing went to the local directory.
    assert!(!app.settings.media_dir.exists() || std::fs::read_dir(&app.settings.media_dir).unwrap().next().is_none());

    // The shop serves them from the bucket.
    for url in [res.body["url"].as_str().unwrap(), res.body["rendition_urls"]["thumb"].as_str().unwrap()] {
        let got = app.client.get(app.url(url)).send().await.unwrap();
        assert_eq!(got.status(), 200, "{url}");
        assert_eq!(got.headers()["content-type"], "image/jpeg");
        assert!(got.headers()["cache-control"].to_str().unwrap().contains("immutable"));
        let bytes = got.bytes().await.unwrap();
        let key = url.rsplit('/').next().unwrap();
        assert_eq!(bytes.to_vec(), s3.object(&format!("shop-1/images/{key}")).unwrap().bytes);
    }
    app.get("/media/ffffffffffffffffffffffffffffffff.jpg", None).await.assert_error(404, "not_found");

    // Two 503 SlowDown answers are retried: the upload still succeeds.
    s3.inner.fail_next.store(2, Ordering::SeqCst);
    upload(&app, &staff.access, id, jpeg(8), "second.jpg").await.assert(201);
    let slowdowns = s3.log().iter().filter(|(_, _, status)| *status == 503).count();
    assert_eq!(slowdowns, 2);

    // A bucket that keeps failing is a 503 for the client, and the product gains no image.
    s3.inner.fail_next.store(1_000, Ordering::SeqCst);
    upload(&app, &staff.access, id, jpeg(9), "third.jpg").await.assert_error(503, "service_unavailable");
    let page = app.get(&format!("/api/v1/admin/products/{id}"), Some(&staff.access)).await;
    page.assert(200);
    assert_eq!(page.body["images"].as_array().map(Vec::len), Some(2), "{}", page.text);
    let url = res.body["url"].as_str().unwrap();
    let got = app.client.get(app.url(url)).send().await.unwrap();
    assert_eq!(got.status(), 503);
    s3.inner.fail_next.store(0, Ordering::SeqCst);
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused_by_the_bucket() {
    let s3 = FakeS3::start().await;
    let app = shop_on(&s3, "not-the-secret").await;
    let staff = app.account_with_role(Role::Staff).await;
    let product = app.product(&staff.access, product_body("Locked Mug", None, &[("S3-2", 1500, "One")])).await;
    let id = product["id"].as_str().unwrap();
    upload(&app, &staff.access, id, jpeg(3), "mug.jpg").await.assert_error(503, "service_unavailable");
    let log = s3.log();
    assert!(!log.is_empty() && log.iter().all(|(_, _, status)| *status == 403), "{log:?}");
    assert!(s3.keys().is_empty());
    app.shutdown().await;
}
