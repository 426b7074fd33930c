//! The JSON answer of a scan.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::fragments::{CertificateFragments, Fragment};
use crate::crypto::KeyId;
use crate::domain::Level;
use crate::http::timestamps;
use crate::http::views::{CertificateSummary, StatusView};
use crate::mark::layout::SerialLabel;
use crate::registry::{ScanOutcome, Verdict};
use crate::store::StoredCertificate;

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
}

#[derive(Serialize)]
pub struct ScansView {
    count: u64,
    #[serde(serialize_with = "timestamps::instant")]
    first_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamps::instant")]
    last_at: DateTime<Utc>,
    /// Checked far more often than a real package's mark would be.
    suspicious: bool,
}

#[derive(Serialize)]
pub struct RevocationView<'a> {
    reason: &'a str,
    date: NaiveDate,
}

/// The certificate as a scan shows it.
#[derive(Serialize)]
pub struct CertificateView<'a> {
    #[serde(flatten)]
    summary: CertificateSummary<'a>,
    scope: &'a str,
    issuer: &'a crate::domain::Issuer,
}

impl<'a> CertificateView<'a> {
    pub fn of(certificate: &'a StoredCertificate, today: NaiveDate) -> Self {
        Self {
            summary: CertificateSummary::of(certificate, today),
            scope: &certificate.record.scope,
            issuer: &certificate.record.issuer,
        }
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
    notes: &'a [String],
    #[serde(serialize_with = "timestamps::instant")]
    checked_at: DateTime<Utc>,
}

impl<'a> ScanView<'a> {
    pub fn of(outcome: &'a ScanOutcome, fragments: &CertificateFragments) -> Result<Self, serde_json::Error> {
        let (zh, en) = headline(outcome.verdict);
        let today = crate::registry::clock::date_in_china(outcome.checked_at);
        let certificate = match &outcome.certificate {
            Some(certificate) => Some(fragments.of(certificate, today)?),
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
            }),
            mark_revocation: outcome
                .mark_revocation
                .as_ref()
                .map(|(reason, date)| RevocationView { reason, date: *date }),
            scans: outcome.scans.map(|s| ScansView {
                count: s.count,
                first_at: s.first_at,
                last_at: s.last_at,
                suspicious: s.count > crate::registry::SUSPICIOUS_SCANS,
            }),
            certificate,
            notes: &outcome.notes,
            checked_at: outcome.checked_at,
        })
    }
}

/// The state a certificate is in today, for the page.
pub fn status_of(outcome: &ScanOutcome) -> Option<StatusView<'_>> {
    let today = crate::registry::clock::date_in_china(outcome.checked_at);
    outcome.certificate.as_ref().map(|c| StatusView::of(c, today))
}
