//! The outermost middleware: every request's time limit, and every answer's last touches (the
//! security headers, a log line for a server error), in one layer.
//!
//! One layer rather than tower's `Timeout`, axum's `HandleError` and a `MapResponse`, because
//! each of those costs every request even when nothing goes wrong: the error handler boxes a
//! future and clones the service behind it, and the timeout makes a timer for every request and
//! locks the runtime's timer wheel to drop it. Here the timer is made only when the handler
//! could not answer at its first poll (a cache hit always can), and counts from the moment the
//! request arrived, so the limit is the same.
//!
//! It also gives every request its id ([`RequestId`]): current on this thread while the request
//! is polled, so that every log line written meanwhile carries it, and written into the answer's
//! `X-Request-Id` and into its problem document, if it is one.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use tokio::time::{Instant, Sleep};
use tower::{Layer, Service};

use super::client::TrustedProxies;
use super::error::{ApiError, ProblemBody};
use super::request_id::{RequestId, X_REQUEST_ID};
use super::response_counts::ResponseCounts;

/// Wraps a service in [`Outer`].
#[derive(Clone, Copy)]
pub struct OuterLayer {
    /// Longest a request may take before it is answered with a timeout problem.
    pub limit: Duration,
    /// Where every answer is counted by status class.
    pub responses: &'static ResponseCounts,
    /// The reverse proxies whose `X-Request-Id` is kept; with none, no request's header is read.
    pub proxies: &'static TrustedProxies,
}

impl<S> Layer<S> for OuterLayer {
    type Service = Outer<S>;

    fn layer(&self, inner: S) -> Outer<S> {
        Outer { inner, limit: self.limit, responses: self.responses, proxies: self.proxies }
    }
}

/// The outermost service: the time limit of the request and the last touches of its answer.
#[derive(Clone)]
pub struct Outer<S> {
    inner: S,
    limit: Duration,
    responses: &'static ResponseCounts,
    proxies: &'static TrustedProxies,
}

impl<S> Service<Request> for Outer<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = OuterFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let id = if self.proxies.is_empty() { RequestId::made() } else { RequestId::of(&request) };
        OuterFuture {
            answer: id.scope(|| self.inner.call(request)),
            deadline: Instant::now() + self.limit,
            timer: None,
            responses: self.responses,
            id,
        }
    }
}

pin_project_lite::pin_project! {
    /// A request on its way through [`Outer`].
    pub struct OuterFuture<F> {
        #[pin]
        answer: F,
        deadline: Instant,
        // Made at the first poll the answer is not ready; boxed so that this future stays small
        // on the common path, where it never is.
        timer: Option<Pin<Box<Sleep>>>,
        responses: &'static ResponseCounts,
        id: RequestId,
    }
}

impl<F> Future for OuterFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let id: &RequestId = this.id;
        id.scope(|| {
            if let Poll::Ready(answered) = this.answer.poll(cx) {
                let Ok(response) = answered;
                return Poll::Ready(Ok(last_touches(response, this.responses, id)));
            }
            let deadline = *this.deadline;
            let timer = this.timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            match timer.as_mut().poll(cx) {
                Poll::Ready(()) => {
                    Poll::Ready(Ok(last_touches(ApiError::timeout().into_response(), this.responses, id)))
                }
                Poll::Pending => Poll::Pending,
            }
        })
    }
}

/// Adds the security headers every answer carries (unless a handler set its own) and the
/// request's id (also into a problem document), logs server errors and counts the answer.
fn last_touches(mut response: Response, responses: &ResponseCounts, id: &RequestId) -> Response {
    responses.count(response.status());
    if let Some(problem) = response.extensions_mut().remove::<ProblemBody>() {
        *response.body_mut() = problem.with_request_id(id).into();
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
    let headers = response.headers_mut();
    headers.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
    headers.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("no-referrer"));
    headers.insert(X_REQUEST_ID.clone(), id.header_value());
    if response.status().is_server_error() {
        tracing::warn!(status = %response.status(), "answered with a server error");
    }
    response
}
