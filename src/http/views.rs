//! The public JSON shapes. The full view embeds the signed record verbatim (`record`, the exact
//! canonical bytes that were signed) next to its `signature`, and adds the *effective* status,
//! which may say `expired` where the signed record still says `valid`.

use chrono::NaiveDate;
use serde::Serialize;
use serde_json::value::RawValue;

use crate::crypto::Signature;
use crate::crypto::SignedCertificate;
use crate::domain::{CertificateRecord, Holder, Issuer, Level, Points, State, SurveillanceAudit};
use crate::registry::HistoryEvent;

/// Status as it is in force today.
#[derive(Serialize)]
pub struct StatusView<'a> {
    pub state: State,
    pub since: NaiveDate,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<NaiveDate>,
    /// A suspension past its end: the body must reinstate or revoke, and until it does the
    /// certificate is still not valid.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub overdue: bool,
}

impl<'a> StatusView<'a> {
    pub fn of(certificate: &'a SignedCertificate, today: NaiveDate) -> Self {
        Self::of_record(&certificate.record, today)
    }

    /// Like [`StatusView::of`], from the record alone (all it reads): the scan holds no more.
    pub fn of_record(record: &'a CertificateRecord, today: NaiveDate) -> Self {
        let state = record.state_on(today);
        if state == State::Expired {
            // Expired since the day after the last valid day.
            let since = record.valid_until.succ_opt().unwrap_or(record.valid_until);
            return Self { state, since, reason: None, until: None, overdue: false };
        }
        let overdue = state == State::Suspended && record.status.until.is_some_and(|until| until < today);
        Self {
            state,
            since: record.status.since,
            reason: record.status.reason.as_deref(),
            until: record.status.until,
            overdue,
        }
    }
}

/// `GET /api/v1/certificates/{number}`: the whole public answer, with the signed record and
/// its proof; a scan shows a smaller certificate of its own (`http/scan/view.rs`).
#[derive(Serialize)]
pub struct PublicCertificateView<'a> {
    pub number: &'a str,
    pub version: u32,
    pub holder: &'a Holder,
    pub scope: &'a str,
    pub standard: &'a str,
    pub level: Level,
    pub level_name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<Points>,
    pub status: StatusView<'a>,
    pub first_issued: NaiveDate,
    pub issued: NaiveDate,
    pub valid_until: NaiveDate,
    pub issuer: &'a Issuer,
    pub surveillance: &'a [SurveillanceAudit],
    /// The signed record version, byte for byte as signed.
    pub record: &'a RawValue,
    pub signature: &'a Signature,
    /// When this version was stored: the moment of the last change.
    pub updated_at: chrono::DateTime<chrono::Utc>,
    /// Where this version is in the transparency log, with its inclusion proof.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<super::log::view::LogView>,
    /// A signed statement of the state in force when the answer was prepared, with
    /// `produced_at` and `next_update` (present on `GET`, absent on write answers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_assertion: Option<&'a crate::registry::SignedAssertion>,
}

impl<'a> PublicCertificateView<'a> {
    pub fn of(certificate: &'a SignedCertificate, today: NaiveDate) -> Result<Self, serde_json::Error> {
        let record = &certificate.record;
        Ok(Self {
            number: record.number.as_str(),
            version: record.version,
            holder: &record.holder,
            scope: &record.scope,
            standard: &record.standard,
            level: record.level,
            level_name: record.level.name_zh(),
            score: record.evaluation.score().ok(),
            status: StatusView::of(certificate, today),
            first_issued: record.first_issued,
            issued: record.issued,
            valid_until: record.valid_until,
            issuer: &record.issuer,
            surveillance: &record.surveillance,
            record: raw(&certificate.canonical)?,
            signature: &certificate.signature,
            updated_at: certificate.updated_at,
            log: None,
            status_assertion: None,
        })
    }
}

fn raw(text: &str) -> Result<&RawValue, serde_json::Error> {
    serde_json::from_str(text)
}

/// Holder fields shown in lists.
#[derive(Serialize)]
pub struct HolderSummary<'a> {
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_en: Option<&'a str>,
    pub uscc: &'a str,
}

/// One item of a search answer.
#[derive(Serialize)]
pub struct CertificateSummary<'a> {
    pub number: &'a str,
    pub holder: HolderSummary<'a>,
    pub level: Level,
    pub status: StatusView<'a>,
    pub valid_until: NaiveDate,
}

impl<'a> CertificateSummary<'a> {
    pub fn of(certificate: &'a SignedCertificate, today: NaiveDate) -> Self {
        Self::of_record(&certificate.record, today)
    }

    /// Like [`CertificateSummary::of`], from the record alone (all it reads).
    pub fn of_record(record: &'a CertificateRecord, today: NaiveDate) -> Self {
        Self {
            number: record.number.as_str(),
            holder: HolderSummary {
                name: &record.holder.name,
                name_en: record.holder.name_en.as_deref(),
                uscc: record.holder.uscc.as_str(),
            },
            level: record.level,
            status: StatusView::of_record(record, today),
            valid_until: record.valid_until,
        }
    }
}

/// One entry of a certificate's public history.
#[derive(Serialize)]
pub struct EventView<'a> {
    pub seq: i64,
    pub version: u32,
    pub kind: crate::domain::EventKind,
    pub at: chrono::DateTime<chrono::Utc>,
    pub details: &'a serde_json::Value,
    pub record: &'a RawValue,
    pub signature: &'a Signature,
}

impl<'a> EventView<'a> {
    pub fn of(event: &'a HistoryEvent) -> Result<Self, serde_json::Error> {
        Ok(Self {
            seq: event.seq,
            version: event.version,
            kind: event.kind,
            at: event.at,
            details: &event.details,
            record: raw(&event.record)?,
            signature: &event.signature,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::crypto::KeyId;
    use crate::domain::certificate::tests::{draft, issuer};
    use crate::domain::{CertificateNumber, CertificateRecord, Status};

    pub(crate) fn stored(status: Status, issued: NaiveDate) -> SignedCertificate {
        let mut draft = draft();
        draft.issued = Some(issued);
        let mut record =
            CertificateRecord::issue(draft, CertificateNumber::assigned(2026, 1), issuer(), issued).unwrap();
        record.status = status;
        SignedCertificate {
            record,
            canonical: "{}".into(),
            signature: Signature {
                alg: "Ed25519".into(),
                key_id: KeyId::parse("0000000000000000").unwrap(),
                value: String::new(),
            },
            updated_at: chrono::Utc::now(),
        }
    }

    pub(crate) fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn a_suspension_past_its_end_is_flagged_overdue() {
        let suspended = Status {
            state: State::Suspended,
            since: day(2026, 1, 10),
            reason: Some("r".into()),
            until: Some(day(2026, 3, 1)),
        };
        let certificate = stored(suspended, day(2026, 1, 1));
        let during = StatusView::of(&certificate, day(2026, 2, 1));
        assert_eq!((during.state, during.overdue), (State::Suspended, false));
        let after = StatusView::of(&certificate, day(2026, 3, 2));
        assert_eq!((after.state, after.overdue), (State::Suspended, true));
        let json = serde_json::to_value(&after).unwrap();
        assert_eq!(json["overdue"], true);
        assert!(serde_json::to_value(&during).unwrap().get("overdue").is_none());
    }

    #[test]
    fn expiry_wins_over_a_recorded_state() {
        let certificate = stored(Status::valid(day(2020, 1, 1)), day(2020, 1, 1));
        let view = StatusView::of(&certificate, day(2024, 1, 1));
        assert_eq!(view.state, State::Expired);
        assert_eq!(view.since, day(2023, 1, 1));
    }
}
