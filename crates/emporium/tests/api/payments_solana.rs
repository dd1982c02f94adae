//! Solana Pay end to end against a local JSON-RPC node (`fake_solana`):
//! transfer requests per order, verification of recipient, mint, exact
//! amount and finality, a signature offered for two payments, and the
//! background poller, on both databases.

// Test code: a failed unwrap is a failed test with its location.
#![allow(clippy::unwrap_used)]

use crate::fake_solana::{FakeSolana, Moves, USDC_MINT};
use crate::helpers::{Db, TestApp};
use crate::on_both_databases;
use crate::shop_helpers::{address, new_key};
use identity::Role;
use serde_json::{Value, json};

on_both_databases!(
    a_usdc_transfer_pays_only_when_final_and_exactly_right,
    the_poller_settles_sol_payments_per_seller_wallet
);

pub async fn set_wallet(app: &TestApp, admin: &str, seller_id: &str, wallet: &str) {
    app.patch(&format!("/api/v1/admin/sellers/{seller_id}"), Some(admin), json!({"payout_wallet": wallet}))
        .await
        .assert(200);
}

pub async fn default_seller(app: &TestApp, admin: &str) -> String {
    let sellers = app.get("/api/v1/admin/sellers", Some(admin)).await.body;
    sellers.as_array().unwrap().iter().find(|s| s["is_default"] == true).unwrap()["id"].as_str().unwrap().to_owned()
}

async fn solana_checkout(app: &TestApp, token: &str) -> crate::helpers::Response {
    let body = json!({"email": "sol@example.com", "shipping_address": address(), "payment_provider": "solana"});
    app.guest_checkout(token, &new_key(), body).await
}

async fn verify(app: &TestApp, payment_id: &str) -> Value {
    let res = app.get(&format!("/api/v1/payments/{payment_id}/verify"), None).await;
    res.assert(200);
    res.body.clone()
}

async fn a_usdc_transfer_pays_only_when_final_and_exactly_right(db: Db) {
    let chain = FakeSolana::start().await;
    let url = chain.url();
    let app = TestApp::spawn_with(db, |s| {
        s.solana.rpc_url = Some(url);
        s.solana.usdc_mint = Some(USDC_MINT.into());
        s.solana.poll_secs = 3600;
    })
    .await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = &admin.access;
    app.stocked(a, "Ledger Stand", &[("SOL-USDC", 2500)], 5).await;
    let (res, token) = app.add_to_cart(None, "SOL-USDC", 1).await;
    res.assert(200);
    // No payout wallet yet: Solana Pay cannot be chosen, and nothing is held.
    solana_checkout(&app, &token).await.assert_error(422, "validation_failed");
    assert_eq!(app.level(a, "SOL-USDC").await, (5, 0));
    let wallet = payments::solana::new_reference();
    set_wallet(&app, a, &default_seller(&app, a).await, &wallet).await;

    let res = solana_checkout(&app, &token).await;
    res.assert(201);
    let payment = res.body["payment"].clone();
    let payment_id = payment["id"].as_str().unwrap().to_owned();
    let number = res.body["orders"][0]["number"].as_str().unwrap().to_owned();
    let action = &payment["next_action"];
    assert_eq!(action["type"], "solana_pay");
    let transfer = &action["transfers"][0];
    let reference = transfer["reference"].as_str().unwrap().to_owned();
    assert!(payments::solana::is_address(&reference));
    assert_eq!(transfer["amount"], "25");
    assert_eq!(
        transfer["url"].as_str().unwrap(),
        format!(
            "solana:{wallet}?amount=25&spl-token={USDC_MINT}&reference={reference}&label=Emporium&message=Order%20{number}&memo={number}"
        )
    );
    assert!(transfer["qr_svg"].as_str().unwrap().contains("<svg"));
    let amount = 25_000_000; // 25.00 USD as USDC base units (6 decimals)

    // Nothing on chain yet.
    assert_eq!(verify(&app, &payment_id).await["status"], "pending");
    // Wrong mint, wrong recipient, wrong amount: refused, still payable.
    let thief = payments::solana::new_reference();
    let cases: [(Moves<'_>, &str); 4] = [
        (Moves::Token { mint: "FakeUSDC1111111111111111111111111111111111", owner: &wallet, amount }, "wrong mint"),
        (Moves::Token { mint: USDC_MINT, owner: &thief, amount }, "wrong recipient"),
        (Moves::Token { mint: USDC_MINT, owner: &wallet, amount: amount - 1 }, "wrong amount"),
        (Moves::Sol { to: &wallet, lamports: amount }, "wrong"),
    ];
    for (moves, why) in cases {
        chain.land(&[&reference], moves, "finalized");
        let body = verify(&app, &payment_id).await;
        assert_eq!(body["status"], "pending");
        assert!(body["last_error"].as_str().unwrap().contains(why), "{why}: {}", body["last_error"]);
    }
    assert_eq!(app.level(a, "SOL-USDC").await, (5, 1));
    // A second order, whose reference will ride in the same transaction as
    // the first's: one transfer must not pay both.
    let (_, token2) = app.add_to_cart(None, "SOL-USDC", 1).await;
    let res2 = solana_checkout(&app, &token2).await;
    res2.assert(201);
    let payment2 = res2.body["payment"]["id"].as_str().unwrap().to_owned();
    let reference2 = res2.body["payment"]["next_action"]["transfers"][0]["reference"].as_str().unwrap().to_owned();
    // The right transfer, confirmed but not final: not yet.
    let good =
        chain.land(&[&reference, &reference2], Moves::Token { mint: USDC_MINT, owner: &wallet, amount }, "confirmed");
    let body = verify(&app, &payment_id).await;
    assert_eq!(body["status"], "pending");
    assert!(body["last_error"].as_str().unwrap().contains("not finalized"), "{}", body["last_error"]);
    // Final: paid, once.
    chain.finalize(&good);
    assert_eq!(verify(&app, &payment_id).await["status"], "succeeded");
    assert_eq!(verify(&app, &payment_id).await["status"], "succeeded");
    assert_eq!(app.level(a, "SOL-USDC").await, (4, 1));
    let order_id = res.body["orders"][0]["id"].as_str().unwrap();
    assert_eq!(app.get(&format!("/api/v1/admin/orders/{order_id}"), Some(a)).await.body["status"], "paid");
    app.settle().await;
    assert_eq!(app.outbox_count("payment.succeeded").await, 1);
    // The same transaction offered for the second payment: refused.
    let body = verify(&app, &payment2).await;
    assert_eq!(body["status"], "pending");
    assert!(body["last_error"].as_str().unwrap().contains("already paid another payment"), "{}", body["last_error"]);
    assert_eq!(app.level(a, "SOL-USDC").await, (4, 1));
    // Verifying a test-card payment is refused.
    let (_, token3) = app.add_to_cart(None, "SOL-USDC", 1).await;
    let body = json!({"email": "t@example.com", "shipping_address": address(), "payment_provider": "test"});
    let res3 = app.guest_checkout(&token3, &new_key(), body).await;
    let payment3 = res3.body["payment"]["id"].as_str().unwrap();
    app.get(&format!("/api/v1/payments/{payment3}/verify"), None).await.assert_error(409, "wrong_provider");
    app.shutdown().await;
}

async fn the_poller_settles_sol_payments_per_seller_wallet(db: Db) {
    let chain = FakeSolana::start().await;
    let url = chain.url();
    let app = TestApp::spawn_with(db, |s| {
        s.solana.rpc_url = Some(url);
        s.solana.sol_price_minor = Some(15_000); // $150.00 a SOL
        s.solana.poll_secs = 1;
    })
    .await;
    let admin = app.account_with_role(Role::Admin).await;
    let a = &admin.access;
    let shop_wallet = payments::solana::new_reference();
    set_wallet(&app, a, &default_seller(&app, a).await, &shop_wallet).await;
    // A second seller with a wallet of its own.
    let maker_wallet = payments::solana::new_reference();
    let maker =
        app.post("/api/v1/admin/sellers", Some(a), json!({"name": "Maker", "payout_wallet": maker_wallet})).await;
    maker.assert(201);
    app.stocked(a, "Shop Mug", &[("MUG-1", 2500)], 5).await;
    let mut body = crate::catalog_helpers::product_body("Maker Bowl", None, &[("BOWL-1", 1000, "S")]);
    body["seller_id"] = maker.body["id"].clone();
    app.product(a, body).await;
    app.set_stock(a, "BOWL-1", 5).await;
    let (_, token) = app.add_to_cart(None, "MUG-1", 1).await;
    app.add_to_cart(Some(&token), "BOWL-1", 1).await.0.assert(200);
    let res = solana_checkout(&app, &token).await;
    res.assert(201);
    let payment_id = res.body["payment"]["id"].as_str().unwrap().to_owned();
    let transfers = res.body["payment"]["next_action"]["transfers"].as_array().unwrap().clone();
    assert_eq!(transfers.len(), 2);
    // $25.00 at $150 a SOL is 0.1666… SOL, rounded up to the lamport; $10.00 is 0.0666….
    let by_wallet = |w: &str| transfers.iter().find(|t| t["recipient"] == w).unwrap().clone();
    let (mug, bowl) = (by_wallet(&shop_wallet), by_wallet(&maker_wallet));
    assert_eq!((mug["amount"].as_str(), bowl["amount"].as_str()), (Some("0.166666667"), Some("0.066666667")));
    assert!(mug["url"].as_str().unwrap().starts_with(&format!("solana:{shop_wallet}?amount=0.166666667&reference=")));

    // One seller paid: still pending. Both: the poller settles it unasked.
    chain.land(
        &[mug["reference"].as_str().unwrap()],
        Moves::Sol { to: &shop_wallet, lamports: 166_666_667 },
        "finalized",
    );
    let status = || async {
        app.get(&format!("/api/v1/payments/{payment_id}"), None).await.body["status"].as_str().unwrap().to_owned()
    };
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(status().await, "pending");
    chain.land(
        &[bowl["reference"].as_str().unwrap()],
        Moves::Sol { to: &maker_wallet, lamports: 66_666_667 },
        "finalized",
    );
    let mut settled = false;
    for _ in 0..50 {
        if status().await == "succeeded" {
            settled = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(settled, "the poller did not settle the payment");
    assert_eq!(app.level(a, "MUG-1").await, (4, 0));
    assert_eq!(app.level(a, "BOWL-1").await, (4, 0));
    app.shutdown().await;
}
