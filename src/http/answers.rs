//! The public JSON of a certificate as the read path prepares it: the same view the write
//! answers use, plus the log proof and the signed status assertion. The registry calls this
//! once per change (or per expiry of a cached copy); `GET` only sends the bytes.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::crypto::Signature;
use crate::crypto::SignedCertificate;
use crate::domain::CertificateRecord;
use crate::http::log::base64_hashes;
use crate::http::log::view::LogView;
use crate::http::views::CertificateView;
use crate::registry::{clock, AnswerFormat, LogProof, SignedAssertion};
use crate::tlog::Hash;

/// The JSON answer format of `GET /api/v1/certificates/{number}`.
pub struct JsonAnswers;

impl AnswerFormat for JsonAnswers {
    fn render(
        &self,
        certificate: &SignedCertificate,
        log: Option<&LogProof>,
        assertion: &SignedAssertion,
    ) -> Result<Vec<u8>, String> {
        let today = clock::date_in_china(assertion.assertion.produced_at);
        let mut view = CertificateView::of(certificate, today).map_err(|e| e.to_string())?;
        view.log = log.map(LogView::of);
        view.status_assertion = Some(assertion);
        serde_json::to_vec(&view).map_err(|e| e.to_string())
    }

    fn read_back(&self, body: &[u8]) -> Result<SignedCertificate, String> {
        /// The members of the answer that hold the stored certificate; the rest is skipped.
        #[derive(Deserialize)]
        struct Stored<'a> {
            #[serde(borrow)]
            record: &'a RawValue,
            signature: Signature,
            updated_at: DateTime<Utc>,
        }
        let stored: Stored<'_> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        let canonical = stored.record.get().to_string();
        let record: CertificateRecord = serde_json::from_str(&canonical).map_err(|e| e.to_string())?;
        Ok(SignedCertificate { record, canonical, signature: stored.signature, updated_at: stored.updated_at })
    }

    fn render_hashes(&self, hashes: &[Hash]) -> Vec<u8> {
        // The very text `LogView` gives `inclusion`: a JSON array of standard base64 strings.
        serde_json::to_vec(&base64_hashes(hashes)).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_reads_back_as_the_certificate_it_was_made_from() {
        use crate::domain::certificate::tests::{draft, issuer};
        use crate::domain::CertificateNumber;

        let issued = clock::today();
        let record =
            CertificateRecord::issue(draft(), CertificateNumber::assigned(2026, 7), issuer(), issued).expect("record");
        let canonical = String::from_utf8(crate::crypto::canonical_bytes(&record).expect("canonical")).expect("utf-8");
        let signature = Signature {
            alg: "Ed25519".into(),
            key_id: crate::crypto::KeyId::parse("0123456789abcdef").expect("key id"),
            value: "c2lnbmF0dXJl".into(),
        };
        let certificate = SignedCertificate { record, canonical, signature, updated_at: clock::now() };
        let view = CertificateView::of(&certificate, issued).expect("view");
        let body = serde_json::to_vec(&view).expect("json");

        let back = JsonAnswers.read_back(&body).expect("reads back");
        assert_eq!(back.record, certificate.record);
        assert_eq!(back.canonical, certificate.canonical);
        assert_eq!(back.signature, certificate.signature);
        assert_eq!(back.updated_at, certificate.updated_at);
        assert!(JsonAnswers.read_back(b"{\"record\": 1}").is_err());
    }
}
