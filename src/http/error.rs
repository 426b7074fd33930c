//! One error type for every handler, rendered as RFC 9457 `application/problem+json`.
//!
//! Each kind has a stable `type` URI (`urn:starmark:problem:<slug>`) that clients can match on.
//! Server faults are logged with their cause and answered without it.

use axum::body::Bytes;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use super::request_id::RequestId;

use crate::domain::{EvaluationError, IssueError, MarkError, TransitionError};
use crate::registry::{AuthError, RegistryError, StoreFailure};

/// Media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";
/// Seconds a client is asked to wait before retrying when the database is unavailable: outages
/// worth a 503 (a restart, a held lock, a full pool) mostly pass within that.
const RETRY_UNAVAILABLE_AFTER: u64 = 2;

/// A problem to report to the client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: String,
    extensions: Map<String, Value>,
    /// Seconds for a `Retry-After` header.
    retry_after: Option<u64>,
    /// Further header fields of the answer (the rate-limit fields of a refusal); boxed, as
    /// few problems have any and every handler's result carries this type.
    headers: Option<Box<axum::http::HeaderMap>>,
}

impl ApiError {
    fn new(status: StatusCode, slug: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self { status, slug, title, detail: detail.into(), extensions: Map::new(), retry_after: None, headers: None }
    }

    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.extensions.insert(key.to_string(), value);
        self
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The human explanation, for pages that show the problem in HTML instead of JSON.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad-request", "Bad request", detail)
    }

    pub fn invalid_parameter(parameter: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid-parameter", "Invalid query or path parameter", detail)
            .with("parameter", json!(parameter))
    }

    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed-json", "The body is not valid JSON", detail)
    }

    pub fn invalid_body(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-body",
            "The body does not match the expected shape",
            detail,
        )
    }

    pub fn invalid_field(field: &str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid-field", "A field has an unacceptable value", detail)
            .with("field", json!(field))
    }

    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported-media-type", "Unsupported media type", detail)
    }

    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Request body too large",
            "the body is larger than the server accepts (STARMARK_BODY_LIMIT)",
        )
    }

    /// A request that cannot be served in the resource's current state.
    pub fn conflict(slug: &'static str, title: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, slug, title, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", "Authentication required", detail)
    }

    /// An integrator key on a public route that is malformed, unknown or revoked: refused rather
    /// than served as anonymous, so that the integrator learns its key is wrong.
    pub fn invalid_key(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid-key", "Invalid integrator key", detail).with_header(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer error=\"invalid_token\", error_description=\"integrator key\""),
        )
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "Not allowed for this token's role", detail)
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "this route does not accept that method",
        )
    }

    /// A dependency the answer needs is down; the client should retry, and nothing is guessed.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "Service unavailable", detail)
    }

    /// Tells the client when to try again (`Retry-After`, in seconds).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds `Retry-After` when the store failure behind this problem is an outage that passes
    /// (see [`StoreFailure::is_unavailable`]) rather than a fault that a retry would meet again.
    pub fn retry_if_outage(self, cause: &StoreFailure) -> Self {
        if cause.is_unavailable() {
            self.retry_after(RETRY_UNAVAILABLE_AFTER)
        } else {
            self
        }
    }

    /// A public quota is spent: come back after `wait`.
    pub fn too_many_requests(detail: impl Into<String>, wait: std::time::Duration) -> Self {
        let seconds = wait.as_secs().max(1);
        let mut problem = Self::new(StatusCode::TOO_MANY_REQUESTS, "too-many-requests", "Too many requests", detail);
        problem.retry_after = Some(seconds);
        problem.with("retry_after", json!(seconds))
    }

    /// The client is over its rate limit in `class` (see `http::rate_limits`): come back after
    /// `retry_after` seconds.
    pub fn rate_limited(class: &str, detail: impl Into<String>, retry_after: u64) -> Self {
        let mut problem = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate-limited", "Rate limit reached", detail);
        problem.retry_after = Some(retry_after);
        problem.with("class", json!(class)).with("retry_after", json!(retry_after))
    }

    /// Adds a header field to the answer.
    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.get_or_insert_with(Box::default).insert(name, value);
        self
    }

    /// The request outlived `STARMARK_REQUEST_TIMEOUT_MS`: the server is overloaded or something
    /// it waited for is slow, so the client is asked to come back shortly rather than at once.
    pub fn timeout() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "Request timed out",
            "the request took too long; try again",
        )
        .retry_after(RETRY_UNAVAILABLE_AFTER)
    }

    /// The stored certificate does not match the transparency log: its status is not given,
    /// and it must not be taken as valid (the cause is logged, never sent).
    pub fn status_unconfirmed(number: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "status-unconfirmed",
            "Status cannot be confirmed",
            format!(
                "the status of certificate {number} cannot be confirmed: the registry's stored record does not \
                 match its transparency log; do not treat it as valid (the operator has been alerted)"
            ),
        )
        .with("number", json!(number))
    }

    /// A server fault: the cause is logged, never sent.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the server failed; the fault is logged",
        )
    }
}

/// The problem document of an answer, kept beside its body so that the outermost layer, which
/// knows the request's id, can add it as the `request_id` member (see
/// [`super::request_id`]); answers that never pass that layer keep the document as it is.
#[derive(Clone)]
pub struct ProblemBody(Bytes);

impl ProblemBody {
    /// The document with `"request_id": id` as its last member. The id needs no escaping in
    /// JSON (see [`RequestId`]), and the document is always an object with members.
    pub fn with_request_id(self, id: &RequestId) -> Bytes {
        let document = self.0;
        let Some(open) = document.strip_suffix(b"}") else {
            return document;
        };
        let id = id.text();
        let mut out = Vec::with_capacity(document.len() + id.len() + 16);
        out.extend_from_slice(open);
        out.extend_from_slice(b",\"request_id\":\"");
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(b"\"}");
        Bytes::from(out)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.extensions;
        body.insert("type".into(), json!(format!("urn:starmark:problem:{}", self.slug)));
        body.insert("title".into(), json!(self.title));
        body.insert("status".into(), json!(self.status.as_u16()));
        body.insert("detail".into(), json!(self.detail));
        let document = Bytes::from(Value::Object(body).to_string());
        let mut response = (self.status, document.clone()).into_response();
        response.extensions_mut().insert(ProblemBody(document));
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if let Some(extra) = self.headers {
            for (name, value) in extra.iter() {
                headers.insert(name.clone(), value.clone());
            }
        }
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"starmark\""));
        }
        response
    }
}

impl From<RegistryError> for ApiError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::NotFound(number) => {
                ApiError::not_found(format!("no certificate with number {number}")).with("number", json!(number))
            }
            RegistryError::Invalid(IssueError::Field(field)) => ApiError::invalid_field(field.field, field.to_string()),
            RegistryError::Invalid(IssueError::Evaluation(e)) => evaluation_problem(e),
            RegistryError::Transition(TransitionError::Illegal { action, current }) => ApiError::new(
                StatusCode::CONFLICT,
                "illegal-transition",
                "Not allowed in the certificate's current state",
                TransitionError::Illegal { action, current }.to_string(),
            )
            .with("current_state", json!(current))
            .with("action", json!(action)),
            RegistryError::Transition(other) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-transition",
                "The status change is not acceptable",
                other.to_string(),
            ),
            RegistryError::Marks(MarkError::NoSuchBatch(batch)) => ApiError::new(
                StatusCode::NOT_FOUND,
                "no-such-batch",
                "No such mark batch",
                MarkError::NoSuchBatch(batch).to_string(),
            )
            .with("batch", json!(batch)),
            RegistryError::Marks(MarkError::AlreadyRevoked { batch, first, last }) => ApiError::new(
                StatusCode::CONFLICT,
                "already-revoked",
                "The marks are already revoked",
                MarkError::AlreadyRevoked { batch, first, last }.to_string(),
            )
            .with("batch", json!(batch)),
            RegistryError::Marks(other) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-marks",
                "The mark order or revocation is not acceptable",
                other.to_string(),
            ),
            RegistryError::Duplicate(number) => ApiError::new(
                StatusCode::CONFLICT,
                "duplicate",
                "Certificate already exists",
                format!("certificate {number} already exists"),
            )
            .with("number", json!(number)),
            RegistryError::Conflict(number) => ApiError::new(
                StatusCode::CONFLICT,
                "concurrent-change",
                "Changed concurrently",
                RegistryError::Conflict(number).to_string(),
            ),
            RegistryError::Busy(wait) => ApiError::too_many_requests(error.to_string(), wait),
            RegistryError::RateLimited(refusal) => super::rate_limits::refused(&refusal),
            RegistryError::Store(store) if store.is_unavailable() => {
                tracing::warn!(error = %store, "database unavailable");
                ApiError::unavailable("the registry's database is unavailable right now; try again shortly")
                    .retry_after(RETRY_UNAVAILABLE_AFTER)
            }
            RegistryError::Unconfirmed { number, .. } => ApiError::status_unconfirmed(&number),
            RegistryError::LogDamaged(problem) => {
                tracing::error!(problem = %problem, "TAMPERING: the transparency log cannot be served");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "log-damaged",
                    "Transparency log damaged",
                    "this part of the transparency log cannot be served: the registry's store lost \
                     entries it is made of; the operator has been alerted",
                )
            }
            RegistryError::Internal(_) | RegistryError::Store(_) => ApiError::internal(error),
        }
    }
}

fn evaluation_problem(error: EvaluationError) -> ApiError {
    let slug = match error {
        EvaluationError::LevelMismatch { .. } => "level-mismatch",
        EvaluationError::BelowPass(_) | EvaluationError::TooManyDeductions(_) => "evaluation-failed",
        _ => "invalid-evaluation",
    };
    ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        slug,
        "The evaluation does not allow this certificate",
        error.to_string(),
    )
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::Malformed | AuthError::Rejected => ApiError::unauthorized(error.to_string()),
            AuthError::Registry(e) => e.into(),
        }
    }
}
