//! Extractors whose rejections are problem documents instead of axum's plain text.

use axum::extract::rejection::{FormRejection, JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use crate::domain::CertificateNumber;

/// JSON body; a syntax error is 400, a shape error 422 naming the path, a body over the limit 413.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_problem(rejection)),
        }
    }
}

fn json_problem(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(e) => ApiError::invalid_body(e.body_text()),
        JsonRejection::JsonSyntaxError(e) => ApiError::malformed_json(e.body_text()),
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::unsupported_media_type("send the body as JSON with Content-Type: application/json")
        }
        JsonRejection::BytesRejection(e) if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::payload_too_large()
        }
        other => ApiError::bad_request(other.body_text()),
    }
}

/// A form body (`application/x-www-form-urlencoded`) posted to a page: another media type is a
/// 415, a body that does not decode or lacks a field a 400, each a problem document as from the
/// API (browsers posting our own forms never meet them).
pub struct PageForm<T>(pub T);

impl<S, T> FromRequest<S> for PageForm<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Form::<T>::from_request(request, state).await {
            Ok(axum::extract::Form(value)) => Ok(Self(value)),
            Err(FormRejection::InvalidFormContentType(_)) => {
                Err(ApiError::unsupported_media_type("send the form as application/x-www-form-urlencoded"))
            }
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

/// Query string; anything that does not fit is a 400 naming the problem.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::bad_request(e.body_text())),
            Err(other) => Err(ApiError::bad_request(other.body_text())),
        }
    }
}

/// A whole number from the query, or a 400 naming the parameter.
pub fn whole_number(name: &str, value: Option<&str>) -> Result<Option<u64>, ApiError> {
    value
        .map(|text| {
            text.parse::<u64>()
                .map_err(|_| ApiError::invalid_parameter(name, format!("{name} must be a whole number, not '{text}'")))
        })
        .transpose()
}

/// The `{number}` path segment as a well-formed certificate number.
pub struct NumberPath(pub CertificateNumber);

impl<S: Send + Sync> FromRequestParts<S> for NumberPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|e| ApiError::invalid_parameter("number", e.body_text()))?;
        CertificateNumber::parse(&raw).map(Self).map_err(|e| {
            ApiError::invalid_parameter("number", format!("'{raw}' is not a certificate number: {}", e.message))
        })
    }
}
