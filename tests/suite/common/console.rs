//! A browser's part in console tests over plain HTTP: a client that does not follow redirects,
//! the session cookie kept by hand, forms posted with their CSRF token, members made through the
//! registry (the CLI has its own tests).

use std::time::Duration;

use starmark::crypto::totp;
use starmark::domain::{DisplayName, StaffRole, Username};

use super::TestApp;

/// The password every test member gets.
pub const PASSWORD: &str = "correct horse battery staple";

/// A client without redirects or cookie jar: what each answer sets is asserted, then sent.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// Adds a member with [`PASSWORD`].
pub async fn add_member(app: &TestApp, username: &str, role: StaffRole) {
    app.registry
        .console()
        .add_member(
            Username::parse(username).expect("username"),
            Some(DisplayName::parse(&format!("{username} 测试")).expect("name")),
            role,
            PASSWORD.to_string(),
        )
        .await
        .expect("member added");
}

/// The `Set-Cookie` header of an answer (the whole line), if any.
pub fn set_cookie(response: &reqwest::Response) -> Option<String> {
    response.headers().get("set-cookie").map(|v| v.to_str().expect("ascii").to_string())
}

/// `name=value` of a `Set-Cookie` line: what the browser sends back.
pub fn cookie_pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().expect("a pair").trim().to_string()
}

pub fn location(response: &reqwest::Response) -> String {
    response.headers().get("location").map(|v| v.to_str().expect("ascii").to_string()).unwrap_or_default()
}

/// Posts the login form; returns the answer.
pub async fn post_login(app: &TestApp, username: &str, password: &str) -> reqwest::Response {
    client()
        .post(app.url("/admin/login"))
        .form(&[("username", username), ("password", password), ("lang", "en")])
        .send()
        .await
        .expect("request")
}

/// Signs in with the password; returns the cookie pair and where the answer sends the browser.
pub async fn login(app: &TestApp, username: &str) -> (String, String) {
    let response = post_login(app, username, PASSWORD).await;
    assert_eq!(response.status(), 303, "login of {username}: {}", response.text().await.unwrap_or_default());
    let cookie = cookie_pair(&set_cookie(&response).expect("a session cookie"));
    (cookie, location(&response))
}

pub async fn get(app: &TestApp, path: &str, cookie: &str) -> reqwest::Response {
    client().get(app.url(path)).header("cookie", cookie).send().await.expect("request")
}

/// The page's HTML, asserting 200.
pub async fn page(app: &TestApp, path: &str, cookie: &str) -> String {
    let response = get(app, path, cookie).await;
    assert_eq!(response.status(), 200, "GET {path}");
    response.text().await.expect("body")
}

/// The value of the first `<input ... name="NAME" value="...">` in `html`.
pub fn input_value(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap_or_else(|| panic!("no {name} field in:\n{html}"));
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').expect("closing quote")].to_string()
}

/// Posts `fields` to `path` as a form with the cookie, in English unless `lang` is among them.
pub async fn post(app: &TestApp, path: &str, cookie: &str, fields: &[(&str, &str)]) -> reqwest::Response {
    let mut fields = fields.to_vec();
    if !fields.iter().any(|(name, _)| *name == "lang") {
        fields.push(("lang", "en"));
    }
    client().post(app.url(path)).header("cookie", cookie).form(&fields).send().await.expect("request")
}

/// The TOTP secret shown as the enrolment key (base32, in groups of four).
pub fn enrolment_secret(html: &str) -> Vec<u8> {
    let at = html.find("id=\"enrol-key\">").expect("the key is shown") + "id=\"enrol-key\">".len();
    let key: String =
        html[at..html[at..].find('<').expect("end") + at].chars().filter(|c| !c.is_whitespace()).collect();
    data_encoding::BASE32_NOPAD.decode(key.as_bytes()).expect("base32")
}

/// The code of `secret` now, plus `steps` steps.
pub fn code(secret: &[u8], steps: i64) -> String {
    totp::code(secret, totp::step_at(chrono::Utc::now().timestamp()) + steps)
}

/// Waits until at least `left` seconds remain in the current TOTP step, so that a code made now
/// is still the current one when it arrives.
pub async fn early_in_a_step(left: i64) {
    let into = chrono::Utc::now().timestamp().rem_euclid(totp::STEP_SECONDS);
    if totp::STEP_SECONDS - into < left {
        tokio::time::sleep(Duration::from_secs((totp::STEP_SECONDS - into) as u64 + 1)).await;
    }
}

/// Enrols a decider or admin at first sign-in: returns the full session's cookie and the secret.
pub async fn enrol(app: &TestApp, username: &str) -> (String, Vec<u8>) {
    let (pending, next) = login(app, username).await;
    assert!(next.starts_with("/admin/login/enrol"), "{next}");
    let html = page(app, "/admin/login/enrol", &pending).await;
    let secret = enrolment_secret(&html);
    let csrf = input_value(&html, "csrf");
    early_in_a_step(5).await;
    let confirmed = post(app, "/admin/login/enrol", &pending, &[("code", &code(&secret, 0)), ("csrf", &csrf)]).await;
    assert_eq!(confirmed.status(), 303);
    assert!(location(&confirmed).starts_with("/admin/"));
    (cookie_pair(&set_cookie(&confirmed).expect("a new session")), secret)
}
