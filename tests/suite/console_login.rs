//! The console's sign-in over real HTTP (docs/console.md): passwords, throttling that grows and
//! ends, the second factor for deciders and admins (enrolment, codes, replays), CSRF tokens and
//! cross-site posts, cookie flags, idle and absolute expiry, logout, disabled members.

use crate::common;

use std::time::Duration;

use common::console::{
    add_member, client, code, cookie_pair, early_in_a_step, enrol, get, input_value, location, login, page, post,
    post_login, set_cookie, PASSWORD,
};
use starmark::domain::{StaffRole, Username};

/// Asserts that `cookie` opens no console page any more: the home sends it to the login.
async fn assert_ended(app: &common::TestApp, cookie: &str) {
    let response = get(app, "/admin/", cookie).await;
    assert_eq!(response.status(), 303);
    assert!(location(&response).starts_with("/admin/login?for=ended"), "{}", location(&response));
}

#[tokio::test]
async fn an_evaluator_signs_in_sees_the_home_and_logout_ends_the_session_on_the_server() {
    let app = common::spawn_app().await;
    add_member(&app, "eva", StaffRole::Evaluator).await;

    let form = client().get(app.url("/admin/login?lang=en")).send().await.unwrap();
    assert_eq!(form.status(), 200);
    assert_eq!(form.headers()["cache-control"], "no-store");
    assert!(form.headers()["content-security-policy"].to_str().unwrap().contains("default-src 'none'"));
    let html = form.text().await.unwrap();
    assert!(html.contains("type=\"password\"") && html.contains("action=\"/admin/login\""));

    let response = post_login(&app, "Eva", PASSWORD).await;
    assert_eq!(response.status(), 303, "usernames are case-folded");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(location(&response), "/admin/?lang=en", "no second factor for an evaluator");
    let line = set_cookie(&response).expect("a cookie");
    // Plain http: the documented name without the __Host- prefix, which needs Secure.
    assert!(line.starts_with("starmark_session="), "{line}");
    for flag in ["Path=/", "HttpOnly", "SameSite=Strict"] {
        assert!(line.split("; ").any(|part| part == flag), "{flag} missing: {line}");
    }
    assert!(!line.contains("Secure") && !line.contains("Max-Age") && !line.contains("Expires"), "{line}");
    let id = cookie_pair(&line)["starmark_session=".len()..].to_string();
    assert_eq!(base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &id).unwrap().len(), 32);
    let cookie = cookie_pair(&line);

    let home = get(&app, "/admin/?lang=en", &cookie).await;
    assert_eq!(home.status(), 200);
    assert_eq!(home.headers()["cache-control"], "no-store");
    let html = home.text().await.unwrap();
    assert!(html.contains("eva 测试") && html.contains("data-role=\"evaluator\""), "{html}");
    assert!(html.contains("action=\"/admin/logout\""));
    let zh = page(&app, "/admin/?lang=zh", &cookie).await;
    assert!(zh.contains("lang=\"zh-CN\"") && zh.contains("评价员"), "the home in Chinese");
    // Nobody's cookie, no page.
    assert_ended(&app, "starmark_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
    let bare = client().get(app.url("/admin/")).send().await.unwrap();
    assert_eq!(bare.status(), 303);

    let csrf = input_value(&html, "csrf");
    let out = post(&app, "/admin/logout", &cookie, &[("csrf", &csrf), ("lang", "en")]).await;
    assert_eq!(out.status(), 303);
    assert_eq!(location(&out), "/admin/login?for=out&lang=en");
    assert!(set_cookie(&out).unwrap().contains("Max-Age=0"), "the browser drops the cookie");
    // The server ended the session: the old cookie, replayed, opens nothing.
    assert_ended(&app, &cookie).await;
}

#[tokio::test]
async fn an_https_public_url_gives_a_secure_host_prefixed_cookie() {
    let app = common::spawn_app_with(|config| config.public_url = "https://registry.example".into()).await;
    add_member(&app, "eva", StaffRole::Evaluator).await;
    let response = post_login(&app, "eva", PASSWORD).await;
    assert_eq!(response.status(), 303);
    let line = set_cookie(&response).unwrap();
    assert!(line.starts_with("__Host-starmark_session="), "{line}");
    for flag in ["Path=/", "HttpOnly", "SameSite=Strict", "Secure"] {
        assert!(line.split("; ").any(|part| part == flag), "{flag} missing: {line}");
    }
    assert!(!line.contains("Domain="), "__Host- cookies name no domain: {line}");
    let cookie = cookie_pair(&line);
    assert_eq!(get(&app, "/admin/", &cookie).await.status(), 200);
    // The plain name is not read on this server.
    let plain = cookie.replace("__Host-starmark_session", "starmark_session");
    assert_ended(&app, &plain).await;
}

#[tokio::test]
async fn wrong_passwords_are_throttled_with_growing_waits_and_never_locked_out() {
    let app = common::spawn_app().await;
    add_member(&app, "eva", StaffRole::Evaluator).await;
    // An unknown member and a wrong password get the same answer.
    let unknown = post_login(&app, "nobody", PASSWORD).await;
    assert_eq!(unknown.status(), 401);
    let unknown = unknown.text().await.unwrap();
    let wrong = post_login(&app, "eva", "not the password at all").await;
    assert_eq!(wrong.status(), 401);
    let wrong = wrong.text().await.unwrap();
    assert!(wrong.contains("The username or the password is wrong."));
    assert_eq!(unknown.replace("nobody", "eva"), wrong, "nothing tells a known name from an unknown one");
    assert!(!wrong.contains("not the password at all"), "the password is never shown back");

    // Five failures are free; the sixth makes the next attempt wait 1 s.
    for _ in 0..5 {
        assert_eq!(post_login(&app, "eva", "wrong password again").await.status(), 401);
    }
    let throttled = post_login(&app, "eva", PASSWORD).await;
    assert_eq!(throttled.status(), 429, "even the right password waits");
    assert_eq!(throttled.headers()["retry-after"], "1");
    assert!(throttled.text().await.unwrap().contains("data-retry-after=\"1\""));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(post_login(&app, "eva", "wrong password again").await.status(), 401);
    let longer = post_login(&app, "eva", "wrong password again").await;
    assert_eq!(longer.status(), 429);
    assert_eq!(longer.headers()["retry-after"], "2", "the wait doubles");
    // A refused attempt does not count: waiting it out is enough.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (cookie, next) = login(&app, "eva").await;
    assert!(next.starts_with("/admin/"));
    assert_eq!(get(&app, "/admin/", &cookie).await.status(), 200);
    // Success clears the account's count: the next mistake is free again.
    assert_eq!(post_login(&app, "eva", "wrong password again").await.status(), 401);
    assert_eq!(post_login(&app, "eva", PASSWORD).await.status(), 303);
}

#[tokio::test]
async fn deciders_and_admins_need_a_second_factor_enrolled_by_qr_and_codes_are_not_replayed() {
    let app = common::spawn_app().await;
    add_member(&app, "dana", StaffRole::Decider).await;
    add_member(&app, "root", StaffRole::Admin).await;

    // The password alone opens only the enrolment step.
    let (pending, next) = login(&app, "dana").await;
    assert_eq!(next, "/admin/login/enrol?lang=en");
    let home = get(&app, "/admin/", &pending).await;
    assert_eq!(home.status(), 303);
    assert!(location(&home).starts_with("/admin/login/enrol"), "a pending session is sent back to its step");
    let html = page(&app, "/admin/login/enrol?lang=en", &pending).await;
    assert!(html.contains("<svg") && html.contains("id=\"enrol-qr\""), "the QR code is inline SVG");
    assert_eq!(html, page(&app, "/admin/login/enrol?lang=en", &pending).await, "a reload shows the same key");
    let secret = common::console::enrolment_secret(&html);
    let csrf = input_value(&html, "csrf");
    early_in_a_step(8).await;
    let wrong = post(&app, "/admin/login/enrol", &pending, &[("code", "000000"), ("csrf", &csrf)]).await;
    // (One chance in a million that 000000 is the code: then this test is retried.)
    assert_eq!(wrong.status(), 422);
    assert!(wrong.text().await.unwrap().contains("The code is wrong or too old."));
    let first = code(&secret, 0);
    let confirmed = post(&app, "/admin/login/enrol", &pending, &[("code", &first), ("csrf", &csrf)]).await;
    assert_eq!(confirmed.status(), 303);
    assert_eq!(location(&confirmed), "/admin/?lang=en");
    let full = cookie_pair(&set_cookie(&confirmed).unwrap());
    assert_ne!(full, pending, "the second factor gives a new session id");
    assert_ended(&app, &pending).await;
    assert!(page(&app, "/admin/?lang=en", &full).await.contains("data-role=\"decider\""));

    // Next sign-in: the code step. The code already used is refused as a replay.
    let (pending, next) = login(&app, "dana").await;
    assert_eq!(next, "/admin/login/code?lang=en");
    assert_eq!(location(&get(&app, "/admin/?lang=en", &pending).await), "/admin/login/code?lang=en");
    let html = page(&app, "/admin/login/code?lang=en", &pending).await;
    let csrf = input_value(&html, "csrf");
    let replay = post(&app, "/admin/login/code", &pending, &[("code", &first), ("csrf", &csrf)]).await;
    assert_eq!(replay.status(), 422);
    assert!(replay.text().await.unwrap().contains("This code was used already"));
    let no_csrf = post(&app, "/admin/login/code", &pending, &[("code", &code(&secret, 1))]).await;
    assert_eq!(no_csrf.status(), 403, "the code form needs its CSRF token");
    let next_code = code(&secret, 1);
    let accepted = post(&app, "/admin/login/code", &pending, &[("code", &next_code), ("csrf", &csrf)]).await;
    assert_eq!(accepted.status(), 303, "the next step's code, within one step of skew");
    let full = cookie_pair(&set_cookie(&accepted).unwrap());
    assert_eq!(get(&app, "/admin/", &full).await.status(), 200);

    // An admin the same; an evaluator is never asked.
    let (_, secret) = enrol(&app, "root").await;
    assert_eq!(secret.len(), 20);
    let members = app.registry.console().members().await.unwrap();
    let enrolled: Vec<(&str, bool)> = members.iter().map(|m| (m.username.as_str(), m.totp_enrolled)).collect();
    assert_eq!(enrolled, vec![("dana", true), ("root", true)]);
}

#[tokio::test]
async fn the_enrolment_qr_code_decodes_with_zbarimg_to_a_uri_whose_secret_makes_the_codes() {
    let app = common::spawn_app().await;
    add_member(&app, "root", StaffRole::Admin).await;
    let (pending, _) = login(&app, "root").await;
    let html = page(&app, "/admin/login/enrol", &pending).await;
    let svg = &html[html.find("<svg").unwrap()..html.find("</svg>").unwrap() + 6];
    let png = raster(svg, 8);
    let uri = crate::marks::decode_zbar(&png).await.expect("zbarimg reads the enrolment QR code");
    assert!(uri.starts_with("otpauth://totp/Starmark%20"), "{uri}");
    assert!(uri.contains(":root?secret=") && uri.ends_with("&algorithm=SHA1&digits=6&period=30"), "{uri}");
    let secret_text = uri.split("secret=").nth(1).unwrap().split('&').next().unwrap();
    let secret = data_encoding::BASE32_NOPAD.decode(secret_text.as_bytes()).expect("base32 secret");
    // The codes made from the decoded secret sign the admin in.
    early_in_a_step(5).await;
    let csrf = input_value(&html, "csrf");
    let confirmed = post(&app, "/admin/login/enrol", &pending, &[("code", &code(&secret, 0)), ("csrf", &csrf)]).await;
    assert_eq!(confirmed.status(), 303);
    assert!(location(&confirmed).starts_with("/admin/"));
}

/// The SVG of our QR drawer (`M{x} {y}h{n}v1h-{n}z` runs of dark modules) as a PNG, `scale`
/// pixels a module: an independent reading of what the page draws.
fn raster(svg: &str, scale: u32) -> Vec<u8> {
    let side: u32 = svg.split("viewBox=\"0 0 ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    let mut img = image::GrayImage::from_pixel(side * scale, side * scale, image::Luma([255]));
    let path = svg.split(" d=\"").nth(1).unwrap().split('"').next().unwrap();
    for run in path.split('M').filter(|r| !r.is_empty()) {
        let (xy, rest) = run.split_once('h').unwrap();
        let (x, y) = xy.split_once(' ').unwrap();
        let (x, y): (u32, u32) = (x.parse().unwrap(), y.parse().unwrap());
        let length: u32 = rest.split('v').next().unwrap().parse().unwrap();
        for px in x * scale..(x + length) * scale {
            for py in y * scale..(y + 1) * scale {
                img.put_pixel(px, py, image::Luma([0]));
            }
        }
    }
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn posts_without_the_csrf_token_or_from_another_site_are_refused() {
    let app = common::spawn_app().await;
    add_member(&app, "eva", StaffRole::Evaluator).await;
    let (cookie, _) = login(&app, "eva").await;
    let csrf = input_value(&page(&app, "/admin/", &cookie).await, "csrf");

    let refused = |response: reqwest::Response| async move {
        assert_eq!(response.status(), 403);
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert!(response.text().await.unwrap().contains("nothing was done"));
    };
    refused(post(&app, "/admin/logout", &cookie, &[("lang", "en")]).await).await;
    refused(post(&app, "/admin/logout", &cookie, &[("csrf", "forged-token"), ("lang", "en")]).await).await;
    let other_session = {
        let (other, _) = login(&app, "eva").await;
        input_value(&page(&app, "/admin/", &other).await, "csrf")
    };
    refused(post(&app, "/admin/logout", &cookie, &[("csrf", &other_session), ("lang", "en")]).await).await;
    // The right token, but the browser says the form came from elsewhere.
    for (header, value) in [("origin", "https://evil.example"), ("origin", "null"), ("sec-fetch-site", "cross-site")] {
        let response = client()
            .post(app.url("/admin/logout"))
            .header("cookie", &cookie)
            .header(header, value)
            .form(&[("csrf", csrf.as_str()), ("lang", "en")])
            .send()
            .await
            .unwrap();
        refused(response).await;
    }
    let cross_login = client()
        .post(app.url("/admin/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("username", "eva"), ("password", PASSWORD), ("lang", "en")])
        .send()
        .await
        .unwrap();
    assert!(set_cookie(&cross_login).is_none(), "no session from a cross-site login form");
    refused(cross_login).await;
    // Nothing was done: the session lives; a same-origin post with the token ends it.
    assert_eq!(get(&app, "/admin/", &cookie).await.status(), 200);
    let same_origin = client()
        .post(app.url("/admin/logout"))
        .header("cookie", &cookie)
        .header("origin", app.base.as_str())
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", csrf.as_str()), ("lang", "en")])
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), 303);
    assert_ended(&app, &cookie).await;
    // What a browser sends under a no-referrer policy: an opaque origin, but same-origin by
    // Sec-Fetch-Site, which decides.
    let (cookie, _) = login(&app, "eva").await;
    let csrf = input_value(&page(&app, "/admin/", &cookie).await, "csrf");
    let opaque = client()
        .post(app.url("/admin/logout"))
        .header("cookie", &cookie)
        .header("origin", "null")
        .header("sec-fetch-site", "same-origin")
        .form(&[("csrf", csrf.as_str()), ("lang", "en")])
        .send()
        .await
        .unwrap();
    assert_eq!(opaque.status(), 303);
}

#[tokio::test]
async fn sessions_end_after_the_idle_timeout_and_after_the_absolute_one() {
    let app = common::spawn_app_with(|config| {
        config.session_idle = Duration::from_secs(2);
        config.session_max = Duration::from_secs(5);
    })
    .await;
    add_member(&app, "eva", StaffRole::Evaluator).await;

    // Idle: a session unused for 2 s is over.
    let (idle, _) = login(&app, "eva").await;
    assert_eq!(get(&app, "/admin/", &idle).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(2300)).await;
    assert_ended(&app, &idle).await;

    // Absolute: used every second, it still ends 5 s after sign-in.
    let (busy, _) = login(&app, "eva").await;
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(4300) {
        assert_eq!(get(&app, "/admin/", &busy).await.status(), 200, "alive at {:?}", started.elapsed());
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_ended(&app, &busy).await;
}

#[tokio::test]
async fn a_password_reset_ends_every_session_and_a_disabled_member_is_refused() {
    let app = common::spawn_app().await;
    add_member(&app, "eva", StaffRole::Evaluator).await;
    let (first, _) = login(&app, "eva").await;
    let (second, _) = login(&app, "eva").await;
    let eva = Username::parse("eva").unwrap();
    app.registry.console().reset_password(&eva, "a brand new password".into()).await.unwrap();
    assert_ended(&app, &first).await;
    assert_ended(&app, &second).await;
    assert_eq!(post_login(&app, "eva", PASSWORD).await.status(), 401, "the old password is gone");
    let again = post_login(&app, "eva", "a brand new password").await;
    assert_eq!(again.status(), 303);
    let live = cookie_pair(&set_cookie(&again).unwrap());

    app.registry.console().disable(&eva).await.unwrap();
    assert_ended(&app, &live).await;
    let refused = post_login(&app, "eva", "a brand new password").await;
    assert_eq!(refused.status(), 403);
    assert!(set_cookie(&refused).is_none());
    assert!(refused.text().await.unwrap().contains("This account is disabled"));
}

/// Session ids, CSRF tokens, passwords and codes never reach the log of a server logging at its
/// most verbose, through sign-in, a refused password, the second factor and logout.
#[tokio::test]
async fn no_session_id_csrf_token_password_or_code_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let run = |args: &[&str]| {
            let out = common::process::output(
                common::starmark_command(&path).args(args).env("STARMARK_STAFF_PASSWORD", PASSWORD),
            );
            assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        };
        run(&["keygen"]);
        run(&["staff", "add", "root", "--role", "admin"]);
    })
    .await
    .unwrap();
    let mut command = std::process::Command::new("sh");
    command
        .env_clear()
        .args(["-c", "STARMARK_LOG=debug exec \"$0\" serve", env!("CARGO_BIN_EXE_starmark")])
        .envs(common::starmark_command(dir.path()).get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))));
    let server = tokio::task::spawn_blocking(move || common::ServeProcess::start(command)).await.unwrap();
    let base = server.base.clone();
    let send = |request: reqwest::RequestBuilder| async move { request.send().await.unwrap() };
    let http = client();

    let wrong = send(
        http.post(format!("{base}/admin/login")).form(&[("username", "root"), ("password", "a wrong guess here")]),
    )
    .await;
    assert_eq!(wrong.status(), 401);
    let pending =
        send(http.post(format!("{base}/admin/login")).form(&[("username", "root"), ("password", PASSWORD)])).await;
    assert_eq!(pending.status(), 303);
    let pending = cookie_pair(&set_cookie(&pending).unwrap());
    let html =
        send(http.get(format!("{base}/admin/login/enrol")).header("cookie", &pending)).await.text().await.unwrap();
    let secret = common::console::enrolment_secret(&html);
    let pending_csrf = input_value(&html, "csrf");
    early_in_a_step(5).await;
    let first = code(&secret, 0);
    let full = send(
        http.post(format!("{base}/admin/login/enrol"))
            .header("cookie", &pending)
            .form(&[("code", first.as_str()), ("csrf", pending_csrf.as_str())]),
    )
    .await;
    assert_eq!(full.status(), 303);
    let full = cookie_pair(&set_cookie(&full).unwrap());
    let home = send(http.get(format!("{base}/admin/")).header("cookie", &full)).await.text().await.unwrap();
    let csrf = input_value(&home, "csrf");
    let out =
        send(http.post(format!("{base}/admin/logout")).header("cookie", &full).form(&[("csrf", csrf.as_str())])).await;
    assert_eq!(out.status(), 303);

    let end = send(http.get(format!("{base}/end-of-the-console-test"))).await;
    assert_eq!(end.status(), 404);
    let log = server.lines_until("/end-of-the-console-test", Duration::from_secs(60)).join("\n");
    assert!(log.contains("staff password accepted"), "the sign-in itself is logged:\n{log}");
    let secret_text = data_encoding::BASE32_NOPAD.encode(&secret);
    for (what, value) in [
        ("the password", PASSWORD),
        ("the wrong password", "a wrong guess here"),
        ("the pending session id", &pending["starmark_session=".len()..]),
        ("the session id", &full["starmark_session=".len()..]),
        ("the pending CSRF token", &pending_csrf),
        ("the CSRF token", &csrf),
        ("the TOTP secret", &secret_text),
    ] {
        assert!(!log.contains(value), "{what} is in the log:\n{log}");
    }
}

#[tokio::test]
async fn a_console_post_that_is_not_a_form_is_a_problem_not_plain_text() {
    let app = crate::common::spawn_app().await;
    for path in ["/admin/login", "/admin/login/code", "/admin/login/enrol", "/admin/logout"] {
        let bare = app.client.post(app.url(path)).send().await.expect("post");
        crate::common::assert_problem(bare, 415, "unsupported-media-type").await;
        let json = app.client.post(app.url(path)).json(&serde_json::json!({"username": "a"})).send();
        crate::common::assert_problem(json.await.expect("post"), 415, "unsupported-media-type").await;
    }
}
