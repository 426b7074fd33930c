//! The frame of every console page: the console's own header and navigation (with who is
//! signed in and the sign-out form), the shared stylesheet, the language toggle.

use maud::{html, Markup, DOCTYPE};

use super::text;
use crate::http::assets;
use crate::http::pages::i18n::{self, Text};
use crate::http::pages::{error_box, Lang};
use crate::registry::staff::SignedIn;

/// A page for someone not (fully) signed in: no navigation but the language toggle.
pub fn bare(lang: Lang, title: Text, path: &str, body: Markup) -> String {
    document(lang, title, path, None, body)
}

/// A page for a signed-in member: the console's navigation and the sign-out form.
pub fn signed_in(lang: Lang, title: Text, path: &str, session: &SignedIn, body: Markup) -> String {
    document(lang, title, path, Some(session), body)
}

/// A red box with `message`.
pub fn message(lang: Lang, message: Text) -> Markup {
    error_box(lang.t(message))
}

fn document(lang: Lang, title: Text, path: &str, session: Option<&SignedIn>, body: Markup) -> String {
    let other = lang.other();
    let lp = lang.param();
    let toggle = format!("{path}?lang={}", other.param());
    html! {
        (DOCTYPE)
        html lang=(lang.html_tag()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                // Same-origin referrers only: with `no-referrer` browsers send `Origin: null` on
                // form posts, and the console checks the origin of every post.
                meta name="referrer" content="same-origin";
                meta name="robots" content="noindex";
                title { (lang.t(title)) " · " (lang.t(text::CONSOLE)) }
                link rel="stylesheet" href=(assets::url("starmark.css"));
            }
            body class="console" {
                a class="skip" href="#main" { (lang.t(i18n::SKIP_TO_CONTENT)) }
                header class="site" {
                    div class="bar" {
                        a class="brand" href={ "/admin/?lang=" (lp) } { "★ " (lang.t(text::CONSOLE)) }
                        nav aria-label=(lang.t(text::NAV_LABEL)) {
                            @if let Some(session) = session.filter(|s| !s.pending) {
                                a href={ "/admin/?lang=" (lp) } { (lang.t(text::HOME)) }
                                span class="who" id="who" { (session.member.display_name.as_str()) }
                            }
                            a href={ "/?lang=" (lp) } { (lang.t(text::PUBLIC_SITE)) }
                            a href=(toggle) lang=(other.html_tag()) hreflang=(other.html_tag())
                                aria-label=(lang.t(i18n::SWITCH_LANGUAGE_LABEL)) id="lang-toggle"
                                { (lang.t(i18n::SWITCH_LANGUAGE)) }
                            @if let Some(session) = session {
                                form class="logout" method="post" action="/admin/logout" {
                                    input type="hidden" name="csrf" value=(session.csrf_token);
                                    input type="hidden" name="lang" value=(lp);
                                    button type="submit" class="secondary" id="sign-out" { (lang.t(text::SIGN_OUT)) }
                                }
                            }
                        }
                    }
                }
                main id="main" { (body) }
            }
        }
    }
    .into_string()
}
