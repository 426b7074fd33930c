//! The `Store` contract, run on each backend: what one store answers, the other answers too.
//! Events and state written together with their log leaves, version conflicts, duplicates with
//! nothing half-written, search (substrings, cursor, filters), tokens, receipts, sequences,
//! checkpoints and mark digest indexes.

use crate::common;

use chrono::{DateTime, NaiveDate};
use common::postgres::TestStore;
use common::records::{at, Records};
use common::Backend;
use starmark::domain::{CertificateNumber, EventKind, Gtin, Level, MarkBatch, Role, SearchQuery, State, Uscc};
use starmark::store::{StoreError, StoredCheckpoint, StoredMarkDigests, StoredReceipt, StoredToken};

on_each_backend!(
    events_state_and_leaves_are_written_together,
    a_stale_version_a_missing_certificate_and_a_taken_number_are_refused_with_nothing_written,
    search_matches_substrings_filters_and_pages_by_number,
    tokens_receipts_sequences_and_checkpoints,
    mark_digest_indexes_are_kept_per_batch,
    certificates_are_found_by_the_gtin_of_their_batches,
);

fn number(text: &str) -> CertificateNumber {
    CertificateNumber::parse(text).unwrap()
}

async fn events_state_and_leaves_are_written_together(backend: Backend) {
    let store = TestStore::open(backend).await;
    let records = Records::new();
    let first = records.issued("SM2026STORE01", "存储测试一有限公司", "Store One Co.", 1, "2026-01-05");
    let second = records.issued("SM2026STORE02", "存储测试二有限公司", "Store Two Co.", 2, "2026-01-05");
    store.insert_new(&[first.clone(), second.clone()]).await.unwrap();
    let suspended = records.changed(&first.signed.record, State::Suspended, 5);
    store.append(&suspended, 1).await.unwrap();

    let current = store.get(&number("SM2026STORE01")).await.unwrap().expect("stored").signed;
    assert_eq!(current.record, suspended.signed.record);
    assert_eq!(current.canonical.as_bytes(), suspended.signed.canonical.as_slice());
    assert_eq!(current.signature, suspended.signed.signature);
    assert_eq!(current.updated_at, DateTime::from_timestamp_micros(at(5).timestamp_micros()).unwrap());
    assert!(store.get(&number("SM2026NOSUCH1")).await.unwrap().is_none());
    assert_eq!(store.count_certificates().await.unwrap(), 2);

    let history = store.history(&number("SM2026STORE01")).await.unwrap();
    let seen: Vec<(i64, u32, EventKind)> = history.iter().map(|e| (e.seq, e.version, e.kind)).collect();
    assert_eq!(seen, vec![(1, 1, EventKind::Issued), (3, 2, EventKind::Suspended)]);
    assert_eq!(history[1].details, suspended.details);
    assert_eq!(history[1].record.as_bytes(), suspended.signed.canonical.as_slice());
    assert_eq!(history[1].actor, "test");

    assert_eq!(
        store.changes_after(0, 10).await.unwrap(),
        vec![(1, number("SM2026STORE01"), 1), (2, number("SM2026STORE02"), 1), (3, number("SM2026STORE01"), 2)]
    );
    assert_eq!(store.changes_after(2, 10).await.unwrap().len(), 1);
    assert_eq!(store.changes_after(0, 1).await.unwrap().len(), 1);
    assert_eq!(store.last_event_seq().await.unwrap(), 3);

    // One leaf per event, in event order, and the leaf data is the event's.
    let leaves = store.log_leaves(0, 100).await.unwrap();
    let order: Vec<(u64, &str, u32)> = leaves.iter().map(|l| (l.idx, l.number.as_str(), l.version)).collect();
    assert_eq!(order, vec![(0, "SM2026STORE01", 1), (1, "SM2026STORE02", 1), (2, "SM2026STORE01", 2)]);
    let entry = store.log_entry(&number("SM2026STORE01"), 2).await.unwrap().expect("leaf");
    assert_eq!(entry.idx, 2);
    assert_eq!(starmark::tlog::leaf_hash(&entry.data), leaves[2].hash);
    let leaf: serde_json::Value = serde_json::from_slice(&entry.data).unwrap();
    assert_eq!(leaf["at"], "2026-11-27T08:05:00.123456Z");
    assert_eq!(store.log_entries(1, 5).await.unwrap().len(), 2);
    assert_eq!(store.log_hashes(1, 1).await.unwrap(), vec![leaves[1].hash]);
    assert_eq!(store.log_backfill().await.unwrap(), 0, "nothing is missing from the log");

    // What the audit reads is what was written, byte for byte.
    let raw = store.raw_events(0, 10).await.unwrap();
    assert_eq!(raw.len(), 3);
    assert_eq!(raw[2].at, "2026-11-27T08:05:00.123456Z");
    assert_eq!(raw[2].leaf_data().unwrap(), entry.data);
    let state = store.raw_certificates("", 10).await.unwrap();
    assert_eq!(state.len(), 2);
    let columns = &state[0].columns;
    assert_eq!((columns.version, columns.state.as_str()), (2, "suspended"));
    assert_eq!(columns.valid_until, first.signed.record.valid_until.to_string());
    assert_eq!(columns.holder_name_en.as_deref(), Some("Store One Co."));
    assert_eq!(store.raw_certificates("SM2026STORE01", 10).await.unwrap().len(), 1);
}

async fn a_stale_version_a_missing_certificate_and_a_taken_number_are_refused_with_nothing_written(backend: Backend) {
    let store = TestStore::open(backend).await;
    let records = Records::new();
    let issued = records.issued("SM2026REFUSE1", "拒绝测试有限公司", "Refuse Co.", 3, "2026-01-05");
    store.insert_new(std::slice::from_ref(&issued)).await.unwrap();
    let suspended = records.changed(&issued.signed.record, State::Suspended, 1);
    store.append(&suspended, 1).await.unwrap();

    // Someone else got in first: the change built on version 1 is refused.
    let late = records.changed(&issued.signed.record, State::Revoked, 2);
    assert!(matches!(
        store.append(&late, 1).await,
        Err(StoreError::VersionConflict { ref number, expected: 1 }) if number == "SM2026REFUSE1"
    ));
    // A version that does not follow the expected one is refused too.
    let skipping = records.changed(&suspended.signed.record.next_version(), State::Revoked, 2);
    assert!(matches!(store.append(&skipping, 2).await, Err(StoreError::VersionConflict { .. })));
    let unknown = records.changed(
        &records.issued("SM2026UNKNOWN", "无此证书", "None", 4, "2026-01-05").signed.record,
        State::Revoked,
        2,
    );
    assert!(matches!(store.append(&unknown, 1).await, Err(StoreError::NotFound(n)) if n == "SM2026UNKNOWN"));

    // A taken number, alone or in a batch, refuses the whole batch.
    let again = records.issued("SM2026REFUSE1", "重复有限公司", "Again", 5, "2026-01-05");
    assert!(
        matches!(store.insert_new(std::slice::from_ref(&again)).await, Err(StoreError::Duplicate(n)) if n == "SM2026REFUSE1")
    );
    let fresh = records.issued("SM2026FRESH01", "新证书有限公司", "Fresh", 6, "2026-01-05");
    assert!(
        matches!(store.insert_new(&[fresh.clone(), again]).await, Err(StoreError::Duplicate(n)) if n == "SM2026REFUSE1")
    );
    // The same number twice in one batch (SQLite's refusal names the constraint, not the number).
    let twin = records.issued("SM2026FRESH01", "双胞胎有限公司", "Twin", 7, "2026-01-05");
    let refused = store.insert_new(&[fresh.clone(), twin]).await;
    assert!(matches!(refused, Err(StoreError::Duplicate(_))), "{refused:?}");
    if backend == Backend::Postgres {
        assert!(matches!(refused, Err(StoreError::Duplicate(n)) if n == "SM2026FRESH01"));
    }

    assert!(store.get(&number("SM2026FRESH01")).await.unwrap().is_none(), "nothing of a refused batch is kept");
    assert_eq!(store.count_certificates().await.unwrap(), 1);
    assert_eq!(store.last_event_seq().await.unwrap(), 2);
    assert_eq!(store.log_leaves(0, 100).await.unwrap().len(), 2);
    assert_eq!(
        store.existing_numbers(&[number("SM2026FRESH01"), number("SM2026REFUSE1")]).await.unwrap(),
        vec![number("SM2026REFUSE1")]
    );

    // After the refusals the store goes on numbering events and leaves with no gap.
    store.insert_new(std::slice::from_ref(&fresh)).await.unwrap();
    assert_eq!(store.last_event_seq().await.unwrap(), 3);
    let leaves = store.log_leaves(0, 100).await.unwrap();
    assert_eq!(leaves.iter().map(|l| l.idx).collect::<Vec<_>>(), vec![0, 1, 2]);
}

async fn search_matches_substrings_filters_and_pages_by_number(backend: Backend) {
    let store = TestStore::open(backend).await;
    let records = Records::new();
    let issued = [
        records.issued("SM2026SEARCH1", "厦门示例电器有限公司", "Example Appliances Co., Ltd.", 11, "2026-01-05"),
        records.issued("SM2026SEARCH2", "福州样本服务有限公司", "Sample Service Co.", 12, "2026-01-05"),
        records.issued("SM2026SEARCH3", "百分百_折扣%商店", "Discount Shop", 13, "2026-01-05"),
        records.issued("SM2020SEARCH4", "过期示例有限公司", "Expired Example Ltd.", 14, "2020-01-05"),
        records.issued("SM2026SEARCH5", "ÄÖ示例有限公司", "Ärger Ltd.", 15, "2026-01-05"),
    ];
    store.insert_new(&issued).await.unwrap();
    store.append(&records.changed(&issued[1].signed.record, State::Suspended, 1), 1).await.unwrap();

    let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
    let query = |text: Option<&str>| SearchQuery {
        text: text.map(String::from),
        uscc: None,
        level: None,
        state: None,
        today,
        after: None,
        limit: 100,
    };
    let numbers = |found: Vec<starmark::store::StoredCertificate>| -> Vec<String> {
        found.into_iter().map(|c| c.signed.record.number.as_str().to_string()).collect()
    };
    let search = |q: SearchQuery| {
        let store = &store;
        async move { numbers(store.search(&q).await.unwrap()) }
    };

    assert_eq!(
        search(query(None)).await,
        ["SM2020SEARCH4", "SM2026SEARCH1", "SM2026SEARCH2", "SM2026SEARCH3", "SM2026SEARCH5"]
    );
    assert_eq!(search(query(Some("  "))).await.len(), 5, "blank text lists everything");
    assert_eq!(search(query(Some("示例"))).await, ["SM2020SEARCH4", "SM2026SEARCH1", "SM2026SEARCH5"]);
    // ASCII letters match in either case, in both names; other letters only as written.
    assert_eq!(search(query(Some("example"))).await, ["SM2020SEARCH4", "SM2026SEARCH1"]);
    assert_eq!(search(query(Some("SAMPLE service"))).await, ["SM2026SEARCH2"]);
    assert_eq!(search(query(Some("ärger"))).await, Vec::<String>::new());
    assert_eq!(search(query(Some("Ärger"))).await, ["SM2026SEARCH5"]);
    // LIKE's wildcards are plain characters in a search.
    assert_eq!(search(query(Some("%"))).await, ["SM2026SEARCH3"]);
    assert_eq!(search(query(Some("_"))).await, ["SM2026SEARCH3"]);
    assert_eq!(search(query(Some("百分百_"))).await, ["SM2026SEARCH3"]);
    // Numbers exactly or by prefix, in any case; the USCC exactly.
    assert_eq!(search(query(Some("sm2026search2"))).await, ["SM2026SEARCH2"]);
    assert_eq!(search(query(Some("sm2020"))).await, ["SM2020SEARCH4"]);
    assert_eq!(search(query(Some("SEARCH2"))).await, Vec::<String>::new(), "numbers match from the start");
    assert_eq!(search(query(Some(&common::uscc(13)))).await, ["SM2026SEARCH3"]);
    assert!(search(query(Some("示例\0"))).await.is_empty(), "a control character matches nothing");

    let uscc = SearchQuery { uscc: Some(Uscc::parse(&common::uscc(12)).unwrap()), ..query(None) };
    assert_eq!(search(uscc).await, ["SM2026SEARCH2"]);
    let level = SearchQuery { level: Some(Level::FiveStar), ..query(None) };
    assert_eq!(search(level).await.len(), 5);
    let level = SearchQuery { level: Some(Level::Compliant), ..query(None) };
    assert!(search(level).await.is_empty());
    let state = |state| SearchQuery { state: Some(state), ..query(None) };
    assert_eq!(search(state(State::Valid)).await, ["SM2026SEARCH1", "SM2026SEARCH3", "SM2026SEARCH5"]);
    assert_eq!(search(state(State::Suspended)).await, ["SM2026SEARCH2"]);
    assert_eq!(search(state(State::Expired)).await, ["SM2020SEARCH4"]);
    assert!(search(state(State::Revoked)).await.is_empty());
    let combined = SearchQuery { state: Some(State::Valid), ..query(Some("example")) };
    assert_eq!(search(combined).await, ["SM2026SEARCH1"]);

    // Keyset paging: two at a time, each page after the last number of the one before.
    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = search(SearchQuery { after: after.clone(), limit: 2, ..query(None) }).await;
        let Some(last) = page.last() else { break };
        after = Some(number(last));
        pages.push(page);
    }
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 2, 1]);
    assert_eq!(pages.concat(), search(query(None)).await);
}

async fn tokens_receipts_sequences_and_checkpoints(backend: Backend) {
    let store = TestStore::open(backend).await;
    let token = |id: &str, role, minutes| StoredToken {
        id: id.into(),
        role,
        secret_hash: vec![0, 1, 2, 255],
        label: format!("{id} 标签"),
        created_at: at(minutes),
        revoked_at: None,
    };
    store.insert_token(&token("tok-b", Role::Issuer, 2)).await.unwrap();
    store.insert_token(&token("tok-a", Role::Admin, 1)).await.unwrap();
    assert!(store.insert_token(&token("tok-a", Role::Reader, 3)).await.is_err(), "ids are unique");
    let found = store.find_token("tok-b").await.unwrap().expect("token");
    assert_eq!(
        (found.role, found.secret_hash.as_slice(), found.label.as_str()),
        (Role::Issuer, &[0, 1, 2, 255][..], "tok-b 标签")
    );
    assert_eq!(found.created_at, DateTime::from_timestamp_micros(at(2).timestamp_micros()).unwrap());
    assert!(store.find_token("nope").await.unwrap().is_none());
    let listed: Vec<String> = store.list_tokens().await.unwrap().into_iter().map(|t| t.id).collect();
    assert_eq!(listed, ["tok-a", "tok-b"], "oldest first");
    assert!(store.revoke_token("tok-a", at(10)).await.unwrap());
    assert!(!store.revoke_token("tok-a", at(11)).await.unwrap(), "already revoked");
    assert!(!store.revoke_token("nope", at(11)).await.unwrap());
    assert_eq!(
        store.find_token("tok-a").await.unwrap().unwrap().revoked_at.map(|t| t.timestamp()),
        Some(at(10).timestamp())
    );

    let receipt = StoredReceipt { id: "r-1".into(), issued_at: at(0), document: "{\"receipt\":{}}".into() };
    store.put_receipt(&receipt).await.unwrap();
    store.put_receipt(&receipt).await.unwrap();
    let other = StoredReceipt { document: "{\"receipt\":{\"x\":1}}".into(), ..receipt.clone() };
    assert!(matches!(store.put_receipt(&other).await, Err(StoreError::Corrupt(_))));
    let stored = store.get_receipt("r-1").await.unwrap().expect("receipt");
    assert_eq!(stored.document, receipt.document);
    assert!(store.get_receipt("r-2").await.unwrap().is_none());

    assert_eq!(store.reserve_sequence(2026, 3).await.unwrap(), 1);
    assert_eq!(store.reserve_sequence(2026, 2).await.unwrap(), 4);
    assert_eq!(store.reserve_sequence(2027, 1).await.unwrap(), 1);

    let checkpoint = |size, byte, note: &str| StoredCheckpoint { size, root: [byte; 32], note: note.into() };
    assert!(store.latest_checkpoint().await.unwrap().is_none());
    store.add_checkpoint(&checkpoint(2, 2, "two")).await.unwrap();
    store.add_checkpoint(&checkpoint(1, 1, "one")).await.unwrap();
    store.add_checkpoint(&checkpoint(2, 9, "another two")).await.unwrap();
    assert_eq!(store.checkpoint(2).await.unwrap(), Some(checkpoint(2, 2, "two")), "the first one for a size is kept");
    assert_eq!(store.latest_checkpoint().await.unwrap(), Some(checkpoint(2, 2, "two")));
    assert_eq!(store.checkpoints().await.unwrap(), vec![checkpoint(1, 1, "one"), checkpoint(2, 2, "two")]);
    assert!(store.checkpoint(3).await.unwrap().is_none());
}

async fn mark_digest_indexes_are_kept_per_batch(backend: Backend) {
    let store = TestStore::open(backend).await;
    let records = Records::new();
    let plain = records.issued("SM2026DIGEST1", "无标志有限公司", "No Marks", 21, "2026-01-05");
    let marked = records.issued("SM2026DIGEST2", "有标志有限公司", "Marks", 22, "2026-01-05");
    store.insert_new(&[plain, marked.clone()]).await.unwrap();
    let mut ordered = marked.signed.record.next_version();
    let ordered_on = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
    ordered.mark_batches = vec![
        MarkBatch { id: 1, count: 10, ordered: ordered_on, revoked: vec![], gtin: None, product: None },
        MarkBatch { id: 2, count: 5, ordered: ordered_on, revoked: vec![], gtin: None, product: None },
    ];
    store.append(&records.event(EventKind::MarksOrdered, ordered, at(1)), 1).await.unwrap();
    assert_eq!(
        store.batches_without_digests().await.unwrap(),
        vec![(number("SM2026DIGEST2"), 1), (number("SM2026DIGEST2"), 2)]
    );

    let digests = |batch, byte| StoredMarkDigests {
        number: number("SM2026DIGEST2"),
        batch,
        key_id: "0123456789abcdef".into(),
        salt: vec![byte; 16],
        tags: vec![byte; 8 * 10],
        created_at: at(2),
    };
    store.put_mark_digests(&digests(1, 1)).await.unwrap();
    store.put_mark_digests(&digests(1, 7)).await.unwrap();
    let stored = store.get_mark_digests(&number("SM2026DIGEST2"), 1).await.unwrap().expect("index");
    assert_eq!(stored.salt, vec![7; 16], "a rebuilt index replaces the old one");
    assert_eq!(
        stored,
        StoredMarkDigests {
            created_at: DateTime::from_timestamp_micros(at(2).timestamp_micros()).unwrap(),
            ..digests(1, 7)
        }
    );
    assert!(store.get_mark_digests(&number("SM2026DIGEST2"), 2).await.unwrap().is_none());
    assert_eq!(store.batches_without_digests().await.unwrap(), vec![(number("SM2026DIGEST2"), 2)]);
    let orphan = StoredMarkDigests { number: number("SM2026NOSUCH1"), ..digests(1, 1) };
    assert!(store.put_mark_digests(&orphan).await.is_err(), "an index belongs to a stored certificate");
}

async fn certificates_are_found_by_the_gtin_of_their_batches(backend: Backend) {
    let store = TestStore::open(backend).await;
    let records = Records::new();
    let gtin = Gtin::parse("6901234567892").unwrap();
    let other = Gtin::parse("4006381333931").unwrap();
    let issued: Vec<_> = [("SM2026GTIN003", 33), ("SM2026GTIN001", 31), ("SM2026GTIN002", 32)]
        .into_iter()
        .map(|(n, u)| records.issued(n, "产品测试有限公司", "Products", u, "2026-01-05"))
        .collect();
    store.insert_new(&issued).await.unwrap();
    let ordered_on = NaiveDate::from_ymd_opt(2026, 2, 1).unwrap();
    let batch = |id, gtin: Option<Gtin>| MarkBatch {
        id,
        count: 10,
        ordered: ordered_on,
        revoked: vec![],
        gtin,
        product: gtin.map(|_| "电饭煲".to_string()),
    };
    // 003 and 001 have the product (001 in its second batch), 002 another one.
    for (certificate, batches) in [
        (&issued[0], vec![batch(1, Some(gtin))]),
        (&issued[1], vec![batch(1, None), batch(2, Some(gtin))]),
        (&issued[2], vec![batch(1, Some(other))]),
    ] {
        let mut ordered = certificate.signed.record.next_version();
        ordered.mark_batches = batches;
        store.append(&records.event(EventKind::MarksOrdered, ordered, at(1)), 1).await.unwrap();
    }
    assert_eq!(
        store.numbers_with_gtin(&gtin, 100).await.unwrap(),
        vec![number("SM2026GTIN001"), number("SM2026GTIN003")]
    );
    assert_eq!(store.numbers_with_gtin(&gtin, 1).await.unwrap(), vec![number("SM2026GTIN001")]);
    assert_eq!(store.numbers_with_gtin(&other, 100).await.unwrap(), vec![number("SM2026GTIN002")]);
    let nobody = Gtin::parse("96385074").unwrap();
    assert!(store.numbers_with_gtin(&nobody, 100).await.unwrap().is_empty());
}
