//! `GET /admin/login`: the sign-in form; `POST /admin/login`: the password step. A member who
//! needs a second factor goes on to the code (or enrolment) step with a pending session.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use maud::{html, Markup};
use serde::Deserialize;

use super::{frame, page, path_of, see_other, set_cookie, text};
use crate::http::extract::{ApiQuery, PageForm};
use crate::http::pages::Lang;
use crate::http::AppState;
use crate::registry::staff::ConsoleError;

/// The query of the form page: the language, and why the member is here again.
#[derive(Deserialize, Default)]
pub struct LoginQuery {
    lang: Option<String>,
    /// `ended` (the session expired) or `out` (signed out).
    r#for: Option<String>,
}

/// The fields of the form; optional, so a form missing one is answered by this page.
#[derive(Deserialize)]
pub struct LoginForm {
    username: Option<String>,
    password: Option<String>,
    lang: Option<String>,
}

fn render(lang: Lang, username: &str, notice: Option<Markup>) -> String {
    let body = html! {
        h1 { (lang.t(text::LOGIN_TITLE)) }
        @if let Some(notice) = notice { (notice) }
        form class="query" method="post" action="/admin/login" id="login" {
            input type="hidden" name="lang" value=(lang.param());
            div {
                label for="username" { (lang.t(text::USERNAME)) }
                input type="text" id="username" name="username" value=(username) maxlength="32"
                    autocomplete="username" autocapitalize="none" spellcheck="false" required;
            }
            div {
                label for="password" { (lang.t(text::PASSWORD)) }
                input type="password" id="password" name="password" maxlength="1024"
                    autocomplete="current-password" required;
            }
            div class="actions" { button type="submit" id="sign-in" { (lang.t(text::SIGN_IN)) } }
        }
    };
    frame::bare(lang, text::LOGIN_TITLE, "/admin/login", body)
}

#[utoipa::path(
    get, path = "/admin/login", operation_id = "console_get_login", tag = "console", summary = "The sign-in form",
    params(("lang" = Option<String>, Query, description = "`zh` or `en`")),
    responses(
        (status = 200, description = "The form", content_type = "text/html", body = String),
        (status = 303, description = "Already signed in: onwards")
    )
)]
pub async fn form(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<LoginQuery>,
) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    // Someone signed in already goes where their session is.
    if let Ok(Some(session)) = super::session(&state, &headers).await {
        return see_other(&path_of(session.next, lang), None);
    }
    let notice = match query.r#for.as_deref() {
        Some("ended") => Some(frame::message(lang, text::SESSION_ENDED)),
        Some("out") => Some(html! { div class="note-box" role="status" { p { (lang.t(text::SIGNED_OUT)) } } }),
        _ => None,
    };
    page(StatusCode::OK, render(lang, "", notice))
}

#[utoipa::path(
    post, path = "/admin/login", operation_id = "console_post_login", tag = "console", summary = "Sign in (form)",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "username, password"),
    responses(
        (status = 303, description = "Signed in (or the code step next), with the session cookie"),
        (status = 400, description = "`bad-request`: the form cannot be read"),
        (status = 415, description = "`unsupported-media-type`: the body is not `application/x-www-form-urlencoded`"),
        (status = 401, description = "Wrong username or password", content_type = "text/html", body = String),
        (status = 403, description = "A cross-site post, or a disabled member", content_type = "text/html", body = String),
        (status = 429, description = "Too many failures: try again after `Retry-After`", content_type = "text/html", body = String)
    )
)]
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    PageForm(form): PageForm<LoginForm>,
) -> Response {
    let lang = Lang::negotiate(form.lang.as_deref(), &headers);
    if !super::same_origin(&state, &headers) {
        return super::form_refused(lang);
    }
    let username = form.username.unwrap_or_default();
    let password = form.password.unwrap_or_default();
    let client = super::client_of(&extensions, &headers);
    match state.registry.console().login(&username, &password, &client).await {
        Ok(session) => see_other(&path_of(session.next, lang), Some(set_cookie(&state, &session.id))),
        Err(error) => refused(&state, lang, &username, error),
    }
}

/// The form again with what went wrong; 401, 403 or 429 with `Retry-After`.
fn refused(_state: &AppState, lang: Lang, username: &str, error: ConsoleError) -> Response {
    let shown = if username.chars().count() <= 32 { username } else { "" };
    let (status, notice) = match &error {
        ConsoleError::Throttled { retry_after_secs } => {
            let notice = html! {
                div class="error-box" role="alert" id="throttled" data-retry-after=(retry_after_secs) {
                    p { (lang.t(text::THROTTLED)) " " strong { (retry_after_secs) } }
                }
            };
            let mut response = page(StatusCode::TOO_MANY_REQUESTS, render(lang, shown, Some(notice)));
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            return response;
        }
        ConsoleError::Disabled => (StatusCode::FORBIDDEN, text::DISABLED),
        ConsoleError::BadCredentials => (StatusCode::UNAUTHORIZED, text::BAD_CREDENTIALS),
        _ => return super::failed(lang, &error),
    };
    page(status, render(lang, shown, Some(frame::message(lang, notice))))
}
