//! The audit: re-derives everything the registry vouches for from the stored events alone and
//! names each place where the store disagrees with it.
//!
//! It checks every record signature, that versions of each certificate follow 1, 2, 3 ... with
//! no gap, that each event's leaf is where the log says and hashes the same, that every signed
//! checkpoint is signed by a trusted key and has the root recomputed from the events, and that
//! the current-state table is exactly the latest event of each certificate. It reads only, so it
//! can run beside a live server; it never signs anything.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use crate::crypto::{canonical_value_bytes, Signature, Verifier};
use crate::domain::CertificateRecord;
use sha2::{Digest, Sha256};

use crate::domain::EventKind;
use crate::store::{RawEvent, Store, StoreError};
use crate::tlog::{leaf_hash, Checkpoint, Hash, LogKey, Tree};

/// Rows read per page.
const PAGE: u32 = 10_000;

/// One thing that is wrong, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What it is about: a certificate version and its event, a leaf, a checkpoint.
    pub subject: String,
    pub problem: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.subject, self.problem)
    }
}

/// What the audit saw and found.
#[derive(Debug, Default)]
pub struct AuditReport {
    pub events: u64,
    pub leaves: u64,
    pub certificates: u64,
    pub checkpoints: u64,
    /// Root of the tree rebuilt from the events, at `leaves`.
    pub root: Option<Hash>,
    pub findings: Vec<Finding>,
    /// Worth knowing, not wrong (e.g. leaves newer than the latest checkpoint).
    pub notes: Vec<String>,
}

impl AuditReport {
    fn find(&mut self, subject: impl Into<String>, problem: impl Into<String>) {
        self.findings.push(Finding { subject: subject.into(), problem: problem.into() });
    }

    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }
}

/// The latest event of one certificate.
struct Latest {
    version: u32,
    seq: i64,
    /// SHA-256 of the record and of the signature text: enough to compare, small to keep.
    record: Hash,
    signature: Hash,
}

/// What one event says on its own: its problems, the leaf it must have, digests to compare.
struct EventCheck {
    problems: Vec<String>,
    leaf: Option<Hash>,
    record: Hash,
    signature: Hash,
}

fn sha256(text: &str) -> Hash {
    Sha256::digest(text.as_bytes()).into()
}

fn check_event(event: &RawEvent, verifier: &Verifier) -> EventCheck {
    let mut problems = check_record(&event.number, event.version, &event.record, &event.signature, verifier);
    if EventKind::parse(&event.kind).is_none() {
        problems.push(format!("unknown event kind '{}'", event.kind));
    }
    let leaf = match event.leaf_data() {
        Ok(data) => Some(leaf_hash(&data)),
        Err(problem) => {
            problems.push(problem);
            None
        }
    };
    EventCheck { problems, leaf, record: sha256(&event.record), signature: sha256(&event.signature) }
}

/// Checks a page of events on every core (signature verification dominates the audit).
fn check_events(events: &[RawEvent], verifier: &Verifier) -> Vec<EventCheck> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || events.len() < 64 {
        return events.iter().map(|e| check_event(e, verifier)).collect();
    }
    let chunk = events.len().div_ceil(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = events
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(|e| check_event(e, verifier)).collect::<Vec<_>>()))
            .collect();
        // A panicking check is a bug; surface it rather than audit less than everything.
        handles.into_iter().flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e))).collect()
    })
}

/// Audits `store` against the record keys in `verifier` and the checkpoint keys `log_keys`
/// (one per trusted public key, named by the log origin).
pub async fn audit(store: &dyn Store, verifier: &Verifier, log_keys: &[LogKey]) -> Result<AuditReport, StoreError> {
    let mut report = AuditReport::default();
    let mut derived: HashMap<(String, u32), (Hash, i64)> = HashMap::new();
    let mut latest: HashMap<String, Latest> = HashMap::new();

    // 1. Events: signatures, version sequence, the leaf each must have.
    let mut after = 0;
    loop {
        let page = store.raw_events(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        let checks = check_events(&page, verifier);
        for (event, check) in page.into_iter().zip(checks) {
            report.events += 1;
            let subject = format!("certificate {} version {} (event {})", event.number, event.version, event.seq);
            for problem in check.problems {
                report.find(&subject, problem);
            }
            let previous = latest.get(&event.number).map_or(0, |l| l.version);
            if event.version > previous + 1 {
                let missing = if event.version == previous + 2 {
                    format!("version {} is missing (a deleted event?)", previous + 1)
                } else {
                    format!("versions {} to {} are missing (deleted events?)", previous + 1, event.version - 1)
                };
                report.find(&subject, missing);
            } else if event.version <= previous {
                report.find(&subject, format!("comes after version {previous}: versions must only grow"));
            }
            if let Some(leaf) = check.leaf {
                derived.insert((event.number.clone(), event.version), (leaf, event.seq));
            }
            latest.insert(
                event.number,
                Latest { version: event.version, seq: event.seq, record: check.record, signature: check.signature },
            );
        }
    }

    // 2. Leaves: in order, no gaps, each the hash of its event; the tree is rebuilt from the events.
    let mut tree = Tree::new();
    'pages: loop {
        let page = store.log_leaves(tree.size(), PAGE).await?;
        if page.is_empty() {
            break;
        }
        for leaf in page {
            if leaf.idx != tree.size() {
                report.find(
                    format!("leaf {}", tree.size()),
                    format!("is missing (the next stored leaf is {}); the log cannot be rebuilt past it", leaf.idx),
                );
                break 'pages;
            }
            report.leaves += 1;
            let subject = format!("leaf {} (certificate {} version {})", leaf.idx, leaf.number, leaf.version);
            match derived.remove(&(leaf.number.clone(), leaf.version)) {
                None => {
                    report.find(&subject, "its event is missing from the store (deleted?)");
                    tree.push(leaf.hash);
                }
                Some((hash, seq)) => {
                    if hash != leaf.hash {
                        report.find(
                            &subject,
                            format!(
                                "does not match event {seq}: the event or the leaf was altered after it was logged"
                            ),
                        );
                    }
                    tree.push(hash);
                }
            }
        }
    }
    let unlogged: BTreeMap<i64, (String, u32)> = derived.into_iter().map(|(key, (_, seq))| (seq, key)).collect();
    for (seq, (number, version)) in unlogged {
        report.find(format!("certificate {number} version {version} (event {seq})"), "is not in the transparency log");
    }
    report.root = tree.root(tree.size()).ok();

    // 3. Checkpoints: signed by a trusted key, with the root the events give.
    let checkpoints = store.checkpoints().await?;
    for stored in &checkpoints {
        report.checkpoints += 1;
        let subject = format!("checkpoint at size {}", stored.size);
        match open_checkpoint(&stored.note, log_keys) {
            Err(problem) => report.find(&subject, problem),
            Ok(checkpoint) => {
                if checkpoint.size != stored.size || checkpoint.root != stored.root {
                    report.find(&subject, "the signed note and the stored size/root differ");
                }
                match tree.root(checkpoint.size) {
                    Err(_) => report.find(
                        &subject,
                        format!("is signed for {} leaves but the log has only {}", checkpoint.size, tree.size()),
                    ),
                    Ok(root) if root != checkpoint.root => report.find(
                        &subject,
                        "its signed root differs from the root recomputed from the stored events: \
                         the log was rewritten after it was signed",
                    ),
                    Ok(_) => {}
                }
            }
        }
    }
    match checkpoints.last() {
        None if tree.size() > 0 => report.find("log", "no checkpoint was ever signed"),
        Some(last) if last.size < tree.size() => report.notes.push(format!(
            "{} leaves are newer than the latest checkpoint (size {}); the server signs them on its next write or start",
            tree.size() - last.size,
            last.size
        )),
        _ => {}
    }

    // 4. Current state: exactly the latest event of each certificate.
    let mut after = String::new();
    loop {
        let page = store.raw_certificates(&after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.columns.number.clone();
        for row in page {
            report.certificates += 1;
            let subject = format!("certificate {} (current state)", row.columns.number);
            let Some(event) = latest.remove(&row.columns.number) else {
                report.find(&subject, "has no events at all");
                continue;
            };
            if row.columns.version != event.version {
                report.find(
                    &subject,
                    format!(
                        "is version {} but the latest event (event {}) is version {}",
                        row.columns.version, event.seq, event.version
                    ),
                );
            } else if sha256(&row.record) != event.record {
                report.find(&subject, format!("record differs from the one in event {}", event.seq));
            }
            if sha256(&row.signature) != event.signature {
                report.find(&subject, format!("signature differs from the one in event {}", event.seq));
            }
            let Ok(record) = serde_json::from_str::<CertificateRecord>(&row.record) else {
                report.find(&subject, "record does not parse");
                continue;
            };
            let columns = [
                ("holder_name", Some(row.columns.holder_name.as_str()), Some(record.holder.name.as_str())),
                ("holder_name_en", row.columns.holder_name_en.as_deref(), record.holder.name_en.as_deref()),
                ("uscc", Some(row.columns.uscc.as_str()), Some(record.holder.uscc.as_str())),
                ("level", Some(row.columns.level.as_str()), Some(record.level.as_str())),
                ("state", Some(row.columns.state.as_str()), Some(record.status.state.as_str())),
            ];
            for (column, stored, signed) in columns {
                if stored != signed {
                    report.find(
                        &subject,
                        format!("column {column} says {stored:?} but the signed record says {signed:?}"),
                    );
                }
            }
            if row.columns.valid_until != record.valid_until.to_string() {
                report.find(
                    &subject,
                    format!(
                        "column valid_until says {} but the signed record says {}",
                        row.columns.valid_until, record.valid_until
                    ),
                );
            }
        }
    }
    let mut orphans: Vec<_> = latest.into_iter().collect();
    orphans.sort_by_key(|(_, event)| event.seq);
    for (number, event) in orphans {
        report.find(
            format!("certificate {number}"),
            format!("has events (up to event {}) but no current state", event.seq),
        );
    }
    Ok(report)
}

/// Checks one stored record version: it parses, names itself correctly, is in canonical form,
/// and its signature verifies.
fn check_record(number: &str, version: u32, record: &str, signature: &str, verifier: &Verifier) -> Vec<String> {
    let mut problems = Vec::new();
    match serde_json::from_str::<serde_json::Value>(record) {
        Err(e) => problems.push(format!("record is not JSON: {e}")),
        Ok(value) => {
            if canonical_value_bytes(&value).ok().as_deref() != Some(record.as_bytes()) {
                problems.push("record is not in canonical form".to_string());
            }
            match serde_json::from_value::<CertificateRecord>(value) {
                Err(e) => problems.push(format!("record does not parse: {e}")),
                Ok(parsed) if parsed.number.as_str() != number || parsed.version != version => {
                    problems.push(format!("record says certificate {} version {}", parsed.number, parsed.version))
                }
                Ok(_) => {}
            }
        }
    }
    match serde_json::from_str::<Signature>(signature) {
        Err(e) => problems.push(format!("signature does not parse: {e}")),
        Ok(signature) => {
            if let Err(e) = verifier.verify(record.as_bytes(), &signature) {
                problems.push(format!("record signature does not verify: {e}"));
            }
        }
    }
    problems
}

/// Opens a checkpoint note with whichever trusted key signed it.
fn open_checkpoint(note: &str, keys: &[LogKey]) -> Result<Checkpoint, String> {
    let origin = note.split('\n').next().unwrap_or_default();
    if !keys.iter().any(|key| key.name() == origin) {
        let names: Vec<&str> = keys.iter().map(LogKey::name).collect();
        return Err(format!("origin '{origin}' is not this log's ({})", names.join(", ")));
    }
    let mut last_error = String::from("no trusted key");
    for key in keys {
        match key.open(note) {
            Ok(checkpoint) => return Ok(checkpoint),
            Err(e) => last_error = e.to_string(),
        }
    }
    Err(format!("signature does not verify with any trusted key: {last_error}"))
}
