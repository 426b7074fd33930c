//! Marks as the scan-path tests need them: ordered through the API, named by their token, and
//! forged by changing one character of a genuine token.

use serde_json::{json, Value};
use starmark::domain::{CertificateNumber, CertificateRecord};
use starmark::registry::Change;

use super::TestApp;

impl TestApp {
    /// Orders a batch of `count` marks of certificate `number` through the API and answers the
    /// order, failing the test on anything but 201.
    pub async fn order(&self, number: &str, count: u64) -> Value {
        let response =
            self.post(&format!("/api/v1/certificates/{number}/marks"), &self.issuer, &json!({"count": count})).await;
        let status = response.status();
        let body: Value = response.json().await.expect("order answer is JSON");
        assert_eq!(status, 201, "ordering {count} marks of {number}: {body}");
        body
    }

    /// Orders a batch of `count` marks of `number` through the registry alone, as batches were
    /// ordered before digest indexes existed: no background work builds its index.
    pub async fn order_without_index(&self, number: &str, count: u64) -> CertificateRecord {
        let number = CertificateNumber::parse(number).expect("certificate number");
        let order = Change::OrderMarks { count, product: None };
        self.registry.change("test", &number, &order).await.expect("order").record
    }

    /// The token of serial `serial` of batch `batch` of `number` (batch 0, serial 0: the
    /// certificate-level mark), as the registry prints it.
    pub async fn mark_token(&self, number: &str, batch: u32, serial: u32) -> String {
        let number = CertificateNumber::parse(number).expect("certificate number");
        let record = self.registry.get(&number).await.expect("certificate").record;
        self.registry.mark_token(&record, batch, serial).expect("mark token")
    }

    /// The scan path (`/v/{token}`) of that mark.
    pub async fn mark_path(&self, number: &str, batch: u32, serial: u32) -> String {
        format!("/v/{}", self.mark_token(number, batch, serial).await)
    }
}

/// `token` with the character `from_end` places before its end changed (`A` <-> `B`, so it is
/// still valid base32): a forgery whose signature no longer matches.
pub fn tampered(token: &str, from_end: usize) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let at = bytes.len() - from_end;
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("tokens are ASCII")
}
