//! What only the PostgreSQL store has to show: several instances writing to one database at once
//! keep the log whole (one writer wins a race, the other gets the conflict SQLite gives), scan
//! flushes from two instances add up, and a database that cannot be used is said plainly.

use crate::common;

use std::sync::Arc;

use common::postgres::{server_url, with_database, TestStore};
use common::records::Records;
use common::Backend;
use starmark::domain::State;
use starmark::domain::{CertificateNumber, ScanTally, SerialKey};
use starmark::store::{ScanDeltas, Store, StoreError};

/// Two instances on one fresh database.
async fn two_instances() -> (TestStore, Arc<dyn Store>) {
    let first = TestStore::open(Backend::Postgres).await;
    let second = first.reopen().await;
    (first, second)
}

/// The log holds leaves 0, 1, 2 ... one per event, in event order, and nothing else.
async fn assert_log_matches_events(store: &dyn Store) {
    let leaves = store.log_leaves(0, 10_000).await.unwrap();
    let events = store.changes_after(0, 10_000).await.unwrap();
    assert_eq!(leaves.len(), events.len());
    for (expected, (leaf, (seq, number, version))) in leaves.iter().zip(&events).enumerate() {
        assert_eq!(leaf.idx, expected as u64, "no gap or repeat in the log");
        assert_eq!(*seq, expected as i64 + 1, "no gap or repeat in the events");
        assert_eq!((leaf.number.as_str(), leaf.version), (number.as_str(), *version), "leaf {expected} is event {seq}");
        let entry = store.log_entry(number, *version).await.unwrap().expect("leaf of the event");
        assert_eq!(starmark::tlog::leaf_hash(&entry.data), leaf.hash);
    }
}

#[tokio::test]
async fn two_instances_appending_to_one_certificate_at_once_one_wins_and_the_log_stays_whole() {
    let (first, second) = two_instances().await;
    let records = Records::new();
    let issued = records.issued("SM2026RACE001", "并发测试有限公司", "Race Co.", 31, "2026-01-05");
    first.insert_new(std::slice::from_ref(&issued)).await.unwrap();
    let mut current = issued.signed.record;
    for round in 0..20u32 {
        let version = current.version;
        let a = records.changed(&current, State::Suspended, i64::from(round));
        let b = records.changed(&current, State::Withdrawn, i64::from(round));
        let (left, right) = (first.store.clone(), second.clone());
        let (a_event, b_event) = (a.clone(), b.clone());
        let one = tokio::spawn(async move { left.append(&a_event, version).await });
        let other = tokio::spawn(async move { right.append(&b_event, version).await });
        let (one, other) = (one.await.unwrap(), other.await.unwrap());
        let winner = match (&one, &other) {
            (Ok(()), Err(StoreError::VersionConflict { expected, .. })) if *expected == version => a,
            (Err(StoreError::VersionConflict { expected, .. }), Ok(())) if *expected == version => b,
            _ => panic!("round {round}: exactly one append must win, the other conflict: {one:?} / {other:?}"),
        };
        let stored = second.get(&current.number).await.unwrap().expect("stored");
        assert_eq!(stored.signed.record, winner.signed.record, "round {round}: the state is the winner's");
        current = winner.signed.record;
    }
    let history = first.history(&current.number).await.unwrap();
    assert_eq!(history.iter().map(|e| e.version).collect::<Vec<_>>(), (1..=21).collect::<Vec<_>>());
    assert_log_matches_events(&*first).await;
}

#[tokio::test]
async fn two_instances_writing_different_certificates_at_once_keep_events_and_leaves_in_one_order() {
    let (first, second) = two_instances().await;
    let records = Arc::new(Records::new());
    let writer = |store: Arc<dyn Store>, offset: u32| {
        let records = records.clone();
        tokio::spawn(async move {
            for i in 0..15 {
                let n = offset + i;
                let issued =
                    records.issued(&format!("SM2026PAR{n:04}"), "并行写入有限公司", "Parallel", n, "2026-01-05");
                store.insert_new(std::slice::from_ref(&issued)).await.unwrap();
                let suspended = records.changed(&issued.signed.record, State::Suspended, 1);
                store.append(&suspended, 1).await.unwrap();
            }
        })
    };
    let (one, other) = (writer(first.store.clone(), 100), writer(second.clone(), 200));
    one.await.unwrap();
    other.await.unwrap();
    assert_eq!(first.count_certificates().await.unwrap(), 30);
    assert_eq!(second.last_event_seq().await.unwrap(), 60);
    assert_log_matches_events(&*second).await;
}

#[tokio::test]
async fn the_same_number_issued_by_two_instances_at_once_is_stored_once() {
    let (first, second) = two_instances().await;
    let records = Records::new();
    for round in 0..10 {
        let number = format!("SM2026TWICE{round:02}");
        let a = records.issued(&number, "第一实例有限公司", "First", 40 + round, "2026-01-05");
        let b = records.issued(&number, "第二实例有限公司", "Second", 60 + round, "2026-01-05");
        let (left, right) = (first.store.clone(), second.clone());
        let one = tokio::spawn(async move { left.insert_new(&[a]).await });
        let other = tokio::spawn(async move { right.insert_new(&[b]).await });
        let results = [one.await.unwrap(), other.await.unwrap()];
        let won = results.iter().filter(|r| r.is_ok()).count();
        let refused = results.iter().filter(|r| matches!(r, Err(StoreError::Duplicate(n)) if *n == number)).count();
        assert_eq!((won, refused), (1, 1), "round {round}: {results:?}");
    }
    assert_eq!(first.count_certificates().await.unwrap(), 10);
    assert_log_matches_events(&*first).await;
}

#[tokio::test]
async fn scan_flushes_from_two_instances_at_once_add_up() {
    let (first, second) = two_instances().await;
    // Scan times are kept to the microsecond.
    let at = chrono::DateTime::from_timestamp_micros(common::records::at(0).timestamp_micros()).unwrap();
    let flusher = |store: Arc<dyn Store>, offset: i64| {
        tokio::spawn(async move {
            for i in 0..30 {
                let when = at + chrono::Duration::seconds(offset + i);
                let tally = ScanTally { count: 1, first_at: when, last_at: when };
                let deltas: Vec<(SerialKey, ScanTally)> = [7, 1_030, 5_000]
                    .into_iter()
                    .map(|serial| (SerialKey { number: "SM2026FLUSH01".into(), batch: 1, serial }, tally))
                    .collect();
                store.add_scans(&ScanDeltas::from_tallies(&deltas)).await.unwrap();
            }
        })
    };
    let (one, other) = (flusher(first.store.clone(), 0), flusher(second.clone(), 100));
    one.await.unwrap();
    other.await.unwrap();
    for serial in [7, 1_030, 5_000] {
        let tally = first.scan_tally(&SerialKey { number: "SM2026FLUSH01".into(), batch: 1, serial }).await.unwrap();
        let tally = tally.expect("counted");
        assert_eq!(tally.count, 60, "serial {serial}: no flush lost another's scans");
        assert_eq!((tally.first_at, tally.last_at), (at, at + chrono::Duration::seconds(129)));
    }
    assert_eq!(second.scan_summary(&CertificateNumber::parse("SM2026FLUSH01").unwrap(), 10).await.unwrap().0, 180);
}

fn open_error(result: Result<Arc<dyn Store>, StoreError>) -> String {
    match result {
        Ok(_) => panic!("the store opened"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test]
async fn a_server_that_does_not_answer_is_named_without_the_password() {
    // Nothing listens on port 1.
    let message = open_error(starmark::store::open("postgres://starmark:s3cret@127.0.0.1:1/registry").await);
    assert!(message.contains("cannot connect to PostgreSQL at 127.0.0.1:1"), "{message}");
    assert!(message.contains("database 'registry'"), "{message}");
    assert!(message.contains("check that PostgreSQL is running"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
}

#[tokio::test]
async fn a_database_that_does_not_exist_says_how_to_create_it() {
    common::postgres::connect_server().await;
    let url = with_database(&server_url(), "starmark_test_never_created");
    let message = open_error(starmark::store::open(&url).await);
    assert!(message.contains("does not exist"), "{message}");
    assert!(message.contains("createdb starmark_test_never_created"), "{message}");
}

#[tokio::test]
async fn a_url_that_is_not_one_says_how_to_write_it() {
    let message = open_error(starmark::store::open("postgresql://starmark:s3cret@db.example:port/registry").await);
    assert!(message.contains("is not a usable PostgreSQL URL"), "{message}");
    assert!(message.contains("postgresql://starmark:***@db.example:port/registry"), "{message}");
    assert!(!message.contains("s3cret"), "{message}");
}

#[tokio::test]
async fn both_url_schemes_open_the_store_and_reopening_migrates_nothing_twice() {
    let store = TestStore::open(Backend::Postgres).await;
    let database = store.database.as_ref().expect("a PostgreSQL store");
    let other_scheme = database.url.replacen("postgres://", "postgresql://", 1);
    assert!(other_scheme.starts_with("postgresql://"));
    let again = starmark::store::open(&other_scheme).await.expect("opens with postgresql:// too");
    assert_eq!(again.count_certificates().await.unwrap(), 0);
    let mut db = database.connect().await;
    let migrations: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations").fetch_one(&mut db).await.unwrap();
    let files = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres")).unwrap().count();
    assert_eq!(migrations, files as i64);
}
