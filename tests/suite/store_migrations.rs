//! Schema changes keep what older versions stored: a database written before a migration opens
//! with every value intact, and a value a migration cannot convert stops it with nothing lost.

use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use starmark::domain::{CertificateNumber, ScanTally, SerialKey};
use starmark::store::{ScanDeltas, SqliteStore, Store};

/// Scan times became integer microseconds in this migration.
const SCAN_MICROS: u32 = 7;
/// Scan tallies moved from a row per serial to a blob per chunk of 1,024 serials here.
const SCAN_CHUNKS: u32 = 8;

/// A database at the schema just before `version`, as an older release left it: the project's
/// migrations older than `version`, run from a copy.
async fn database_before(version: u32) -> (tempfile::TempDir, std::path::PathBuf, SqliteConnection) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let older = dir.path().join("migrations");
    std::fs::create_dir(&older).unwrap();
    let mut found = false;
    for entry in std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite")).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().into_string().unwrap();
        let number: u32 = name.split('_').next().unwrap().parse().unwrap();
        found |= number == version;
        if number < version {
            std::fs::copy(entry.path(), older.join(&name)).unwrap();
        }
    }
    assert!(found, "migration {version} exists");
    let path = dir.path().join("starmark.db");
    let options = SqliteConnectOptions::new().filename(&path).create_if_missing(true);
    let mut db = SqliteConnection::connect_with(&options).await.expect("create database");
    Migrator::new(older.as_path()).await.unwrap().run(&mut db).await.expect("older migrations");
    (dir, path, db)
}

async fn insert_text_tally(db: &mut SqliteConnection, serial: u32, count: i64, first: &str, last: &str) {
    sqlx::query("INSERT INTO mark_scans (number, batch, serial, count, first_at, last_at) VALUES (?, 1, ?, ?, ?, ?)")
        .bind("SM2026MIGRATE01")
        .bind(serial)
        .bind(count)
        .bind(first)
        .bind(last)
        .execute(db)
        .await
        .expect("old-style row");
}

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
}

fn key(serial: u32) -> SerialKey {
    SerialKey { number: "SM2026MIGRATE01".into(), batch: 1, serial }
}

#[tokio::test]
async fn scan_tallies_stored_as_text_keep_every_microsecond() {
    let (_dir, path, mut db) = database_before(SCAN_MICROS).await;
    insert_text_tally(&mut db, 7, 3, "2026-11-27T05:24:08.591169Z", "2026-11-28T23:59:59.000001Z").await;
    insert_text_tally(&mut db, 8, 12, "1999-12-31T23:59:59.999999Z", "2030-01-01T00:00:00.000000Z").await;
    db.close().await.unwrap();

    let store = SqliteStore::open(path.to_str().unwrap()).await.expect("migrates");
    assert_eq!(
        store.scan_tally(&key(7)).await.unwrap(),
        Some(ScanTally {
            count: 3,
            first_at: at("2026-11-27T05:24:08.591169Z"),
            last_at: at("2026-11-28T23:59:59.000001Z")
        })
    );
    let (total, top) = store.scan_summary(&CertificateNumber::parse("SM2026MIGRATE01").unwrap(), 10).await.unwrap();
    assert_eq!(total, 15);
    assert_eq!(top[0].0, key(8));
    assert_eq!(top[0].1.first_at, at("1999-12-31T23:59:59.999999Z"));
    assert_eq!(top[0].1.last_at, at("2030-01-01T00:00:00.000000Z"));
    assert_eq!(
        store.scanned_serials(&CertificateNumber::parse("SM2026MIGRATE01").unwrap(), 1).await.unwrap(),
        vec![7, 8]
    );

    // New scans merge with the migrated tallies: earliest first, latest last.
    let later = ScanTally { count: 2, first_at: at("2026-11-29T00:00:00Z"), last_at: at("2026-11-29T00:00:01Z") };
    store.add_scans(&ScanDeltas::from_tallies(&[(key(7), later)])).await.unwrap();
    let merged = store.scan_tally(&key(7)).await.unwrap().unwrap();
    assert_eq!((merged.count, merged.first_at, merged.last_at), (5, at("2026-11-27T05:24:08.591169Z"), later.last_at));
}

#[tokio::test]
async fn a_scan_time_that_does_not_convert_stops_the_migration_and_loses_nothing() {
    let (_dir, path, mut db) = database_before(SCAN_MICROS).await;
    insert_text_tally(&mut db, 1, 4, "2026-11-27T05:24:08.591169Z", "2026-11-27T05:24:08.591169Z").await;
    insert_text_tally(&mut db, 2, 1, "27/11/2026 05:24", "2026-11-27T05:24:08.591169Z").await;
    db.close().await.unwrap();

    let opened = SqliteStore::open(path.to_str().unwrap()).await;
    assert!(opened.is_err(), "a time in another shape must not be converted to something else");

    let mut db = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&path)).await.unwrap();
    let rows: Vec<(u32, String)> = sqlx::query_as("SELECT serial, first_at FROM mark_scans ORDER BY serial")
        .fetch_all(&mut db)
        .await
        .expect("the old table is still there");
    assert_eq!(rows, vec![(1, "2026-11-27T05:24:08.591169Z".into()), (2, "27/11/2026 05:24".into())]);
}

fn micros_at(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap()
}

#[tokio::test]
async fn scan_tallies_kept_a_row_per_serial_come_back_exactly_from_their_chunks() {
    let (_dir, path, mut db) = database_before(SCAN_CHUNKS).await;
    // Both sides of chunk boundaries, two batches, two certificates, the highest serial, the
    // largest count and a time before 1970 (a negative number of microseconds).
    let rows: [(&str, u32, u32, i64, i64, i64); 8] = [
        ("SM2026MIGRATE01", 1, 0, 1, 1_795_794_381_213_912, 1_795_794_381_213_912),
        ("SM2026MIGRATE01", 1, 1_023, 5, -1, 1_795_794_381_213_913),
        ("SM2026MIGRATE01", 1, 1_024, 2, 1_795_794_300_000_000, 1_795_794_400_000_000),
        ("SM2026MIGRATE01", 1, 1_000_000, 7, 1_700_000_000_000_001, 1_800_000_000_000_001),
        ("SM2026MIGRATE01", 2, 1_023, 5, 1_000, 2_000),
        ("SM2026MIGRATE01", 2, u32::MAX, i64::MAX, 3_000, 4_000),
        ("SM2026MIGRATE02", 1, 1_023, 9, 5_000, 6_000),
        ("SM2026MIGRATE02", 1, 2_047, 1, 7_000, 8_000),
    ];
    // Inserted in no particular order: the chunks come out in serial order all the same.
    for (number, batch, serial, count, first_us, last_us) in rows.iter().rev() {
        sqlx::query(
            "INSERT INTO mark_scans (number, batch, serial, count, first_us, last_us) VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(number)
        .bind(batch)
        .bind(serial)
        .bind(count)
        .bind(first_us)
        .bind(last_us)
        .execute(&mut db)
        .await
        .expect("row per serial");
    }
    db.close().await.unwrap();

    let store = SqliteStore::open(path.to_str().unwrap()).await.expect("migrates");
    for (number, batch, serial, count, first_us, last_us) in rows {
        let key = SerialKey { number: number.into(), batch, serial };
        let expected = ScanTally {
            count: u64::try_from(count).unwrap(),
            first_at: micros_at(first_us),
            last_at: micros_at(last_us),
        };
        assert_eq!(store.scan_tally(&key).await.unwrap(), Some(expected), "{key:?}");
    }
    assert_eq!(
        store.scanned_serials(&CertificateNumber::parse("SM2026MIGRATE01").unwrap(), 1).await.unwrap(),
        vec![0, 1_023, 1_024, 1_000_000]
    );
    assert_eq!(
        store.scanned_serials(&CertificateNumber::parse("SM2026MIGRATE01").unwrap(), 2).await.unwrap(),
        vec![1_023, u32::MAX]
    );
    let (total, top) = store.scan_summary(&CertificateNumber::parse("SM2026MIGRATE02").unwrap(), 10).await.unwrap();
    assert_eq!(total, 10);
    assert_eq!(top.iter().map(|(key, _)| key.serial).collect::<Vec<_>>(), vec![1_023, 2_047]);

    let mut db = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&path)).await.unwrap();
    let old: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'mark_scans'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(old, 0, "the per-serial table is gone once its rows are in chunks");
    let chunks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM mark_scan_chunks").fetch_one(&mut db).await.unwrap();
    assert_eq!(chunks, 7, "serials 1,023 and 1,024 are in different chunks, 0 and 1,023 in one");
}

/// Scan tallies moved from whole-chunk rewrites to appended deltas here.
const SCAN_DELTAS: u32 = 12;

/// One serial's entry in a chunk's blob, as `store/scan_chunks.rs` writes it.
fn chunk_entry(offset: u16, count: u64, first_us: i64, last_us: i64) -> Vec<u8> {
    let mut entry = offset.to_be_bytes().to_vec();
    entry.extend_from_slice(&count.to_be_bytes());
    entry.extend_from_slice(&first_us.to_be_bytes());
    entry.extend_from_slice(&last_us.to_be_bytes());
    entry
}

#[tokio::test]
async fn chunks_stored_before_the_deltas_are_the_bases_new_scans_add_to() {
    let (_dir, path, mut db) = database_before(SCAN_DELTAS).await;
    let number = "SM2026MIGRATE03";
    let chunks: [(i64, Vec<u8>); 2] = [
        (0, [chunk_entry(3, 4, 1_000, 9_000), chunk_entry(700, 1, 2_000, 2_000)].concat()),
        (977, chunk_entry(576, 7, -5, 3_000)),
    ];
    for (chunk, blob) in &chunks {
        sqlx::query("INSERT INTO mark_scan_chunks (number, batch, chunk, tallies) VALUES (?, 1, ?, ?)")
            .bind(number)
            .bind(chunk)
            .bind(blob)
            .execute(&mut db)
            .await
            .expect("a chunk as the last release stored it");
    }
    db.close().await.unwrap();

    let store = SqliteStore::open(path.to_str().unwrap()).await.expect("migrates");
    let key = |serial| SerialKey { number: number.into(), batch: 1, serial };
    let tally = |count, first, last| ScanTally { count, first_at: micros_at(first), last_at: micros_at(last) };
    assert_eq!(store.scan_tally(&key(3)).await.unwrap(), Some(tally(4, 1_000, 9_000)));
    assert_eq!(store.scan_tally(&key(1_001_024)).await.unwrap(), Some(tally(7, -5, 3_000)));
    let certificate = CertificateNumber::parse(number).unwrap();
    assert_eq!(store.scanned_serials(&certificate, 1).await.unwrap(), vec![3, 700, 1_001_024]);

    // New scans are appended beside the old chunk, and read merged with it.
    let written = store
        .add_scans(&ScanDeltas::from_tallies(&[(key(3), tally(1, 500, 10_000)), (key(4), tally(2, 600, 700))]))
        .await
        .unwrap();
    assert_eq!(written, 52, "two tallies appended, the old chunk left as it was");
    assert_eq!(store.scan_tally(&key(3)).await.unwrap(), Some(tally(5, 500, 10_000)));
    assert_eq!(store.scanned_serials(&certificate, 1).await.unwrap(), vec![3, 4, 700, 1_001_024]);
    let (total, top) = store.scan_summary(&certificate, 1).await.unwrap();
    assert_eq!((total, top[0].0.serial, top[0].1.count), (15, 1_001_024, 7));

    // Once enough is appended the old chunk is folded with its deltas, and nothing is lost.
    let many: Vec<(SerialKey, ScanTally)> = (100..300).map(|serial| (key(serial), tally(1, 800, 800))).collect();
    store.add_scans(&ScanDeltas::from_tallies(&many)).await.unwrap();
    let mut db = SqliteConnection::connect_with(&SqliteConnectOptions::new().filename(&path)).await.unwrap();
    let deltas: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM mark_scan_deltas WHERE chunk = 0").fetch_one(&mut db).await.unwrap();
    assert_eq!(deltas, 0, "chunk 0 folded");
    assert_eq!(store.scan_tally(&key(3)).await.unwrap(), Some(tally(5, 500, 10_000)));
    assert_eq!(store.scan_tally(&key(700)).await.unwrap(), Some(tally(1, 2_000, 2_000)));
    assert_eq!(store.scan_tally(&key(250)).await.unwrap(), Some(tally(1, 800, 800)));
    assert_eq!(store.scan_summary(&certificate, 1).await.unwrap().0, 215);
}
