//! Scan tallies as each store keeps them (packed per chunk of 1,024 serials, a base and the
//! deltas flushes appended): every serial's figures come back exactly, however many chunks one
//! flush touches, flushes add up, and what a flush writes follows the scans it carries.

use crate::common;

use chrono::{DateTime, Duration, Utc};
use common::postgres::TestStore;
use common::Backend;
use starmark::domain::{CertificateNumber, ScanTally, SerialKey};
use starmark::store::ScanDeltas;

fn key(number: &str, batch: u32, serial: u32) -> SerialKey {
    SerialKey { number: number.into(), batch, serial }
}

fn tally(count: u64, first_at: DateTime<Utc>, last_at: DateTime<Utc>) -> ScanTally {
    ScanTally { count, first_at, last_at }
}

on_each_backend!(
    a_flush_over_many_chunks_keeps_every_serial_and_the_next_one_adds_to_it,
    the_summary_totals_every_serial_and_ranks_by_count_then_batch_and_serial,
    a_damaged_chunk_is_kept_aside_and_stops_no_flush,
    one_serials_history_reads_exactly_after_many_flushes_and_folds,
    the_bytes_a_flush_writes_follow_the_scans_it_carries_not_what_was_scanned_before,
);

async fn a_damaged_chunk_is_kept_aside_and_stops_no_flush(backend: Backend) {
    let store = TestStore::open(backend).await;
    let at = DateTime::parse_from_rfc3339("2026-11-28T08:00:00Z").unwrap().with_timezone(&Utc);
    let once = tally(1, at, at);
    let number = || CertificateNumber::parse("SM2026DAMAGE01").unwrap();
    // Serials 0 to 199 of chunk 0 (serial 5 three times) and 1030 of chunk 1 of batch 1: chunk
    // 0's delta is large enough to be folded into its base at once, chunk 1's stays a delta.
    let mut first: Vec<(SerialKey, ScanTally)> =
        (0..200).filter(|&s| s != 5).map(|serial| (key("SM2026DAMAGE01", 1, serial), once)).collect();
    first.push((key("SM2026DAMAGE01", 1, 5), tally(3, at, at)));
    first.push((key("SM2026DAMAGE01", 1, 1030), once));
    store.add_scans(&ScanDeltas::from_tallies(&first)).await.expect("first flush");

    // Chunk 0's base is damaged: 25 bytes, not a whole entry.
    let mut db = store.raw_db().await;
    let damaged = "00".repeat(25);
    let sql = format!("UPDATE mark_scan_chunks SET tallies = {} WHERE chunk = 0", db.blob(&damaged));
    assert_eq!(db.execute(&sql).await, Ok(1));

    // Readers skip it rather than fail: its serials read as never scanned.
    assert_eq!(store.scan_tally(&key("SM2026DAMAGE01", 1, 5)).await.expect("read"), None);
    assert_eq!(store.scanned_serials(&number(), 1).await.expect("serials"), vec![1030]);
    let (total, top) = store.scan_summary(&number(), 10).await.expect("summary");
    assert_eq!((total, top.len()), (1, 1), "chunk 1 only");

    // The next flush into both chunks succeeds: chunk 0 goes on from its new scans, chunk 1
    // adds up as always.
    store
        .add_scans(&ScanDeltas::from_tallies(&[
            (key("SM2026DAMAGE01", 1, 6), once),
            (key("SM2026DAMAGE01", 1, 1030), once),
        ]))
        .await
        .expect("a flush over a damaged chunk");
    assert_eq!(store.scan_tally(&key("SM2026DAMAGE01", 1, 6)).await.expect("read"), Some(once));
    assert_eq!(store.scan_tally(&key("SM2026DAMAGE01", 1, 5)).await.expect("read"), None);
    assert_eq!(store.scan_tally(&key("SM2026DAMAGE01", 1, 1030)).await.expect("read").map(|t| t.count), Some(2));
    assert_eq!(store.scanned_serials(&number(), 1).await.expect("serials"), vec![6, 1030]);

    // Once chunk 0 is folded again, the damaged base is kept aside as it was, and the chunk
    // holds what its deltas held.
    let more: Vec<(SerialKey, ScanTally)> = (300..500).map(|serial| (key("SM2026DAMAGE01", 1, serial), once)).collect();
    store.add_scans(&ScanDeltas::from_tallies(&more)).await.expect("a flush that folds chunk 0");
    let kept = db
        .integer(&format!(
            "SELECT count(*) FROM mark_scan_chunks_damaged WHERE number = 'SM2026DAMAGE01' AND batch = 1 \
             AND chunk = 0 AND tallies = {}",
            db.blob(&damaged)
        ))
        .await;
    assert_eq!(kept, 1, "the damaged blob, kept aside unchanged");
    assert_eq!(db.integer("SELECT count(*) FROM mark_scan_deltas WHERE chunk = 0").await, 0, "folded");
    assert_eq!(store.scan_tally(&key("SM2026DAMAGE01", 1, 6)).await.expect("read"), Some(once));
    assert_eq!(store.scan_tally(&key("SM2026DAMAGE01", 1, 400)).await.expect("read"), Some(once));
    // Later flushes add up as usual, and keep nothing more aside.
    store.add_scans(&ScanDeltas::from_tallies(&[(key("SM2026DAMAGE01", 1, 6), once)])).await.expect("third flush");
    assert_eq!(store.scan_tally(&key("SM2026DAMAGE01", 1, 6)).await.expect("read").map(|t| t.count), Some(2));
    assert_eq!(db.integer("SELECT count(*) FROM mark_scan_chunks_damaged").await, 1);
}

/// Bytes of one serial's tally in a stored blob (see `store/scan_chunks.rs`).
const ENTRY_BYTES: u64 = 26;

async fn the_bytes_a_flush_writes_follow_the_scans_it_carries_not_what_was_scanned_before(backend: Backend) {
    let store = TestStore::open(backend).await;
    let at = DateTime::parse_from_rfc3339("2026-12-01T08:00:00Z").unwrap().with_timezone(&Utc);
    let number = "SM2026REWRITE1";
    // A batch whose first 20 chunks were scanned end to end: 20,480 serials of history.
    let history: Vec<(SerialKey, ScanTally)> =
        (0..20_480).map(|serial| (key(number, 1, serial), tally(1, at, at))).collect();
    store.add_scans(&ScanDeltas::from_tallies(&history)).await.expect("the history");
    let mut expected: std::collections::HashMap<u32, u64> = (0..20_480).map(|serial| (serial, 1)).collect();

    // Flushes of 10 scans of serials scanned before, spread over the chunks: each writes its
    // own 10 tallies, where rewriting the chunks it touched would write 26 KB for each.
    let mut serial = 17u32;
    let mut next = || {
        serial = (serial * 7_919 + 13) % 20_480;
        serial
    };
    for flush in 0..100 {
        let when = at + Duration::seconds(flush);
        let scans: Vec<(SerialKey, ScanTally)> =
            (0..10).map(|_| (key(number, 1, next()), tally(1, when, when))).collect();
        let deltas = ScanDeltas::from_tallies(&scans);
        let written = store.add_scans(&deltas).await.expect("a flush");
        assert_eq!(written, ENTRY_BYTES * deltas.serial_count() as u64, "flush {flush}: its own tallies only");
        for (key, _) in &scans {
            *expected.get_mut(&key.serial).unwrap() += 1;
        }
    }

    // Heavier flushes fold chunks now and then: over many, the bytes written stay within three
    // times the deltas' (a fold writes at most what the deltas it folds hold again, twice).
    let mut written = 0u64;
    let mut carried = 0u64;
    for flush in 0..40 {
        let when = at + Duration::hours(1) + Duration::seconds(flush);
        let scans: Vec<(SerialKey, ScanTally)> =
            (0..1_000).map(|_| (key(number, 1, next()), tally(1, when, when))).collect();
        let deltas = ScanDeltas::from_tallies(&scans);
        carried += ENTRY_BYTES * deltas.serial_count() as u64;
        written += store.add_scans(&deltas).await.expect("a heavier flush");
        for (key, _) in &scans {
            *expected.get_mut(&key.serial).unwrap() += 1;
        }
    }
    assert!(written > carried, "some chunks were folded: {written} bytes for {carried} of deltas");
    assert!(written <= 3 * carried, "{written} bytes written for {carried} bytes of deltas");

    // And every serial's figure is exact, base and deltas merged.
    for probe in [0u32, 1, 1_023, 1_024, 9_999, 20_479] {
        let stored = store.scan_tally(&key(number, 1, probe)).await.unwrap().expect("scanned");
        assert_eq!(stored.count, expected[&probe], "serial {probe}");
    }
    let (total, _) = store.scan_summary(&CertificateNumber::parse(number).unwrap(), 3).await.unwrap();
    assert_eq!(total, expected.values().sum::<u64>());
    assert_eq!(store.scanned_serials(&CertificateNumber::parse(number).unwrap(), 1).await.unwrap().len(), 20_480);
}

async fn a_flush_over_many_chunks_keeps_every_serial_and_the_next_one_adds_to_it(backend: Backend) {
    let store = TestStore::open(backend).await;
    let at = DateTime::parse_from_rfc3339("2026-11-27T08:00:00.123456Z").unwrap().with_timezone(&Utc);
    // 1,500 serials 300 apart over two batches, in no particular order: about 440 chunks in
    // each batch, more than one read of stored chunks and many multi-row writes per flush.
    let serials: Vec<u32> = (0..1_500u32).map(|i| (i * 7_919) % 1_500 * 300).collect();
    let batch_of = |serial: u32| 1 + (serial / 300) % 2;
    let mut first: Vec<(SerialKey, ScanTally)> = Vec::new();
    for &serial in &serials {
        let count = u64::from(serial / 300 % 5) + 1;
        let when = at + Duration::microseconds(i64::from(serial));
        first.push((key("SM2026CHUNKS01", batch_of(serial), serial), tally(count, when, when + Duration::seconds(1))));
    }
    store.add_scans(&ScanDeltas::from_tallies(&first)).await.expect("first flush");
    for (key, expected) in &first {
        assert_eq!(store.scan_tally(key).await.unwrap().as_ref(), Some(expected), "{key:?}");
    }
    assert_eq!(store.scan_tally(&key("SM2026CHUNKS01", 1, 601)).await.unwrap(), None);
    assert_eq!(store.scan_tally(&key("SM2026CHUNKS01", 2, 600)).await.unwrap(), None, "600 is in batch 1");
    assert_eq!(store.scan_tally(&key("SM2026CHUNKS01", 3, 600)).await.unwrap(), None);
    assert_eq!(store.scan_tally(&key("SM2026OTHER001", 1, 600)).await.unwrap(), None);

    // The second flush: the same serials again (earlier first scan for some, later last scan
    // for all) and new neighbours in the same chunks.
    let later = at + Duration::hours(1);
    let earlier = at - Duration::hours(1);
    let mut second: Vec<(SerialKey, ScanTally)> = Vec::new();
    for (key, _) in &first {
        let from = if key.serial % 3 == 0 { earlier } else { later };
        second.push((key.clone(), tally(2, from, later)));
        second.push((SerialKey { serial: key.serial + 1, ..key.clone() }, tally(1, later, later)));
    }
    store.add_scans(&ScanDeltas::from_tallies(&second)).await.expect("second flush");
    for (key, before) in &first {
        let now = store.scan_tally(key).await.unwrap().expect("still there");
        let first_at = if key.serial % 3 == 0 { earlier } else { before.first_at };
        assert_eq!(now, tally(before.count + 2, first_at, later), "{key:?}");
        let neighbour = SerialKey { serial: key.serial + 1, ..key.clone() };
        assert_eq!(store.scan_tally(&neighbour).await.unwrap(), Some(tally(1, later, later)));
    }

    let mut expected: Vec<u32> = serials.iter().filter(|&&s| batch_of(s) == 1).flat_map(|&s| [s, s + 1]).collect();
    expected.sort_unstable();
    assert_eq!(store.scanned_serials(&CertificateNumber::parse("SM2026CHUNKS01").unwrap(), 1).await.unwrap(), expected);
}

async fn the_summary_totals_every_serial_and_ranks_by_count_then_batch_and_serial(backend: Backend) {
    let store = TestStore::open(backend).await;
    let at = Utc::now();
    let scans = [(2, 5, 4), (1, 2_048, 9), (1, 7, 4), (1, 3, 1), (2, 1_023, 9), (1, 1_024, 4), (3, 0, 2)];
    let deltas: Vec<(SerialKey, ScanTally)> = scans
        .iter()
        .map(|&(batch, serial, count)| (key("SM2026SUMMARY1", batch, serial), tally(count, at, at)))
        .collect();
    store.add_scans(&ScanDeltas::from_tallies(&deltas)).await.unwrap();
    store.add_scans(&ScanDeltas::from_tallies(&[(key("SM2026SUMMARY2", 1, 1), tally(100, at, at))])).await.unwrap();

    let (total, top) = store.scan_summary(&CertificateNumber::parse("SM2026SUMMARY1").unwrap(), 4).await.unwrap();
    assert_eq!(total, 33);
    let ranked: Vec<(u32, u32, u64)> = top.iter().map(|(k, t)| (k.batch, k.serial, t.count)).collect();
    assert_eq!(ranked, vec![(1, 2_048, 9), (2, 1_023, 9), (1, 7, 4), (1, 1_024, 4)]);
    let (total, top) = store.scan_summary(&CertificateNumber::parse("SM2026SUMMARY1").unwrap(), 100).await.unwrap();
    assert_eq!((total, top.len()), (33, 7));
    assert_eq!(
        store.scan_summary(&CertificateNumber::parse("SM2026NOSCANS1").unwrap(), 10).await.unwrap(),
        (0, vec![])
    );
    assert_eq!(
        store.scan_summary(&CertificateNumber::parse("SM2026SUMMARY1").unwrap(), 0).await.unwrap(),
        (33, vec![])
    );
}

/// What a scan of a serial that left the counter's memory reads: its tally (its chunk's base and
/// deltas) and its distinct scanners, one serial at a time, exact after every flush whatever
/// was folded, at the edges of the chunks, for the first and the last serial a batch can have.
async fn one_serials_history_reads_exactly_after_many_flushes_and_folds(backend: Backend) {
    let store = TestStore::open(backend).await;
    let at = DateTime::parse_from_rfc3339("2026-12-07T08:00:00Z").unwrap().with_timezone(&Utc);
    let number = "SM2026HISTORY1";
    let probes = [0u32, 1, 1_023, 1_024, 2_047, 2_048, 4_095, u32::MAX - 1_024, u32::MAX - 1_023, u32::MAX];
    let mut expected: std::collections::HashMap<u32, ScanTally> = std::collections::HashMap::new();
    let mut scanners: std::collections::HashMap<u32, starmark::domain::ScannerSet> = std::collections::HashMap::new();
    let mut serial = 11u32;
    let mut next = || {
        serial = (serial * 7_919 + 13) % 4_096;
        serial
    };
    for flush in 0..60i64 {
        let when = at + Duration::seconds(flush);
        // A few hundred scans over 4,096 serials (folding chunks as their deltas fill), and
        // every third flush the probes themselves, the last serials of the range among them.
        let mut scans: Vec<(SerialKey, ScanTally)> =
            (0..300).map(|_| (key(number, 1, next()), tally(1, when, when))).collect();
        if flush % 3 == 0 {
            scans.extend(probes.iter().map(|&probe| (key(number, 1, probe), tally(2, when, when))));
        }
        store.add_scans(&ScanDeltas::from_tallies(&scans)).await.expect("a flush");
        for (key, scan) in &scans {
            expected
                .entry(key.serial)
                .and_modify(|stored| {
                    stored.count += scan.count;
                    stored.last_at = scan.last_at;
                })
                .or_insert(*scan);
        }
        if flush % 10 == 0 {
            let sets: Vec<(SerialKey, starmark::domain::ScannerSet)> = probes
                .iter()
                .map(|&probe| {
                    let mut set = starmark::domain::ScannerSet::default();
                    set.insert(u32::try_from(flush).unwrap() + probe % 7, when.timestamp_micros());
                    scanners.entry(probe).or_default().merge(&set);
                    (key(number, 1, probe), set)
                })
                .collect();
            store.add_scanners(&sets).await.expect("scanners");
        }
        for probe in probes.iter().chain([5, 4_000].iter()) {
            let (stored, set) = store.scan_history(&key(number, 1, *probe)).await.expect("one serial's history");
            assert_eq!(stored, expected.get(probe).copied(), "flush {flush}, serial {probe}");
            assert_eq!(set.as_ref().map(|s| s.ids().to_vec()), scanners.get(probe).map(|s| s.ids().to_vec()));
        }
    }
    let mut db = store.raw_db().await;
    assert!(db.integer("SELECT count(*) FROM mark_scan_chunks").await >= 4, "chunks were folded");
    assert_eq!(store.scan_tally(&key(number, 1, 4_096)).await.unwrap(), None, "never scanned");
    assert_eq!(store.scan_tally(&key(number, 2, 0)).await.unwrap(), None, "another batch");
}
