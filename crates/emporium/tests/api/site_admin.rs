//! The admin in the browser: who may enter, and staff creating a product
//! with an image, stocking it and shipping and refunding an order.

use crate::catalog_helpers::jpeg;
use crate::helpers::{Db, PASSWORD, TestApp};
use crate::on_both_databases;
use crate::shop_helpers::{checkout_body, new_key};
use crate::site_helpers::Browser;
use identity::Role;

on_both_databases!(admin_creates_a_product_and_ships_an_order);
on_both_databases!(the_dashboard_chart_counts_paid_sales_net_of_refunds);

#[tokio::test]
async fn the_admin_refuses_customers_and_sends_strangers_to_sign_in() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let mut stranger = Browser::new(&app);
    for path in ["/admin", "/admin/products", "/admin/orders", "/admin/inventory", "/admin/products/new"] {
        stranger.get(path).await.assert_redirect("/login?next=");
    }
    let customer = app.register().await;
    let mut b = Browser::new(&app);
    b.sign_in(&customer.email, PASSWORD).await.assert_redirect("/");
    for path in ["/admin", "/admin/products", "/admin/orders", "/admin/inventory"] {
        b.get(path).await.assert(403).assert_contains("staff only");
    }
    b.post("/admin/products", &[("title", "Sneaky")]).await.assert(403);

    // Staff may see orders but not change pricing-level things they lack;
    // they may manage products.
    let staff = app.account_with_role(Role::Staff).await;
    let mut s = Browser::new(&app);
    s.sign_in(&staff.email, PASSWORD).await.assert_redirect("/admin");
    s.get("/admin").await.assert(200).assert_contains("Sales, last 30 days");
    s.get("/admin/products?status=bogus").await.assert(422);
    s.get("/admin/orders?status=bogus").await.assert(422);
}

async fn admin_creates_a_product_and_ships_an_order(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let mut a = Browser::new(&app);
    a.sign_in(&admin.email, PASSWORD).await.assert_redirect("/admin");

    // A bad price is refused with a message and creates nothing.
    a.get("/admin/products/new").await.assert(200);
    let bad = [("title", "Rain Jacket"), ("status", "draft"), ("options", ""), ("sku", "RAIN-1"), ("price", "12.345")];
    a.post("/admin/products", &bad).await.assert(422).assert_contains("like 19.99");
    a.get("/admin/products?q=Rain").await.assert_contains("No products match");

    let good = [
        ("title", "Rain Jacket"),
        ("description", "Keeps you dry."),
        ("status", "draft"),
        ("sku", "RAIN-1"),
        ("price", "89.50"),
    ];
    let created = a.post("/admin/products", &good).await;
    created.assert_redirect("/admin/products/");
    let edit_path = created.location().split('?').next().unwrap_or_default().to_owned();
    a.follow(&created).await.assert(200).assert_contains("Rain Jacket").assert_contains("89.50");

    // An upload without the CSRF token is refused; with it, the image is stored.
    let refused = a.upload(&format!("{edit_path}/images"), jpeg(7), "A yellow jacket", false).await;
    refused.assert(403);
    // Refused unread, so the connection is not reused for the next request.
    assert_eq!(refused.headers.get("connection").and_then(|v| v.to_str().ok()), Some("close"));
    a.upload(&format!("{edit_path}/images"), b"not an image".to_vec(), "", true).await.assert(415);
    let uploaded = a.upload(&format!("{edit_path}/images"), jpeg(7), "A yellow jacket", true).await;
    uploaded.assert_redirect(&edit_path);
    a.follow(&uploaded).await.assert_contains("alt=\"A yellow jacket\"");

    // A second picture is made the primary one, described anew, then removed.
    let api_path = format!("/api/v1{edit_path}");
    let images = |body: &serde_json::Value| -> Vec<(String, String)> {
        body["images"]
            .as_array()
            .map(|list| {
                list.iter()
                    .map(|i| (i["id"].as_str().unwrap_or("").to_owned(), i["alt"].as_str().unwrap_or("").to_owned()))
                    .collect()
            })
            .unwrap_or_default()
    };
    a.upload(&format!("{edit_path}/images"), jpeg(9), "The hood", true).await.assert_redirect(&edit_path);
    let before = images(&app.get(&api_path, Some(&admin.access)).await.body);
    assert_eq!(before.iter().map(|(_, alt)| alt.as_str()).collect::<Vec<_>>(), ["A yellow jacket", "The hood"]);
    let hood = before[1].0.clone();
    a.post(&format!("{edit_path}/images/{hood}"), &[("to", "first")]).await.assert_redirect(&edit_path);
    a.post(&format!("{edit_path}/images/{hood}"), &[("to", "sideways")]).await.assert(422);
    a.post(&format!("{edit_path}/images/{hood}"), &[("alt", "  ")])
        .await
        .assert(422)
        .assert_contains("class=\"error\"");
    a.post(&format!("{edit_path}/images/{hood}"), &[("alt", "The hood, up")]).await.assert_redirect(&edit_path);
    let after = images(&app.get(&api_path, Some(&admin.access)).await.body);
    assert_eq!(after[0], (hood.clone(), "The hood, up".to_owned()), "primary, described anew");
    a.post(&format!("{edit_path}/images/{hood}/delete"), &[]).await.assert_redirect(&edit_path);
    a.post(&format!("{edit_path}/images/{hood}/delete"), &[]).await.assert(404);
    assert_eq!(images(&app.get(&api_path, Some(&admin.access)).await.body).len(), 1);

    // A variant no longer sold is deleted (by an admin; staff may not).
    let two = app.stocked(&admin.access, "Two Sizes", &[("TWO-S", 1_000), ("TWO-M", 1_000)], 0).await;
    let two_path = format!("/admin/products/{}", two["id"].as_str().unwrap_or(""));
    let variant = two["variants"][1]["id"].as_str().unwrap_or("").to_owned();
    let staff = app.account_with_role(Role::Staff).await;
    let mut s = Browser::new(&app);
    s.sign_in(&staff.email, PASSWORD).await;
    s.get(&two_path).await.assert(200);
    s.post(&format!("{two_path}/variants/{variant}/delete"), &[]).await.assert(403);
    a.post(&format!("{two_path}/variants/{variant}/delete"), &[]).await.assert_redirect(&two_path);
    let variants = app.get(&format!("/api/v1{two_path}"), Some(&admin.access)).await.body["variants"].clone();
    assert_eq!(variants.as_array().map(Vec::len), Some(1));
    assert_eq!(variants[0]["sku"], "TWO-S");
    // The last variant of a product on sale stays.
    let last = variants[0]["id"].as_str().unwrap_or("").to_owned();
    a.post(&format!("{two_path}/variants/{last}/delete"), &[]).await.assert(409);

    // Publish, stock it, and it is on sale.
    a.post(&format!("{edit_path}/status"), &[("status", "active")]).await.assert_redirect(&edit_path);
    a.get("/admin/inventory").await.assert(200);
    a.post("/admin/inventory", &[("sku", "RAIN-1"), ("delta", "x"), ("reason", "delivery")]).await.assert(422);
    a.post("/admin/inventory", &[("sku", "NOPE"), ("delta", "5"), ("reason", "delivery")]).await.assert(422);
    a.post("/admin/inventory", &[("sku", "RAIN-1"), ("delta", "+4"), ("reason", "delivery")])
        .await
        .assert_redirect("/admin/inventory");
    assert_eq!(app.level(&admin.access, "RAIN-1").await, (4, 0));
    app.settle().await;

    // A customer buys one.
    let customer = app.register().await;
    let mut c = Browser::new(&app);
    c.sign_in(&customer.email, PASSWORD).await;
    let product = c.get("/search?q=rain+jacket").await;
    let href = product.between("href=\"/p/", "\"").expect("product link");
    let page = c.get(&format!("/p/{href}")).await;
    page.assert(200).assert_contains("A yellow jacket");
    let variant = page.between("name=\"variant_id\" value=\"", "\"").expect("variant");
    c.post("/cart/add", &[("variant_id", &variant), ("quantity", "1")]).await.assert_redirect("/cart");
    let form = c.get("/checkout").await;
    let key = form.between("name=\"key\" value=\"", "\"").expect("key");
    let fields = [
        ("full_name", "Cy Buyer"),
        ("line1", "2 Elm St"),
        ("city", "Austin"),
        ("postal_code", "73301"),
        ("country", "US"),
        ("payment_provider", "test"),
        ("key", key.as_str()),
        ("save_address", "1"),
    ];
    let placed = c.post("/checkout", &fields).await;
    placed.assert_redirect("/checkout/pay/");
    let pay = placed.location().to_owned();
    c.post(&format!("{pay}/card"), &[("card_number", "4242424242424242")]).await.assert_redirect("/checkout/done/");
    assert_eq!(app.addresses(&customer.access).await.len(), 1, "the address was saved");
    let done = c.get(&pay.replace("/pay/", "/done/")).await;
    let order_href = done.between("href=\"/account/orders/", "\"").expect("order link");

    // The admin finds it among paid orders and ships it with tracking.
    let dashboard = a.get("/admin").await;
    dashboard.assert(200).assert_contains("To fulfil (1)").assert_contains("$89.50");
    let list = a.get("/admin/orders?status=paid").await;
    list.assert(200).assert_contains(&customer.email);
    let admin_order = format!("/admin/orders/{order_href}");
    a.get(&admin_order).await.assert(200).assert_contains("Mark as shipped");
    a.post(&format!("{admin_order}/fulfil"), &[("carrier", ""), ("tracking_number", "")]).await.assert(422);
    let shipped = a.post(&format!("{admin_order}/fulfil"), &[("carrier", "UPS"), ("tracking_number", "1Z999")]).await;
    shipped.assert_redirect(&admin_order);
    a.follow(&shipped).await.assert_contains("1Z999").assert_contains("Shipped");
    // An illegal move is refused with the reason.
    a.post(&format!("{admin_order}/transition"), &[("to", "paid")]).await.assert(409);

    // The customer sees the tracking and the timeline.
    let mine = c.get(&format!("/account/orders/{order_href}")).await;
    mine.assert(200).assert_contains("UPS").assert_contains("1Z999").assert_contains("Order placed");
    c.get("/account/orders").await.assert_contains("Shipped");

    // A refund over the total is refused; a part refund is recorded once for its key.
    let order_page = a.get(&admin_order).await;
    let refund_key = order_page.between("name=\"key\" value=\"", "\"").expect("refund key");
    let too_much = [("amount", "500"), ("reason", "goodwill"), ("key", refund_key.as_str())];
    a.post(&format!("{admin_order}/refund"), &too_much).await.assert(422);
    let part = [("amount", "10"), ("reason", "late delivery"), ("key", refund_key.as_str())];
    a.post(&format!("{admin_order}/refund"), &part).await.assert_redirect(&admin_order);
    a.post(&format!("{admin_order}/refund"), &part).await.assert_redirect(&admin_order);
    a.get(&admin_order).await.assert_contains("Refunded").assert_contains("$10.00");
    assert_eq!(app.outbox_count("order.refunded").await, 1);
}

#[tokio::test]
async fn admins_manage_customers_and_moderate_reviews() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let admin = app.account_with_role(Role::Admin).await;
    let product = app.stocked(&admin.access, "Tea Pot", &[("POT-1", 3_000)], 5).await;
    let slug = product["slug"].as_str().expect("slug").to_owned();
    let customer = app.register().await;
    let mut c = Browser::new(&app);
    c.sign_in(&customer.email, PASSWORD).await;
    c.get(&format!("/p/{slug}")).await;
    let review = [("rating", "1"), ("title", "Spam"), ("body", "Buy cheap watches at example.com")];
    c.post(&format!("/p/{slug}/reviews"), &review).await.assert_redirect(&format!("/p/{slug}"));

    let mut a = Browser::new(&app);
    a.sign_in(&admin.email, PASSWORD).await;

    // Reviews: hide one; it leaves the product page.
    let list = a.get("/admin/reviews").await;
    list.assert(200).assert_contains("Buy cheap watches").assert_contains("Tea Pot");
    let id = list.between("action=\"/admin/reviews/", "\"").expect("review form");
    a.post(&format!("/admin/reviews/{id}"), &[("status", "nonsense")]).await.assert(422);
    a.post(&format!("/admin/reviews/{id}"), &[("status", "hidden")]).await.assert_redirect("/admin/reviews?msg=hidden");
    a.get("/admin/reviews?status=hidden").await.assert_contains("Buy cheap watches");
    c.get(&format!("/p/{slug}")).await.assert_lacks("Buy cheap watches");

    // Customers: find, make staff, suspend; a suspended customer is signed out.
    let found = a.get(&format!("/admin/customers?q={}", customer.email)).await;
    found.assert(200).assert_contains(&customer.email);
    let path = format!("/admin/customers/{}", customer.id);
    a.post(&path, &[("role", "emperor")]).await.assert(422).assert_contains("Unknown role");
    a.post(&path, &[("role", "staff")]).await.assert_redirect("/admin/customers");
    c.get("/admin").await.assert(200);
    a.post(&path, &[("suspended", "true")]).await.assert_redirect("/admin/customers");
    c.get("/account").await.assert_redirect("/login");
    a.get("/admin/customers?role=staff").await.assert_contains(&customer.email).assert_contains("Reinstate");

    // Staff may read customers but not change them.
    let staff = app.account_with_role(Role::Staff).await;
    let mut s = Browser::new(&app);
    s.sign_in(&staff.email, PASSWORD).await;
    s.get("/admin/customers").await.assert(200);
    s.post(&path, &[("suspended", "false")]).await.assert(403).assert_contains("does not allow");
}

#[tokio::test]
async fn admins_set_discount_codes_shipping_and_tax() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let admin = app.account_with_role(Role::Admin).await;
    let product = app.stocked(&admin.access, "Cast Pan", &[("PAN-1", 4_000)], 5).await;
    app.settle().await;
    let mut a = Browser::new(&app);
    a.sign_in(&admin.email, PASSWORD).await;

    // Discount codes: bad input creates nothing; a good code works in the cart until paused.
    a.get("/admin/discounts").await.assert(200).assert_contains("No discount codes yet");
    a.post("/admin/discounts", &[("code", "SPRING"), ("kind", "percentage"), ("value", "ten")]).await.assert(422);
    a.post("/admin/discounts", &[("code", "bad code!"), ("kind", "percentage"), ("value", "10")]).await.assert(422);
    a.get("/admin/discounts").await.assert_contains("No discount codes yet");
    let made = a.post("/admin/discounts", &[("code", "spring"), ("kind", "percentage"), ("value", "10")]).await;
    made.assert_redirect("/admin/discounts?msg=created");
    let list = a.get("/admin/discounts").await;
    list.assert_contains("SPRING").assert_contains("10 %");
    a.get("/admin/discounts?q=spr").await.assert_contains("SPRING");
    a.get("/admin/discounts?q=autumn").await.assert_contains("No codes match").assert_lacks("SPRING");

    let mut c = Browser::new(&app);
    let page = c.get(&format!("/p/{}", product["slug"].as_str().expect("slug"))).await;
    let variant = page.between("name=\"variant_id\" value=\"", "\"").expect("variant");
    c.post("/cart/add", &[("variant_id", &variant), ("quantity", "1")]).await.assert_redirect("/cart");
    c.post("/cart/discount", &[("code", "spring")]).await.assert_redirect("/cart?msg=code-applied");
    c.get("/cart").await.assert_contains("SPRING").assert_contains("$36.00");
    c.post("/cart/discount/remove", &[]).await.assert_redirect("/cart");
    let id = list.between("action=\"/admin/discounts/", "/active").expect("toggle form");
    a.post(&format!("/admin/discounts/{id}/active"), &[("active", "false")]).await.assert_redirect("/admin/discounts");
    c.post("/cart/discount", &[("code", "spring")]).await.assert(422).assert_contains("class=\"error\"");

    // Shipping and tax.
    a.get("/admin/settings").await.assert(200);
    a.post("/admin/settings/shipping", &[("code", "express"), ("name", "Express"), ("price", "x")]).await.assert(422);
    let ship = [("code", "express"), ("name", "Express"), ("price", "12.50"), ("free_above", "100")];
    a.post("/admin/settings/shipping", &ship).await.assert_redirect("/admin/settings?msg=created");
    a.post("/admin/settings/tax", &[("country", "DE"), ("name", "MwSt"), ("rate", "150")]).await.assert(422);
    a.post("/admin/settings/tax", &[("country", "de"), ("name", "MwSt"), ("rate", "19")])
        .await
        .assert_redirect("/admin/settings");
    a.get("/admin/settings").await.assert_contains("Express").assert_contains("$12.50").assert_contains("19.00 %");
    // One filter finds methods and rates; each list has its own pages.
    a.get("/admin/settings?q=mwst").await.assert_contains("19.00 %").assert_contains("No shipping methods match");
    a.get("/admin/settings?q=EXPR").await.assert_contains("$12.50").assert_contains("No tax rates match");
    for n in 0..21 {
        let region = format!("R{n:02}");
        let rate = [("country", "US"), ("region", region.as_str()), ("name", "Sales tax"), ("rate", "5")];
        a.post("/admin/settings/tax", &rate).await.assert_redirect("/admin/settings");
    }
    let first = a.get("/admin/settings?q=us").await;
    first
        .assert_contains("US / R00")
        .assert_lacks("US / R20")
        .assert_contains("href=\"/admin/settings?q=us&#38;tpage=2\"");
    a.get("/admin/settings?q=us&tpage=2").await.assert_contains("US / R20").assert_lacks("US / R00");
    a.get("/admin/settings?tpage=0").await.assert(422);
    c.get("/checkout").await.assert_contains("Express — $12.50, free from $100.00");

    // Staff have no say over pricing.
    let staff = app.account_with_role(Role::Staff).await;
    let mut s = Browser::new(&app);
    s.sign_in(&staff.email, PASSWORD).await;
    s.get("/admin/discounts").await.assert(403);
    s.get("/admin/settings").await.assert(403);
}

#[tokio::test]
async fn admins_edit_the_category_tree() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let admin = app.account_with_role(Role::Admin).await;
    let mut a = Browser::new(&app);
    a.sign_in(&admin.email, PASSWORD).await;
    let count = |name: &'static str| app.scalar_i64("SELECT COUNT(*) FROM categories WHERE name = $1", name);

    a.get("/admin/categories").await.assert(200).assert_contains("No categories yet");
    // Bad input is refused with the reason and creates nothing.
    a.post("/admin/categories", &[("name", "  ")]).await.assert(422).assert_contains("class=\"error\"");
    a.post("/admin/categories", &[("name", "Coats"), ("slug", "Not A Slug!")]).await.assert(422);
    a.post("/admin/categories", &[("name", "Coats"), ("parent_id", "nonsense")]).await.assert(422);
    assert_eq!(count("Coats").await, 0);

    for name in ["Clothing", "Shoes"] {
        a.post("/admin/categories", &[("name", name)]).await.assert_redirect("/admin/categories?msg=created");
    }
    let list = a.get("/admin/categories").await;
    let id_of = |page: &crate::site_helpers::Page, name: &str| {
        page.between("<a href=\"/admin/categories/", &format!("\">{name}</a>"))
            .and_then(|s| s.rsplit("/admin/categories/").next().map(str::to_owned))
            .expect("category link")
    };
    let clothing = id_of(&list, "Clothing");
    let shoes = id_of(&list, "Shoes");
    a.post("/admin/categories", &[("name", "Jackets"), ("parent_id", &clothing)]).await.assert_redirect("/admin");
    // A slug already taken is a clear conflict.
    a.post("/admin/categories", &[("name", "Other shoes"), ("slug", "shoes")]).await.assert(409);
    assert_eq!(count("Other shoes").await, 0);

    // Tree order: children under their parent, indented.
    let list = a.get("/admin/categories").await;
    let body = &list.body;
    let (c, j, s) = (body.find(">Clothing<"), body.find(">Jackets<"), body.find(">Shoes<"));
    assert!(c < j && j < s, "tree order in {body}");
    assert!(body.contains("— </span><a href=\"/admin/categories/"), "a child is indented");
    let jackets = id_of(&list, "Jackets");

    // Reorder: Shoes up, before Clothing.
    a.post(&format!("/admin/categories/{shoes}/move"), &[("to", "sideways")]).await.assert(422);
    a.post(&format!("/admin/categories/{shoes}/move"), &[("to", "up")]).await.assert_redirect("/admin/categories");
    let body = a.get("/admin/categories").await.body;
    assert!(body.find(">Shoes<") < body.find(">Clothing<"), "Shoes moved up");
    assert_eq!(app.scalar_i64("SELECT position FROM categories WHERE name = $1", "Shoes").await, 0);

    // Rename and move under another parent; a move under its own child is refused.
    let edit = a.get(&format!("/admin/categories/{clothing}")).await;
    edit.assert(200).assert_lacks(&format!("<option value=\"{jackets}\""));
    a.post(
        &format!("/admin/categories/{clothing}"),
        &[("name", "Clothing"), ("slug", "clothing"), ("parent_id", &jackets)],
    )
    .await
    .assert(422)
    .assert_contains("under itself");
    a.post(
        &format!("/admin/categories/{jackets}"),
        &[("name", "Rain jackets"), ("slug", "rain-jackets"), ("parent_id", &shoes)],
    )
    .await
    .assert_redirect("/admin/categories?msg=saved");
    assert_eq!(count("Rain jackets").await, 1);
    assert_eq!(
        app.scalar_i64(
            "SELECT COUNT(*) FROM categories c JOIN categories p ON p.id = c.parent_id WHERE p.name = $1",
            "Shoes"
        )
        .await,
        1
    );
    a.get("/c/rain-jackets").await.assert(200).assert_contains("Rain jackets");

    // A category holding a product cannot be deleted; the product list filters by category.
    let product =
        [("title", "Wellies"), ("status", "draft"), ("category_id", &shoes), ("sku", "WELLY-1"), ("price", "30")];
    a.post("/admin/products", &product).await.assert_redirect("/admin/products/");
    a.get(&format!("/admin/products?category={shoes}")).await.assert_contains("Wellies");
    a.get(&format!("/admin/products?category={clothing}")).await.assert_contains("No products match");
    a.get("/admin/products?category=junk").await.assert(422);
    a.post(&format!("/admin/categories/{shoes}/delete"), &[]).await.assert(409).assert_contains("subcategories");
    a.post(&format!("/admin/categories/{clothing}/delete"), &[]).await.assert_redirect("/admin/categories?msg=deleted");
    assert_eq!(count("Clothing").await, 0);
    a.get(&format!("/admin/categories/{clothing}")).await.assert(404);

    // Customers may not touch the tree.
    let customer = app.register().await;
    let mut c = Browser::new(&app);
    c.sign_in(&customer.email, PASSWORD).await;
    c.get("/admin/categories").await.assert(403);
    c.post("/admin/categories", &[("name", "Sneaky")]).await.assert(403);
    assert_eq!(count("Sneaky").await, 0);
}

async fn the_dashboard_chart_counts_paid_sales_net_of_refunds(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    app.stocked(&admin.access, "Chart mug", &[("CHART-1", 1_250)], 10).await;
    // Three guests: the first pays, the second pays and gets 300 back, the third never pays.
    let mut orders = Vec::new();
    for (i, pays) in [true, true, false].into_iter().enumerate() {
        let (added, token) = app.add_to_cart(None, "CHART-1", 1).await;
        added.assert(200);
        let placed =
            app.guest_checkout(&token, &new_key(), checkout_body(Some(&format!("chart{i}@example.com")))).await;
        placed.assert(201);
        if pays {
            let payment = placed.body["payment"]["id"].as_str().unwrap_or_default();
            app.pay(payment, "4242424242424242").await.assert(200);
        }
        let order = &placed.body["orders"][0];
        orders.push((
            order["id"].as_str().unwrap_or_default().to_owned(),
            order["total"]["amount"].as_i64().unwrap_or(0),
        ));
    }
    app.admin_refund(&admin.access, &orders[1].0, 300, "scratched", &new_key()).await.assert(201);
    let net = orders[0].1 + orders[1].1 - 300;
    assert!(orders[2].1 > 0, "the unpaid order has a total to leave out");
    let mut a = Browser::new(&app);
    a.sign_in(&admin.email, PASSWORD).await;
    let chart = format!("Sales, last 30 days: ${}.{:02}", net / 100, net % 100);
    a.get("/admin").await.assert(200).assert_contains(&chart);
}
