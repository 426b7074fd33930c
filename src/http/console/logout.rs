//! `POST /admin/logout`: ends the session on the server and removes the cookie. Like every
//! console form, it needs the session's CSRF token and a same-origin post.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde::Deserialize;

use super::{clear_cookie, see_other};
use crate::http::extract::PageForm;
use crate::http::pages::Lang;
use crate::http::AppState;

#[derive(Deserialize)]
pub struct LogoutForm {
    csrf: Option<String>,
    lang: Option<String>,
}

#[utoipa::path(
    post, path = "/admin/logout", operation_id = "console_post_logout", tag = "console", summary = "Sign out (form)",
    request_body(content = Object, content_type = "application/x-www-form-urlencoded", description = "csrf"),
    responses(
        (status = 303, description = "Signed out: the session ended and the cookie cleared"),
        (status = 400, description = "`bad-request`: the form cannot be read"),
        (status = 415, description = "`unsupported-media-type`: the body is not `application/x-www-form-urlencoded`"),
        (status = 403, description = "A cross-site post or a wrong CSRF token", content_type = "text/html", body = String)
    )
)]
pub async fn submit(
    State(state): State<AppState>,
    headers: HeaderMap,
    PageForm(form): PageForm<LogoutForm>,
) -> Response {
    let lang = Lang::negotiate(form.lang.as_deref(), &headers);
    let session = match super::session(&state, &headers).await {
        Ok(Some(session)) => session,
        Ok(None) => {
            return see_other(&format!("/admin/login?for=ended&lang={}", lang.param()), Some(clear_cookie(&state)))
        }
        Err(e) => return super::failed(lang, &e),
    };
    if !super::same_origin(&state, &headers) || !session.csrf_matches(form.csrf.as_deref().unwrap_or("")) {
        return super::form_refused(lang);
    }
    if let Err(e) = state.registry.console().logout(&session).await {
        return super::failed(lang, &e);
    }
    see_other(&format!("/admin/login?for=out&lang={}", lang.param()), Some(clear_cookie(&state)))
}
