//! The scan verdict: what a consumer is told when a mark's QR code opens `/v/{token}`.
//!
//! Order of checks: the token must be a Starmark token signed by a trusted key (else *not
//! genuine*); its certificate must exist with the same holder, and the serial must have been
//! issued (else *unknown*); then the certificate's own state decides, and a valid certificate's
//! revoked serial is *mark revoked*. The answer fails closed: if the certificate cannot be read,
//! this returns an error, never a verdict.
//!
//! The verdict and its notes are worked out here once, as typed values; the JSON answer and the
//! scan page only write them out, each in its own words.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::{clock, Registry, RegistryError};
use crate::crypto::token::{self, MarkClaims, TokenError};
use crate::crypto::KeyId;
use crate::domain::{CertificateRecord, Level, SerialStatus, State};
use crate::domain::{ScanTally, ScannerSet, SerialKey};

/// One clear answer for the consumer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Genuine mark, certificate valid.
    Valid,
    Suspended,
    Revoked,
    Withdrawn,
    Expired,
    /// Genuine mark whose serial the body revoked (stolen labels, misprint).
    MarkRevoked,
    /// Not a token the registry signed: altered, forged or signed by an unknown key.
    NotGenuine,
    /// Well signed but for a certificate or serial the registry does not know.
    Unknown,
}

impl Verdict {
    /// The verdict as the JSON answer and the scan page name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Suspended => "suspended",
            Verdict::Revoked => "revoked",
            Verdict::Withdrawn => "withdrawn",
            Verdict::Expired => "expired",
            Verdict::MarkRevoked => "mark_revoked",
            Verdict::NotGenuine => "not_genuine",
            Verdict::Unknown => "unknown",
        }
    }

    /// The certificate state this verdict reports, for the verdicts that are one.
    pub fn state(self) -> Option<State> {
        match self {
            Verdict::Valid => Some(State::Valid),
            Verdict::Suspended => Some(State::Suspended),
            Verdict::Revoked => Some(State::Revoked),
            Verdict::Withdrawn => Some(State::Withdrawn),
            Verdict::Expired => Some(State::Expired),
            Verdict::MarkRevoked | Verdict::NotGenuine | Verdict::Unknown => None,
        }
    }

    fn of_state(state: State) -> Self {
        match state {
            State::Valid => Verdict::Valid,
            State::Suspended => Verdict::Suspended,
            State::Revoked => Verdict::Revoked,
            State::Withdrawn => Verdict::Withdrawn,
            State::Expired => Verdict::Expired,
        }
    }
}

impl Serialize for Verdict {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// A difference between what a mark says and the certificate's record today (after a renewal,
/// say): shown beside the verdict, never a reason for another one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanNote {
    /// The mark shows another level than the certificate now holds.
    Level { printed: Level, now: Level },
    /// The mark was printed for another end of validity than the certificate now has.
    ValidUntil { printed: NaiveDate, now: NaiveDate },
}

impl ScanNote {
    /// Where the mark's `claims` and the certificate's `record` differ, in the order shown.
    pub fn of(claims: &MarkClaims, record: &CertificateRecord) -> Vec<Self> {
        let mut notes = Vec::new();
        if claims.level != record.level {
            notes.push(ScanNote::Level { printed: claims.level, now: record.level });
        }
        if claims.valid_until != record.valid_until {
            notes.push(ScanNote::ValidUntil { printed: claims.valid_until, now: record.valid_until });
        }
        notes
    }
}

/// Everything the landing page and the JSON answer show.
#[derive(Clone, Debug)]
pub struct ScanOutcome {
    pub verdict: Verdict,
    /// Why, in one English sentence.
    pub detail: String,
    /// Why, as a stable slug pages translate (the detail is English only): `malformed`,
    /// `unknown_key`, `bad_signature`, `no_certificate`, `other_holder`, `serial_not_issued`
    /// for refused tokens, `checked` when the verdict comes from the live record.
    pub reason: &'static str,
    /// What the mark claims, when the token could be read at all.
    pub claims: Option<MarkClaims>,
    pub key_id: Option<KeyId>,
    /// The certificate's record the verdict was worked out from: the one the read path holds
    /// beside its answer (a scan copies nothing).
    pub record: Option<Arc<CertificateRecord>>,
    /// Reason and date when the serial was revoked.
    pub mark_revocation: Option<(String, chrono::NaiveDate)>,
    /// Scans of this serial including this one; `None` for a refused token, or when the store
    /// could not say how often the serial was scanned before.
    pub scans: Option<ScanTally>,
    /// The serial's distinct scanners (client network, browser, day), when `scans` is shown:
    /// what the public figure and the copy warning count.
    pub scanners: ScannerSet,
    /// Differences between what the mark says and the record today.
    pub notes: Vec<ScanNote>,
    pub checked_at: DateTime<Utc>,
}

impl ScanOutcome {
    fn refused(
        verdict: Verdict,
        reason: &'static str,
        detail: String,
        claims: Option<MarkClaims>,
        key_id: Option<KeyId>,
    ) -> Self {
        Self {
            verdict,
            detail,
            reason,
            claims,
            key_id,
            record: None,
            mark_revocation: None,
            scans: None,
            scanners: ScannerSet::default(),
            notes: Vec::new(),
            checked_at: clock::now(),
        }
    }

    /// The product name of a GS1 mark's batch, when the record is known.
    pub fn product_name(&self) -> Option<&str> {
        let claims = self.claims.as_ref()?;
        claims.gtin?;
        let record = self.record.as_ref()?;
        record.mark_batch(claims.batch)?.product.as_deref()
    }

    /// Whether the serial was checked from more places than a real package's mark would be.
    /// Never for the certificate-level mark (batch 0), which is meant to be shown anywhere.
    pub fn suspicious(&self) -> bool {
        self.scans.is_some()
            && self.claims.as_ref().is_some_and(|claims| claims.batch != 0)
            && self.scanners.len() > super::SUSPICIOUS_SCANS as usize
    }
}

impl Registry {
    /// Checks a scanned token against the trust list and the live record, and counts the scan:
    /// as a request always, and among the serial's distinct scanners when `client` is given
    /// (the handler leaves it out for HEAD requests and bots).
    /// Hands back [`Registry::judge`]'s own future, not one that holds it, so that it stays
    /// its size.
    pub fn scan<'a>(
        &'a self,
        token_text: &'a str,
        client: Option<super::ScanClient<'a>>,
    ) -> impl std::future::Future<Output = Result<ScanOutcome, RegistryError>> + Send + 'a {
        self.judge(token_text, client, true)
    }

    /// The verdict on a token without counting it: for requests about a mark that are not its
    /// landing (a GS1 resolver's `linkType` and linkset requests), which would otherwise count
    /// as scans of the serial. The outcome carries no scan figures.
    pub fn check_mark<'a>(
        &'a self,
        token_text: &'a str,
    ) -> impl std::future::Future<Output = Result<ScanOutcome, RegistryError>> + Send + 'a {
        self.judge(token_text, None, false)
    }

    /// [`Registry::scan`]'s checks; the scan is counted when `count` says so (among distinct
    /// scanners too when `client` is given).
    async fn judge(
        &self,
        token_text: &str,
        client: Option<super::ScanClient<'_>>,
        count: bool,
    ) -> Result<ScanOutcome, RegistryError> {
        let parsed = match token::parse(token_text) {
            Ok(parsed) => parsed,
            Err(e) => {
                return Ok(ScanOutcome::refused(Verdict::NotGenuine, "malformed", e.to_string(), None, None));
            }
        };
        let claims = parsed.claims.clone();
        let key_id = Some(parsed.key_id);
        if let Err(e) = self.check_mark_signature(&parsed).await {
            let (reason, detail) = match e {
                TokenError::UnknownKey(_) => ("unknown_key", format!("{e}: this mark was not issued by this registry")),
                TokenError::Malformed(_) | TokenError::Version(_) => ("malformed", e.to_string()),
                TokenError::BadSignature => ("bad_signature", e.to_string()),
            };
            return Ok(ScanOutcome::refused(Verdict::NotGenuine, reason, detail, Some(claims), key_id));
        }
        let certificate = match self.current_certificate(&claims.number).await? {
            Some(certificate) => certificate,
            None => {
                let detail = format!("the registry has no certificate {}", claims.number);
                return Ok(ScanOutcome::refused(Verdict::Unknown, "no_certificate", detail, Some(claims), key_id));
            }
        };
        let record = &*certificate;
        if record.holder.uscc != claims.uscc {
            let detail = "the mark names another holder than the certificate's".to_string();
            return Ok(ScanOutcome::refused(Verdict::Unknown, "other_holder", detail, Some(claims), key_id));
        }
        let serial_status =
            if claims.batch == 0 { SerialStatus::Issued } else { record.serial_status(claims.batch, claims.serial) };
        let product_differs =
            claims.gtin.is_some() && record.mark_batch(claims.batch).and_then(|b| b.gtin) != claims.gtin;
        if serial_status == SerialStatus::NotIssued || product_differs {
            let detail = format!("serial {}-{} was never issued for this certificate", claims.batch, claims.serial);
            return Ok(ScanOutcome::refused(Verdict::Unknown, "serial_not_issued", detail, Some(claims), key_id));
        }

        let now = clock::now();
        let state = record.state_on(clock::date_in_china(now));
        let mark_revocation = match serial_status {
            SerialStatus::Revoked { reason, date } => Some((reason, date)),
            _ => None,
        };
        let (verdict, detail) = match (state, &mark_revocation) {
            (State::Valid, Some((reason, date))) => {
                (Verdict::MarkRevoked, format!("this mark's serial was revoked on {date}: {reason}"))
            }
            (State::Valid, None) => (Verdict::Valid, "genuine mark of a valid certificate".to_string()),
            (state, _) => (Verdict::of_state(state), format!("genuine mark, but the certificate is {state}")),
        };
        let notes = ScanNote::of(&claims, record);
        // The verdict stands on the record alone; a count the store cannot complete right now
        // is left out rather than shown short.
        let counted = if count {
            let day = super::scanners::china_day(now.timestamp_micros());
            let scanner = client.map(|client| self.scanner_key.scanner(&client, day));
            self.scans.record_scan(&claims.number, claims.batch, claims.serial, now, scanner).await?
        } else {
            None
        };
        let (scans, scanners) = match counted {
            Some((scans, scanners)) => (Some(scans), scanners),
            None => (None, ScannerSet::default()),
        };
        Ok(ScanOutcome {
            verdict,
            detail,
            reason: "checked",
            claims: Some(claims),
            key_id,
            record: Some(certificate),
            mark_revocation,
            scans,
            scanners,
            notes,
            checked_at: now,
        })
    }

    /// Total scans of a certificate's marks and its most scanned serials (from the store, so
    /// counts not yet flushed are not included).
    pub async fn scan_summary(
        &self,
        number: &crate::domain::CertificateNumber,
        limit: u32,
    ) -> Result<(u64, Vec<(SerialKey, ScanTally)>), RegistryError> {
        self.get(number).await?;
        Ok(self.store.scan_summary(number, limit).await?)
    }

    /// The stored distinct scanners of each serial, in order (an empty set for a serial with
    /// none): what the public figure and the copy warning count, beside the raw requests.
    pub async fn stored_scanners(&self, keys: &[SerialKey]) -> Result<Vec<ScannerSet>, RegistryError> {
        let mut sets = Vec::with_capacity(keys.len());
        for key in keys {
            sets.push(self.store.scanners(key).await?.unwrap_or_default());
        }
        Ok(sets)
    }
}

#[cfg(test)]
mod tests {
    use super::Registry;
    use crate::domain::CertificateNumber;

    /// The size of the future `f` returns (never polled: no registry is needed).
    fn future_size<'a, Fut>(_f: impl Fn(&'a Registry, &'a CertificateNumber, &'a str) -> Fut) -> usize {
        std::mem::size_of::<Fut>()
    }

    /// Every request moves its handler's future a few times (axum boxes it on the way), so
    /// what a hit or a scan awaits must stay small. Loads carried inline (a moka lookup with
    /// its load, a Redis read, a store read) once made a scan's future 9.5 KB, copied three
    /// times a request; boxed where they are awaited, it is under 1 KB.
    #[test]
    fn the_hot_paths_futures_stay_small() {
        let scan = future_size(|registry, _, token| registry.scan(token, None));
        let answer = future_size(|registry, number, _| registry.public_answer(number));
        assert!(scan <= 1024, "a scan's future takes {scan} bytes");
        assert!(answer <= 512, "an answer's future takes {answer} bytes");
    }
}
