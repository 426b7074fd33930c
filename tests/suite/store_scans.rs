//! Scan tallies as each store keeps them (packed per chunk of 1,024 serials): every serial's
//! figures come back exactly, however many chunks one flush touches, and flushes add up.

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
);

async fn a_damaged_chunk_is_kept_aside_and_stops_no_flush(backend: Backend) {
    let store = TestStore::open(backend).await;
    let at = DateTime::parse_from_rfc3339("2026-11-28T08:00:00Z").unwrap().with_timezone(&Utc);
    let once = tally(1, at, at);
    // Serials 5 (chunk 0) and 1030 (chunk 1) of batch 1.
    store
        .add_scans(&ScanDeltas::from_tallies(&[
            (key("SM2026DAMAGE01", 1, 5), tally(3, at, at)),
            (key("SM2026DAMAGE01", 1, 1030), once),
        ]))
        .await
        .expect("first flush");

    // Chunk 0's blob is damaged: 25 bytes, not a whole entry.
    let mut db = store.raw_db().await;
    let damaged = "00".repeat(25);
    let sql = format!("UPDATE mark_scan_chunks SET tallies = {} WHERE chunk = 0", db.blob(&damaged));
    assert_eq!(db.execute(&sql).await, Ok(1));

    // Readers skip it rather than fail: its serials read as never scanned.
    assert_eq!(store.scan_tally(&key("SM2026DAMAGE01", 1, 5)).await.expect("read"), None);
    assert_eq!(
        store.scanned_serials(&CertificateNumber::parse("SM2026DAMAGE01").unwrap(), 1).await.expect("serials"),
        vec![1030]
    );
    let (total, top) =
        store.scan_summary(&CertificateNumber::parse("SM2026DAMAGE01").unwrap(), 10).await.expect("summary");
    assert_eq!((total, top.len()), (1, 1), "chunk 1 only");

    // The next flush into both chunks succeeds: chunk 0 starts again from its scans, chunk 1
    // adds up as always, and the damaged blob is kept as it was.
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
    let kept = db
        .integer(&format!(
            "SELECT count(*) FROM mark_scan_chunks_damaged WHERE number = 'SM2026DAMAGE01' AND batch = 1 \
             AND chunk = 0 AND tallies = {}",
            db.blob(&damaged)
        ))
        .await;
    assert_eq!(kept, 1, "the damaged blob, kept aside unchanged");
    // Later flushes merge into the fresh chunk as usual, and keep nothing more aside.
    store.add_scans(&ScanDeltas::from_tallies(&[(key("SM2026DAMAGE01", 1, 6), once)])).await.expect("third flush");
    assert_eq!(store.scan_tally(&key("SM2026DAMAGE01", 1, 6)).await.expect("read").map(|t| t.count), Some(2));
    assert_eq!(db.integer("SELECT count(*) FROM mark_scan_chunks_damaged").await, 1);
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
