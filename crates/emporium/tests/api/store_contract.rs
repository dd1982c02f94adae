//! The storage port's contract, checked directly on both databases for the
//! paths the HTTP tests cannot reach (an expired refresh token needs a
//! clock in the past).

use crate::helpers::{Db, FreshBackend};
use crate::on_both_databases;
use identity::tokens::RefreshTokenRecord;
use identity::{Email, Role, RotateOutcome, User};
use kernel::Event;
use time::{Duration, OffsetDateTime};

on_both_databases!(refresh_token_rotation_contract, signing_key_contract);

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

/// One current key however many first starts race; a rotation retires it
/// and deletes only the keys retired before the cut-off.
async fn signing_key_contract(db: Db) {
    use identity::SigningKeyRecord;
    let fresh = FreshBackend::open(db).await;
    let store = fresh.backend.identity();
    let now = kernel::clock::truncate_to_micros(OffsetDateTime::now_utc());
    let long_ago = now - Duration::days(1);
    assert!(store.signing_keys(long_ago).await.expect("read").is_empty());

    let first = SigningKeyRecord::generate(now - Duration::hours(3)).expect("key");
    let rival = SigningKeyRecord::generate(now - Duration::hours(3)).expect("key");
    let (a, b) = tokio::join!(store.insert_first_signing_key(&first), store.insert_first_signing_key(&rival));
    a.expect("insert");
    b.expect("insert");
    let keys = store.signing_keys(long_ago).await.expect("read");
    assert_eq!(keys.len(), 1, "one current key: {keys:?}");
    let first = keys.into_iter().next().expect("key");
    assert!(first.retired_at.is_none());
    store.insert_first_signing_key(&SigningKeyRecord::generate(now).expect("key")).await.expect("no-op");
    assert_eq!(store.signing_keys(long_ago).await.expect("read"), vec![first.clone()], "round trip is exact");

    let second = SigningKeyRecord::generate(now - Duration::hours(2)).expect("key");
    store.rotate_signing_key(&second, long_ago).await.expect("rotate");
    let third = SigningKeyRecord::generate(now - Duration::hours(1)).expect("key");
    store.rotate_signing_key(&third, long_ago).await.expect("rotate");
    let keys = store.signing_keys(long_ago).await.expect("read");
    let kids: Vec<&str> = keys.iter().map(|k| k.kid.as_str()).collect();
    assert_eq!(kids, vec![third.kid.as_str(), second.kid.as_str(), first.kid.as_str()], "newest first");
    assert_eq!(keys[0].retired_at, None);
    assert_eq!(keys[1].retired_at, Some(third.created_at));
    assert_eq!(keys[2].retired_at, Some(second.created_at));
    // Only the keys retired after the cut-off are published...
    let published = store.signing_keys(now - Duration::minutes(90)).await.expect("read");
    assert_eq!(
        published.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
        vec![third.kid.as_str(), second.kid.as_str()]
    );
    // ...and a rotation deletes the ones retired before its cut-off.
    let fourth = SigningKeyRecord::generate(now).expect("key");
    store.rotate_signing_key(&fourth, now - Duration::minutes(90)).await.expect("rotate");
    let kids: Vec<String> = store.signing_keys(long_ago).await.expect("read").into_iter().map(|k| k.kid).collect();
    assert_eq!(kids, vec![fourth.kid, third.kid, second.kid]);
}
