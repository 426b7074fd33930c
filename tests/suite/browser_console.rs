//! The console in a real headless Chromium, at 1280 and 360 px, in Chinese and English: an
//! admin signs in with password and TOTP code, sees the home, and signs out; the session cookie
//! is out of reach of scripts, and the page fits a phone.

use crate::common;

use common::browser::{Browser, BrowserOptions};
use common::console::{add_member, code, early_in_a_step, enrol, PASSWORD};
use fantoccini::Locator;
use starmark::domain::StaffRole;

async fn type_into(browser: &Browser, selector: &str, text: &str) {
    let field = browser.client().find(Locator::Css(selector)).await.unwrap_or_else(|e| panic!("{selector}: {e}"));
    field.send_keys(text).await.unwrap_or_else(|e| panic!("type into {selector}: {e}"));
}

async fn click(browser: &Browser, selector: &str) {
    let element = browser.client().find(Locator::Css(selector)).await.unwrap_or_else(|e| panic!("{selector}: {e}"));
    element.click().await.unwrap_or_else(|e| panic!("click {selector}: {e}"));
}

async fn path(browser: &Browser) -> String {
    browser.execute("return location.pathname", vec![]).await.as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn an_admin_signs_in_with_a_totp_code_and_signs_out_at_desktop_and_phone_widths_in_both_languages() {
    let app = common::spawn_app().await;
    for (n, (width, lang)) in [(1280, "en-US"), (1280, "zh-CN"), (360, "en-US"), (360, "zh-CN")].into_iter().enumerate()
    {
        let username = format!("admin{n}");
        add_member(&app, &username, StaffRole::Admin).await;
        let (_, secret) = enrol(&app, &username).await;
        let browser = Browser::start(BrowserOptions { lang: lang.into(), width, height: 800 }).await;

        browser.goto(&app.url("/admin/login")).await;
        let english = lang.starts_with("en");
        let heading = browser.text("h1").await;
        assert_eq!(heading, if english { "Staff sign-in" } else { "工作人员登录" }, "{width} {lang}");
        type_into(&browser, "#username", &username).await;
        type_into(&browser, "#password", PASSWORD).await;
        click(&browser, "#sign-in").await;
        browser.wait_until("the code step", "return location.pathname === '/admin/login/code'").await;
        // The next step's code: the one enrolment used is spent.
        early_in_a_step(8).await;
        type_into(&browser, "#code", &code(&secret, 1)).await;
        click(&browser, "#verify").await;
        browser.wait_until("the home", "return location.pathname === '/admin/'").await;
        let role = browser.text("#role").await;
        assert_eq!(role, if english { "Administrator" } else { "管理员" }, "{width} {lang}");
        assert!(browser.text("#who").await.contains(&username));
        let cookies = browser.execute("return document.cookie", vec![]).await;
        assert!(!cookies.as_str().unwrap_or("").contains("starmark_session"), "HttpOnly: {cookies}");
        let scroll = browser.execute("return document.scrollingElement.scrollWidth", vec![]).await;
        assert!(scroll.as_u64().is_some_and(|w| w <= u64::from(width)), "scrolls sideways at {width}: {scroll}");
        if std::env::var("STARMARK_SCREENSHOTS").is_ok_and(|v| v == "1") && width == 1280 && !english {
            browser.screenshot("docs/img/console-home.png").await;
        }

        click(&browser, "#sign-out").await;
        browser.wait_until("the signed-out page", "return location.pathname === '/admin/login'").await;
        assert!(browser.exists("div.note-box").await, "it says the member is signed out");
        // Back to the home: the session is over on the server too.
        browser.goto(&app.url("/admin/")).await;
        assert_eq!(path(&browser).await, "/admin/login");
        browser.close().await;
    }
}
