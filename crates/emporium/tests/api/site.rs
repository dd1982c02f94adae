//! The storefront in the browser, through its HTML pages and forms: pages
//! render, forms change what they should, bad input gets a friendly page and
//! changes nothing, and the session and CSRF rules hold.

use crate::helpers::{Db, PASSWORD, TestApp, unique_email};
use crate::on_both_databases;
use crate::site_helpers::Browser;
use identity::Role;

on_both_databases!(guest_checks_out_with_the_test_card, guest_cart_follows_into_the_account);

/// An admin's token and an active product with `stock` units of `sku`, in
/// the search index.
async fn shop_with(app: &TestApp, title: &str, sku: &str, stock: i64) -> String {
    let admin = app.account_with_role(Role::Admin).await;
    let product = app.stocked(&admin.access, title, &[(sku, 2_500)], stock).await;
    app.settle().await;
    product["slug"].as_str().expect("slug").to_owned()
}

fn variant_id(page: &crate::site_helpers::Page) -> String {
    page.between("name=\"variant_id\" value=\"", "\"").expect("a variant on the page")
}

async fn guest_checks_out_with_the_test_card(db: Db) {
    let app = TestApp::spawn(db).await;
    let slug = shop_with(&app, "Linen Shirt", "LIN-1", 5).await;
    let mut b = Browser::new(&app);

    // Browse: home, search, product page.
    b.get("/").await.assert(200).assert_contains("Linen Shirt");
    b.get("/search?q=linen").await.assert(200).assert_contains("Linen Shirt").assert_contains("1 product");
    b.get("/search/suggest?q=lin").await.assert(200).assert_contains(&format!("/p/{slug}"));
    let product = b.get(&format!("/p/{slug}")).await;
    product.assert(200).assert_contains("Add to cart").assert_contains("$25.00");
    let variant = variant_id(&product);

    // More than is in stock: the product again, with the reason; nothing added.
    let too_many = b.post("/cart/add", &[("variant_id", &variant), ("quantity", "6"), ("slug", &slug)]).await;
    too_many.assert(409).assert_contains("Linen Shirt");
    b.get("/cart").await.assert(200).assert_contains("Your cart is empty");

    let added = b.post("/cart/add", &[("variant_id", &variant), ("quantity", "2"), ("slug", &slug)]).await;
    added.assert_redirect("/cart");
    assert!(b.cookies.contains_key("em_cart"), "a guest cart cookie");
    let cart = b.follow(&added).await;
    cart.assert(200).assert_contains("Linen Shirt").assert_contains("$50.00").assert_contains("Added to your cart");

    // Checkout with a missing address: the form again with the reason, no order.
    let form = b.get("/checkout").await;
    form.assert(200).assert_contains("Test card");
    let key = form.between("name=\"key\" value=\"", "\"").expect("idempotency key");
    let mut fields = vec![
        ("email", "ada@example.com"),
        ("full_name", "Ada Buyer"),
        ("line1", ""),
        ("city", "Los Angeles"),
        ("postal_code", "90001"),
        ("country", "US"),
        ("payment_provider", "test"),
        ("key", key.as_str()),
    ];
    let refused = b.post("/checkout", &fields).await;
    refused.assert(422).assert_contains("class=\"error\"").assert_contains("Ada Buyer");
    assert_eq!(app.outbox_count("order.placed").await, 0);

    fields[2] = ("line1", "1 Main St");
    let placed = b.post("/checkout", &fields).await;
    placed.assert_redirect("/checkout/pay/");
    // The same form sent twice places one order.
    let again = b.post("/checkout", &fields).await;
    assert_eq!(again.location(), placed.location());
    let pay_path = placed.location().to_owned();
    let pay = b.get(&pay_path).await;
    pay.assert(200).assert_contains("Test card number");

    let declined = b.post(&format!("{pay_path}/card"), &[("card_number", "4000 0000 0000 0002")]).await;
    declined.assert(402).assert_contains("class=\"error\"");
    let paid = b.post(&format!("{pay_path}/card"), &[("card_number", "4242 4242 4242 4242")]).await;
    paid.assert_redirect("/checkout/done/");
    let done = b.follow(&paid).await;
    done.assert(200).assert_contains("Thank you for your order").assert_contains("ada@example.com");
    assert_eq!(app.outbox_count("order.placed").await, 1);
    let admin = app.account_with_role(Role::Admin).await;
    assert_eq!(app.level(&admin.access, "LIN-1").await, (3, 0));

    // Someone else cannot see the confirmation.
    let mut stranger = Browser::new(&app);
    stranger.get(paid.location()).await.assert(404).assert_contains("could not find");
}

async fn guest_cart_follows_into_the_account(db: Db) {
    let app = TestApp::spawn(db).await;
    let slug = shop_with(&app, "Wool Scarf", "SCARF-1", 10).await;
    let mut b = Browser::new(&app);
    let variant = variant_id(&b.get(&format!("/p/{slug}")).await);
    b.post("/cart/add", &[("variant_id", &variant), ("quantity", "3")]).await.assert_redirect("/cart");

    let email = unique_email("shopper");
    b.get("/signup?next=/cart").await.assert(200);
    let signed_up = b
        .post("/signup", &[("email", &email), ("password", PASSWORD), ("full_name", "Sam Shopper"), ("next", "/cart")])
        .await;
    signed_up.assert_redirect("/cart");
    let session = signed_up.set_cookie("em_session").expect("session cookie");
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"), "{session}");
    assert!(!b.cookies.contains_key("em_cart"), "the guest cart cookie is dropped");
    b.follow(&signed_up).await.assert(200).assert_contains("Wool Scarf").assert_contains("3 items");

    // Signing out ends the session; the old cookie no longer signs in.
    let old = b.cookies.get("em_session").cloned().expect("session");
    b.get("/account").await.assert(200).assert_contains("Sam Shopper");
    b.post("/logout", &[]).await.assert_redirect("/");
    assert!(!b.cookies.contains_key("em_session"));
    b.cookies.insert("em_session".into(), old);
    b.get("/account").await.assert_redirect("/login?next=%2Faccount");

    // Signing in again brings the same cart back.
    b.sign_in(&email, PASSWORD).await.assert_redirect("/");
    b.get("/cart").await.assert_contains("Wool Scarf");
}

#[tokio::test]
async fn unsafe_requests_need_the_visitors_csrf_token() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let slug = shop_with(&app, "Clay Mug", "MUG-1", 5).await;
    let mut b = Browser::new(&app);
    let variant = variant_id(&b.get(&format!("/p/{slug}")).await);

    let fields = [("variant_id", variant.as_str()), ("quantity", "1")];
    b.post_raw("/cart/add", &fields).await.assert(403).assert_contains("expired");
    let wrong = [("variant_id", variant.as_str()), ("quantity", "1"), ("_csrf", "AAAA")];
    b.post_raw("/cart/add", &wrong).await.assert(403);
    // Another browser's token is worthless here.
    let mut other = Browser::new(&app);
    other.get("/").await;
    let theirs = [("variant_id", variant.as_str()), ("quantity", "1"), ("_csrf", other.csrf.as_str())];
    b.post_raw("/cart/add", &theirs).await.assert(403);
    // Nothing was added by the refused posts.
    b.get("/cart").await.assert_contains("Your cart is empty");

    // A browser without the visitor cookie cannot post at all.
    let mut fresh = Browser::new(&app);
    let with_token = [("variant_id", variant.as_str()), ("quantity", "1"), ("_csrf", b.csrf.as_str())];
    fresh.post_raw("/cart/add", &with_token).await.assert(403);

    b.post("/cart/add", &fields).await.assert_redirect("/cart");
    b.get("/cart").await.assert_contains("Clay Mug");

    // htmx sends the token as a header instead of a field; a wrong one is refused.
    let line = b.get("/cart").await.between("action=\"/cart/lines/", "\"").expect("a cart line");
    let path = format!("/cart/lines/{line}");
    b.post_with_header(&path, &[("quantity", "3")], "AAAA").await.assert(403);
    let token = b.csrf.clone();
    b.post_with_header(&path, &[("quantity", "3")], &token).await.assert_redirect("/cart");
    b.get("/cart").await.assert_contains("3 items");
}

#[tokio::test]
async fn pages_are_safe_light_and_friendly() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let slug = shop_with(&app, "<script>alert(1)</script> Lamp", "LAMP-1", 5).await;
    let mut b = Browser::new(&app);

    let home = b.get("/").await;
    home.assert(200);
    let visitor = home.set_cookie("em_visitor").expect("visitor cookie");
    assert!(visitor.contains("HttpOnly") && visitor.contains("SameSite=Lax"), "{visitor}");
    let csp = home.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
    // Escaped everywhere.
    home.assert_contains("&#60;script&#62;alert(1)&#60;/script&#62; Lamp").assert_lacks("<script>alert(1)");
    let product = b.get(&format!("/p/{slug}")).await;
    product.assert(200).assert_lacks("<script>alert(1)");
    // No inline scripts on any page.
    for page in [&home, &product] {
        for tag in page.body.split("<script").skip(1) {
            assert!(tag.trim_start().starts_with("src="), "inline script: <script{}", &tag[..tag.len().min(80)]);
        }
    }

    // Within 100 KB of HTML, CSS and JS before images.
    let assets: usize = {
        let mut total = 0;
        for asset in ["/assets/site.css", "/assets/site.js", "/assets/htmx.min.js"] {
            let page = b.get(asset).await;
            page.assert(200);
            total += page.body.len();
        }
        total
    };
    for path in ["/", "/search", &format!("/p/{slug}"), "/cart", "/login", "/stores"] {
        let page = b.get(path).await;
        page.assert(200);
        let weight = page.body.len() + assets;
        assert!(weight < 100 * 1024, "{path} weighs {weight} bytes");
    }

    // Friendly errors: unknown pages and products, bad filters, bad input.
    b.get("/no/such/page").await.assert(404).assert_contains("We could not find that page");
    b.get("/p/no-such-product").await.assert(404).assert_contains("We could not find that page");
    b.get("/c/no-such-category").await.assert(404);
    b.get("/search?min_price=abc").await.assert(422).assert_contains("Min price must be");
    b.get("/stores?lat=200&lng=0").await.assert(422).assert_contains("latitude");
    b.get("/checkout/pay/not-a-uuid").await.assert(404);
    // The API keeps its JSON 404.
    let api = b.get("/api/v1/nope").await;
    api.assert(404).assert_contains("\"not_found\"");
}

#[tokio::test]
async fn sign_in_failures_are_friendly() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let customer = app.register().await;
    let mut b = Browser::new(&app);
    b.get("/login").await;
    let wrong = b.post("/login", &[("email", &customer.email), ("password", "wrong password!!")]).await;
    wrong.assert(401).assert_contains("do not match").assert_contains(&customer.email);
    assert!(!b.cookies.contains_key("em_session"));
    // `next` never leads off the site.
    let ok = b.post("/login", &[("email", &customer.email), ("password", PASSWORD), ("next", "//evil.example")]).await;
    ok.assert_redirect("/?msg=signed-in");
    let signup = b.post("/signup", &[("email", "not-an-email"), ("password", "short"), ("full_name", "X")]).await;
    assert_eq!(signup.status, 422, "{}", signup.body);
    signup.assert_contains("class=\"error\"");
}

#[tokio::test]
async fn account_pages_edit_addresses_wishlist_and_reviews() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let slug = shop_with(&app, "Oak Stool", "STOOL-1", 5).await;
    let customer = app.register().await;
    let mut b = Browser::new(&app);
    b.sign_in(&customer.email, PASSWORD).await.assert_redirect("/");

    // Profile.
    b.get("/account").await.assert(200);
    b.post("/account", &[("full_name", "")]).await.assert(422).assert_contains("class=\"error\"");
    b.post("/account", &[("full_name", "Grace Hopper")]).await.assert_redirect("/account?msg=saved");
    b.get("/account").await.assert_contains("Grace Hopper");

    // Addresses: bad input saves nothing; good input is listed and used at checkout.
    b.get("/account/addresses").await.assert(200).assert_contains("No saved addresses");
    let bad = [
        ("full_name", "Grace"),
        ("line1", "1 Navy Rd"),
        ("city", "Arlington"),
        ("postal_code", "22201"),
        ("country", "ZZZ"),
    ];
    b.post("/account/addresses", &bad).await.assert(422).assert_contains("class=\"error\"");
    assert!(app.addresses(&customer.access).await.is_empty());
    let good = [
        ("full_name", "Grace"),
        ("line1", "1 Navy Rd"),
        ("city", "Arlington"),
        ("postal_code", "22201"),
        ("country", "us"),
    ];
    b.post("/account/addresses", &good).await.assert_redirect("/account/addresses");
    b.get("/account/addresses").await.assert_contains("1 Navy Rd");
    assert_eq!(app.addresses(&customer.access).await.len(), 1);

    // Wishlist.
    let product = b.get(&format!("/p/{slug}")).await;
    let id = product.between("action=\"/wishlist/", "\"").expect("wishlist form");
    b.post(&format!("/wishlist/{id}"), &[]).await.assert_redirect(&format!("/p/{slug}"));
    b.get("/account/wishlist").await.assert_contains("Oak Stool");
    b.post(&format!("/wishlist/{id}/remove"), &[]).await.assert_redirect("/account/wishlist");
    b.get("/account/wishlist").await.assert_lacks("Oak Stool</span>");

    // A review is published at once (staff can hide it); a second one is refused with a message.
    let review = [("rating", "5"), ("title", "Sturdy"), ("body", "Holds me up every day.")];
    b.post(&format!("/p/{slug}/reviews"), &review).await.assert_redirect(&format!("/p/{slug}?msg=review-sent"));
    b.get(&format!("/p/{slug}")).await.assert_contains("Holds me up every day.").assert_contains("Grace Hopper");
    b.post(&format!("/p/{slug}/reviews"), &review).await.assert(409).assert_contains("class=\"error\"");
    let bad_rating = [("rating", "9"), ("title", "x"), ("body", "y")];
    b.post(&format!("/p/{slug}/reviews"), &bad_rating).await.assert(422);

    // Orders page (empty) and another customer's order are not found.
    b.get("/account/orders").await.assert(200).assert_contains("no orders yet");
    b.get(&format!("/account/orders/{}", uuid::Uuid::new_v4())).await.assert(404);
}

#[tokio::test]
async fn store_locator_lists_nearest_first_on_a_map() {
    let app = TestApp::spawn(Db::Sqlite).await;
    let admin = app.account_with_role(Role::Admin).await;
    for (name, lat, lng) in [("Berlin Mitte", 52.52, 13.40), ("Paris Louvre", 48.86, 2.34)] {
        let body = serde_json::json!({"name": name, "line1": "Main 1", "city": name, "postal_code": "10000",
            "country": "DE", "latitude": lat, "longitude": lng});
        app.post("/api/v1/admin/stores", Some(&admin.access), body).await.assert(201);
    }
    let mut b = Browser::new(&app);
    let page = b.get("/stores?lat=48.85&lng=2.35").await;
    page.assert(200).assert_contains("<svg class=\"map\"").assert_contains("You are here");
    let paris = page.body.find("1. Paris Louvre").expect("Paris first");
    let berlin = page.body.find("2. Berlin Mitte").expect("Berlin second");
    assert!(paris < berlin);
}

#[tokio::test]
async fn stripe_checkout_shows_the_payment_element() {
    use crate::fake_stripe::{FakeStripe, WEBHOOK_SECRET, deliver, event};
    let fake = FakeStripe::start().await;
    let app = crate::payments_stripe::stripe_shop(Db::Sqlite, &fake, |s| {
        s.stripe.publishable_key = Some("pk_test_emporium".into());
    })
    .await;
    let slug = shop_with(&app, "Card Wallet", "WALLET-1", 5).await;
    let mut b = Browser::new(&app);
    let variant = variant_id(&b.get(&format!("/p/{slug}")).await);
    b.post("/cart/add", &[("variant_id", &variant), ("quantity", "1")]).await.assert_redirect("/cart");
    let form = b.get("/checkout").await;
    form.assert_contains("Card (Stripe)");
    let key = form.between("name=\"key\" value=\"", "\"").expect("key");
    let fields = [
        ("email", "card@example.com"),
        ("full_name", "Cara Card"),
        ("line1", "3 Oak St"),
        ("city", "Boston"),
        ("postal_code", "02101"),
        ("country", "US"),
        ("payment_provider", "stripe"),
        ("key", key.as_str()),
    ];
    let placed = b.post("/checkout", &fields).await;
    placed.assert_redirect("/checkout/pay/");
    let pay = b.follow(&placed).await;
    let intent = fake.inner.intents.lock().expect("intents").values().next().cloned().expect("an intent");
    let secret = intent["client_secret"].as_str().expect("client secret");
    pay.assert(200)
        .assert_contains("<script src=\"https://js.stripe.com/v3/\"")
        .assert_contains("id=\"payment-element\"")
        .assert_contains("data-key=\"pk_test_emporium\"")
        .assert_contains(&format!("data-secret=\"{secret}\""));

    // Stripe confirms through its webhook; the return page then thanks the shopper.
    let mut paid = intent.clone();
    paid["status"] = serde_json::json!("succeeded");
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let url = app.url("/api/v1/payments/webhooks/stripe");
    assert_eq!(deliver(&url, WEBHOOK_SECRET, &event("payment_intent.succeeded", paid), now).await.status(), 200);
    let done = placed.location().replace("/pay/", "/done/");
    b.get(&done).await.assert(200).assert_contains("Thank you for your order");
    // The pay page now sends the shopper on to the confirmation.
    b.get(placed.location()).await.assert_redirect("/checkout/done/");
}

#[tokio::test]
async fn solana_checkout_shows_the_qr_code_and_checks_the_chain() {
    use crate::fake_solana::{FakeSolana, Moves, USDC_MINT};
    use crate::payments_solana::{default_seller, set_wallet};
    let chain = FakeSolana::start().await;
    let url = chain.url();
    let app = TestApp::spawn_with(Db::Sqlite, |s| {
        s.solana.rpc_url = Some(url);
        s.solana.usdc_mint = Some(USDC_MINT.into());
        s.solana.poll_secs = 3600;
    })
    .await;
    let admin = app.account_with_role(Role::Admin).await;
    let wallet = payments::solana::new_reference();
    set_wallet(&app, &admin.access, &default_seller(&app, &admin.access).await, &wallet).await;
    let slug = shop_with(&app, "Ledger Stand", "LEDGER-1", 5).await;
    let mut b = Browser::new(&app);
    let variant = variant_id(&b.get(&format!("/p/{slug}")).await);
    b.post("/cart/add", &[("variant_id", &variant), ("quantity", "1")]).await.assert_redirect("/cart");
    let form = b.get("/checkout").await;
    form.assert_contains("Solana Pay");
    let key = form.between("name=\"key\" value=\"", "\"").expect("key");
    let fields = [
        ("email", "sol@example.com"),
        ("full_name", "Sol Buyer"),
        ("line1", "4 Pine St"),
        ("city", "Austin"),
        ("postal_code", "73301"),
        ("country", "US"),
        ("payment_provider", "solana"),
        ("key", key.as_str()),
    ];
    let placed = b.post("/checkout", &fields).await;
    placed.assert_redirect("/checkout/pay/");
    let pay_path = placed.location().to_owned();
    let pay = b.get(&pay_path).await;
    pay.assert(200).assert_contains("src=\"data:image/svg+xml;base64,").assert_contains(&wallet);
    let after = pay.body.split("reference=").nth(1).expect("reference in the transfer URL");
    let reference: String = after.chars().take_while(char::is_ascii_alphanumeric).collect();

    // Nothing on chain: the page says so and the payment waits.
    b.post(&format!("{pay_path}/verify"), &[]).await.assert(200).assert_contains("not seen the payment");
    // The exact transfer, final: the check sends the shopper to the confirmation.
    let signature =
        chain.land(&[&reference], Moves::Token { mint: USDC_MINT, owner: &wallet, amount: 25_000_000 }, "finalized");
    assert!(!signature.is_empty());
    b.post(&format!("{pay_path}/verify"), &[]).await.assert_redirect("/checkout/done/");
    b.get(&pay_path.replace("/pay/", "/done/")).await.assert_contains("Thank you for your order");
}
