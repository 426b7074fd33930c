//! Per-client rate limits on the public routes ([`crate::limits`]), as one layer outside the
//! router: it tells the route class from the method and path, charges the client (its network,
//! [`ClientAddr::network`]) and answers a refusal itself, 429 `rate-limited` with `Retry-After`
//! and the IETF `RateLimit` / `RateLimit-Policy` fields (draft-ietf-httpapi-ratelimit-headers).
//!
//! - Scans and lookups are the hot path: a granted request goes straight on, and its answer
//!   carries no rate-limit fields (building them would cost every scan); the other classes
//!   carry them on every answer.
//! - Bulk checks and issuing receipts cost what is known only once the body is read (rows,
//!   stored bytes): here they are only refused when nothing at all is left, and the handlers
//!   charge the cost through [`ClientBudget`].
//! - A request with a valid API token (the body's own staff and tools) is neither counted nor
//!   refused; a token is looked up in the store at most `token_checks` times per client and
//!   window, and remembered for a while once valid ([`crate::limits::known_tokens`]).
//! - A request with an integrator key (`Authorization: Bearer smi_…`, told from a staff token by
//!   its prefix) is charged to the key's own purse, shared by all the integrator's addresses,
//!   instead of the client's classes, and its answers carry the key's standing. A malformed,
//!   unknown or revoked key is refused with 401 `invalid-key`, never served as anonymous. A key
//!   is looked up in the store at most `key_checks` times per client and window (429 past it),
//!   and remembered, valid or bad, for a while ([`crate::limits::integrators`]).
//! - Health, readiness, metrics, static assets, the trust list and the admin routes belong to no
//!   class.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service, ServiceExt};

use super::client::ClientAddr;
use super::error::ApiError;
use super::AppState;
use crate::limits::integrators::{fingerprint, KeyCheck, Remembered, ValidKey};
use crate::limits::known_tokens::TokenCheck;
use crate::limits::{Budget, Class, Decision, Limiter, Refusal, Standing};
use crate::registry::integrator_keys::{key_shape, KeyError, KEY_PREFIX};
use crate::registry::Registry;

/// The `RateLimit` field: the client's standing under the policy.
pub static RATE_LIMIT: HeaderName = HeaderName::from_static("ratelimit");
/// The `RateLimit-Policy` field: the policy itself.
pub static RATE_LIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// How a route's requests are charged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Charge {
    /// One unit, here.
    One,
    /// By the handler, once the cost is known; here only refused when nothing is left.
    Later,
}

/// The class of a request, and how it is charged; `None` for routes that are not limited.
fn classify(method: &Method, path: &str) -> Option<(Class, Charge)> {
    let post = method == Method::POST;
    if path.starts_with("/v/") || path.starts_with("/V/") {
        return Some((Class::Scans, Charge::One));
    }
    // A GS1 Digital Link mark is a scan; the product lookups read the store like a search.
    if let Some(rest) = path.strip_prefix("/01/") {
        let class = if rest.contains("/21/") { Class::Scans } else { Class::Search };
        return Some((class, Charge::One));
    }
    if path.starts_with("/api/v1/products/") {
        return Some((Class::Search, Charge::One));
    }
    if let Some(rest) = path.strip_prefix("/api/v1/certificates") {
        return match rest.strip_prefix('/') {
            None if rest.is_empty() && !post => Some((Class::Search, Charge::One)),
            None => None,
            Some(rest) => match rest.split_once('/') {
                None => (!post).then_some((Class::Lookups, Charge::One)),
                Some((_, "history")) => Some((Class::Lookups, Charge::One)),
                Some((_, "mark.svg" | "mark.png")) => Some((Class::Artwork, Charge::One)),
                Some(_) => None,
            },
        };
    }
    if path.starts_with("/api/v1/log") || path == "/api/v1/changes" || path == "/changes.atom" {
        return Some((Class::Log, Charge::One));
    }
    match path {
        "/" | "/search" => return Some((Class::Search, Charge::One)),
        "/api/v1/verify/bulk" => return Some((Class::Bulk, Charge::Later)),
        "/verify" => return post.then_some((Class::Bulk, Charge::Later)),
        "/api/v1/receipts" | "/receipts" => return post.then_some((Class::Receipts, Charge::Later)),
        _ => {}
    }
    if path.starts_with("/certificates/") {
        return Some((Class::Lookups, Charge::One));
    }
    if path.starts_with("/api/v1/receipts/") || path.starts_with("/receipts/") {
        return Some((Class::ReceiptChecks, Charge::One));
    }
    None
}

/// Whether granted answers of `class` go without rate-limit fields (the hot path).
fn quiet(class: Class) -> bool {
    matches!(class, Class::Scans | Class::Lookups)
}

/// The `RateLimit-Policy` and `RateLimit` values of a standing, such as
/// `"search";q=60;w=60` and `"search";r=0;t=42`.
pub fn fields(standing: &Standing) -> Option<(HeaderValue, HeaderValue)> {
    let name = standing.class.name();
    let policy = format!("\"{name}\";q={};w={}", standing.policy.quota, standing.policy.window_secs);
    let limit = format!("\"{name}\";r={};t={}", standing.remaining, standing.reset_secs);
    Some((HeaderValue::from_str(&policy).ok()?, HeaderValue::from_str(&limit).ok()?))
}

fn annotate(headers: &mut HeaderMap, standing: &Standing) {
    if headers.contains_key(&RATE_LIMIT) {
        return;
    }
    if let Some((policy, limit)) = fields(standing) {
        headers.insert(RATE_LIMIT_POLICY.clone(), policy);
        headers.insert(RATE_LIMIT.clone(), limit);
    }
}

/// The answer to a refused request: 429 `rate-limited` with `Retry-After` and the fields.
pub fn refused(refusal: &Refusal) -> ApiError {
    let standing = &refusal.standing;
    let whose = match standing.class {
        Class::Integrator => "this integrator key has used its",
        _ => "this client has used its",
    };
    let mut problem = ApiError::rate_limited(
        standing.class.name(),
        format!(
            "{whose} {} allowance ({} per {} s); try again in {} s",
            standing.class.name(),
            standing.policy.quota,
            standing.policy.window_secs,
            refusal.retry_after_secs
        ),
        refusal.retry_after_secs,
    );
    if let Some((policy, limit)) = fields(standing) {
        problem = problem.with_header(RATE_LIMIT_POLICY.clone(), policy).with_header(RATE_LIMIT.clone(), limit);
    }
    problem
}

/// Marks a request whose valid API token exempts it from the limits.
#[derive(Clone, Copy, Debug)]
struct Exempt;

/// Marks a request made with a valid integrator key, charged to the key's purse.
#[derive(Clone, Debug)]
struct Integrator(ValidKey);

/// Whose purse a request's handler charges.
enum Payer {
    /// Nobody's: a valid token, or a request the server did not receive from a peer.
    Nobody,
    Client(Arc<Limiter>, u128),
    Integrator(Arc<Limiter>, ValidKey),
}

/// The request's purse, for handlers that charge what they learn the cost of (bulk rows,
/// receipt bytes): the client's, or its integrator key's.
pub struct ClientBudget(Payer);

impl ClientBudget {
    /// The purse, borrowed for as long as the handler runs.
    pub fn budget(&self) -> Option<Budget<'_>> {
        match &self.0 {
            Payer::Nobody => None,
            Payer::Client(limiter, key) => Some(Budget::Client { limiter, key: *key }),
            Payer::Integrator(limiter, key) => Some(Budget::Integrator { limiter, key }),
        }
    }

    /// Charges `cost` units of `class`, or the problem to answer.
    pub fn charge(&self, class: Class, cost: usize) -> Result<(), ApiError> {
        match self.budget() {
            Some(budget) => budget.charge(class, u32::try_from(cost).unwrap_or(u32::MAX)).map_err(|r| refused(&r)),
            None => Ok(()),
        }
    }
}

impl FromRequestParts<AppState> for ClientBudget {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        if parts.extensions.get::<Exempt>().is_some() {
            return Ok(Self(Payer::Nobody));
        }
        if let Some(Integrator(key)) = parts.extensions.get::<Integrator>() {
            return Ok(Self(Payer::Integrator(state.limits.clone(), key.clone())));
        }
        let client = ClientAddr::of(&parts.extensions, &parts.headers);
        Ok(Self(client.map_or(Payer::Nobody, |client| Payer::Client(state.limits.clone(), client.network().bits()))))
    }
}

/// Wraps the router in [`RateLimited`].
#[derive(Clone)]
pub struct RateLimitLayer {
    pub limiter: Arc<Limiter>,
    pub registry: Arc<Registry>,
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimited<S>;

    fn layer(&self, inner: S) -> RateLimited<S> {
        RateLimited { inner, limiter: self.limiter.clone(), registry: self.registry.clone() }
    }
}

/// See the module documentation.
#[derive(Clone)]
pub struct RateLimited<S> {
    inner: S,
    limiter: Arc<Limiter>,
    registry: Arc<Registry>,
}

type Boxed = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

pin_project_lite::pin_project! {
    /// A request on its way through [`RateLimited`].
    #[project = Projected]
    pub enum Limiting<F> {
        /// Not limited, or granted on the hot path: the answer as it comes.
        Passed { #[pin] answer: F },
        /// Granted: the answer gets the client's standing as it is when it leaves.
        Annotated { #[pin] answer: F, limiter: Arc<Limiter>, key: u128, class: Class },
        /// Granted to an integrator key: the answer gets the key's standing as it leaves.
        Keyed { #[pin] answer: F, limiter: Arc<Limiter>, id: Arc<str> },
        /// Refused here.
        Refused { response: Option<Response> },
        /// Carrying a token, which is checked first.
        Checked { answer: Boxed },
    }
}

impl<F> Future for Limiting<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            Projected::Passed { answer } => answer.poll(cx),
            Projected::Annotated { answer, limiter, key, class } => {
                let Poll::Ready(Ok(mut response)) = answer.poll(cx) else {
                    return Poll::Pending;
                };
                if let Some(standing) = limiter.standing(*key, *class) {
                    annotate(response.headers_mut(), &standing);
                }
                Poll::Ready(Ok(response))
            }
            Projected::Keyed { answer, limiter, id } => {
                let Poll::Ready(Ok(mut response)) = answer.poll(cx) else {
                    return Poll::Pending;
                };
                if let Some(standing) = limiter.integrators.standing(id, Instant::now()) {
                    annotate(response.headers_mut(), &standing);
                }
                Poll::Ready(Ok(response))
            }
            Projected::Refused { response } => {
                Poll::Ready(Ok(response.take().unwrap_or_else(|| ApiError::internal("polled again").into_response())))
            }
            Projected::Checked { answer } => answer.as_mut().poll(cx),
        }
    }
}

impl<S> RateLimited<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    /// Decides a request of `class` from client `key`: passes it on, or refuses it.
    fn decide(&mut self, request: Request, key: u128, class: Class, charge: Charge) -> Limiting<S::Future> {
        if quiet(class) && charge == Charge::One {
            return match self.limiter.admit(key, class) {
                Ok(()) => Limiting::Passed { answer: self.inner.call(request) },
                Err(refusal) => Limiting::Refused { response: Some(refused(&refusal).into_response()) },
            };
        }
        let decision = match charge {
            Charge::One => self.limiter.take(key, class, 1),
            Charge::Later => self.limiter.peek(key, class),
        };
        match decision {
            Decision::Unlimited => Limiting::Passed { answer: self.inner.call(request) },
            Decision::Refused(refusal) => Limiting::Refused { response: Some(refused(&refusal).into_response()) },
            Decision::Granted(_) if quiet(class) => Limiting::Passed { answer: self.inner.call(request) },
            Decision::Granted(_) => {
                Limiting::Annotated { answer: self.inner.call(request), limiter: self.limiter.clone(), key, class }
            }
        }
    }

    /// Serves a request made with a valid integrator key from the key's purse, or refuses it.
    fn as_integrator(&mut self, mut request: Request, key: ValidKey, charge: Charge) -> Limiting<S::Future> {
        let integrators = &self.limiter.integrators;
        if let Err(refusal) = integrators.take(&key, 1, charge == Charge::Later, Instant::now()) {
            return Limiting::Refused { response: Some(refused(&refusal).into_response()) };
        }
        let now = crate::registry::clock::now();
        if integrators.used(&key.id, now) {
            // The key's first use on this instance is written at once; later ones are written
            // in batches (`write_key_uses_forever`).
            let (registry, limiter) = (self.registry.clone(), self.limiter.clone());
            let uses = vec![(key.id.clone(), now)];
            tokio::spawn(async move {
                if let Err(e) = registry.record_integrator_key_uses(&uses).await {
                    limiter.integrators.write_failed(&uses);
                    tracing::warn!(error = %e, "an integrator key's last use was not written; it is retried later");
                }
            });
        }
        let id = key.id.clone();
        request.extensions_mut().insert(Integrator(key));
        Limiting::Keyed { answer: self.inner.call(request), limiter: self.limiter.clone(), id }
    }

    /// A request carrying an integrator key: served from the key's purse once the key is known
    /// valid, refused (401) when it is malformed, unknown or revoked. The store is asked only
    /// about keys not remembered either way, and at most `key_checks` times per client.
    fn integrator(&mut self, request: Request, presented: String, network: u128, charge: Charge) -> Limiting<S::Future>
    where
        S: Clone + Send + 'static,
        S::Future: Send + 'static,
    {
        let now = Instant::now();
        let integrators = &self.limiter.integrators;
        let fingerprint = fingerprint(&presented);
        match integrators.recall(&fingerprint, now) {
            Some(Remembered::Valid(key)) => return self.as_integrator(request, key, charge),
            Some(Remembered::Bad) => {
                integrators.count(KeyCheck::KnownBad);
                return Limiting::Refused { response: Some(bad_key().into_response()) };
            }
            None => {}
        }
        if key_shape(&presented).is_none() {
            integrators.count(KeyCheck::Malformed);
            return Limiting::Refused { response: Some(malformed_key().into_response()) };
        }
        if let Decision::Refused(refusal) = self.limiter.take(network, Class::KeyChecks, 1) {
            integrators.count(KeyCheck::Skipped);
            return Limiting::Refused { response: Some(refused(&refusal).into_response()) };
        }
        let mut this =
            RateLimited { inner: self.inner.clone(), limiter: self.limiter.clone(), registry: self.registry.clone() };
        Limiting::Checked {
            answer: Box::pin(async move {
                let checked = this.registry.check_integrator_key(&presented).await;
                let integrators = &this.limiter.integrators;
                match checked {
                    Ok(key) => {
                        integrators.remember(fingerprint, Remembered::Valid(key.clone()), now);
                        integrators.count(KeyCheck::Accepted);
                        // The clone has not been polled ready: make it so before calling it.
                        let ready = std::future::poll_fn(|cx| this.poll_ready(cx)).await;
                        let Ok(()) = ready;
                        this.as_integrator(request, key, charge).await
                    }
                    Err(KeyError::Malformed | KeyError::Rejected) => {
                        integrators.remember(fingerprint, Remembered::Bad, now);
                        integrators.count(KeyCheck::Rejected);
                        Ok(bad_key().into_response())
                    }
                    // Fail closed: a key that cannot be checked serves nothing.
                    Err(KeyError::Registry(e)) => Ok(ApiError::from(e).into_response()),
                }
            }),
        }
    }
}

/// The answer to a key that is not an integrator key's shape.
fn malformed_key() -> ApiError {
    ApiError::invalid_key(format!(
        "the integrator key is malformed: a key is {KEY_PREFIX} then 16 hexadecimal digits, `_` and 43 \
         base64url characters, exactly as `starmark key create` printed it"
    ))
}

/// The answer to a key that is unknown or revoked.
fn bad_key() -> ApiError {
    ApiError::invalid_key(
        "the integrator key is unknown or revoked; ask the registry's operator for a valid key, \
         or send no key to be served as an anonymous client",
    )
}

impl<S> Service<Request> for RateLimited<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Limiting<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let Some((class, charge)) = classify(request.method(), request.uri().path()) else {
            return Limiting::Passed { answer: self.inner.call(request) };
        };
        let presented = bearer(request.headers()).filter(|token| token.starts_with(KEY_PREFIX)).map(str::to_string);
        if presented.is_none() && !self.limiter.limits(class) {
            return Limiting::Passed { answer: self.inner.call(request) };
        }
        let Some(client) = ClientAddr::of(request.extensions(), request.headers()) else {
            return Limiting::Passed { answer: self.inner.call(request) };
        };
        let key = client.network().bits();
        if let Some(presented) = presented {
            return self.integrator(request, presented, key, charge);
        }
        let Some(token) = bearer(request.headers()) else {
            return self.decide(request, key, class, charge);
        };
        // A token found valid lately is exempt at once. Any other is looked up in the store
        // while the client has `token_checks` allowance left; a bad one, or one not looked up,
        // is limited like no token at all (and refused by the admin routes on their own).
        let now = Instant::now();
        let known = &self.limiter.known_tokens;
        if known.is_known(token, now) {
            request.extensions_mut().insert(Exempt);
            return Limiting::Passed { answer: self.inner.call(request) };
        }
        if let Decision::Refused(_) = self.limiter.take(key, Class::TokenChecks, 1) {
            known.count(TokenCheck::Skipped);
            return self.decide(request, key, class, charge);
        }
        let token = token.to_string();
        let registry = self.registry.clone();
        let mut this =
            RateLimited { inner: self.inner.clone(), limiter: self.limiter.clone(), registry: registry.clone() };
        Limiting::Checked {
            answer: Box::pin(async move {
                let known = &this.limiter.known_tokens;
                if registry.authenticate(&token).await.is_ok() {
                    known.remember(&token, now);
                    known.count(TokenCheck::Accepted);
                    request.extensions_mut().insert(Exempt);
                    return this.inner.oneshot(request).await;
                }
                known.count(TokenCheck::Rejected);
                // The clone has not been polled ready: make it so before deciding.
                let ready = std::future::poll_fn(|cx| this.poll_ready(cx)).await;
                let Ok(()) = ready;
                this.decide(request, key, class, charge).await
            }),
        }
    }
}

/// The token of an `Authorization: Bearer` field.
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let text = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    match text.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Some(token.trim()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_fall_into_their_classes() {
        let get = Method::GET;
        let post = Method::POST;
        for (method, path, class) in [
            (&get, "/v/abc", Some((Class::Scans, Charge::One))),
            (&Method::HEAD, "/V/abc", Some((Class::Scans, Charge::One))),
            (&get, "/01/06901234567892/21/7", Some((Class::Scans, Charge::One))),
            (&get, "/01/06901234567892", Some((Class::Search, Charge::One))),
            (&get, "/api/v1/products/06901234567892", Some((Class::Search, Charge::One))),
            (&get, "/api/v1/certificates/SM1", Some((Class::Lookups, Charge::One))),
            (&get, "/api/v1/certificates/SM1/history", Some((Class::Lookups, Charge::One))),
            (&get, "/certificates/SM1", Some((Class::Lookups, Charge::One))),
            (&get, "/api/v1/certificates", Some((Class::Search, Charge::One))),
            (&get, "/", Some((Class::Search, Charge::One))),
            (&get, "/search", Some((Class::Search, Charge::One))),
            (&post, "/api/v1/verify/bulk", Some((Class::Bulk, Charge::Later))),
            (&post, "/verify", Some((Class::Bulk, Charge::Later))),
            (&post, "/api/v1/receipts", Some((Class::Receipts, Charge::Later))),
            (&post, "/receipts", Some((Class::Receipts, Charge::Later))),
            (&post, "/api/v1/receipts/verify", Some((Class::ReceiptChecks, Charge::One))),
            (&get, "/api/v1/receipts/0123", Some((Class::ReceiptChecks, Charge::One))),
            (&get, "/receipts/0123", Some((Class::ReceiptChecks, Charge::One))),
            (&get, "/api/v1/certificates/SM1/mark.png", Some((Class::Artwork, Charge::One))),
            (&get, "/api/v1/certificates/SM1/mark.svg", Some((Class::Artwork, Charge::One))),
            (&get, "/api/v1/log/tile/0/000", Some((Class::Log, Charge::One))),
            (&get, "/api/v1/log", Some((Class::Log, Charge::One))),
            (&get, "/api/v1/changes", Some((Class::Log, Charge::One))),
            (&get, "/changes.atom", Some((Class::Log, Charge::One))),
            // Not limited: admin routes, health, metrics, static assets, the trust list, the form.
            (&post, "/api/v1/certificates", None),
            (&post, "/api/v1/certificates/SM1/status", None),
            (&get, "/api/v1/certificates/SM1/scans", None),
            (&get, "/healthz", None),
            (&get, "/readyz", None),
            (&get, "/metrics", None),
            (&get, "/static/site.css", None),
            (&get, "/.well-known/starmark/keys.json", None),
            (&get, "/verify", None),
        ] {
            assert_eq!(classify(method, path), class, "{method} {path}");
        }
    }

    #[test]
    fn the_fields_follow_the_draft() {
        let standing = Standing {
            class: Class::Search,
            policy: crate::limits::Policy { quota: 60, window_secs: 60 },
            remaining: 0,
            reset_secs: 42,
        };
        let (policy, limit) = fields(&standing).unwrap();
        assert_eq!(policy, "\"search\";q=60;w=60");
        assert_eq!(limit, "\"search\";r=0;t=42");
    }
}
