//! `GET /admin/`: the console's home: who is signed in and in which role. The work queue comes
//! here later.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use maud::html;

use super::code::at_step;
use super::{frame, page, see_other, text};
use crate::http::extract::ApiQuery;
use crate::http::pages::{Lang, LangQuery};
use crate::http::AppState;
use crate::registry::staff::NextStep;

/// `GET /admin`: the home's address has a final slash.
#[utoipa::path(
    get, path = "/admin", operation_id = "console_get_home_redirect", tag = "console", summary = "To the console's home",
    params(("lang" = Option<String>, Query, description = "`zh` or `en`")),
    responses((status = 303, description = "To `/admin/`"))
)]
pub async fn redirect_home(headers: HeaderMap, ApiQuery(query): ApiQuery<LangQuery>) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    see_other(&format!("/admin/?lang={}", lang.param()), None)
}

#[utoipa::path(
    get, path = "/admin/", operation_id = "console_get_home", tag = "console", summary = "The console's home (signed in)",
    params(("lang" = Option<String>, Query, description = "`zh` or `en`")),
    responses(
        (status = 200, description = "The home page", content_type = "text/html", body = String),
        (status = 303, description = "To the sign-in page, or the step still needed"),
        (status = 500, description = "The store failed", content_type = "text/html", body = String),
        (status = 503, description = "The store is unavailable", content_type = "text/html", body = String)
    )
)]
pub async fn home(State(state): State<AppState>, headers: HeaderMap, ApiQuery(query): ApiQuery<LangQuery>) -> Response {
    let lang = Lang::negotiate(query.lang.as_deref(), &headers);
    let session = match at_step(&state, &headers, lang, NextStep::Home).await {
        Ok(session) => session,
        Err(response) => return response,
    };
    let member = &session.member;
    let body = html! {
        h1 { (lang.t(text::HOME_TITLE)) }
        p id="signed-in-as" {
            (lang.t(text::SIGNED_IN_AS)) strong { (member.display_name.as_str()) } " (" code { (member.username.as_str()) } ")"
        }
        dl class="facts" {
            dt { (lang.t(text::ROLE)) }
            dd id="role" data-role=(member.role.as_str()) { (lang.t(text::role_name(member.role))) }
            dt { (lang.t(text::SECOND_FACTOR)) }
            dd { (lang.t(if member.totp_enrolled { text::ON } else { text::OFF })) }
        }
        p class="muted" { (lang.t(text::QUEUE_LATER)) }
    };
    page(StatusCode::OK, frame::signed_in(lang, text::HOME_TITLE, "/admin/", &session, body))
}
