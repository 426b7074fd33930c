//! `/api/v1/verify`: procurement checks of whole bidder lists. One file per endpoint, plus the
//! shared reading of the query list (also used by `POST /api/v1/receipts`) and the CSV answer.

pub mod bulk;
pub mod download;
pub mod input;

use crate::config::Config;
use crate::domain::receipt::MAX_RECEIPT_BYTES;
use crate::http::error::ApiError;
use crate::registry::RegistryError;

/// Smallest body limit of the routes that take a query list: 1,000 queries of a long CSV
/// line each fit, whatever the global `STARMARK_BODY_LIMIT` is.
pub const QUERY_LIST_BODY_LIMIT: usize = 256 * 1024;

/// Smallest body limit of `POST /api/v1/receipts/verify`: any receipt the registry issues (at
/// most [`MAX_RECEIPT_BYTES`] as stored), with room for a copy that a tool pretty-printed.
pub const RECEIPT_BODY_LIMIT: usize = MAX_RECEIPT_BYTES + 1024 * 1024;

/// The body limit of the query-list routes under `config`.
pub fn query_list_limit(config: &Config) -> usize {
    config.body_limit.max(QUERY_LIST_BODY_LIMIT)
}

/// The body limit of the receipt check under `config`.
pub fn receipt_limit(config: &Config) -> usize {
    config.body_limit.max(RECEIPT_BODY_LIMIT)
}

/// Maps a registry failure for a verification: a store that cannot answer is a 503 for the
/// whole request (fail closed), never a partial answer.
pub(crate) fn fail_closed(error: RegistryError) -> ApiError {
    match error {
        RegistryError::Store(cause) => {
            tracing::error!(error = %cause, "the store failed during a verification");
            ApiError::unavailable(
                "the registry could not read its records, so nothing was checked; try again in a moment",
            )
            .retry_if_outage(&cause)
        }
        other => other.into(),
    }
}
