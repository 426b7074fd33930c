//! `GET /admin/login/enrol`: enrolment of an authenticator app for a member whose role needs a
//! second factor and who has none yet: the `otpauth://` URI as a QR code (drawn by our own
//! encoder, `mark::qr`, as inline SVG) and the key in base32; `POST`: the first code confirms it.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::{html, Markup, PreEscaped};

use super::code::{at_step, code_form, code_posted, CodeForm, Refusal};
use super::{frame, page, path_of, see_other, set_cookie, text};
use crate::http::extract::{ApiQuery, PageForm};
use crate::http::pages::{Lang, LangQuery};
use crate::http::AppState;
use crate::mark::plain::qr_svg;
use crate::mark::QrMatrix;
use crate::registry::staff::{NextStep, SignedIn};

async fn render(state: &AppState, lang: Lang, session: &SignedIn, notice: Option<Markup>) -> Result<String, Response> {
    let enrolment = match state.registry.console().enrolment(session).await {
        Ok(enrolment) => enrolment,
        Err(e) => return Err(super::failed(lang, &e)),
    };
    let qr = match QrMatrix::encode(&enrolment.uri) {
        // The label is a page string: no markup in it, so the SVG stays well-formed.
        Ok(qr) => qr_svg(&qr, lang.t(text::ENROL_QR_LABEL).as_str()),
        Err(e) => {
            return Err(super::failed(
                lang,
                &crate::registry::staff::ConsoleError::Registry(crate::registry::RegistryError::Internal(
                    e.to_string(),
                )),
            ))
        }
    };
    // Groups of four, as authenticator apps show keys.
    let key: Vec<String> =
        enrolment.secret_base32.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect();
    let body = html! {
        h1 { (lang.t(text::ENROL_TITLE)) }
        @if let Some(notice) = notice { (notice) }
        p { (lang.t(text::ENROL_HELP)) }
        figure class="receipt-qr enrol-qr" id="enrol-qr" {
            (PreEscaped(qr))
        }
        p { (lang.t(text::ENROL_KEY)) " " code id="enrol-key" { (key.join(" ")) } }
        (code_form(lang, session, "/admin/login/enrol", text::CONFIRM))
    };
    Ok(frame::signed_in(lang, text::ENROL_TITLE, "/admin/login/enrol", session, body))
}

#[utoipa::path(
    get, path = "/admin/login/enrol", operation_id = "console_get_login_enrol", tag = "console", summary = "TOTP enrolment: the QR code",
    params(("lang" = Option<String>, Query, description = "`zh` or `en`")),
    responses(
        (status = 200, description = "The QR code and the form", content_type = "text/html", body = String),
        (status = 303, description = "No session at this step: to sign-in, or onwards")
    )
)]
pub async fn form(State(state): State<AppState>, headers: HeaderMap, ApiQuery(query): ApiQuery<LangQuery>) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let session = match at_step(&state, &headers, lang, NextStep::Enrol).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    match render(&state, lang, &session, None).await {
        Ok(html) => page(StatusCode::OK, html),
        Err(response) => response,
    }
}

#[utoipa::path(
    post, path = "/admin/login/enrol", operation_id = "console_post_login_enrol", tag = "console", summary = "Confirm enrolment with a first code (form)",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "csrf, code"),
    responses(
        (status = 303, description = "Enrolled and signed in, or no session at this step"),
        (status = 400, description = "`bad-request`: the form cannot be read"),
        (status = 415, description = "`unsupported-media-type`: the body is not `application/x-www-form-urlencoded`"),
        (status = 403, description = "A cross-site post or a wrong CSRF token", content_type = "text/html", body = String),
        (status = 422, description = "A wrong code", content_type = "text/html", body = String),
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
    let (session, code, client) = match code_posted(&state, &headers, &extensions, lang, NextStep::Enrol, form).await {
        Ok(posted) => posted,
        Err(response) => return response,
    };
    match state.registry.console().confirm_enrolment(&session, &code, &client).await {
        Ok(full) => see_other(&path_of(full.next, lang), Some(set_cookie(&state, &full.id))),
        Err(error) => match Refusal::of(lang, error) {
            Ok(refusal) => match render(&state, lang, &session, Some(refusal.notice.clone())).await {
                Ok(html) => refusal.answer(html),
                Err(response) => response,
            },
            Err(response) => *response,
        },
    }
}
