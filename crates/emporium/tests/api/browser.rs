//! End to end in real headless Chromium: a shopper browses, searches, adds
//! to the cart, pays with the test card and sees the order; an admin creates
//! a product with an image and ships the order. Screenshots of each key page
//! at 390 px and 1280 px are written under `target/screenshots/`.

use crate::catalog_helpers::jpeg;
use crate::helpers::{Db, PASSWORD, TestApp};
use crate::webdriver::Driver;
use identity::Role;

async fn shopper_buys(app: &TestApp, d: &Driver, width: u32) {
    let shot = |name: &str| format!("{name}-{width}");
    d.goto(&app.url("/")).await;
    d.wait_for_text("Trail Boots").await;
    d.screenshot(&shot("home")).await;

    // Suggestions as you type, then the full search.
    d.type_into("#q", "trail").await;
    d.find("#suggestions a[href^='/p/']").await;
    d.screenshot(&shot("search-suggestions")).await;
    d.click(".search button").await;
    d.wait_for_text("Results for").await;
    d.screenshot(&shot("search")).await;

    d.click("#results .card a").await;
    d.find("form[action='/cart/add'] button").await;
    d.screenshot(&shot("product")).await;
    d.click("form[action='/cart/add'] button").await;
    d.wait_for_text("Added to your cart").await;
    d.screenshot(&shot("cart")).await;

    d.click("a[href='/checkout']").await;
    d.fill("#email", "walker@example.com").await;
    d.fill("#full_name", "Wanda Walker").await;
    d.fill("#line1", "5 Ridge Rd").await;
    d.fill("#city", "Denver").await;
    d.fill("#postal_code", "80202").await;
    d.screenshot(&shot("checkout")).await;
    d.click("form[action='/checkout'] button[type=submit]").await;
    d.find("#card_number").await;
    d.screenshot(&shot("payment")).await;
    d.click("form[action$='/card'] button").await;
    d.wait_for_text("Thank you for your order").await;
    d.screenshot(&shot("confirmation")).await;
    assert!(d.source().await.contains("Trail Boots"), "the order lists what was bought");
}

async fn admin_ships(app: &TestApp, d: &Driver, email: &str, width: u32) {
    let shot = |name: &str| format!("{name}-{width}");
    d.goto(&app.url("/login")).await;
    d.fill("#email", email).await;
    d.fill("#password", PASSWORD).await;
    d.click("form[action='/login'] button").await;
    d.wait_for_text("Sales, last 30 days").await;
    d.screenshot(&shot("admin-dashboard")).await;

    // A new product with an image.
    let title = format!("Summit Tent {width}");
    d.goto(&app.url("/admin/products/new")).await;
    d.fill("#title", &title).await;
    d.fill("#description", "Sleeps two.").await;
    d.fill("#sku", &format!("TENT-{width}")).await;
    d.fill("#price", "249.00").await;
    d.click("form[action='/admin/products'] button").await;
    d.wait_for_text("Created.").await;
    let picture = std::env::temp_dir().join(format!("emporium-e2e-{}-{width}.jpg", std::process::id()));
    std::fs::write(&picture, jpeg(3)).expect("write picture");
    d.type_into("#file", &picture.to_string_lossy()).await;
    d.fill("#alt", "A green tent").await;
    d.click("form[enctype='multipart/form-data'] button").await;
    d.wait_for_text("Image uploaded.").await;
    assert!(d.source().await.contains("alt=\"A green tent\""));
    d.click("form[action$='/status'] button").await;
    d.wait_for_text("Status: active").await;
    d.screenshot(&shot("admin-product")).await;
    let _ = std::fs::remove_file(&picture);

    // Ship the shopper's order.
    d.goto(&app.url("/admin/orders?status=paid")).await;
    d.screenshot(&shot("admin-orders")).await;
    d.click("table a[href^='/admin/orders/']").await;
    d.fill("#carrier", "DHL").await;
    d.fill("#tracking_number", &format!("JD{width}")).await;
    d.click("form[action$='/fulfil'] button").await;
    d.wait_for_text("Marked as shipped.").await;
    d.screenshot(&shot("admin-order")).await;
    assert!(d.source().await.contains(&format!("JD{width}")));

    // The shopper was told, and the log shows the message.
    let told = format!("Tracking number: JD{width}.");
    for _ in 0..50 {
        // The message is made from the order's event, a relay hop later.
        d.goto(&app.url("/admin/notifications?template=order_shipped")).await;
        if d.source().await.contains(&told) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    d.click("li summary").await;
    d.wait_for_text(&told).await;
    d.screenshot(&shot("admin-notifications")).await;

    // A category under another, then moved up among its siblings.
    d.goto(&app.url("/admin/categories")).await;
    for name in [format!("Camping {width}"), format!("Climbing {width}")] {
        d.fill("#cname", &name).await;
        d.click("form[action='/admin/categories'] button").await;
        d.wait_for_text(&format!(">{name}<")).await;
    }
    let source = d.source().await;
    assert!(source.find(&format!(">Camping {width}<")) < source.find(&format!(">Climbing {width}<")));
    d.click(&format!("button[aria-label='Move Climbing {width} up']")).await;
    d.wait_for_text("Saved.").await;
    let source = d.source().await;
    assert!(source.find(&format!(">Climbing {width}<")) < source.find(&format!(">Camping {width}<")), "moved up");
    d.screenshot(&shot("admin-categories")).await;
}

/// A shopper without a mouse: the first Tab reaches the skip link, and Tab
/// and Enter alone put a product in the cart.
async fn keyboard_only(app: &TestApp, d: &Driver) {
    d.goto(&app.url("/")).await;
    d.press(Driver::TAB).await;
    assert_eq!(d.focused().await, "A: Skip to content", "the skip link comes first");
    d.goto(&app.url("/p/trail-boots")).await;
    let mut tabs = 0;
    while d.focused().await != "BUTTON: Add to cart" {
        tabs += 1;
        assert!(tabs < 60, "Tab never reached the Add to cart button (last: {})", d.focused().await);
        d.press(Driver::TAB).await;
    }
    d.press(Driver::ENTER).await;
    d.wait_for_text("Added to your cart.").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shopper_and_admin_in_chromium() {
    for width in [390, 1280] {
        let Some(driver) = Driver::start("api::browser::shopper_and_admin_in_chromium", width).await else { return };
        let app = TestApp::spawn(Db::Sqlite).await;
        let admin = app.account_with_role(Role::Admin).await;
        app.stocked(&admin.access, "Trail Boots", &[("BOOT-1", 12_900)], 10).await;
        app.settle().await;
        shopper_buys(&app, &driver, width).await;
        admin_ships(&app, &driver, &admin.email, width).await;
        if width == 1280 {
            keyboard_only(&app, &driver).await;
        }
        driver.quit().await;
        assert_eq!(app.level(&admin.access, "BOOT-1").await, (9, 0));
    }
}
