//! A small W3C WebDriver client over reqwest, for headless Chromium through `chromedriver`:
//! just the commands the dashboard test uses (navigate, find by CSS, type, click, run a script,
//! screenshot). Without `chromedriver` and Chromium on the machine, [`Browser::start`] skips
//! loudly, and fails where the tools are required (CI, `deploy/dev/test`).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common;

/// The key W3C WebDriver names an element reference by.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// How long a [`Browser::wait_for`] condition may take.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// An executable on `PATH` (or the path in `env`, when set).
fn tool(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

/// A headless Chromium session; the driver process ends with it.
pub struct Browser {
    http: reqwest::Client,
    /// `http://127.0.0.1:PORT/session/ID`.
    session: String,
    driver: Child,
}

impl Browser {
    /// Starts `chromedriver` and a headless Chromium session, or `None` (after a SKIPPED line)
    /// when the tools are missing and not required.
    pub async fn start() -> Option<Browser> {
        let driver = tool("BACKCHANNEL_CHROMEDRIVER", &["chromedriver"]);
        let chromium = tool(
            "BACKCHANNEL_CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let (Some(driver), Some(chromium)) = (driver, chromium) else {
            let msg = "chromium and chromedriver are not installed (Debian: apt-get install \
                       chromium chromium-driver; deploy/dev/test installs them)";
            assert!(!common::services_required(), "{msg}");
            eprintln!("SKIPPED: {msg}");
            return None;
        };
        let port = common::free_port();
        let mut driver = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", driver.display()));
        let http = collectors::common::http_client().expect("client");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if Instant::now() > deadline || driver.try_wait().ok().flatten().is_some() {
                let _ = driver.kill();
                panic!("chromedriver did not answer on port {port}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                         "--disable-dev-shm-usage", "--window-size=1280,1500"],
            },
        }}});
        let mut browser = Browser {
            http,
            session: String::new(),
            driver,
        };
        let created = browser.call("POST", &format!("{base}/session"), caps).await;
        let id = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("a session: {created}"));
        browser.session = format!("{base}/session/{id}");
        Some(browser)
    }

    /// One WebDriver command; its `value`. A WebDriver error panics with its message.
    async fn call(&self, method: &str, url: &str, body: Value) -> Value {
        let req = match method {
            "GET" => self.http.get(url),
            "DELETE" => self.http.delete(url),
            _ => self
                .http
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_string()),
        };
        let resp = req.send().await.expect("chromedriver answers");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {url}: {status} {text}");
        v.get("value").cloned().unwrap_or(Value::Null)
    }

    async fn session(&self, method: &str, path: &str, body: Value) -> Value {
        self.call(method, &format!("{}{path}", self.session), body)
            .await
    }

    pub async fn goto(&self, url: &str) {
        self.session("POST", "/url", json!({ "url": url })).await;
    }

    /// The element `css` selects (the first); panics when there is none.
    pub async fn find(&self, css: &str) -> String {
        let v = self
            .session(
                "POST",
                "/element",
                json!({"using": "css selector", "value": css}),
            )
            .await;
        v[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("{css}: {v}"))
            .to_owned()
    }

    /// Types `text` into the element `css` selects, as keystrokes.
    pub async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        self.session("POST", &format!("/element/{el}/clear"), json!({}))
            .await;
        self.session(
            "POST",
            &format!("/element/{el}/value"),
            json!({ "text": text }),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let el = self.find(css).await;
        self.session("POST", &format!("/element/{el}/click"), json!({}))
            .await;
    }

    /// The rendered text of the element `css` selects.
    pub async fn text(&self, css: &str) -> String {
        let el = self.find(css).await;
        let v = self
            .session("GET", &format!("/element/{el}/text"), Value::Null)
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` (a function body: `return …`) in the page.
    pub async fn eval(&self, script: &str) -> Value {
        self.session(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    /// Polls `script` until it returns something other than null/false; returns that. Panics
    /// after [`PATIENCE`] naming `what` and the page's status lines.
    pub async fn wait_for(&self, what: &str, script: &str) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let v = self.eval(script).await;
            if !(v.is_null() || v == Value::Bool(false)) {
                return v;
            }
            if Instant::now() > deadline {
                let page = self
                    .eval(
                        "return ['conn','key-error','form-status','test-result']\
                         .map(i => i + ': ' + (document.getElementById(i) || {}).textContent)\
                         .join(' | ')",
                    )
                    .await;
                panic!("waited {PATIENCE:?} for {what}; the page says {page}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Accepts the open `confirm()` dialog; returns its text.
    pub async fn accept_dialog(&self) -> String {
        let text = self.session("GET", "/alert/text", Value::Null).await;
        self.session("POST", "/alert/accept", json!({})).await;
        text.as_str().unwrap_or_default().to_owned()
    }

    /// Saves a PNG screenshot of the page to `path`.
    pub async fn screenshot(&self, path: &std::path::Path) {
        let v = self.session("GET", "/screenshot", Value::Null).await;
        let png = base64_decode(v.as_str().expect("base64 PNG"));
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        std::fs::write(path, png).expect("write the screenshot");
    }

    pub async fn quit(mut self) {
        self.session("DELETE", "", Value::Null).await;
        self.session.clear();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (what WebDriver returns a screenshot in).
fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0);
    for v in s.bytes().filter_map(value) {
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}
