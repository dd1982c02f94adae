// Test code: a failed unwrap is a failed test with its location.
#![allow(clippy::unwrap_used)]

use crate::catalog_helpers::{jpeg, product_body, upload};
use crate::helpers::{Db, TestApp};
use crate::on_both_databases;
use identity::Role;
use serde_json::json;

on_both_databases!(
    an_uploaded_image_gets_thumbnails_and_long_cache,
    uploads_are_sniffed_and_limited,
    one_review_per_customer_and_the_rating_follows,
    wishlists_are_personal_and_idempotent,
    stores_come_nearest_first,
    related_products_share_a_category
);

async fn an_uploaded_image_gets_thumbnails_and_long_cache(db: Db) {
    let app = TestApp::spawn(db).await;
    let staff = app.account_with_role(Role::Staff).await;
    let product = app.product(&staff.access, product_body("Blue Mug", None, &[("BM-1", 1500, "One")])).await;
    let id = product["id"].as_str().unwrap();
    let res = upload(&app, &staff.access, id, jpeg(1), "mug.jpg").await;
    res.assert(201);
    assert_eq!((res.body["width"].as_u64(), res.body["height"].as_u64()), (Some(1000), Some(1000)));
    assert_eq!(res.body["alt"], "A blue mug");
    for name in ["thumb", "small", "medium"] {
        let url = res.body["rendition_urls"][name].as_str().unwrap_or_else(|| panic!("{name}: {}", res.text));
        let got = app.client.get(app.url(url)).send().await.unwrap();
        assert_eq!(got.status(), 200);
        assert_eq!(got.headers()["content-type"], "image/jpeg");
        assert!(got.headers()["cache-control"].to_str().unwrap().contains("immutable"));
        let bytes = got.bytes().await.unwrap();
        let decoded = image::load_from_memory(&bytes).unwrap();
        let edge = match name {
            "thumb" => 160,
            "small" => 400,
            _ => 800,
        };
        assert_eq!((decoded.width(), decoded.height()), (edge, edge), "{name}");
    }
    // The original is served unchanged, under a content-hashed name.
    let original = app.client.get(app.url(res.body["url"].as_str().unwrap())).send().await.unwrap();
    assert_eq!(original.bytes().await.unwrap().to_vec(), jpeg(1));
    // A second image goes last; moving it to 0 makes it the primary.
    let second = upload(&app, &staff.access, id, jpeg(2), "other.jpg").await;
    second.assert(201);
    assert_eq!(second.body["position"], 1);
    let path = format!("/api/v1/admin/products/{id}/images/{}", second.body["id"].as_str().unwrap());
    app.patch(&path, Some(&staff.access), json!({"position": 0})).await.assert(200);
    let page = app.get(&format!("/api/v1/products/{id}"), None).await;
    assert_eq!(page.body["images"][0]["id"], second.body["id"]);
    assert_eq!(page.body["images"][1]["id"], res.body["id"]);
    let card = &app.search("?q=blue").await["items"][0];
    assert_eq!(card["image"]["url"], second.body["rendition_urls"]["small"]);
    app.delete(&path, Some(&staff.access)).await.assert(204);
    let page = app.get(&format!("/api/v1/products/{id}"), None).await;
    assert_eq!(page.body["images"].as_array().map(Vec::len), Some(1));
    app.get("/media/../../etc/passwd", None).await.assert(404);
    app.get("/media/ffffffffffffffffffffffffffffffff.jpg", None).await.assert_error(404, "not_found");
}

async fn uploads_are_sniffed_and_limited(db: Db) {
    let app = TestApp::spawn_with(db, |s| s.image_max_bytes = 200_000).await;
    let admin = app.account_with_role(Role::Admin).await;
    let customer = app.register().await;
    let product = app.product(&admin.access, product_body("Lamp", None, &[("L-1", 1500, "One")])).await;
    let id = product["id"].as_str().unwrap();
    upload(&app, &customer.access, id, jpeg(1), "x.jpg").await.assert_error(403, "forbidden");
    // Text named .jpg is refused by its bytes.
    upload(&app, &admin.access, id, b"<svg onload=alert(1)>".to_vec(), "evil.jpg")
        .await
        .assert_error(415, "unsupported_media_type");
    upload(&app, &admin.access, id, b"GIF89a\x01\x00\x01\x00".to_vec(), "a.gif")
        .await
        .assert_error(415, "unsupported_media_type");
    // A truncated JPEG is a 422; an oversized one a 413.
    let mut broken = jpeg(3);
    broken.truncate(400);
    upload(&app, &admin.access, id, broken, "broken.jpg").await.assert_error(422, "validation_failed");
    let big: Vec<u8> = jpeg(4).into_iter().cycle().take(220_000).collect();
    upload(&app, &admin.access, id, big, "big.jpg").await.assert_error(413, "payload_too_large");
    let unknown = "0190a0a0-0000-7000-8000-000000000000";
    upload(&app, &admin.access, unknown, jpeg(1), "x.jpg").await.assert_error(404, "not_found");
    let page = app.get(&format!("/api/v1/admin/products/{id}"), Some(&admin.access)).await;
    assert_eq!(page.body["images"].as_array().map(Vec::len), Some(0), "nothing was attached");
}

async fn one_review_per_customer_and_the_rating_follows(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let product = app.product(&admin.access, product_body("Tent", None, &[("TENT-1", 19900, "One")])).await;
    let id = product["id"].as_str().unwrap();
    let reviews = format!("/api/v1/products/{id}/reviews");
    app.post(&reviews, None, json!({"rating": 5, "title": "Great", "body": "Dry all night."}))
        .await
        .assert_error(401, "unauthenticated");
    let alice = app.register().await;
    let bob = app.register().await;
    let res = app
        .post(&reviews, Some(&alice.access), json!({"rating": 6, "title": "", "body": "x", "verified_purchase": true}))
        .await;
    res.assert(422);
    let res = app.post(&reviews, Some(&alice.access), json!({"rating": 6, "title": "", "body": "x"})).await;
    res.assert_error(422, "validation_failed");
    assert!(res.body["error"]["details"]["fields"]["rating"].is_string());
    assert!(res.body["error"]["details"]["fields"]["title"].is_string());
    let first =
        app.post(&reviews, Some(&alice.access), json!({"rating": 5, "title": "Great", "body": "Dry all night."})).await;
    first.assert(201);
    assert_eq!(first.body["verified_purchase"], false, "no orders exist, so no purchase is verified");
    app.post(&reviews, Some(&alice.access), json!({"rating": 1, "title": "Again", "body": "x"}))
        .await
        .assert_error(409, "conflict");
    app.post(&reviews, Some(&bob.access), json!({"rating": 2, "title": "Leaky", "body": "Wet."})).await.assert(201);

    let page = app.get(&format!("/api/v1/products/{id}"), None).await;
    assert_eq!(page.body["rating"]["count"], 2);
    assert_eq!(page.body["rating"]["average"], 3.5);
    assert_eq!(page.body["rating"]["histogram"], json!([0, 1, 0, 0, 1]));
    assert_eq!(app.search("?q=tent").await["items"][0]["rating"]["count"], 2);
    let list = app.get(&reviews, None).await;
    assert_eq!(list.body["total"], 2);
    assert_eq!(list.body["items"][0]["title"], "Leaky");

    // A moderator hides Bob's review: it leaves the list and the rating.
    let bob_review = list.body["items"][0]["id"].as_str().unwrap();
    let customer_try =
        app.patch(&format!("/api/v1/admin/reviews/{bob_review}"), Some(&bob.access), json!({"status": "hidden"})).await;
    customer_try.assert_error(403, "forbidden");
    app.patch(&format!("/api/v1/admin/reviews/{bob_review}"), Some(&admin.access), json!({"status": "hidden"}))
        .await
        .assert(200);
    let page = app.get(&format!("/api/v1/products/{id}"), None).await;
    assert_eq!((page.body["rating"]["count"].as_u64(), page.body["rating"]["average"].as_f64()), (Some(1), Some(5.0)));
    assert_eq!(app.get(&reviews, None).await.body["total"], 1);
    let hidden = app.get("/api/v1/admin/reviews?status=hidden", Some(&admin.access)).await;
    assert_eq!(hidden.body["total"], 1);
    assert_eq!(app.search("?sort=rating").await["items"][0]["rating"]["average"], 5.0);
}

async fn wishlists_are_personal_and_idempotent(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let product = app.product(&admin.access, product_body("Boots", None, &[("B-42", 12900, "42")])).await;
    let id = product["id"].as_str().unwrap();
    let alice = app.register().await;
    let bob = app.register().await;
    app.get("/api/v1/users/me/wishlist", None).await.assert_error(401, "unauthenticated");
    app.post("/api/v1/users/me/wishlist", Some(&alice.access), json!({"product_id": id})).await.assert(201);
    app.post("/api/v1/users/me/wishlist", Some(&alice.access), json!({"product_id": id})).await.assert(201);
    let unknown = json!({"product_id": "0190a0a0-0000-7000-8000-000000000000"});
    app.post("/api/v1/users/me/wishlist", Some(&alice.access), unknown).await.assert_error(404, "not_found");
    let list = app.get("/api/v1/users/me/wishlist", Some(&alice.access)).await;
    assert_eq!(list.body.as_array().map(Vec::len), Some(1));
    assert_eq!(list.body[0]["product"]["title"], "Boots");
    assert_eq!(app.get("/api/v1/users/me/wishlist", Some(&bob.access)).await.body, json!([]));
    app.delete(&format!("/api/v1/users/me/wishlist/{id}"), Some(&bob.access)).await.assert_error(404, "not_found");
    app.delete(&format!("/api/v1/users/me/wishlist/{id}"), Some(&alice.access)).await.assert(204);
    assert_eq!(app.get("/api/v1/users/me/wishlist", Some(&alice.access)).await.body, json!([]));
}

async fn stores_come_nearest_first(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let store = |name: &str, lat: f64, lng: f64| {
        json!({"name": name, "line1": "1 Main St", "city": name, "postal_code": "1000", "country": "gb",
               "latitude": lat, "longitude": lng, "opening_hours": [{"day": "mon", "opens": "09:00", "closes": "18:00"}]})
    };
    for (name, lat, lng) in [("London", 51.5074, -0.1278), ("Paris", 48.8566, 2.3522), ("Berlin", 52.52, 13.405)] {
        let res = app.post("/api/v1/admin/stores", Some(&admin.access), store(name, lat, lng)).await;
        res.assert(201);
        assert_eq!(res.body["country"], "GB");
    }
    // From Brussels: Paris (264 km), London (320 km), Berlin (650 km).
    let near = app.get("/api/v1/stores?lat=50.8503&lng=4.3517", None).await;
    let names: Vec<&str> = near.body.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Paris", "London", "Berlin"]);
    let d = near.body[0]["distance_km"].as_f64().unwrap();
    assert!((d - 264.0).abs() < 5.0, "{d}");
    let within = app.get("/api/v1/stores?lat=50.8503&lng=4.3517&radius_km=400", None).await;
    assert_eq!(within.body.as_array().map(Vec::len), Some(2));
    app.get("/api/v1/stores?lat=91&lng=0", None).await.assert_error(422, "validation_failed");
    app.get("/api/v1/stores?lat=10", None).await.assert_error(422, "validation_failed");
    app.get("/api/v1/stores?radius_km=5", None).await.assert_error(422, "validation_failed");
    let mut bad = store("X", 0.0, 0.0);
    bad["opening_hours"] = json!([{"day": "funday", "opens": "18:00", "closes": "09:00"}]);
    bad["latitude"] = json!(200.0);
    let res = app.post("/api/v1/admin/stores", Some(&admin.access), bad).await;
    res.assert_error(422, "validation_failed");
    assert!(res.body["error"]["details"]["fields"]["latitude"].is_string());
    assert!(res.body["error"]["details"]["fields"]["opening_hours[0].day"].is_string());
}

async fn related_products_share_a_category(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let apparel = app.create_category(&admin.access, "Apparel", None).await;
    let tees = app.create_category(&admin.access, "Tees", apparel["id"].as_str()).await;
    let hoodies = app.create_category(&admin.access, "Hoodies", apparel["id"].as_str()).await;
    let home = app.create_category(&admin.access, "Home", None).await;
    let tee = app.product(&admin.access, product_body("Tee", tees["id"].as_str(), &[("T-1", 100, "M")])).await;
    app.product(&admin.access, product_body("Other Tee", tees["id"].as_str(), &[("T-2", 100, "M")])).await;
    app.product(&admin.access, product_body("Hoodie", hoodies["id"].as_str(), &[("H-1", 100, "M")])).await;
    app.product(&admin.access, product_body("Mug", home["id"].as_str(), &[("M-1", 100, "M")])).await;
    app.settle().await;
    let related = app.get(&format!("/api/v1/products/{}/related?limit=2", tee["id"].as_str().unwrap()), None).await;
    related.assert(200);
    let got: Vec<&str> = related.body.as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap()).collect();
    assert_eq!(got, ["Other Tee", "Hoodie"], "own category first, then the parent's; never itself or another tree");
}

on_both_databases!(the_demo_seed_is_a_believable_shop);

async fn the_demo_seed_is_a_believable_shop(db: Db) {
    use emporium::seed::{self, Quiet};
    let test_db = crate::helpers::TestDatabase::new(db).await;
    let settings = test_db.settings.clone();
    let shop = emporium::Shop::open(&settings, std::sync::Arc::new(kernel::SystemClock), None).await.unwrap();
    assert!(seed::demo(&shop, &mut Quiet).await.unwrap(), "an empty shop gets the catalogue");
    assert!(!seed::demo(&shop, &mut Quiet).await.unwrap(), "a second run leaves the catalogue alone");
    assert!(shop.catalog.sellers().await.unwrap().len() >= 3);
    let categories = shop.catalog.categories().await.unwrap();
    assert!(categories.len() >= 25, "{}", categories.len());
    let depth = categories.iter().map(|c| catalog::category_path(&categories, c.id).len()).max();
    assert_eq!(depth, Some(3));
    let page = kernel::PageSpec { page: 1, per_page: 1 };
    let products = shop.catalog.list_products(Default::default(), page).await.unwrap();
    assert_eq!(products.total, 1_000);
    assert!(!products.items[0].variants.is_empty() && !products.items[0].images.is_empty());
    let reviews = shop.catalog.reviews(Default::default(), page).await.unwrap();
    assert!(reviews.total > 1_000, "{}", reviews.total);
    assert_eq!(shop.catalog.stores_near(None, None).await.unwrap().len(), 5);
    // More products for benchmarks add to the same taxonomy without clashes.
    seed::products(&shop, 150, 7, true, &mut Quiet).await.unwrap();
    assert_eq!(shop.catalog.list_products(Default::default(), page).await.unwrap().total, 1_150);
    assert_eq!(shop.catalog.categories().await.unwrap().len(), categories.len());
    let indexed = shop.feed.reindex(|_| {}).await.unwrap();
    assert!(indexed > 1_000, "{indexed}");
    let found = shop
        .search
        .search(&search::SearchQuery { text: Some("zephir hodie".into()), limit: 5, ..Default::default() })
        .unwrap();
    assert!(found.hits.iter().any(|h| h.summary_json.contains("\"title\":\"Zephyr Hoodie\"")));
    shop.backend.close().await;
}
