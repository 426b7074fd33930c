//! `GET /admin/login/code`: the second-factor form of a pending session; `POST`: the code.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use super::{frame, page, path_of, see_other, set_cookie, text};
use crate::http::extract::{ApiQuery, PageForm};
use crate::http::pages::{Lang, LangQuery};
use crate::http::AppState;
use crate::registry::staff::{ConsoleError, NextStep, SignedIn};

/// The fields of a code form (also the enrolment's).
#[derive(Deserialize)]
pub struct CodeForm {
    pub code: Option<String>,
    pub csrf: Option<String>,
    pub lang: Option<String>,
}

fn render(lang: Lang, session: &SignedIn, notice: Option<Markup>) -> String {
    let body = html! {
        h1 { (lang.t(text::CODE_TITLE)) }
        @if let Some(notice) = notice { (notice) }
        p { (lang.t(text::CODE_HELP)) }
        (code_form(lang, session, "/admin/login/code", text::VERIFY))
    };
    frame::signed_in(lang, text::CODE_TITLE, "/admin/login/code", session, body)
}

/// The form that sends a code to `action`.
pub fn code_form(lang: Lang, session: &SignedIn, action: &str, button: crate::http::pages::i18n::Text) -> Markup {
    html! {
        form class="query" method="post" action=(action) id="code-form" {
            input type="hidden" name="csrf" value=(session.csrf_token);
            input type="hidden" name="lang" value=(lang.param());
            div {
                label for="code" { (lang.t(text::CODE)) }
                input type="text" id="code" name="code" inputmode="numeric" pattern="[0-9 ]*" maxlength="8"
                    autocomplete="one-time-code" required autofocus;
            }
            div class="actions" { button type="submit" id="verify" { (lang.t(button)) } }
        }
    }
}

/// The session of a console request at step `step`, or where to send the browser instead.
pub async fn at_step(state: &AppState, headers: &HeaderMap, lang: Lang, step: NextStep) -> Result<SignedIn, Response> {
    match super::session(state, headers).await {
        Ok(Some(session)) if session.next == step => Ok(session),
        Ok(Some(session)) => Err(see_other(&path_of(session.next, lang), None)),
        Ok(None) => Err(see_other(&format!("/admin/login?for=ended&lang={}", lang.param()), None)),
        Err(e) => Err(super::failed(lang, &e)),
    }
}

#[utoipa::path(
    get, path = "/admin/login/code", operation_id = "console_get_login_code", tag = "console", summary = "The TOTP code step",
    params(("lang" = Option<String>, Query, description = "`zh` or `en`")),
    responses(
        (status = 200, description = "The form", content_type = "text/html", body = String),
        (status = 303, description = "No session at this step: to sign-in, or onwards")
    )
)]
pub async fn form(State(state): State<AppState>, headers: HeaderMap, ApiQuery(query): ApiQuery<LangQuery>) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    match at_step(&state, &headers, lang, NextStep::Code).await {
        Ok(session) => page(StatusCode::OK, render(lang, &session, None)),
        Err(response) => response,
    }
}

#[utoipa::path(
    post, path = "/admin/login/code", operation_id = "console_post_login_code", tag = "console", summary = "Give the TOTP code (form)",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "csrf, code"),
    responses(
        (status = 303, description = "Signed in, or no session at this step"),
        (status = 400, description = "`bad-request`: the form cannot be read"),
        (status = 415, description = "`unsupported-media-type`: the body is not `application/x-www-form-urlencoded`"),
        (status = 403, description = "A cross-site post or a wrong CSRF token", content_type = "text/html", body = String),
        (status = 422, description = "A wrong or reused code", content_type = "text/html", body = String),
        (status = 429, description = "Too many failures", content_type = "text/html", body = String)
    )
)]
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    PageForm(form): PageForm<CodeForm>,
) -> Response {
    let lang = Lang::negotiate(form.lang.as_deref(), &headers);
    let (session, code, client) = match code_posted(&state, &headers, &extensions, lang, NextStep::Code, form).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    match state.registry.console().second_factor(&session, &code, &client).await {
        Ok(full) => see_other(&path_of(full.next, lang), Some(set_cookie(&state, &full.id))),
        Err(error) => match Refusal::of(lang, error) {
            Ok(refusal) => {
                let html = render(lang, &session, Some(refusal.notice.clone()));
                refusal.answer(html)
            }
            Err(response) => *response,
        },
    }
}

/// A code posted at `step`, once the session is at that step and the post is our own form's
/// (same origin, the session's CSRF token): the session, the code and the client it came
/// from; otherwise the answer to give instead.
pub async fn code_posted(
    state: &AppState,
    headers: &HeaderMap,
    extensions: &axum::http::Extensions,
    lang: Lang,
    step: NextStep,
    form: CodeForm,
) -> Result<(SignedIn, String, String), Response> {
    let session = at_step(state, headers, lang, step).await?;
    if !super::same_origin(state, headers) || !session.csrf_matches(form.csrf.as_deref().unwrap_or("")) {
        return Err(super::form_refused(lang));
    }
    Ok((session, form.code.unwrap_or_default(), super::client_of(extensions, headers)))
}

/// A refused code, said: the status (422, or 429 with `Retry-After`) and the notice to show on
/// the form again; or, when the session is gone or the store failed, the answer itself.
pub struct Refusal {
    pub status: StatusCode,
    pub notice: Markup,
    pub retry_after: Option<u64>,
}

impl Refusal {
    pub fn of(lang: Lang, error: ConsoleError) -> Result<Self, Box<Response>> {
        let (status, message, retry_after) = match &error {
            ConsoleError::CodeRefused => (StatusCode::UNPROCESSABLE_ENTITY, text::CODE_REFUSED, None),
            ConsoleError::CodeReused => (StatusCode::UNPROCESSABLE_ENTITY, text::CODE_REUSED, None),
            ConsoleError::Throttled { retry_after_secs } => {
                (StatusCode::TOO_MANY_REQUESTS, text::THROTTLED, Some(*retry_after_secs))
            }
            ConsoleError::NoSession => {
                return Err(Box::new(see_other(&format!("/admin/login?for=ended&lang={}", lang.param()), None)));
            }
            _ => return Err(Box::new(super::failed(lang, &error))),
        };
        let notice = html! {
            div class="error-box" role="alert" id="code-error" {
                p { (lang.t(message)) @if let Some(secs) = retry_after { " " strong { (secs) } } }
            }
        };
        Ok(Self { status, notice, retry_after })
    }

    /// The page `html` (the form with the notice) under this refusal's status.
    pub fn answer(self, html: String) -> Response {
        let mut response = page(self.status, html);
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
