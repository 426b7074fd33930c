//! The console's part of the `Store` contract (`StaffStore`), run on each backend: members,
//! sessions (ended by a password change or a disabling), TOTP steps claimed once, and the
//! failed-login counts that throttle guessing.

use crate::common;

use chrono::{DateTime, Utc};
use common::postgres::TestStore;
use common::Backend;
use starmark::domain::{DisplayName, StaffRole, Username};
use starmark::store::{NewStaff, StoreError, StoredSession};

on_each_backend!(
    members_are_stored_listed_and_unique_by_username,
    sessions_end_on_logout_password_change_disabling_and_expiry,
    a_totp_step_is_claimed_once_and_enrolment_is_confirmed_once,
    login_failures_count_up_and_are_forgotten,
);

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 123_456_000).unwrap()
}

fn new_staff(name: &str, role: StaffRole) -> NewStaff {
    NewStaff {
        username: Username::parse(name).unwrap(),
        display_name: DisplayName::parse(&format!("{name} 显示名")).unwrap(),
        role,
        password_hash: format!("$argon2id$hash-of-{name}"),
        at: at(0),
    }
}

fn session(id: u8, staff_id: i64, created: i64) -> StoredSession {
    StoredSession {
        id_hash: vec![id; 32],
        staff_id,
        csrf_token: format!("csrf-{id}"),
        pending: id % 2 == 1,
        created_at: at(created),
        last_seen_at: at(created),
    }
}

async fn members_are_stored_listed_and_unique_by_username(backend: Backend) {
    let store = TestStore::open(backend).await;
    let zoe = store.insert_staff(&new_staff("zoe", StaffRole::Admin)).await.unwrap();
    let amy = store.insert_staff(&new_staff("amy", StaffRole::Evaluator)).await.unwrap();
    assert_ne!(zoe, amy);
    match store.insert_staff(&new_staff("zoe", StaffRole::Auditor)).await {
        Err(StoreError::Duplicate(name)) => assert_eq!(name, "zoe"),
        other => panic!("a taken username must be refused, got {other:?}"),
    }
    let stored = store.staff_by_username(&Username::parse("zoe").unwrap()).await.unwrap().expect("stored");
    assert_eq!(stored.id, zoe);
    assert_eq!(stored.role, StaffRole::Admin);
    assert_eq!(stored.display_name.as_str(), "zoe 显示名");
    assert_eq!(stored.password_hash, "$argon2id$hash-of-zoe");
    assert_eq!(stored.created_at, at(0));
    assert_eq!(stored.password_changed_at, at(0));
    assert!(stored.totp_secret.is_none() && stored.totp_confirmed_at.is_none() && stored.disabled_at.is_none());
    assert_eq!(store.staff_by_id(amy).await.unwrap().expect("by id").username.as_str(), "amy");
    assert!(store.staff_by_id(9_999).await.unwrap().is_none());
    assert!(store.staff_by_username(&Username::parse("nobody").unwrap()).await.unwrap().is_none());
    let names: Vec<String> = store.list_staff().await.unwrap().iter().map(|s| s.username.to_string()).collect();
    assert_eq!(names, vec!["amy", "zoe"], "in username order");
}

async fn sessions_end_on_logout_password_change_disabling_and_expiry(backend: Backend) {
    let store = TestStore::open(backend).await;
    let amy = store.insert_staff(&new_staff("amy", StaffRole::Evaluator)).await.unwrap();
    let bob = store.insert_staff(&new_staff("bob", StaffRole::Decider)).await.unwrap();
    for s in [session(1, amy, 0), session(2, amy, 10), session(3, bob, 0), session(4, bob, 20)] {
        store.insert_session(&s).await.unwrap();
    }
    assert_eq!(store.session(&[1; 32]).await.unwrap(), Some(session(1, amy, 0)));
    assert!(store.session(&[9; 32]).await.unwrap().is_none());

    store.touch_session(&[2; 32], at(100)).await.unwrap();
    assert_eq!(store.session(&[2; 32]).await.unwrap().unwrap().last_seen_at, at(100));

    store.delete_session(&[1; 32]).await.unwrap();
    assert!(store.session(&[1; 32]).await.unwrap().is_none(), "logout ends one session");
    assert!(store.session(&[2; 32]).await.unwrap().is_some(), "and only that one");

    // A new password ends every session of the member, and only theirs.
    assert!(store.set_staff_password(amy, "$argon2id$new", at(200)).await.unwrap());
    assert!(store.session(&[2; 32]).await.unwrap().is_none());
    let amy_row = store.staff_by_id(amy).await.unwrap().unwrap();
    assert_eq!((amy_row.password_hash.as_str(), amy_row.password_changed_at), ("$argon2id$new", at(200)));
    assert!(store.session(&[3; 32]).await.unwrap().is_some());
    assert!(!store.set_staff_password(9_999, "$argon2id$x", at(200)).await.unwrap());

    // Expiry: idle since before 15 s, or created before 5 s.
    store.insert_session(&session(5, amy, 30)).await.unwrap();
    assert_eq!(store.delete_expired_sessions(at(15), at(5)).await.unwrap(), 1, "session 3 (idle)");
    assert!(store.session(&[4; 32]).await.unwrap().is_some());
    assert_eq!(store.delete_expired_sessions(at(0), at(25)).await.unwrap(), 1, "session 4 (too old)");

    // Disabling ends the member's sessions in the same transaction; a second time is a no-op.
    store.insert_session(&session(6, bob, 40)).await.unwrap();
    assert!(store.disable_staff(bob, at(300)).await.unwrap());
    assert!(store.session(&[6; 32]).await.unwrap().is_none());
    assert_eq!(store.staff_by_id(bob).await.unwrap().unwrap().disabled_at, Some(at(300)));
    assert!(!store.disable_staff(bob, at(400)).await.unwrap());
    assert_eq!(store.staff_by_id(bob).await.unwrap().unwrap().disabled_at, Some(at(300)));
    assert_eq!(store.delete_staff_sessions(amy).await.unwrap(), 1, "session 5");
}

async fn a_totp_step_is_claimed_once_and_enrolment_is_confirmed_once(backend: Backend) {
    let store = TestStore::open(backend).await;
    let id = store.insert_staff(&new_staff("dee", StaffRole::Decider)).await.unwrap();
    assert!(!store.confirm_totp(id, at(1)).await.unwrap(), "no secret to confirm yet");
    assert!(store.begin_totp(id, &[7; 20]).await.unwrap());
    assert!(store.begin_totp(id, &[8; 20]).await.unwrap(), "enrolment can restart until confirmed");
    assert!(store.claim_totp_step(id, 100).await.unwrap());
    assert!(!store.claim_totp_step(id, 100).await.unwrap(), "the same step twice is a replay");
    assert!(!store.claim_totp_step(id, 99).await.unwrap(), "an earlier step too");
    assert!(store.claim_totp_step(id, 101).await.unwrap());
    assert!(store.confirm_totp(id, at(2)).await.unwrap());
    assert!(!store.confirm_totp(id, at(3)).await.unwrap());
    assert!(!store.begin_totp(id, &[9; 20]).await.unwrap(), "a confirmed secret is not replaced");
    let row = store.staff_by_id(id).await.unwrap().unwrap();
    assert_eq!(row.totp_secret, Some(vec![8; 20]));
    assert_eq!(row.totp_confirmed_at, Some(at(2)));
    assert_eq!(row.totp_last_step, Some(101));
}

async fn login_failures_count_up_and_are_forgotten(backend: Backend) {
    let store = TestStore::open(backend).await;
    let key = "account:amy";
    assert!(store.login_failures(key).await.unwrap().is_none());
    for n in 1..=3 {
        let failures = store.add_login_failure(key, at(n), at(-100)).await.unwrap();
        assert_eq!((failures.count, failures.last_at), (n as u32, at(n)));
    }
    assert_eq!(store.login_failures(key).await.unwrap().unwrap().count, 3);
    assert!(store.login_failures("client:127.0.0.1").await.unwrap().is_none(), "keys are apart");
    // A failure after the last one was forgotten starts again from one.
    let fresh = store.add_login_failure(key, at(100), at(50)).await.unwrap();
    assert_eq!(fresh.count, 1);
    store.clear_login_failures(key).await.unwrap();
    assert!(store.login_failures(key).await.unwrap().is_none());
}
