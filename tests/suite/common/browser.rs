//! Browser-test harness: a real headless Chromium, driven through a private chromedriver, on a
//! phone-sized window.
//!
//! Each [`Browser`] starts its own chromedriver on a free loopback port, in its own process
//! group, with its own Chromium profile directory, so tests running in parallel threads never
//! share a browser; dropping it (even when the test panics) kills the whole group. Waits poll
//! the page until a condition holds or a generous deadline passes: no fixed sleeps.
//!
//! Debian's `chromium` and `chromium-driver` are required; scripts/test installs them. When they
//! are missing the test fails and says so: browser tests never skip.
//!
//! ```ignore
//! let browser = Browser::start(BrowserOptions::phone("zh-CN")).await;
//! browser.goto(&app.url("/v/...")).await;
//! assert!(browser.text("h1").await.contains("有效"));
//! browser.screenshot("docs/img/x.png").await;
//! ```

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

/// Where Debian's packages put the browser and its driver; `STARMARK_CHROMIUM` and
/// `STARMARK_CHROMEDRIVER` point elsewhere.
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// How long any wait may take before the test fails: long enough for a loaded CI machine
/// starting several browsers at once.
pub const WAIT: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(50);

/// How the browser is set up.
#[derive(Clone, Debug)]
pub struct BrowserOptions {
    /// The browser's language, sent as Accept-Language (e.g. `zh-CN`, `en-US`).
    pub lang: String,
    /// CSS pixels; `window.innerWidth` equals this.
    pub width: u32,
    pub height: u32,
}

impl BrowserOptions {
    /// A 360 x 800 phone screen (the smallest common Android width) in the given language.
    pub fn phone(lang: &str) -> Self {
        Self { lang: lang.to_string(), width: 360, height: 800 }
    }
}

fn program(env: &str, default: &str) -> String {
    std::env::var(env).unwrap_or_else(|_| default.to_string())
}

fn require(path: &str, package: &str) {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: the browser tests need Debian's {package} package; run scripts/test, which \
         installs chromium and chromium-driver (or apt-get install chromium chromium-driver)"
    );
}

/// A chromedriver process group (the driver and every Chromium it started), killed on drop.
struct Driver {
    child: Child,
    port: u16,
    profile: tempfile::TempDir,
}

impl Driver {
    /// Starts chromedriver on a free port and waits until it says it is ready. A port taken
    /// between choosing it and binding it (another test was quicker) is retried with another.
    fn start() -> Driver {
        let driver = program("STARMARK_CHROMEDRIVER", CHROMEDRIVER);
        require(&driver, "chromium-driver");
        require(&program("STARMARK_CHROMIUM", CHROMIUM), "chromium");
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
            let profile = tempfile::tempdir().expect("profile dir");
            let child = Command::new(&driver)
                .arg(format!("--port={port}"))
                .arg("--allowed-ips=127.0.0.1")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // Its own process group, so the Chromium it starts can be killed with it.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {driver}: {e}; run scripts/test"));
            let mut started = Driver { child, port, profile };
            match started.wait_ready() {
                Ok(()) => return started,
                Err(e) => last_error = e,
            }
        }
        panic!("chromedriver did not start: {last_error}");
    }

    /// Polls `GET /status` until chromedriver is ready, or it exits, or time is up.
    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("chromedriver exited with {status} (port {} taken?)", self.port));
            }
            if let Some(reply) = http_get(self.port, "/status") {
                if reply.contains("\"ready\":true") || reply.contains("\"ready\": true") {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!("no ready answer on port {} within {WAIT:?}", self.port));
            }
            std::thread::sleep(POLL);
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The group's id is the driver's pid; Chromium and its helpers are in the group.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal blocking HTTP GET on loopback, for chromedriver's status (no client needed yet).
/// chromedriver keeps the connection open whatever the request says, so the answer ends where
/// its Content-Length says, not at the end of the stream.
fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").ok()?;
    let mut reply = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = reply.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&reply[..end]).to_ascii_lowercase();
            let length = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok());
            if length.is_some_and(|length| reply.len() >= end + 4 + length) {
                break;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
        }
    }
    Some(String::from_utf8_lossy(&reply).into_owned())
}

/// One headless Chromium session on a private chromedriver.
pub struct Browser {
    client: Client,
    pub options: BrowserOptions,
    // Dropped after `client`: fields drop in declaration order.
    _driver: Driver,
}

impl Browser {
    /// Starts chromedriver and opens a session; panics with what to do when the browser is
    /// missing or does not come up.
    pub async fn start(options: BrowserOptions) -> Browser {
        let driver = tokio::task::spawn_blocking(Driver::start).await.expect("driver start");
        let profile = driver.profile.path().display().to_string();
        let chrome_options = json!({
            "binary": program("STARMARK_CHROMIUM", CHROMIUM),
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--hide-scrollbars",
                format!("--user-data-dir={profile}"),
                format!("--window-size={},{}", options.width, options.height),
                format!("--lang={}", options.lang),
            ],
            // Downloads land in the profile's own folder, without asking (see `download_dir`).
            "prefs": {
                "intl": { "accept_languages": options.lang },
                "download": { "default_directory": format!("{profile}/downloads"), "prompt_for_download": false },
            },
            // A phone viewport: innerWidth is exactly `width`, at one device pixel per CSS pixel.
            "mobileEmulation": {
                "deviceMetrics": { "width": options.width, "height": options.height, "pixelRatio": 1.0, "mobile": true, "touch": true }
            },
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), chrome_options);
        capabilities.insert("pageLoadStrategy".into(), json!("normal"));
        let url = format!("http://127.0.0.1:{}", driver.port);
        let deadline = Instant::now() + WAIT;
        let client = loop {
            let mut builder = ClientBuilder::new(HttpConnector::new());
            builder.capabilities(capabilities.clone());
            match builder.connect(&url).await {
                Ok(client) => break client,
                Err(e) => assert!(Instant::now() < deadline, "cannot open a Chromium session: {e}"),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let browser = Browser { client, options, _driver: driver };
        let width = browser.execute("return screen.width", vec![]).await;
        assert_eq!(width, json!(browser.options.width), "the screen is {width} CSS pixels wide");
        browser
    }

    /// Where files the page downloads are saved (created by the browser on the first one).
    pub fn download_dir(&self) -> std::path::PathBuf {
        self._driver.profile.path().join("downloads")
    }

    /// The underlying fantoccini client, for anything the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens a URL and waits until the document has loaded (deferred scripts have run). Fails
    /// unless the page lays out at the phone's width (`window.innerWidth`), which takes the
    /// usual `<meta name="viewport" content="width=device-width">`.
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.unwrap_or_else(|e| panic!("goto {url}: {e}"));
        self.wait_until("document loaded", "return document.readyState === 'complete'").await;
        let width = self.execute("return window.innerWidth", vec![]).await;
        assert_eq!(width, json!(self.options.width), "{url} lays out {width} CSS pixels wide");
    }

    /// Runs a script (a function body: use `return`, `arguments[0]`...) and gives its value.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.client.execute(script, args).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls a script until it returns `true`; fails the test with `what` after [`WAIT`].
    pub async fn wait_until(&self, what: &str, script: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            // A page being replaced may refuse scripts for a moment: that is "not yet".
            if matches!(self.client.execute(script, vec![]).await, Ok(Value::Bool(true))) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits for an element matching the CSS selector and gives its visible text.
    pub async fn text(&self, selector: &str) -> String {
        let element = self
            .client
            .wait()
            .at_most(WAIT)
            .every(POLL)
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("no element '{selector}': {e}"));
        element.text().await.unwrap_or_else(|e| panic!("text of '{selector}': {e}"))
    }

    /// The visible text of the selector once `accept` holds for it (for text a script fills
    /// in after load); fails with the last text seen.
    pub async fn text_when(&self, selector: &str, accept: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let text = self.text(selector).await;
            if accept(&text) {
                return text;
            }
            assert!(Instant::now() < deadline, "'{selector}' never showed the expected text; last: {text:?}");
            tokio::time::sleep(POLL).await;
        }
    }

    /// Whether an element matches the selector right now.
    pub async fn exists(&self, selector: &str) -> bool {
        self.execute("return document.querySelector(arguments[0]) !== null", vec![json!(selector)]).await
            == Value::Bool(true)
    }

    /// A computed style property of the first element matching the selector.
    pub async fn style(&self, selector: &str, property: &str) -> String {
        let value = self
            .execute(
                "const e = document.querySelector(arguments[0]);\
                 return e ? getComputedStyle(e).getPropertyValue(arguments[1]) : null;",
                vec![json!(selector), json!(property)],
            )
            .await;
        value.as_str().unwrap_or_else(|| panic!("no element '{selector}'")).to_string()
    }

    /// Saves a PNG of the viewport, creating the folder if needed.
    pub async fn screenshot(&self, path: impl AsRef<Path>) {
        let path = path.as_ref();
        let png = self.client.screenshot().await.unwrap_or_else(|e| panic!("screenshot: {e}"));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("screenshot folder");
        }
        std::fs::write(path, png).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Ends the session cleanly (the driver is killed on drop either way).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

/// WCAG 2 contrast ratio of two CSS colours as `getComputedStyle` gives them
/// (`rgb(r, g, b)` or `rgba(r, g, b, a)` with a = 1).
pub fn contrast_ratio(foreground: &str, background: &str) -> f64 {
    let (a, b) = (relative_luminance(foreground), relative_luminance(background));
    let (light, dark) = if a > b { (a, b) } else { (b, a) };
    (light + 0.05) / (dark + 0.05)
}

fn relative_luminance(css: &str) -> f64 {
    let inner = css.trim().trim_start_matches("rgba(").trim_start_matches("rgb(").trim_end_matches(')').to_string();
    let parts: Vec<f64> =
        inner.split(',').map(|p| p.trim().parse::<f64>().unwrap_or_else(|_| panic!("colour {css}"))).collect();
    assert!(parts.len() == 3 || (parts.len() == 4 && parts[3] == 1.0), "an opaque rgb() colour, not {css}");
    let channel = |v: f64| {
        let c = v / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(parts[0]) + 0.7152 * channel(parts[1]) + 0.0722 * channel(parts[2])
}
