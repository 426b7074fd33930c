//! The JSON answer of a scan. The view derives `Serialize`, which is the reference for its text;
//! what a scan sends is written by hand ([`ScanView::to_json`]), the same text byte for byte
//! (tests hold the two equal for every kind of answer): serde_json escapes the answer's forty-odd
//! constant keys and strings on every scan and goes through its map machinery for each member
//! (the instruction counts are in BENCHMARKS.md). The verdict and its notes come worked out from
//! the registry; this only writes them, the notes in English.

use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Serialize, Serializer};

use super::fragments::{CertificateFragments, Fragment};
use crate::crypto::KeyId;
use crate::domain::Level;
use crate::http::json_text::{self, Object};
use crate::http::timestamps;
use crate::http::views::StatusView;
use crate::mark::layout::SerialLabel;
use crate::registry::{ScanNote, ScanOutcome, Verdict};

/// Headline of each verdict in Chinese and English.
pub fn headline(verdict: Verdict) -> (&'static str, &'static str) {
    match verdict {
        Verdict::Valid => ("正品标志 · 认证有效", "Genuine mark · certificate valid"),
        Verdict::Suspended => ("认证已暂停", "Certificate suspended"),
        Verdict::Revoked => ("认证已撤销", "Certificate revoked"),
        Verdict::Withdrawn => ("认证已注销", "Certificate withdrawn"),
        Verdict::Expired => ("认证已过期", "Certificate expired"),
        Verdict::MarkRevoked => ("此标志已作废", "This mark has been revoked"),
        Verdict::NotGenuine => ("非正品标志 · 可能为伪造", "NOT GENUINE · possible counterfeit"),
        Verdict::Unknown => ("查无此标志 · 请勿信任", "UNKNOWN mark · do not trust it"),
    }
}

#[derive(Serialize)]
pub struct Headline {
    zh: &'static str,
    en: &'static str,
}

#[derive(Serialize)]
pub struct MarkView<'a> {
    number: &'a str,
    uscc: &'a str,
    level: Level,
    #[serde(serialize_with = "timestamps::date")]
    valid_until: NaiveDate,
    batch: u32,
    serial: u32,
    /// As printed on the mark, e.g. `3-000123`; absent for the certificate-level mark.
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<SerialLabel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_id: Option<&'a KeyId>,
    /// The product of a GS1 Digital Link mark, as GTIN-14; absent for a `/v/` mark.
    #[serde(skip_serializing_if = "Option::is_none")]
    gtin: Option<&'a str>,
    /// The product's name as the mark's batch gives it, when the record is known.
    #[serde(skip_serializing_if = "Option::is_none")]
    product: Option<&'a str>,
}

/// What `networks` counts, said in the answer itself.
pub const NETWORKS_COUNTED: &str = "different client networks (IPv4 address or IPv6 /64, with the browser) that opened this mark's page with GET, each counted at most once a day; HEAD requests, bots, link previews and HTTP tools are not counted";

/// The scan figures of a serial: the distinct networks that checked it (what the copy warning
/// is about) and, for the record, every request.
#[derive(Serialize)]
pub struct ScansView {
    /// See [`NETWORKS_COUNTED`]; at most one more than the copy-warning threshold.
    networks: usize,
    /// `networks` reached the most counted: there may have been more.
    networks_at_least: bool,
    /// When the first of `networks` was counted; `null` while none was.
    #[serde(serialize_with = "optional_instant")]
    networks_since: Option<DateTime<Utc>>,
    networks_counted: &'static str,
    /// Every request for this serial's page, replays, HEAD requests and bots included: not a
    /// sign of copying.
    requests: u64,
    #[serde(serialize_with = "timestamps::instant")]
    first_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamps::instant")]
    last_at: DateTime<Utc>,
    /// Checked from more networks than a real package's mark would be (never for the
    /// certificate-level mark).
    suspicious: bool,
}

fn optional_instant<S: serde::Serializer>(at: &Option<DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => timestamps::instant(at, serializer),
        None => serializer.serialize_none(),
    }
}

#[derive(Serialize)]
pub struct RevocationView<'a> {
    reason: &'a str,
    date: NaiveDate,
}

/// A note as the JSON answer says it: one English sentence.
struct NoteText<'a>(&'a ScanNote);

impl fmt::Display for NoteText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            ScanNote::Level { printed, now } => {
                write!(f, "the mark shows the level {printed}, the certificate now holds {now}")
            }
            ScanNote::ValidUntil { printed, now } => {
                write!(f, "the mark was printed for validity until {printed}, the certificate now runs until {now}")
            }
        }
    }
}

impl Serialize for NoteText<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The answer's notes: a list of [`NoteText`].
pub struct Notes<'a>(&'a [ScanNote]);

impl Serialize for Notes<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(NoteText))
    }
}

#[derive(Serialize)]
pub struct ScanView<'a> {
    verdict: Verdict,
    headline: Headline,
    detail: &'a str,
    /// Why, as a stable slug for programs (`bad_signature`, `serial_not_issued`, `checked`...).
    reason: &'static str,
    mark: Option<MarkView<'a>>,
    mark_revocation: Option<RevocationView<'a>>,
    scans: Option<ScansView>,
    /// Made once per record version and day (see [`CertificateFragments`]).
    certificate: Option<std::sync::Arc<Fragment>>,
    notes: Notes<'a>,
    #[serde(serialize_with = "timestamps::instant")]
    checked_at: DateTime<Utc>,
}

impl<'a> ScanView<'a> {
    pub fn of(outcome: &'a ScanOutcome, fragments: &CertificateFragments) -> Result<Self, serde_json::Error> {
        let (zh, en) = headline(outcome.verdict);
        let today = crate::registry::clock::date_in_china(outcome.checked_at);
        let certificate = match &outcome.record {
            Some(record) => Some(fragments.of(record, today)?),
            None => None,
        };
        Ok(Self {
            verdict: outcome.verdict,
            reason: outcome.reason,
            headline: Headline { zh, en },
            detail: &outcome.detail,
            mark: outcome.claims.as_ref().map(|c| MarkView {
                number: c.number.as_str(),
                uscc: c.uscc.as_str(),
                level: c.level,
                valid_until: c.valid_until,
                batch: c.batch,
                serial: c.serial,
                label: (c.batch != 0).then_some(SerialLabel { batch: c.batch, serial: c.serial }),
                key_id: outcome.key_id.as_ref(),
                gtin: c.gtin.as_ref().map(|g| g.as_str()),
                product: outcome.product_name(),
            }),
            mark_revocation: outcome
                .mark_revocation
                .as_ref()
                .map(|(reason, date)| RevocationView { reason, date: *date }),
            scans: outcome.scans.map(|s| ScansView {
                networks: outcome.scanners.len(),
                networks_at_least: outcome.scanners.is_full(),
                networks_since: outcome.scanners.first_at(),
                networks_counted: NETWORKS_COUNTED,
                requests: s.count,
                first_at: s.first_at,
                last_at: s.last_at,
                suspicious: outcome.suspicious(),
            }),
            certificate,
            notes: Notes(&outcome.notes),
            checked_at: outcome.checked_at,
        })
    }
}

impl ScanView<'_> {
    /// The answer's JSON text: what `serde_json::to_vec(self)` gives, written directly.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        let mut out = Vec::with_capacity(JSON_CAPACITY);
        let mut answer = Object::open(&mut out);
        json_text::string(answer.key("verdict"), self.verdict.as_str())?;
        let mut headline = Object::open(answer.key("headline"));
        json_text::string(headline.key("zh"), self.headline.zh)?;
        json_text::string(headline.key("en"), self.headline.en)?;
        headline.close();
        json_text::string(answer.key("detail"), self.detail)?;
        json_text::string(answer.key("reason"), self.reason)?;
        match &self.mark {
            Some(mark) => mark.write(answer.key("mark"))?,
            None => json_text::null(answer.key("mark")),
        }
        match &self.mark_revocation {
            Some(revocation) => {
                let mut object = Object::open(answer.key("mark_revocation"));
                json_text::string(object.key("reason"), revocation.reason)?;
                timestamps::push_date(object.key("date"), &revocation.date)?;
                object.close();
            }
            None => json_text::null(answer.key("mark_revocation")),
        }
        match &self.scans {
            Some(scans) => {
                let mut object = Object::open(answer.key("scans"));
                json_text::number(object.key("networks"), scans.networks);
                json_text::boolean(object.key("networks_at_least"), scans.networks_at_least);
                match &scans.networks_since {
                    Some(since) => timestamps::push_instant(object.key("networks_since"), since)?,
                    None => json_text::null(object.key("networks_since")),
                }
                json_text::string(object.key("networks_counted"), scans.networks_counted)?;
                json_text::number(object.key("requests"), scans.requests);
                timestamps::push_instant(object.key("first_at"), &scans.first_at)?;
                timestamps::push_instant(object.key("last_at"), &scans.last_at)?;
                json_text::boolean(object.key("suspicious"), scans.suspicious);
                object.close();
            }
            None => json_text::null(answer.key("scans")),
        }
        match &self.certificate {
            Some(fragment) => answer.key("certificate").extend_from_slice(fragment.json().as_bytes()),
            None => json_text::null(answer.key("certificate")),
        }
        let notes = answer.key("notes");
        notes.push(b'[');
        for (i, note) in self.notes.0.iter().enumerate() {
            if i > 0 {
                notes.push(b',');
            }
            json_text::string(notes, &NoteText(note).to_string())?;
        }
        notes.push(b']');
        timestamps::push_instant(answer.key("checked_at"), &self.checked_at)?;
        answer.close();
        Ok(out)
    }
}

/// Room for a scan answer of a valid mark (about 1,250 bytes) without growing.
const JSON_CAPACITY: usize = 1600;

impl MarkView<'_> {
    fn write(&self, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
        let mut mark = Object::open(out);
        json_text::string(mark.key("number"), self.number)?;
        json_text::string(mark.key("uscc"), self.uscc)?;
        json_text::string(mark.key("level"), self.level.as_str())?;
        timestamps::push_date(mark.key("valid_until"), &self.valid_until)?;
        json_text::number(mark.key("batch"), self.batch);
        json_text::number(mark.key("serial"), self.serial);
        if let Some(label) = &self.label {
            // Digits and a dash: nothing to escape.
            let out = mark.key("label");
            out.push(b'"');
            label.push_text(out);
            out.push(b'"');
        }
        if let Some(key_id) = self.key_id {
            json_text::string(mark.key("key_id"), key_id.as_str())?;
        }
        if let Some(gtin) = self.gtin {
            json_text::string(mark.key("gtin"), gtin)?;
        }
        if let Some(product) = self.product {
            json_text::string(mark.key("product"), product)?;
        }
        mark.close();
        Ok(())
    }
}

/// The state a certificate is in today, for the page.
pub fn status_of(outcome: &ScanOutcome) -> Option<StatusView<'_>> {
    let today = crate::registry::clock::date_in_china(outcome.checked_at);
    outcome.record.as_ref().map(|record| StatusView::of_record(record, today))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::crypto::token::MarkClaims;
    use crate::domain::{CertificateRecord, State, Status};
    use crate::domain::{ScanTally, ScannerSet};
    use crate::http::scan::fragments::CertificateFragments;
    use crate::http::views::tests::{day, stored};

    /// A checked scan of `serial` of batch `batch`, with everything an answer can carry.
    fn checked(batch: u32, serial: u32) -> ScanOutcome {
        let record = stored(Status::valid(day(2026, 1, 1)), day(2026, 1, 1)).record;
        let claims = MarkClaims {
            number: record.number.clone(),
            uscc: record.holder.uscc.clone(),
            level: record.level,
            valid_until: record.valid_until,
            batch,
            serial,
            gtin: None,
        };
        let at = chrono::DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap();
        ScanOutcome {
            verdict: Verdict::Valid,
            detail: "genuine mark of a valid certificate".into(),
            reason: "checked",
            claims: Some(claims),
            key_id: KeyId::parse("ca93eaaa7de50aba"),
            record: Some(Arc::new(record)),
            mark_revocation: None,
            scans: Some(ScanTally { count: 1, first_at: at, last_at: at }),
            scanners: {
                let mut scanners = ScannerSet::default();
                scanners.insert(7, at.timestamp_micros());
                scanners
            },
            notes: Vec::new(),
            checked_at: at + chrono::Duration::nanoseconds(796),
        }
    }

    fn by_hand_and_by_serde(outcome: &ScanOutcome) -> (String, String) {
        let fragments = CertificateFragments::default();
        let view = ScanView::of(outcome, &fragments).unwrap();
        let ours = String::from_utf8(view.to_json().unwrap()).unwrap();
        (ours, serde_json::to_string(&view).unwrap())
    }

    /// Every verdict with each reason the registry gives it.
    const VERDICTS: [(Verdict, &str); 12] = [
        (Verdict::Valid, "checked"),
        (Verdict::Suspended, "checked"),
        (Verdict::Revoked, "checked"),
        (Verdict::Withdrawn, "checked"),
        (Verdict::Expired, "checked"),
        (Verdict::MarkRevoked, "checked"),
        (Verdict::NotGenuine, "malformed"),
        (Verdict::NotGenuine, "unknown_key"),
        (Verdict::NotGenuine, "bad_signature"),
        (Verdict::Unknown, "no_certificate"),
        (Verdict::Unknown, "other_holder"),
        (Verdict::Unknown, "serial_not_issued"),
    ];

    /// No record, and records in every state (an overdue suspension, an expiry by date, a
    /// reason that needs escaping, an English name or none).
    fn records() -> Vec<Option<Arc<CertificateRecord>>> {
        let base = stored(Status::valid(day(2025, 1, 1)), day(2025, 1, 1)).record;
        let with = |state, reason: Option<&str>, until| {
            let mut record = base.clone();
            record.version += 1;
            record.status = Status { state, since: day(2025, 6, 1), reason: reason.map(Into::into), until };
            Some(Arc::new(record))
        };
        let mut expired = base.clone();
        expired.valid_until = day(2025, 10, 1);
        let mut unnamed = base.clone();
        unnamed.holder.name_en = None;
        vec![
            None,
            Some(Arc::new(base.clone())),
            with(State::Suspended, Some("整改 \"audit\"\n"), Some(day(2026, 6, 1))),
            with(State::Suspended, Some("overdue"), Some(day(2025, 7, 1))),
            with(State::Revoked, Some("吊销\\"), None),
            with(State::Withdrawn, Some("at the holder's request"), None),
            Some(Arc::new(expired)),
            Some(Arc::new(unnamed)),
        ]
    }

    /// No notes, each kind, both.
    fn notes() -> Vec<Vec<ScanNote>> {
        let level = ScanNote::Level { printed: Level::ThreeStar, now: Level::FourStar };
        let validity = ScanNote::ValidUntil { printed: day(2027, 2, 28), now: day(2029, 3, 1) };
        vec![vec![], vec![level], vec![validity], vec![level, validity]]
    }

    /// No figures, none counted yet, one network, a full set (the copy warning).
    fn figures(at: DateTime<Utc>) -> Vec<(Option<ScanTally>, ScannerSet)> {
        let tally = ScanTally { count: 11, first_at: at - chrono::Duration::days(3), last_at: at };
        let mut one = ScannerSet::default();
        one.insert(7, at.timestamp_micros());
        let mut full = ScannerSet::default();
        for scanner in 0..40 {
            full.insert(scanner, at.timestamp_micros() - i64::from(scanner));
        }
        vec![
            (None, ScannerSet::default()),
            (Some(tally), ScannerSet::default()),
            (Some(tally), one),
            (Some(tally), full),
        ]
    }

    #[test]
    fn the_hand_written_answer_is_what_serde_writes_for_every_kind_of_scan() {
        let base = checked(3, 366_512);
        let at = base.checked_at;
        let claims = |batch, serial| base.claims.clone().map(|c| MarkClaims { batch, serial, ..c });
        let gs1 = base.claims.clone().map(|c| MarkClaims {
            batch: 2,
            serial: 77,
            gtin: Some(crate::domain::Gtin::parse("6901234567892").unwrap()),
            ..c
        });
        let all_claims = [None, claims(0, 0), claims(3, 12), claims(12, 1_234_567), gs1];
        let revocations = [None, Some(("stolen \"labels\"\n第二卷".to_string(), day(2026, 3, 1)))];
        let details = ["genuine mark of a valid certificate", "not a token: \u{1} \"quoted\" \\ 二\t"];
        let mut compared = 0;
        for (verdict, reason) in VERDICTS {
            for record in records() {
                for notes in notes() {
                    for (scans, scanners) in figures(at) {
                        for claims in &all_claims {
                            for key_id in [None, KeyId::parse("ca93eaaa7de50aba")] {
                                for (revocation, detail) in revocations.iter().zip(details) {
                                    let outcome = ScanOutcome {
                                        verdict,
                                        reason,
                                        detail: detail.into(),
                                        claims: claims.clone(),
                                        key_id,
                                        record: record.clone(),
                                        mark_revocation: revocation.clone(),
                                        scans,
                                        scanners,
                                        notes: notes.clone(),
                                        checked_at: at,
                                    };
                                    let (ours, serde) = by_hand_and_by_serde(&outcome);
                                    assert_eq!(ours, serde, "{outcome:?}");
                                    compared += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        assert_eq!(compared, 12 * 8 * 4 * 4 * 5 * 2 * 2);

        let (valid, _) = by_hand_and_by_serde(&base);
        assert!(valid.contains(r#""label":"3-366512","key_id":"ca93eaaa7de50aba"}"#), "{valid}");
        let (short, _) = by_hand_and_by_serde(&checked(3, 12));
        assert!(short.contains(r#""label":"3-000012""#), "{short}");
    }

    #[test]
    fn notes_read_as_the_english_sentences_the_answer_has_always_had() {
        let mut outcome = checked(3, 12);
        outcome.notes = notes().pop().unwrap_or_default();
        let (ours, _) = by_hand_and_by_serde(&outcome);
        let expected = r#""notes":["the mark shows the level three_star, the certificate now holds four_star","the mark was printed for validity until 2027-02-28, the certificate now runs until 2029-03-01"]"#;
        assert!(ours.contains(expected), "{ours}");
    }
}
