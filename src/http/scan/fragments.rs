//! The certificate part of scan answers, serialised once per record version and day rather than
//! on every scan: scans come in bursts for the few certificates whose packages are on the
//! shelves, and this part (holder, level, state, scope, issuer) was the largest piece of JSON a
//! scan wrote. A record version never changes once stored, and the state shown depends only on
//! the record and the day in China, so a fragment made for a (number, version, day) stays right.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::NaiveDate;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;

use super::view::CertificateView;
use crate::crypto::SignedCertificate;

/// Certificates kept; past it the map starts again empty (each one is remade on its next scan).
const KEPT: usize = 10_000;

/// The JSON of one certificate's part of a scan answer.
pub struct Fragment {
    version: u32,
    day: NaiveDate,
    json: Box<RawValue>,
}

impl Fragment {
    /// The fragment's JSON text.
    pub fn json(&self) -> &str {
        self.json.get()
    }
}

impl Serialize for Fragment {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.json.serialize(serializer)
    }
}

/// Fragments by certificate number, each for the version and day it was made for.
#[derive(Default)]
pub struct CertificateFragments {
    by_number: RwLock<HashMap<String, Arc<Fragment>, foldhash::fast::RandomState>>,
}

impl CertificateFragments {
    /// The fragment of `certificate` as it stands on `today`, made now if the one kept is for
    /// another version or day.
    pub fn of(&self, certificate: &SignedCertificate, today: NaiveDate) -> Result<Arc<Fragment>, serde_json::Error> {
        let record = &certificate.record;
        let number = record.number.as_str();
        {
            let kept = self.by_number.read().unwrap_or_else(std::sync::PoisonError::into_inner);
            if let Some(fragment) = kept.get(number).filter(|f| f.version == record.version && f.day == today) {
                return Ok(Arc::clone(fragment));
            }
        }
        let json = serde_json::value::to_raw_value(&CertificateView::of(certificate, today))?;
        let fragment = Arc::new(Fragment { version: record.version, day: today, json });
        let mut kept = self.by_number.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        if kept.len() >= KEPT && !kept.contains_key(number) {
            kept.clear();
        }
        kept.insert(number.to_string(), Arc::clone(&fragment));
        Ok(fragment)
    }

    /// Certificates with a fragment kept.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.by_number.read().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CertificateNumber, State, Status};
    use crate::http::views::tests::{day, stored};

    fn text(fragment: &Fragment) -> &str {
        fragment.json.get()
    }

    #[test]
    fn a_fragment_is_the_certificate_view_and_is_kept_for_its_version_and_day() {
        let fragments = CertificateFragments::default();
        let certificate = stored(Status::valid(day(2026, 1, 1)), day(2026, 1, 1));
        let today = day(2026, 6, 1);
        let first = fragments.of(&certificate, today).unwrap();
        assert_eq!(text(&first), serde_json::to_string(&CertificateView::of(&certificate, today)).unwrap());
        assert!(Arc::ptr_eq(&first, &fragments.of(&certificate, today).unwrap()), "kept, not made again");
        assert_eq!(fragments.len(), 1);
    }

    #[test]
    fn a_new_version_or_another_day_makes_a_new_fragment() {
        let fragments = CertificateFragments::default();
        let mut certificate = stored(Status::valid(day(2026, 1, 1)), day(2026, 1, 1));
        let valid = fragments.of(&certificate, day(2026, 6, 1)).unwrap();
        assert!(text(&valid).contains(r#""state":"valid""#), "{}", text(&valid));

        // The day after the last valid day, the same version reads expired.
        let last_day = certificate.record.valid_until;
        let expired = fragments.of(&certificate, last_day.succ_opt().unwrap()).unwrap();
        assert!(text(&expired).contains(r#""state":"expired""#), "{}", text(&expired));

        // A suspension is a new version of the record.
        certificate.record.version += 1;
        certificate.record.status =
            Status { state: State::Suspended, since: day(2026, 6, 2), reason: Some("audit".into()), until: None };
        let suspended = fragments.of(&certificate, day(2026, 6, 2)).unwrap();
        assert!(text(&suspended).contains(r#""state":"suspended""#), "{}", text(&suspended));
        assert!(text(&suspended).contains(r#""reason":"audit""#), "{}", text(&suspended));
        assert_eq!(fragments.len(), 1, "one entry per certificate");
    }

    #[test]
    fn at_most_kept_certificates_are_held() {
        let fragments = CertificateFragments::default();
        let mut certificate = stored(Status::valid(day(2026, 1, 1)), day(2026, 1, 1));
        for n in 1..=KEPT as u64 + 10 {
            certificate.record.number = CertificateNumber::assigned(2026, n);
            fragments.of(&certificate, day(2026, 6, 1)).unwrap();
            assert!(fragments.len() <= KEPT);
        }
        assert_eq!(fragments.len(), 10, "started again when full");
    }
}
