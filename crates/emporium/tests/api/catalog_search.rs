// Test code: a failed unwrap is a failed test with its location.
#![allow(clippy::unwrap_used)]

use crate::catalog_helpers::{product_body, titles};
use crate::helpers::{Db, TestApp};
use crate::on_both_databases;
use identity::Role;
use serde_json::{Value, json};

on_both_databases!(
    typos_are_tolerated_and_titles_beat_descriptions,
    filters_sorting_and_pagination,
    facet_counts_equal_the_filtered_totals,
    answers_survive_a_deleted_index,
    bad_parameters_are_named
);

async fn typos_are_tolerated_and_titles_beat_descriptions(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    app.product(&admin.access, product_body("Zephyr Hoodie", None, &[("ZH-1", 4999, "M")])).await;
    let mut body = product_body("Plain Sweater", None, &[("PS-1", 3999, "M")]);
    body["description"] = json!("Warm like a zephyr hoodie, but plainer.");
    app.product(&admin.access, body).await;
    app.product(&admin.access, product_body("Coffee Mug", None, &[("MUG-1", 999, "One")])).await;

    let found = app.search("?q=zephir%20hodie").await;
    assert_eq!(titles(&found).first().map(String::as_str), Some("Zephyr Hoodie"), "{found}");
    let found = app.search("?q=zephyr").await;
    assert_eq!(titles(&found), ["Zephyr Hoodie", "Plain Sweater"], "a title match ranks above a description match");
    assert_eq!(app.search("?q=mug").await["total"], 1);
    assert_eq!(app.search("?q=xylophone").await["total"], 0);
    // The card carries what a listing shows.
    let card = &app.search("?q=coffee").await["items"][0];
    assert_eq!(card["price"], json!({"amount": 999, "currency": "USD"}));
    assert_eq!(card["slug"], "coffee-mug");
    assert_eq!(card["in_stock"], true);
}

/// Apparel > Tops > {Tees, Hoodies}; Home > Mugs.
async fn shop(app: &TestApp) -> (String, Value) {
    let admin = app.account_with_role(Role::Admin).await;
    let apparel = app.create_category(&admin.access, "Apparel", None).await;
    let tops = app.create_category(&admin.access, "Tops", apparel["id"].as_str()).await;
    let tees = app.create_category(&admin.access, "Tees", tops["id"].as_str()).await;
    let hoodies = app.create_category(&admin.access, "Hoodies", tops["id"].as_str()).await;
    let home = app.create_category(&admin.access, "Home", None).await;
    type Item<'a> = (&'a str, &'a Value, &'a [(&'a str, i64, &'a str)]);
    let items: [Item; 6] = [
        ("Basic Tee", &tees, &[("T1-S", 1500, "S"), ("T1-M", 1500, "M")]),
        ("Pocket Tee", &tees, &[("T2-M", 2500, "M"), ("T2-L", 2600, "L")]),
        ("Zip Hoodie", &hoodies, &[("H1-M", 6000, "M")]),
        ("Pullover Hoodie", &hoodies, &[("H2-L", 8000, "L"), ("H2-XL", 8200, "XL")]),
        ("Big Mug", &home, &[("M1", 1200, "One")]),
        ("Small Mug", &home, &[("M2", 900, "One")]),
    ];
    for (title, category, variants) in items {
        app.product(&admin.access, product_body(title, category["id"].as_str(), variants)).await;
    }
    (admin.access, json!({"apparel": apparel, "tops": tops, "tees": tees, "hoodies": hoodies, "home": home}))
}

async fn filters_sorting_and_pagination(db: Db) {
    let app = TestApp::spawn(db).await;
    shop(&app).await;
    // Category by slug includes descendants.
    assert_eq!(app.search("?category=apparel").await["total"], 4);
    assert_eq!(app.search("?category=hoodies").await["total"], 2);
    // Price range over any variant.
    let res = app.search("?min_price=2000&max_price=7000").await;
    let mut got = titles(&res);
    got.sort();
    assert_eq!(got, ["Pocket Tee", "Zip Hoodie"]);
    // Option filters: OR within one option, AND with everything else.
    let res = app.search("?size=M").await;
    assert_eq!(res["total"], 3);
    assert_eq!(app.search("?size=M,XL").await["total"], 4);
    assert_eq!(app.search("?size=M&category=hoodies").await["total"], 1);
    assert_eq!(app.search("?in_stock=true").await["total"], 6);
    // Sorting.
    assert_eq!(titles(&app.search("?sort=price_asc&per_page=3").await), ["Small Mug", "Big Mug", "Basic Tee"]);
    assert_eq!(titles(&app.search("?sort=price_desc&per_page=1").await), ["Pullover Hoodie"]);
    assert_eq!(titles(&app.search("?sort=newest&per_page=1").await), ["Small Mug"]);
    // Pagination keeps the total.
    let page = app.search("?sort=price_asc&per_page=4&page=2").await;
    assert_eq!((page["total"].as_u64(), page["page"].as_u64(), page["per_page"].as_u64()), (Some(6), Some(2), Some(4)));
    assert_eq!(titles(&page), ["Zip Hoodie", "Pullover Hoodie"]);
}

async fn facet_counts_equal_the_filtered_totals(db: Db) {
    let app = TestApp::spawn(db).await;
    shop(&app).await;
    for base in ["", "q=tee", "category=tops", "size=M", "max_price=3000", "category=apparel&size=L"] {
        let res = app.search(&format!("?{base}")).await;
        let facets = &res["facets"];
        // The facet's own filter is replaced, the others stay.
        let strip = |key: &str, q: &str| -> String {
            q.split('&').filter(|p| !p.is_empty() && !p.starts_with(&format!("{key}="))).collect::<Vec<_>>().join("&")
        };
        for c in facets["categories"].as_array().unwrap() {
            let q = strip("category", base);
            let url = if q.is_empty() {
                format!("?category={}", c["slug"].as_str().unwrap())
            } else {
                format!("?{q}&category={}", c["slug"].as_str().unwrap())
            };
            assert_eq!(app.search(&url).await["total"], c["count"], "category facet {} under {base:?}", c["slug"]);
        }
        for option in facets["options"].as_array().unwrap() {
            let name = option["name"].as_str().unwrap();
            for v in option["values"].as_array().unwrap() {
                let q = strip(name, base);
                let value = v["value"].as_str().unwrap();
                let url = if q.is_empty() { format!("?{name}={value}") } else { format!("?{q}&{name}={value}") };
                assert_eq!(app.search(&url).await["total"], v["count"], "{name}={value} under {base:?}");
            }
        }
        for bucket in facets["price"].as_array().unwrap() {
            let q = strip("max_price", &strip("min_price", base));
            let mut range = format!("min_price={}", bucket["min"]);
            if let Some(max) = bucket["max"].as_i64() {
                range.push_str(&format!("&max_price={}", max - 1));
            }
            let url = if q.is_empty() { format!("?{range}") } else { format!("?{q}&{range}") };
            assert_eq!(app.search(&url).await["total"], bucket["count"], "price {range} under {base:?}");
        }
    }
    // Counts reflect the other filters: with size=L, Tees shows only the L tee.
    let res = app.search("?size=L").await;
    let tees = res["facets"]["categories"].as_array().unwrap().iter().find(|c| c["slug"] == "tees").cloned().unwrap();
    assert_eq!(tees["count"], 1);
    // ...and an option's own values stay visible while it is filtered.
    let sizes = res["facets"]["options"].as_array().unwrap().iter().find(|o| o["name"] == "size").cloned().unwrap();
    assert!(sizes["values"].as_array().unwrap().len() >= 4, "{sizes}");
}

async fn answers_survive_a_deleted_index(db: Db) {
    let mut app = TestApp::spawn(db).await;
    shop(&app).await;
    let before = app.search("?q=hoodie&sort=price_asc").await;
    assert_eq!(before["total"], 2);
    app.restart_with(|settings| {
        std::fs::remove_dir_all(&settings.search_dir).expect("delete the index");
    })
    .await;
    let after = app.search("?q=hoodie&sort=price_asc").await;
    assert_eq!(titles(&after), titles(&before));
    assert_eq!(after["facets"], before["facets"]);
}

async fn bad_parameters_are_named(db: Db) {
    let app = TestApp::spawn(db).await;
    for (query, field) in [
        ("?min_price=abc", "min_price"),
        ("?min_price=-5", "min_price"),
        ("?min_price=500&max_price=100", "max_price"),
        ("?sort=cheapest", "sort"),
        ("?per_page=500", "per_page"),
        ("?page=0", "page"),
        ("?page=5000", "page"),
        ("?category=no-such-category", "category"),
        ("?in_stock=maybe", "in_stock"),
        ("?q=%00", "q"),
    ] {
        let res = app.get(&format!("/api/v1/products{query}"), None).await;
        res.assert_error(422, "validation_failed");
        assert!(res.body["error"]["details"]["fields"][field].is_string(), "{query}: {}", res.text);
    }
    app.get("/api/v1/products/no-such-product", None).await.assert_error(404, "not_found");
    app.get("/api/v1/products/no-such-product/related", None).await.assert_error(404, "not_found");
}
