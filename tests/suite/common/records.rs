//! Signed records and their events for store-level tests, made the way the registry makes
//! them (canonical bytes, a real signature) without going through the registry.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde_json::json;
use starmark::crypto::{canonical_bytes, keys, Signer};
use starmark::domain::EventKind;
use starmark::domain::{ApprovalNumber, CertificateNumber, CertificateRecord, Issuer, State, Status};
use starmark::registry::parse_csv;
use starmark::store::{NewEvent, SignedRecord};

/// Signs records the way the registry does, with a key of its own.
pub struct Records {
    signer: Signer,
    _keys: tempfile::TempDir,
}

impl Records {
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        let keys = tempfile::tempdir().unwrap();
        keys::generate(keys.path()).unwrap();
        let signer = Signer::new(keys::load_signing_key(keys.path()).unwrap());
        Self { signer, _keys: keys }
    }

    /// Version 1 of certificate `number`, issued on `issued`, with its `issued` event.
    pub fn issued(&self, number: &str, name: &str, name_en: &str, n: u32, issued: &str) -> NewEvent {
        let csv = format!(
            "holder_name,holder_name_en,uscc,address,scope,system,commodity,customer,issued\n\
             \"{name}\",\"{name_en}\",{},厦门市思明区示例路1号,家用电器的售后服务,38,33,24.5,{issued}\n",
            super::uscc(n)
        );
        let draft = parse_csv(csv.as_bytes()).expect("csv").0.remove(0).draft;
        let issuer = Issuer {
            name: "测试认证中心".into(),
            approval_number: ApprovalNumber::parse("CNCA-R-2026-042").unwrap(),
        };
        let today = NaiveDate::from_ymd_opt(2026, 11, 27).unwrap();
        let record = CertificateRecord::issue(draft, CertificateNumber::parse(number).unwrap(), issuer, today).unwrap();
        self.event(EventKind::Issued, record, at(0))
    }

    /// The next version of `current` in `state`, with its event.
    pub fn changed(&self, current: &CertificateRecord, state: State, minutes: i64) -> NewEvent {
        let mut next = current.next_version();
        next.status = Status { state, since: current.issued, reason: Some("测试".into()), until: None };
        let kind = match state {
            State::Suspended => EventKind::Suspended,
            State::Revoked => EventKind::Revoked,
            State::Withdrawn => EventKind::Withdrawn,
            _ => EventKind::Reinstated,
        };
        self.event(kind, next, at(minutes))
    }

    pub fn event(&self, kind: EventKind, record: CertificateRecord, at: DateTime<Utc>) -> NewEvent {
        let canonical = canonical_bytes(&record).unwrap();
        let signature = self.signer.sign(&canonical);
        NewEvent {
            kind,
            actor: "test".into(),
            at,
            details: json!({"reason": "测试", "version": record.version}),
            signed: SignedRecord { record, canonical, signature },
        }
    }
}

/// A fixed instant, `minutes` later, with microseconds (and nanoseconds the store drops).
pub fn at(minutes: i64) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-11-27T08:00:00.123456789Z").unwrap().with_timezone(&Utc)
        + Duration::minutes(minutes)
}
