//! Which scans count among a serial's distinct scanners: a `GET` from a client whose user agent
//! is a person's browser or scanning app. Not counted (though still counted as requests for the
//! issuer's figures):
//!
//! - `HEAD` requests: nobody reads a page that way; link checkers and previewers do.
//! - Requests with no `User-Agent`: every browser and scanning app sends one.
//! - Known crawlers and link-preview fetchers, which open a URL when someone *shares* it, not
//!   when someone holds the package: a user agent containing (any case) one of
//!   [`NOT_CONSUMERS`]. That covers facebookexternalhit, Twitterbot, Slackbot, WhatsApp,
//!   TelegramBot, Discordbot, LinkedInBot, Googlebot, bingbot, Applebot, Baiduspider,
//!   Bytespider, YandexBot and the like (most end their name in `bot/` or say `spider`).
//! - Command-line tools and HTTP libraries (curl, Wget, python-requests, Go's and Java's
//!   clients...): scripts, not consumers; someone checking by hand with one still gets the
//!   verdict, only not a place in the figure.
//!
//! A client that lies in its user agent counts like a browser; what bounds it is that it
//! counts once a day per network (see `registry/scan/scanners.rs`), so a replaying client cannot make
//! a mark look copied.

use axum::extract::Request;
use axum::http::{header, Method};

use crate::http::client::ClientAddr;
use crate::registry::ScanClient;

/// Lowercase parts of user agents that are not a consumer scanning a mark.
pub const NOT_CONSUMERS: &[&str] = &[
    "bot/",
    "bot;",
    "bot (",
    "bot)",
    "telegrambot",
    "spider",
    "crawl",
    "facebookexternalhit",
    "facebookcatalog",
    "whatsapp",
    "slack",
    "preview",
    "embedly",
    "curl/",
    "wget/",
    "python",
    "go-http-client",
    "java/",
    "libwww",
    "httpclient",
    "okhttp",
    "axios/",
    "node-fetch",
    "undici",
    "scrapy",
    "lighthouse",
];

/// Bytes of a user agent looked at: real ones are shorter, and a bot's name comes early.
const LOOKED_AT: usize = 512;

/// Whether a user agent is a person's browser or scanning app (see the module documentation).
pub fn is_consumer(user_agent: &[u8]) -> bool {
    if user_agent.iter().all(u8::is_ascii_whitespace) {
        return false;
    }
    let mut lower = [0u8; LOOKED_AT];
    let n = user_agent.len().min(LOOKED_AT);
    for (to, from) in lower.iter_mut().zip(&user_agent[..n]) {
        *to = from.to_ascii_lowercase();
    }
    let text = match std::str::from_utf8(&lower[..n]) {
        Ok(text) => text,
        // Cut inside a character at the end of what is looked at.
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&lower[..e.valid_up_to()]).unwrap_or_default(),
        // No browser sends bytes that are not UTF-8.
        Err(_) => return false,
    };
    !NOT_CONSUMERS.iter().any(|part| text.contains(part))
}

/// The client to count among the scanned serial's distinct scanners; `None` for a request that
/// does not count (see the module documentation) or that the server did not receive itself.
pub fn scan_client(request: &Request) -> Option<ScanClient<'_>> {
    if request.method() != Method::GET {
        return None;
    }
    let user_agent = request.headers().get(header::USER_AGENT)?.as_bytes();
    if !is_consumer(user_agent) {
        return None;
    }
    let client = ClientAddr::of(request.extensions(), request.headers())?;
    Some(ScanClient { network: client.network().bits(), user_agent })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phones_count_and_previewers_tools_and_nobody_do_not() {
        for phone in [
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
            "Mozilla/5.0 (Linux; Android 14; CUBOT KINGKONG 9 Build/UP1A) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
            "Mozilla/5.0 (Linux; Android 13; V2219A) AppleWebKit/537.36 Chrome/116.0 Mobile Safari/537.36 MicroMessenger/8.0.47 NetType/WIFI",
            "Mozilla/5.0 (Linux; Android 12) AlipayClient/10.5.90 \u{fffd}",
        ] {
            assert!(is_consumer(phone.as_bytes()), "{phone}");
        }
        for bot in [
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Twitterbot/1.0",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "Slack-ImgProxy (+https://api.slack.com/robots)",
            "WhatsApp/2.23.20.0 A",
            "TelegramBot (like TwitterBot)",
            "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)",
            "LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
            "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_11_1) AppleWebKit/601.2.4 (KHTML, like Gecko) Version/9.0.1 Safari/601.2.4 facebookexternalhit/1.1 Facebot Twitterbot/1.0",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) SkypeUriPreview Preview/0.5",
            "curl/8.5.0",
            "Wget/1.21.4",
            "python-requests/2.31.0",
            "Go-http-client/1.1",
            "",
            "   ",
        ] {
            assert!(!is_consumer(bot.as_bytes()), "{bot}");
        }
        assert!(!is_consumer(b"\xff\xfeMozilla/5.0"), "not UTF-8: no browser");
        let mut long = vec![b'a'; LOOKED_AT - 1];
        long.extend_from_slice("中".as_bytes());
        assert!(is_consumer(&long), "a character cut at the end of what is looked at");
    }
}
