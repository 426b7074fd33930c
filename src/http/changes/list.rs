//! `GET /api/v1/changes?after=&limit=`: every change in log order, each with its signed record
//! version and its leaf, under a signed checkpoint whose size tells the consumer how far the log
//! it has read reaches.

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::crypto::Signature;
use crate::domain::EventKind;
use crate::http::certificates::json_response;
use crate::http::error::ApiError;
use crate::http::extract::{whole_number, ApiQuery};
use crate::http::AppState;
use crate::registry::{LoggedChange, MAX_CHANGES_PAGE};

/// Changes a page holds when the request does not say.
pub const DEFAULT_CHANGES_PAGE: u32 = 100;

#[derive(Deserialize)]
pub struct ChangesQuery {
    after: Option<String>,
    limit: Option<String>,
}

#[derive(Serialize)]
struct ChangesAnswer<'a> {
    changes: Vec<ChangeView<'a>>,
    /// The `after` to ask with next: the last index of this page, or the one asked with.
    next: Option<u64>,
    /// Whether the checkpoint covers changes past this page.
    more: bool,
    /// The size of the checkpoint this page was read under.
    tree_size: u64,
    checkpoint: Option<&'a str>,
}

/// One change: the event as the certificate's history shows it, with its place in the log.
#[derive(Serialize)]
struct ChangeView<'a> {
    index: u64,
    leaf_hash: String,
    number: &'a str,
    version: u32,
    kind: EventKind,
    at: chrono::DateTime<chrono::Utc>,
    details: &'a serde_json::Value,
    record: &'a RawValue,
    signature: &'a Signature,
}

impl<'a> ChangeView<'a> {
    fn of(change: &'a LoggedChange) -> Result<Self, serde_json::Error> {
        let event = &change.event;
        Ok(Self {
            index: change.index,
            leaf_hash: BASE64.encode(change.leaf_hash),
            number: &event.number,
            version: event.version,
            kind: event.kind,
            at: event.at,
            details: &event.details,
            record: serde_json::from_str(&event.record)?,
            signature: &event.signature,
        })
    }
}

/// The page length asked for: 1 to [`MAX_CHANGES_PAGE`], [`DEFAULT_CHANGES_PAGE`] when absent.
fn page_length(value: Option<&str>) -> Result<u32, ApiError> {
    match whole_number("limit", value)? {
        None => Ok(DEFAULT_CHANGES_PAGE),
        Some(limit) if (1..=u64::from(MAX_CHANGES_PAGE)).contains(&limit) => Ok(limit as u32),
        Some(limit) => Err(ApiError::invalid_parameter(
            "limit",
            format!("limit must be between 1 and {MAX_CHANGES_PAGE}, not {limit}"),
        )),
    }
}

#[utoipa::path(
    get, path = "/api/v1/changes", tag = "log", summary = "The change feed",
    description = "Changes in log order after a log index (the cursor), with the signed checkpoint they are under, so a consumer can prove it missed nothing.",
    params(
        ("after" = Option<String>, Query, description = "A log index: changes after it (from the start when left out)"),
        ("limit" = Option<String>, Query, description = "Page size, 1 to 1,000"),
    ),
    responses(
        (status = 200, description = "A page of changes", body = ref("#/components/schemas/Changes")),
        (status = 400, description = "`invalid-parameter` or `bad-request`"),
    )
)]
pub async fn list_changes(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ChangesQuery>,
) -> Result<Response, ApiError> {
    let after = whole_number("after", query.after.as_deref())?;
    let limit = page_length(query.limit.as_deref())?;
    let page = state.registry.changes_after(after, limit).await?;
    let changes = page.changes.iter().map(ChangeView::of).collect::<Result<Vec<_>, _>>().map_err(ApiError::internal)?;
    let answer = ChangesAnswer {
        next: page.changes.last().map(|change| change.index).or(after),
        more: page.more,
        tree_size: page.checkpoint.as_ref().map_or(0, |c| c.checkpoint.size),
        checkpoint: page.checkpoint.as_ref().map(|c| c.note.as_str()),
        changes,
    };
    let mut response = json_response(StatusCode::OK, &answer)?;
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_lengths_outside_the_bounds_are_refused_by_name() {
        assert_eq!(page_length(None).unwrap(), DEFAULT_CHANGES_PAGE);
        assert_eq!(page_length(Some("1")).unwrap(), 1);
        assert_eq!(page_length(Some("1000")).unwrap(), 1000);
        for bad in ["0", "1001", "-1", "ten", "18446744073709551616"] {
            let error = page_length(Some(bad)).unwrap_err();
            assert_eq!(error.status(), StatusCode::BAD_REQUEST, "{bad}");
            assert!(error.detail().contains("limit"), "{bad}: {}", error.detail());
        }
    }
}
