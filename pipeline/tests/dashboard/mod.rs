//! The dashboard (`/` on `api.listen`) in a real browser: headless Chromium driven over
//! WebDriver ([`webdriver`]) against the embedded pipeline of `push.rs`'s [`Rig`]. It refuses a
//! wrong key; with a tenant's key (entered from the keyboard) it lists that tenant's signals
//! only, tests a new signal's query (the result shown, Save enabled only then) and saves it, and
//! shows one saved by another client within its 5 s refresh; a mention produced next appears in
//! the live list within 2 s with its terms in `<mark>`s (after emoji, so code-point offsets must
//! be converted right), another tenant's match never does, the signal's charts draw, the
//! connection reads connected, the author's edit of a listed match replaces it (marked edited,
//! not counted again), Pause holds matches back until Resume, an edit needs a new test
//! before it saves, and a delete asks first. A screenshot is left in the target directory. The
//! headers (types, CSP, caching) and the page's absence from `metrics.listen` are checked
//! without a browser.

mod webdriver;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use model::Mention;
use serde_json::Value;

use super::{Rig, WAIT};
use webdriver::Browser;

/// Produces one mention with `text`, now, and waits until the pipeline has published it.
async fn post(rig: &mut Rig, text: &str) -> Mention {
    let mut m = rig.source.mention(rig.next);
    m.id = format!("dash-{}", rig.next + 1);
    m.text = text.to_owned();
    (m.created_at, m.collected_at) = (chrono::Utc::now(), chrono::Utc::now());
    send(rig, m).await
}

/// Produces `m`'s edit to `text`, marked as its source marks one, and waits until the pipeline
/// has published it.
async fn edit(rig: &mut Rig, m: &Mention, text: &str) -> Mention {
    let mut edit = m.clone();
    edit.text = text.to_owned();
    (edit.collected_at, edit.edited_at) = (chrono::Utc::now(), Some(chrono::Utc::now()));
    send(rig, edit).await
}

async fn send(rig: &mut Rig, m: Mention) -> Mention {
    rig.next += 1;
    let payload = serde_json::to_vec(&m).expect("json");
    rig.producer
        .send(Some(m.id.clone().into_bytes()), payload)
        .await
        .expect("send");
    let target = rig.next;
    tokio::time::timeout(WAIT, async {
        while rig.stats.published.load(Ordering::Relaxed) < target {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the pipeline published the mention");
    m
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|s| s.as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_in_a_real_browser() {
    let started = Instant::now();
    let Some(browser) = Browser::start().await else {
        return;
    };
    let mut rig = Rig::start(&[]).await;
    let (_, key) = rig.acme.clone();
    // Stored before the signal exists: what its test finds.
    post(&mut rig, "🚀 An early zephyrine sighting over the bay").await;

    browser.goto(&format!("http://{}/", rig.addr)).await;
    browser
        .wait_for("the page", "return document.readyState === 'complete'")
        .await;

    // A wrong key is refused, and the page says so.
    let wrong = format!("bc_{}_{}", "0".repeat(16), "1".repeat(64));
    browser.type_into("#key", &wrong).await;
    browser.click("#key-form button[type=submit]").await;
    let error = browser
        .wait_for(
            "the wrong key's error",
            "return document.getElementById('key-error').textContent || null",
        )
        .await;
    assert!(
        error.as_str().is_some_and(|e| e.contains("refused")),
        "{error}"
    );
    assert_eq!(
        browser
            .eval("return document.getElementById('app').hidden")
            .await,
        true
    );

    // The right key, submitted from the keyboard (Enter): this tenant's signals, not the other
    // tenant's (`other` is globex's).
    browser.type_into("#key", &format!("{key}\u{E007}")).await;
    let ids = browser
        .wait_for(
            "the signal list",
            "const rows = [...document.querySelectorAll('#signal-table tbody tr')];\
             return rows.length ? rows.map(r => r.dataset.signal) : null",
        )
        .await;
    assert_eq!(strings(&ids), ["brand", "secret_a"]);
    assert_eq!(
        browser
            .eval("return sessionStorage.getItem('backchannel.apiKey')")
            .await,
        key.as_str()
    );

    // A new signal: Save waits for a test, the test's result is shown, then it saves.
    browser.type_into("#sig-id", "launch").await;
    browser
        .type_into("#sig-query", "zephyrine OR kumquat")
        .await;
    assert_eq!(
        browser
            .eval("return document.getElementById('save-btn').disabled")
            .await,
        true,
        "no Save before a test"
    );
    browser.click("#test-btn").await;
    let tested = browser
        .wait_for(
            "the test's result",
            "const s = document.querySelector('#test-result .test-summary');\
             return s && [s.dataset.matched, \
               [...document.querySelectorAll('#test-result mark')].map(m => m.textContent)]",
        )
        .await;
    assert_eq!(tested[0], "1", "{tested}");
    assert_eq!(strings(&tested[1]), ["zephyrine"]);
    assert_eq!(
        browser
            .eval("return document.getElementById('save-btn').disabled")
            .await,
        false
    );
    let revision = rig.signals.revision();
    browser.click("#save-btn").await;
    browser
        .wait_for(
            "the saved signal in the list",
            "return document.querySelector('#signal-table tr[data-signal=launch]') !== null",
        )
        .await;
    let saved = browser.text("#form-status").await;
    assert!(saved.contains("Saved launch, version"), "{saved}");
    // A signal saved elsewhere (another client of the API) shows up by the periodic refresh.
    let http = collectors::common::http_client().expect("client");
    let put = http
        .put(format!("http://{}/v1/signals/elsewhere", rig.addr))
        .bearer_auth(&key)
        .header("content-type", "application/json")
        .body(r#"{"query": "quokka"}"#)
        .send()
        .await
        .expect("PUT");
    assert_eq!(put.status(), 200);
    browser
        .wait_for(
            "the stream to connect",
            "return document.getElementById('conn').dataset.state === 'connected'",
        )
        .await;

    // The pipeline matches with the new signal once its reloader has picked it up (seconds).
    tokio::time::timeout(WAIT, async {
        while rig.signals.revision() == revision {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the pipeline reloaded the signals");

    // Another tenant's match, then ours: ours appears, marked, within 2 s; theirs never.
    let theirs = post(&mut rig, "lumen lanterns light the harbour tonight").await;
    let text = "🚀🚀 Zephyrine launch day: kumquat cake for all 🎉 long live ZEPHYRINE";
    let produced = Instant::now();
    let ours = post(&mut rig, text).await;
    let marks = browser
        .wait_for(
            "the live match",
            &format!(
                "const li = document.querySelector('#matches li[data-mention=\"{}\"]');\
                 return li && [li.querySelector('.text').textContent, \
                   [...li.querySelectorAll('mark')].map(m => m.textContent)]",
                ours.id
            ),
        )
        .await;
    let latency = produced.elapsed();
    eprintln!("the live match was shown {latency:?} after it was produced");
    assert!(
        latency < Duration::from_secs(2),
        "shown {latency:?} after it was produced"
    );
    assert_eq!(marks[0], text, "the text is shown whole");
    assert_eq!(strings(&marks[1]), ["Zephyrine", "kumquat", "ZEPHYRINE"]);
    let leaked = browser
        .eval(&format!(
            "return document.querySelector('#matches li[data-mention=\"{}\"]') !== null",
            theirs.id
        ))
        .await;
    assert_eq!(leaked, false, "another tenant's match is not shown");

    // The signal's charts draw the match, and the stream reads connected.
    let drawn = browser
        .wait_for(
            "the charts",
            "const card = document.querySelector('#chart-list [data-signal=launch]');\
             if (!card) return null;\
             const bars = [...card.querySelectorAll('svg.volume g.bar')];\
             const n = bars.reduce((s, b) => s + Number(b.dataset.mentions), 0);\
             const dots = card.querySelectorAll('svg.sentiment circle').length;\
             const rects = card.querySelectorAll('svg.volume g.bar rect').length;\
             return n > 0 && dots > 0 ? [bars.length, n, rects, dots] : null",
        )
        .await;
    assert!(drawn[0].as_u64() >= Some(60), "an hour of minutes: {drawn}");
    assert_eq!(drawn[1], 1, "one match counted: {drawn}");
    assert!(drawn[2].as_u64() >= Some(1) && drawn[3] == 1, "{drawn}");
    assert_eq!(
        browser
            .eval("return document.getElementById('conn').dataset.state")
            .await,
        "connected"
    );
    let conn = browser.text("#conn").await;
    assert!(conn.contains("connected"), "{conn}");
    let seen = browser
        .text("#signal-table tr[data-signal=launch] .seen")
        .await;
    assert_eq!(seen, "1");

    // The author edits it: the edit takes the listed match's place, marked edited, and is not
    // counted as another match.
    let edited = "🚀 Zephyrine launch day, edited: kumquat pie";
    edit(&mut rig, &ours, edited).await;
    let shown = browser
        .wait_for(
            "the edit in place of the match",
            &format!(
                "const all = document.querySelectorAll('#matches li[data-mention=\"{}\"]');\
                 const li = all[0];\
                 return li && li.querySelector('.text').textContent === {edited:?} \
                   ? [all.length, li.querySelector('.edited') !== null, \
                      [...li.querySelectorAll('mark')].map(m => m.textContent)] : null",
                ours.id
            ),
        )
        .await;
    assert_eq!(shown[0], 1, "one item: {shown}");
    assert_eq!(shown[1], true, "marked edited: {shown}");
    assert_eq!(strings(&shown[2]), ["Zephyrine", "kumquat"]);
    let seen = browser
        .text("#signal-table tr[data-signal=launch] .seen")
        .await;
    assert_eq!(seen, "1", "an edit is not another match");

    browser
        .wait_for(
            "the signal saved elsewhere",
            "return document.querySelector('#signal-table tr[data-signal=elsewhere]') !== null",
        )
        .await;

    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    browser.screenshot(&shot).await;
    eprintln!("screenshot: {}", shot.display());

    // Paused, a match is held back (and counted); resumed, it is shown.
    browser.click("#pause").await;
    let held = post(&mut rig, "kumquat season is here").await;
    browser
        .wait_for(
            "the held match to be counted",
            "return document.getElementById('live-note').textContent.includes('1 new matches held')",
        )
        .await;
    let script = format!(
        "return document.querySelector('#matches li[data-mention=\"{}\"]') !== null",
        held.id
    );
    assert_eq!(browser.eval(&script).await, false, "held while paused");
    browser.click("#pause").await;
    assert_eq!(browser.eval(&script).await, true, "shown on resume");

    // Editing: the loaded query is the signal's; a change needs a new test before Save.
    browser.click("button[aria-label='Edit brand']").await;
    let form = browser
        .eval(
            "return [document.getElementById('form-h').textContent, \
             document.getElementById('sig-id').readOnly, \
             document.getElementById('sig-query').value]",
        )
        .await;
    assert_eq!(
        form,
        serde_json::json!(["Edit signal brand", true, "acme OR nimbus"])
    );
    browser
        .type_into("#sig-query", "acme OR nimbus OR kettle")
        .await;
    let disabled = "return document.getElementById('save-btn').disabled";
    assert_eq!(browser.eval(disabled).await, true, "changed, not tested");
    browser.click("#test-btn").await;
    browser
        .wait_for(
            "the edited query's test",
            "return !document.getElementById('save-btn').disabled",
        )
        .await;
    browser.click("#save-btn").await;
    browser
        .wait_for(
            "version 2 in the list",
            "const c = document.querySelector('#signal-table tr[data-signal=brand] td:nth-of-type(2)');\
             return c && c.textContent === '2'",
        )
        .await;

    // Deleting asks first; then the row and the chart go.
    browser.click("button[aria-label='Delete launch']").await;
    let asked = browser.accept_dialog().await;
    assert!(asked.contains("Delete the signal launch"), "{asked}");
    browser
        .wait_for(
            "the deleted signal gone",
            "return !document.querySelector('#signal-table tr[data-signal=launch]') \
               && !document.querySelector('#chart-list [data-signal=launch]')",
        )
        .await;

    // Forgetting the key returns to the key form and drops the key.
    browser.click("#forget").await;
    let gone = browser
        .eval(
            "return [document.getElementById('login').hidden, \
             sessionStorage.getItem('backchannel.apiKey')]",
        )
        .await;
    assert_eq!(gone, serde_json::json!([false, null]));
    browser.quit().await;
    eprintln!("dashboard test took {:?}", started.elapsed());
}

/// `GET path` over HTTP/1.1 with `headers`: (status, headers, body).
async fn get(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let http = collectors::common::http_client().expect("client");
    let mut req = http.get(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("response");
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.text().await.expect("body"))
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_with_types_csp_and_caching_and_only_on_api_listen() {
    let rig = Rig::start(&[]).await;
    let (status, h, page) = get(rig.addr, "/", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(header(&h, "content-type"), "text/html; charset=utf-8");
    let csp = header(&h, "content-security-policy");
    for want in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(want), "{csp}");
    }
    assert!(!csp.contains("unsafe") && !csp.contains('*'), "{csp}");
    assert_eq!(header(&h, "x-content-type-options"), "nosniff");
    assert_eq!(header(&h, "referrer-policy"), "no-referrer");
    assert_eq!(header(&h, "cache-control"), "no-cache");
    let etag = header(&h, "etag").to_owned();
    assert!(etag.starts_with('"'), "{etag}");
    let (status, _, body) = get(rig.addr, "/", &[("if-none-match", &etag)]).await;
    assert_eq!((status, body.as_str()), (304, ""));

    // Every asset the page names: its type, cached for good under its version.
    let assets: Vec<&str> = page
        .split('"')
        .filter(|p| p.starts_with("assets/"))
        .collect();
    assert_eq!(assets.len(), 3, "icon, style, script: {assets:?}");
    for path in &assets {
        let (status, h, _) = get(rig.addr, &format!("/{path}"), &[]).await;
        assert_eq!(status, 200, "{path}");
        let want = match path.rsplit('.').next() {
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            _ => "image/svg+xml",
        };
        assert_eq!(header(&h, "content-type"), want, "{path}");
        assert!(header(&h, "cache-control").contains("immutable"), "{path}");
        assert!(!header(&h, "content-security-policy").is_empty(), "{path}");
    }
    let (status, h, _) = get(rig.addr, "/assets/0000000000000000/app.js", &[]).await;
    assert_eq!(status, 404, "another version's asset");
    assert_eq!(header(&h, "cache-control"), "no-store");
    // The page opens nothing up: the API still wants a key.
    let (status, _, _) = get(rig.addr, "/v1/signals", &[]).await;
    assert_eq!(status, 401);

    // metrics.listen serves no page.
    let config = pipeline::config::Config::load(
        None,
        [(
            "BACKCHANNEL__METRICS__LISTEN".to_owned(),
            "127.0.0.1:0".to_owned(),
        )],
    )
    .expect("config");
    let ready = pipeline::http::Readiness::default();
    let metrics = pipeline::services::serve_http(&config, ready)
        .await
        .expect("serve")
        .expect("metrics.listen is set");
    for path in ["/", &format!("/{}", assets[2])] {
        let (status, _, _) = get(metrics, path, &[]).await;
        assert_eq!(status, 404, "metrics.listen {path}");
    }
}
