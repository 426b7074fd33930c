//! The public JSON of a certificate as the read path prepares it: the same view the write
//! answers use, plus the log proof and the signed status assertion. The registry calls this
//! once per change (or per expiry of a cached copy); `GET` only sends the bytes.

use crate::crypto::SignedCertificate;
use crate::http::log::base64_hashes;
use crate::http::log::view::LogView;
use crate::http::views::PublicCertificateView;
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
        let mut view = PublicCertificateView::of(certificate, today).map_err(|e| e.to_string())?;
        view.log = log.map(LogView::of);
        view.status_assertion = Some(assertion);
        serde_json::to_vec(&view).map_err(|e| e.to_string())
    }

    fn render_hashes(&self, hashes: &[Hash]) -> Vec<u8> {
        // The very text `LogView` gives `inclusion`: a JSON array of standard base64 strings.
        serde_json::to_vec(&base64_hashes(hashes)).unwrap_or_default()
    }
}
