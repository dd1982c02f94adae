//! The storage port's contract, checked directly on both databases for the
//! paths the HTTP tests cannot reach (an expired refresh token needs a
//! clock in the past).

use crate::helpers::{Db, FreshBackend};
use crate::on_both_databases;
use identity::tokens::RefreshTokenRecord;
use identity::{Email, Role, RotateOutcome, User};
use kernel::Event;
use time::{Duration, OffsetDateTime};

on_both_databases!(refresh_token_rotation_contract);

async fn refresh_token_rotation_contract(db: Db) {
    let fresh = FreshBackend::open(db).await;
    let store = fresh.backend.identity();
    let now = kernel::clock::truncate_to_micros(OffsetDateTime::now_utc());
    let user = User {
        id: kernel::new_id(),
        email: Email::parse("contract@example.com").expect("email"),
        full_name: "Contract".into(),
        role: Role::Customer,
        suspended: false,
        created_at: now,
        updated_at: now,
    };
    let event = Event::new("user.registered", user.id, now, serde_json::json!({}));
    store.create_user(&user, Some("hash"), &event).await.expect("create");
    assert!(matches!(store.create_user(&user, None, &event).await, Err(identity::StoreError::AlreadyExists)));
    assert_eq!(store.user_by_id(user.id).await.expect("read"), Some(user.clone()), "round trip is exact");

    let record = |hash: &[u8], expires_at| RefreshTokenRecord {
        id: kernel::new_id(),
        family_id: kernel::new_id(),
        user_id: user.id,
        token_hash: hash.to_vec(),
        created_at: now - Duration::days(31),
        expires_at,
    };
    store.insert_refresh_token(&record(b"expired-token-digest", now - Duration::days(1))).await.expect("insert");
    store.insert_refresh_token(&record(b"live-token-digest", now + Duration::days(1))).await.expect("insert");

    let later = now + Duration::days(30);
    assert_eq!(
        store.rotate_refresh_token(b"expired-token-digest", b"next-1", later, now).await.expect("rotate"),
        RotateOutcome::Expired
    );
    assert_eq!(
        store.rotate_refresh_token(b"unknown-digest", b"next-2", later, now).await.expect("rotate"),
        RotateOutcome::Unknown
    );
    let RotateOutcome::Rotated { user_id, .. } =
        store.rotate_refresh_token(b"live-token-digest", b"next-3", later, now).await.expect("rotate")
    else {
        panic!("a live token rotates");
    };
    assert_eq!(user_id, user.id);
    // The token minted by the rotation is live and in the same family.
    assert!(matches!(
        store.rotate_refresh_token(b"next-3", b"next-4", later, now).await.expect("rotate"),
        RotateOutcome::Rotated { .. }
    ));
    assert_eq!(
        store.rotate_refresh_token(b"live-token-digest", b"next-5", later, now).await.expect("rotate"),
        RotateOutcome::Reused { user_id: user.id }
    );
    assert!(matches!(
        store.rotate_refresh_token(b"next-4", b"next-6", later, now).await.expect("rotate"),
        RotateOutcome::Reused { .. }
    ));
    assert!(!store.revoke_family_of(b"unknown-digest", now).await.expect("revoke"), "unknown token");
}
