//! The change feed (issue 30 §4): `GET /api/v1/changes` lists every change in log order with the
//! log index as its cursor, so a consumer that read up to a checkpoint can prove it missed
//! nothing; `/changes.atom` gives people the latest changes, optionally of one holder. Events
//! edited behind the server's back are never served; a row's `uscc` column alone cannot put
//! another holder's changes in a holder's feed.

use crate::common;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use common::process::output_async;
use common::{assert_problem, issue_body, spawn_app_on, uscc, Backend, TestApp};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use starmark::tlog::tiles::parse_entry_bundle;
use starmark::tlog::{leaf_hash, verify_consistency, Hash, LogKey};

const FIRST: &str = "SM2026FEED0001";
const SECOND: &str = "SM2026FEED0002";
const OTHER: &str = "SM2026FEED0003";
/// The public address the test configuration gives the registry.
const PUBLIC_URL: &str = "http://starmark.test";
/// Holder numbers (for [`uscc`]): the first two certificates share one holder.
const HOLDER: u32 = 71;
const OTHER_HOLDER: u32 = 72;

/// Five events: three issued, the first suspended and reinstated.
async fn five_events(app: &TestApp) {
    app.issue(&issue_body(FIRST, "变更订阅一有限公司", HOLDER)).await;
    app.issue(&issue_body(SECOND, "变更订阅一有限公司", HOLDER)).await;
    app.issue(&issue_body(OTHER, "变更订阅二有限公司", OTHER_HOLDER)).await;
    let until = (starmark::registry::clock::today() + chrono::Days::new(30)).to_string();
    let (status, body) =
        app.status(FIRST, json!({"action": "suspend", "reason": "监督审核未通过", "until": until})).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app.status(FIRST, json!({"action": "reinstate"})).await;
    assert_eq!(status, 200, "{body}");
}

async fn json_of(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(response.headers()["content-type"], "application/json", "{path}");
    response.json().await.expect("json")
}

fn hash(b64: &Value) -> Hash {
    BASE64.decode(b64.as_str().expect("base64 string")).expect("base64").try_into().expect("32 bytes")
}

/// RFC 9162's Merkle tree hash of `leaves`, written here from the RFC so the test does not lean
/// on the server's tree.
fn tree_hash(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let split = n.next_power_of_two() / 2;
            let mut node = Sha256::new();
            node.update([1u8]);
            node.update(tree_hash(&leaves[..split]));
            node.update(tree_hash(&leaves[split..]));
            node.finalize().into()
        }
    }
}

/// Every change from `after` on, in pages of `limit`, with the last page's answer.
async fn read_all(app: &TestApp, mut after: Option<u64>, limit: u32) -> (Vec<Value>, Value) {
    let mut changes = Vec::new();
    for _ in 0..100 {
        let path = match after {
            Some(after) => format!("/api/v1/changes?after={after}&limit={limit}"),
            None => format!("/api/v1/changes?limit={limit}"),
        };
        let page = json_of(app, &path).await;
        let batch = page["changes"].as_array().expect("changes").clone();
        assert!(batch.len() <= limit as usize, "{page}");
        changes.extend(batch);
        after = page["next"].as_u64();
        if page["more"] == false {
            return (changes, page);
        }
    }
    panic!("the feed never ended");
}

on_each_backend!(
    a_consumer_follows_every_change_and_proves_it_missed_none,
    an_event_edited_behind_the_servers_back_is_never_served,
    a_holders_feed_lists_its_latest_changes_and_no_one_elses,
);

async fn a_consumer_follows_every_change_and_proves_it_missed_none(backend: Backend) {
    let app = spawn_app_on(backend).await;
    five_events(&app).await;
    let (changes, last) = read_all(&app, None, 2).await;

    // In log order, one per event, each index once.
    let seen: Vec<(u64, &str, u64, &str)> = changes
        .iter()
        .map(|c| {
            (
                c["index"].as_u64().unwrap(),
                c["number"].as_str().unwrap(),
                c["version"].as_u64().unwrap(),
                c["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (0, FIRST, 1, "issued"),
            (1, SECOND, 1, "issued"),
            (2, OTHER, 1, "issued"),
            (3, FIRST, 2, "suspended"),
            (4, FIRST, 3, "reinstated"),
        ]
    );
    assert_eq!(changes[3]["details"]["reason"], "监督审核未通过");
    assert_eq!(last["next"], 4);
    assert_eq!(last["tree_size"], 5);

    // Each change's record is signed by the published key, and its leaf is the log's: the leaf
    // from the entry tile names this record's digest and signature and hashes to `leaf_hash`.
    let tile = app.get("/api/v1/log/tile/entries/000.p/5").await.bytes().await.expect("tile");
    let leaves = parse_entry_bundle(&tile).expect("entry bundle");
    let mut hashes = Vec::new();
    for (change, leaf) in changes.iter().zip(&leaves) {
        app.verify_answer(change).await.unwrap_or_else(|e| panic!("{change}: {e}"));
        let leaf_json: Value = serde_json::from_slice(leaf).expect("leaf json");
        let canonical = starmark::crypto::canonical_value_bytes(&change["record"]).expect("canonical");
        assert_eq!(leaf_json["record_sha256"], hex::encode(Sha256::digest(&canonical)));
        assert_eq!(leaf_json["signature"], change["signature"]);
        assert_eq!(hash(&change["leaf_hash"]), leaf_hash(leaf));
        hashes.push(hash(&change["leaf_hash"]));
    }

    // The consumer holds every leaf up to the checkpoint: their tree hash is its signed root.
    let vkey = app.get("/api/v1/log/vkey").await.text().await.expect("vkey");
    let key = LogKey::parse_vkey(vkey.trim()).expect("vkey parses");
    let checkpoint = key.open(last["checkpoint"].as_str().expect("checkpoint note")).expect("signed checkpoint");
    assert_eq!(checkpoint.size, 5);
    assert_eq!(tree_hash(&hashes), checkpoint.root);

    // A later change is the next page's only one, and the new checkpoint extends the old.
    let (status, body) = app.status(SECOND, json!({"action": "withdraw", "reason": "持有人申请"})).await;
    assert_eq!(status, 200, "{body}");
    let (later, last) = read_all(&app, Some(4), 100).await;
    assert_eq!(later.len(), 1, "{later:?}");
    assert_eq!((later[0]["index"].as_u64(), later[0]["kind"].as_str()), (Some(5), Some("withdrawn")));
    let newer = key.open(last["checkpoint"].as_str().unwrap()).expect("signed");
    assert_eq!(newer.size, 6);
    let proof = json_of(&app, "/api/v1/log/proof/consistency?from=5&to=6").await;
    let steps: Vec<Hash> = proof["consistency"].as_array().unwrap().iter().map(hash).collect();
    verify_consistency(5, 6, &checkpoint.root, &newer.root, &steps).expect("the new log extends the old");

    // Past the end: an empty page that points back at the cursor.
    let beyond = json_of(&app, "/api/v1/changes?after=99").await;
    assert_eq!(beyond["changes"], json!([]));
    assert_eq!((beyond["next"].as_u64(), beyond["more"].as_bool()), (Some(99), Some(false)));
    let whole = json_of(&app, "/api/v1/changes").await;
    assert_eq!(whole["changes"].as_array().unwrap().len(), 6);

    // Malformed cursors and page lengths are problems naming the parameter.
    for query in ["after=abc", "after=-1", "limit=0", "limit=1001", "limit=many"] {
        let problem =
            assert_problem(app.get(&format!("/api/v1/changes?{query}")).await, 400, "invalid-parameter").await;
        let name = query.split('=').next().unwrap();
        assert!(problem["detail"].as_str().unwrap().contains(name), "{query}: {problem}");
    }
}

async fn an_event_edited_behind_the_servers_back_is_never_served(backend: Backend) {
    let app = spawn_app_on(backend).await;
    five_events(&app).await;
    assert_eq!(json_of(&app, "/api/v1/changes").await["changes"].as_array().unwrap().len(), 5);

    let mut db = app.raw_db().await;
    db.drop_trigger("events", "events_no_update").await;
    let edit =
        format!("UPDATE events SET details = '{{\"reason\":\"持有人申请\"}}' WHERE number = '{FIRST}' AND version = 2");
    assert_eq!(db.execute(&edit).await.expect("edit"), 1);

    for path in ["/api/v1/changes", "/api/v1/changes?after=2&limit=1", "/changes.atom"] {
        assert_problem(app.get(path).await, 503, "log-damaged").await;
    }
    // Pages before the edited event are still served whole.
    let before = json_of(&app, "/api/v1/changes?limit=3").await;
    assert_eq!(before["changes"].as_array().unwrap().len(), 3);
}

/// The Atom feed at `path` read by Python's own XML parser: the feed's title and each entry's
/// id, title, alternate link and updated time.
async fn parsed_atom(app: &TestApp, path: &str) -> Value {
    let response = app.get(path).await;
    assert_eq!(response.status(), 200, "{path}");
    assert_eq!(response.headers()["content-type"], "application/atom+xml; charset=utf-8");
    let text = response.text().await.expect("text");
    let script = r#"
import json, sys
import xml.etree.ElementTree as ET
ns = {"a": "http://www.w3.org/2005/Atom"}
feed = ET.fromstring(sys.argv[1].encode("utf-8"))
assert feed.tag == "{http://www.w3.org/2005/Atom}feed", feed.tag
for required in ("a:id", "a:title", "a:updated", "a:author/a:name"):
    assert feed.find(required, ns) is not None, required
entries = []
for entry in feed.findall("a:entry", ns):
    link = entry.find("a:link[@rel='alternate']", ns)
    entries.append({
        "id": entry.find("a:id", ns).text,
        "title": entry.find("a:title", ns).text,
        "updated": entry.find("a:updated", ns).text,
        "link": link.get("href"),
        "summary": entry.find("a:summary", ns).text,
    })
print(json.dumps({"title": feed.find("a:title", ns).text, "entries": entries}))
"#;
    let mut command = std::process::Command::new("python3");
    command.args(["-c", script, &text]);
    let out = output_async(command).await;
    assert!(out.status.success(), "python3 could not read the feed: {}\n{text}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("python's summary")
}

fn titles(feed: &Value) -> Vec<String> {
    feed["entries"].as_array().unwrap().iter().map(|e| e["title"].as_str().unwrap().to_string()).collect()
}

async fn a_holders_feed_lists_its_latest_changes_and_no_one_elses(backend: Backend) {
    let app = spawn_app_on(backend).await;
    five_events(&app).await;

    let all = parsed_atom(&app, "/changes.atom?lang=en").await;
    assert_eq!(
        titles(&all),
        [
            format!("{FIRST} · reinstated"),
            format!("{FIRST} · suspended"),
            format!("{OTHER} · issued"),
            format!("{SECOND} · issued"),
            format!("{FIRST} · issued"),
        ],
        "newest first"
    );
    let first = &all["entries"][0];
    assert_eq!(first["link"], format!("{PUBLIC_URL}/certificates/{FIRST}"));
    assert_eq!(first["id"], format!("{PUBLIC_URL}/api/v1/changes?after=3&limit=1"));
    assert!(first["updated"].as_str().unwrap().ends_with('Z'), "{first}");
    assert!(all["entries"][1]["summary"].as_str().unwrap().contains("监督审核未通过"), "{all}");

    let holder = parsed_atom(&app, &format!("/changes.atom?uscc={}&lang=en", uscc(HOLDER))).await;
    assert_eq!(holder["entries"].as_array().unwrap().len(), 4, "{holder}");
    assert!(!titles(&holder).iter().any(|t| t.starts_with(OTHER)), "{holder}");
    assert!(holder["title"].as_str().unwrap().contains(&uscc(HOLDER)), "{holder}");
    let chinese = parsed_atom(&app, &format!("/changes.atom?uscc={}", uscc(HOLDER))).await;
    assert_eq!(titles(&chinese)[0], format!("{FIRST} · 恢复"));

    // An insider who gives another holder's row this holder's credit code finds the row, but the
    // signed record says whose it is: the feed still leaves it out.
    let mut db = app.raw_db().await;
    db.drop_trigger("certificates", "certificates_update_needs_event").await;
    let edit = format!("UPDATE certificates SET uscc = '{}' WHERE number = '{OTHER}'", uscc(HOLDER));
    assert_eq!(db.execute(&edit).await.expect("edit"), 1);
    let holder = parsed_atom(&app, &format!("/changes.atom?uscc={}&lang=en", uscc(HOLDER))).await;
    assert_eq!(holder["entries"].as_array().unwrap().len(), 4, "{holder}");
    assert!(!titles(&holder).iter().any(|t| t.starts_with(OTHER)), "{holder}");

    assert_problem(app.get("/changes.atom?uscc=not-a-code").await, 400, "invalid-parameter").await;
}
