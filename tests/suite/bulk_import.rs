//! A large bulk import gives the same store on both backends: the same events, state rows and
//! log leaves byte for byte, so the same log root, whatever statements each backend writes them
//! with (PostgreSQL binds whole columns as arrays, SQLite writes multi-row `INSERT`s).

use crate::common;

use common::postgres::TestStore;
use common::records::Records;
use common::Backend;
use starmark::domain::CertificateNumber;
use starmark::store::{NewEvent, RawCertificate, RawEvent, StoreError};
use starmark::tlog::tree::Tree;
use starmark::tlog::{leaf_hash, Hash};

/// More than two of the registry's import batches (5,000), each more than one statement's worth
/// of rows on either backend, and the last batch not a whole one.
const CERTIFICATES: u32 = 12_345;

/// What the registry hands the store in one `insert_new` call of an import.
const IMPORT_BATCH: usize = 5_000;

fn events(records: &Records) -> Vec<NewEvent> {
    (1..=CERTIFICATES)
        .map(|n| {
            let number = CertificateNumber::assigned(2026, u64::from(n));
            // Some holders with an English name and some without, as in a real file.
            let name_en = if n % 3 == 0 { "" } else { "Bulk Import Co." };
            records.issued(number.as_str(), &format!("批量导入测试{n}有限公司"), name_en, n, "2026-01-05")
        })
        .collect()
}

/// Every event, state row and leaf hash a store holds, read in pages as the audit reads them.
async fn contents(store: &TestStore) -> (Vec<RawEvent>, Vec<RawCertificate>, Vec<Hash>) {
    let mut events: Vec<RawEvent> = Vec::new();
    loop {
        let after = events.last().map_or(0, |e| e.seq);
        let page = store.raw_events(after, 1_000).await.unwrap();
        if page.is_empty() {
            break;
        }
        events.extend(page);
    }
    let mut state: Vec<RawCertificate> = Vec::new();
    loop {
        let after = state.last().map(|c| c.columns.number.clone()).unwrap_or_default();
        let page = store.raw_certificates(&after, 1_000).await.unwrap();
        if page.is_empty() {
            break;
        }
        state.extend(page);
    }
    let mut hashes = Vec::new();
    loop {
        let page = store.log_hashes(hashes.len() as u64, 1_000).await.unwrap();
        if page.is_empty() {
            break;
        }
        hashes.extend(page);
    }
    (events, state, hashes)
}

fn root(hashes: &[Hash]) -> Hash {
    let mut tree = Tree::new();
    for hash in hashes {
        tree.push(*hash);
    }
    tree.root(hashes.len() as u64).unwrap()
}

fn event_fields(event: &RawEvent) -> (i64, &str, u32, &str, &str, &str, &str, &str) {
    (event.seq, &event.number, event.version, &event.kind, &event.at, &event.details, &event.record, &event.signature)
}

#[tokio::test]
async fn a_large_import_gives_the_same_records_and_log_root_on_postgresql_and_sqlite() {
    let records = Records::new();
    let events = events(&records);
    let sqlite = TestStore::open(Backend::Sqlite).await;
    let postgres = TestStore::open(Backend::Postgres).await;
    for store in [&sqlite, &postgres] {
        for batch in events.chunks(IMPORT_BATCH) {
            store.insert_new(batch).await.unwrap();
        }
    }

    let (sqlite_events, sqlite_state, sqlite_hashes) = contents(&sqlite).await;
    let (pg_events, pg_state, pg_hashes) = contents(&postgres).await;
    let count = CERTIFICATES as usize;
    assert_eq!((sqlite_events.len(), sqlite_state.len(), sqlite_hashes.len()), (count, count, count));
    assert_eq!((pg_events.len(), pg_state.len(), pg_hashes.len()), (count, count, count));
    assert_eq!(postgres.count_certificates().await.unwrap(), u64::from(CERTIFICATES));

    for (sqlite_event, pg_event) in sqlite_events.iter().zip(&pg_events) {
        assert_eq!(event_fields(sqlite_event), event_fields(pg_event));
    }
    for (sqlite_row, pg_row) in sqlite_state.iter().zip(&pg_state) {
        assert_eq!(sqlite_row.columns, pg_row.columns);
        assert_eq!((&sqlite_row.record, &sqlite_row.signature), (&pg_row.record, &pg_row.signature));
    }
    // The events in the order given, each the one signed, and each leaf the hash of its event's
    // leaf data, recomputed here from what was read back rather than taken from the store.
    for (n, ((event, written), hash)) in pg_events.iter().zip(&events).zip(&pg_hashes).enumerate() {
        assert_eq!(event.seq, n as i64 + 1);
        assert_eq!(event.number, written.signed.record.number.as_str());
        assert_eq!(event.record.as_bytes(), written.signed.canonical.as_slice());
        assert_eq!(*hash, leaf_hash(&event.leaf_data().unwrap()), "leaf {n}");
    }
    assert_eq!(sqlite_hashes, pg_hashes);
    assert_eq!(root(&sqlite_hashes), root(&pg_hashes));
    assert_eq!(postgres.log_backfill().await.unwrap(), 0, "nothing is missing from the log");
}

#[tokio::test]
async fn a_large_import_with_one_taken_number_writes_nothing_on_postgresql() {
    let records = Records::new();
    let events = events(&records);
    let postgres = TestStore::open(Backend::Postgres).await;
    postgres.insert_new(&events[..10]).await.unwrap();
    // A batch of the size an import sends whose last row reuses a number already stored.
    let mut batch: Vec<NewEvent> = events[10..IMPORT_BATCH + 9].to_vec();
    batch.push(events[3].clone());
    match postgres.insert_new(&batch).await {
        Err(StoreError::Duplicate(number)) => assert_eq!(number, events[3].signed.record.number.as_str()),
        other => panic!("expected the taken number to be refused, got {other:?}"),
    }
    let (stored, state, hashes) = contents(&postgres).await;
    assert_eq!((stored.len(), state.len(), hashes.len()), (10, 10, 10), "the refused batch left nothing behind");
}
