//! What the fuzz targets share: a fixed signing key standing in for the registry's, and checks
//! of the answers every target makes.

use axum::http::HeaderMap;
use axum::response::IntoResponse;
use ed25519_dalek::SigningKey;
use starmark::crypto::keys::SigningKeyEntry;
use starmark::crypto::{KeyId, Signer, Verifier};
use starmark::http::error::ApiError;

pub mod harness;

/// The registry key of the targets: fixed, so seeds signed with it stay genuine across runs.
pub fn signer() -> Signer {
    let key = SigningKey::from_bytes(&[0x5a; 32]);
    Signer::new(SigningKeyEntry { key_id: KeyId::of(&key.verifying_key()), key })
}

/// A trust list holding only [`signer`]'s key.
pub fn verifier() -> Verifier {
    Verifier::default().with_key(signer().verifying_key())
}

/// The problem type an answer carries, when it is a problem document.
pub fn problem_type(headers: &HeaderMap, body: &[u8]) -> Option<String> {
    let content_type = headers.get(axum::http::header::CONTENT_TYPE)?.to_str().ok()?;
    if !content_type.starts_with("application/problem+json") {
        return None;
    }
    let document: serde_json::Value = serde_json::from_slice(body).ok()?;
    document.get("type")?.as_str().map(str::to_string)
}

/// Asserts that a refusal is what a user's mistake must get: a 4xx problem document with a
/// stable `urn:starmark:problem:` type and a detail that says what is wrong.
pub fn assert_user_error(error: ApiError) {
    let status = error.status();
    assert!(status.is_client_error(), "a user's input was answered {status}: {}", error.detail());
    assert!(!error.detail().trim().is_empty(), "a {status} without a detail");
    let (parts, body) = error.into_response().into_parts();
    let body = harness::block_on(axum::body::to_bytes(body, usize::MAX)).expect("problem body");
    let kind = problem_type(&parts.headers, &body).expect("a problem+json document");
    assert!(kind.starts_with("urn:starmark:problem:"), "problem type {kind:?}");
}
