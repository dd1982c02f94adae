use crate::helpers::{Db, TestApp};
use crate::on_both_databases;
use identity::Role;
use serde_json::json;

on_both_databases!(
    customers_and_strangers_are_kept_out,
    admins_list_and_filter_users,
    role_changes_follow_the_permission_rules
);

async fn customers_and_strangers_are_kept_out(db: Db) {
    let app = TestApp::spawn(db).await;
    let customer = app.register().await;
    app.admin_users(&customer.access, "").await.assert_error(403, "forbidden");
    app.admin_update_user(&customer.access, &customer.id, json!({"role": "admin"}))
        .await
        .assert_error(403, "forbidden");
    assert_eq!(app.me(&customer.access).await.body["role"], "customer", "no self-promotion");
    app.get("/api/v1/admin/users", None).await.assert_error(401, "unauthenticated");
    // Staff may look but not change.
    let staff = app.account_with_role(Role::Staff).await;
    app.admin_users(&staff.access, "").await.assert(200);
    app.admin_update_user(&staff.access, &customer.id, json!({"suspended": true})).await.assert_error(403, "forbidden");
}

async fn admins_list_and_filter_users(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let mut customers = Vec::new();
    for _ in 0..5 {
        customers.push(app.register().await);
    }
    let res = app.admin_users(&admin.access, "?per_page=2&page=2").await;
    res.assert(200);
    assert_eq!(res.body["total"], 6);
    assert_eq!((res.body["page"].as_u64(), res.body["per_page"].as_u64()), (Some(2), Some(2)));
    assert_eq!(res.body["items"].as_array().map(Vec::len), Some(2));

    let res = app.admin_users(&admin.access, &format!("?q={}", &customers[3].email[..12])).await;
    res.assert(200);
    assert_eq!(res.body["total"], 1, "{}", res.text);
    assert_eq!(res.body["items"][0]["id"], customers[3].id.as_str());

    let res = app.admin_users(&admin.access, "?role=admin").await;
    assert_eq!(res.body["total"], 1);
    // LIKE wildcards in q are taken literally.
    assert_eq!(app.admin_users(&admin.access, "?q=%25").await.body["total"], 0);

    // A NUL byte would be refused by PostgreSQL: it must be a 422, not a 500.
    app.admin_users(&admin.access, "?q=a%00b").await.assert_error(422, "validation_failed");
    app.admin_users(&admin.access, &format!("?q={}", "x".repeat(201))).await.assert_error(422, "validation_failed");
    app.admin_users(&admin.access, "?per_page=101").await.assert_error(422, "validation_failed");
    app.admin_users(&admin.access, "?page=0").await.assert_error(422, "validation_failed");
    app.admin_users(&admin.access, "?page=abc").await.assert_error(422, "validation_failed");
    app.admin_users(&admin.access, "?role=king").await.assert_error(422, "validation_failed");
}

async fn role_changes_follow_the_permission_rules(db: Db) {
    let app = TestApp::spawn(db).await;
    let admin = app.account_with_role(Role::Admin).await;
    let superadmin = app.account_with_role(Role::Superadmin).await;
    let customer = app.register().await;
    assert_eq!(app.me(&customer.access).await.body["role"], "customer");

    let res = app.admin_update_user(&admin.access, &customer.id, json!({"role": "staff"})).await;
    res.assert(200);
    assert_eq!(res.body["role"], "staff");
    assert_eq!(app.me(&customer.access).await.body["role"], "staff", "takes effect at once");

    // Only a superadmin grants or removes admin rights.
    app.admin_update_user(&admin.access, &customer.id, json!({"role": "admin"})).await.assert_error(403, "forbidden");
    app.admin_update_user(&admin.access, &superadmin.id, json!({"suspended": true}))
        .await
        .assert_error(403, "forbidden");
    app.admin_update_user(&superadmin.access, &customer.id, json!({"role": "admin"})).await.assert(200);

    // Nobody changes their own role or suspends themselves.
    app.admin_update_user(&superadmin.access, &superadmin.id, json!({"role": "customer"}))
        .await
        .assert_error(409, "conflict");
    app.admin_update_user(&superadmin.access, &superadmin.id, json!({"suspended": true}))
        .await
        .assert_error(409, "conflict");

    app.admin_update_user(&admin.access, &customer.id, json!({"role": "pirate"}))
        .await
        .assert_error(422, "validation_failed");
    app.admin_update_user(&admin.access, &uuid::Uuid::now_v7().to_string(), json!({"suspended": true}))
        .await
        .assert_error(404, "not_found");
    app.admin_update_user(&admin.access, "nope", json!({})).await.assert_error(404, "not_found");
    assert_eq!(app.me(&superadmin.access).await.body["role"], "superadmin");

    // Each change that took is one `user.updated` with the account's new
    // state, for the services that check tokens alone; refusals wrote none.
    let updates: Vec<serde_json::Value> = app
        .texts("SELECT CAST(payload AS TEXT) FROM outbox WHERE topic = $1 ORDER BY id", "user.updated")
        .await
        .iter()
        .map(|p| serde_json::from_str(p).expect("json"))
        .collect();
    assert_eq!(
        updates,
        vec![
            json!({"user_id": customer.id, "role": "staff", "suspended": false}),
            json!({"user_id": customer.id, "role": "admin", "suspended": false}),
        ]
    );
}
