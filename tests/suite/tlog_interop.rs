//! Our log checked by code we did not write: `signed_note` and `tlog_tiles` (Cloudflare's Rust
//! ports of Go's golang.org/x/mod/sumdb/note and sumdb/tlog, the reference implementation of
//! C2SP signed-note, tlog-checkpoint and tlog-tiles).
//!
//! The tile reader authenticates every tile it downloads against the signed root, recomputes
//! roots and proofs from our tiles alone, and checks the proofs our API serves.

use crate::common;

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use common::{issue_body, spawn_app, uscc, TestApp};
use serde_json::Value;
use signed_note::{Note, StandardVerifier, VerifierList};
use starmark::registry::parse_csv;
use tlog_tiles::{
    check_record, check_tree, prove_record, prove_tree, record_hash, tree_hash, Checkpoint, Hash, Tile, TileHashReader,
    TileReader,
};

/// Leaves enough for full level-0 tiles and a level-1 tile.
const IMPORTED: u32 = 600;

fn hashes(list: &Value) -> Vec<Hash> {
    list.as_array()
        .expect("array")
        .iter()
        .map(|h| Hash(BASE64.decode(h.as_str().unwrap()).unwrap().try_into().unwrap()))
        .collect()
}

/// Reads tiles from the running server, translating the Go library's `tile/8/L/N` paths to the
/// C2SP `tile/L/N` layout.
struct HttpTiles {
    app: Arc<TestApp>,
    handle: tokio::runtime::Handle,
}

impl TileReader for HttpTiles {
    fn height(&self) -> u8 {
        8
    }

    fn read_tiles(&self, tiles: &[Tile]) -> Result<Vec<Vec<u8>>, tlog_tiles::Error> {
        tiles
            .iter()
            .map(|tile| {
                let path = tile.path();
                let c2sp = path.strip_prefix("tile/8/").expect("height-8 tile path");
                let url = format!("/api/v1/log/tile/{c2sp}");
                self.handle.block_on(async {
                    let response = self.app.get(&url).await;
                    assert_eq!(response.status(), 200, "{url}");
                    Ok(response.bytes().await.expect("tile").to_vec())
                })
            })
            .collect()
    }

    fn save_tiles(&self, _tiles: &[Tile], _data: &[Vec<u8>]) {}
}

async fn note_text(app: &TestApp, path: &str) -> String {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    response.text().await.unwrap()
}

/// Verifies a checkpoint note with `signed_note` and parses it with `tlog_tiles`.
fn open(note: &str, vkey: &str) -> Checkpoint {
    let verifier = StandardVerifier::new(vkey).expect("our vkey parses as a signed-note verifier key");
    let note = Note::from_bytes(note.as_bytes()).expect("our checkpoint is a well-formed signed note");
    let (verified, _) = note.verify(&VerifierList::new(vec![Box::new(verifier)])).expect("signature verifies");
    assert_eq!(verified.len(), 1);
    Checkpoint::from_bytes(note.text()).expect("a well-formed C2SP checkpoint")
}

async fn populate(app: &TestApp) {
    let mut csv = String::from("holder_name,holder_name_en,uscc,address,scope,system,commodity,customer\n");
    for n in 0..IMPORTED {
        csv.push_str(&format!(
            "互操作测试{n}有限公司,Interop {n} Co.,{},福州市示例路{n}号,家电售后服务,38,33,24\n",
            uscc(n + 100)
        ));
    }
    let (rows, errors) = parse_csv(csv.as_bytes()).expect("csv");
    assert!(errors.is_empty());
    let report = app.registry.import("test", rows, &|_| {}).await.expect("import");
    assert_eq!(report.issued, u64::from(IMPORTED));
    app.issue(&issue_body("SM2026INTEROP1", "互操作一有限公司", 1)).await;
    app.issue(&issue_body("SM2026INTEROP2", "互操作二有限公司", 2)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn independent_code_verifies_checkpoints_tiles_and_proofs() {
    let app = Arc::new(spawn_app().await);
    populate(&app).await;
    let size = u64::from(IMPORTED) + 2;
    let vkey = note_text(&app, "/api/v1/log/vkey").await.trim().to_string();

    let latest = open(&note_text(&app, "/api/v1/log/checkpoint").await, &vkey);
    assert_eq!(latest.origin(), "starmark.test/starmark-log");
    assert_eq!(latest.size(), size);
    let older = open(&note_text(&app, &format!("/api/v1/log/checkpoint/{IMPORTED}")).await, &vkey);
    assert_eq!(older.size(), u64::from(IMPORTED));

    let reader = HttpTiles { app: app.clone(), handle: tokio::runtime::Handle::current() };
    let app2 = app.clone();
    let (latest_hash, older_hash) = (*latest.hash(), *older.hash());
    let checks = tokio::task::spawn_blocking(move || {
        let tiles = TileHashReader::new(size, latest_hash, &reader);
        // The root recomputed from our tiles (each authenticated against the signed root).
        assert_eq!(tree_hash(size, &tiles).expect("tiles"), latest_hash);
        assert_eq!(tree_hash(u64::from(IMPORTED), &tiles).expect("tiles"), older_hash);

        let entries: Vec<Vec<u8>> = [0u64, 1, 2]
            .iter()
            .flat_map(|n| {
                let path = if *n < 2 {
                    format!("/api/v1/log/tile/entries/{n:03}")
                } else {
                    format!("/api/v1/log/tile/entries/002.p/{}", size - 512)
                };
                let bundle = reader.handle.block_on(async { app2.get(&path).await.bytes().await.unwrap() });
                starmark::tlog::tiles::parse_entry_bundle(&bundle)
                    .unwrap()
                    .into_iter()
                    .map(<[u8]>::to_vec)
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(entries.len() as u64, size);

        for n in [0, 1, 255, 256, 511, 512, u64::from(IMPORTED) - 1, size - 1] {
            // A proof made by the other implementation from our tiles...
            let theirs = prove_record(size, n, &tiles).expect("prove from tiles");
            // ...equals the one our API serves, and the leaf is the hash of the entry.
            let ours: Value = reader.handle.block_on(async {
                app2.get(&format!("/api/v1/log/proof/inclusion?index={n}&size={size}")).await.json().await.unwrap()
            });
            assert_eq!(hashes(&ours["inclusion"]), theirs, "leaf {n}");
            let leaf = record_hash(&entries[n as usize]);
            check_record(&hashes(&ours["inclusion"]), size, latest_hash, n, leaf).expect("our inclusion proof checks");
        }

        let theirs = prove_tree(size, u64::from(IMPORTED), &tiles).expect("prove from tiles");
        let ours: Value = reader.handle.block_on(async {
            app2.get(&format!("/api/v1/log/proof/consistency?from={IMPORTED}&to={size}")).await.json().await.unwrap()
        });
        assert_eq!(hashes(&ours["consistency"]), theirs);
        check_tree(&theirs, size, latest_hash, u64::from(IMPORTED), older_hash).expect("our consistency proof checks");
    });
    checks.await.expect("independent checks");

    // The proof inside a certificate answer checks too.
    let answer: Value = app.get("/api/v1/certificates/SM2026INTEROP1").await.json().await.unwrap();
    let log = &answer["log"];
    let checkpoint = open(log["checkpoint"].as_str().unwrap(), &vkey);
    let index = log["index"].as_u64().unwrap();
    assert_eq!(index, u64::from(IMPORTED));
    let leaf = record_hash(log["leaf"].as_str().unwrap().as_bytes());
    check_record(&hashes(&log["inclusion"]), checkpoint.size(), *checkpoint.hash(), index, leaf)
        .expect("the answer's inclusion proof checks");
}

#[test]
fn rfc_6962_reference_roots_agree_with_the_other_implementation() {
    // The same reference vectors our unit tests use, through tlog_tiles' hashing.
    let leaves = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
    let mut tree = starmark::tlog::Tree::new();
    for leaf in leaves {
        let data = hex::decode(leaf).unwrap();
        assert_eq!(record_hash(&data).0, starmark::tlog::leaf_hash(&data));
        tree.push(starmark::tlog::leaf_hash(&data));
    }
    assert_eq!(hex::encode(tree.root(8).unwrap()), "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328");
}
