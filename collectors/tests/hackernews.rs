//! Hacker News polling against a local Firebase-shaped server serving the real example items
//! (re-numbered): order kept, a not-yet-written `null` item waited for, malformed items counted,
//! a 500 and a 429 with Retry-After retried, deletions as tombstones, resume from the cursor.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use collectors::{BackoffConfig, CollectorError, Cursor, Event, HackerNews, HackerNewsConfig};
use model::Kind;
use serde_json::Value;
use support::http::{Reply, Server};
use support::{last_cursor, take};

const FIXTURE: &str = include_str!("fixtures/hackernews/item_examples.jsonl");

/// Item `1000 + k` is example `k % 6` (story, comment, ask, job, poll, pollopt) with its id
/// rewritten; 1006 is `null` on its first fetch, 1007 is malformed, 1008 deleted, 1009 fails
/// once with a 500.
fn item(id: u64, hits: u32) -> Reply {
    match (id, hits) {
        (1006, 0) => return Reply::json(200, "null"),
        (1007, _) => return Reply::json(200, "{\"id\":1007,\"by\":"),
        (1008, _) => {
            return Reply::json(
                200,
                r#"{"id":1008,"deleted":true,"type":"comment","time":1700000000}"#,
            );
        }
        (1009, 0) => return Reply::status(500, &[]),
        _ => {}
    }
    let examples: Vec<&str> = FIXTURE.lines().collect();
    let Some(line) = usize::try_from(id.saturating_sub(1000))
        .ok()
        .and_then(|k| examples.get(k % 6))
    else {
        return Reply::json(200, "null");
    };
    let mut v: Value = serde_json::from_str(line).expect("fixture");
    v["id"] = Value::from(id);
    Reply::json(200, v.to_string())
}

async fn server() -> Server {
    let hits: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    Server::start(move |_, req| {
        let mut h = hits.lock().expect("lock");
        let n = h.entry(req.path().to_owned()).or_default();
        let seen = *n;
        *n += 1;
        match req.path() {
            "/v0/maxitem.json" => match seen {
                0 => Reply::json(200, "1005"),
                1 => Reply::status(429, &[("retry-after", "1")]),
                _ => Reply::json(200, "1011"),
            },
            p => {
                let id = p
                    .trim_start_matches("/v0/item/")
                    .trim_end_matches(".json")
                    .parse()
                    .unwrap_or(0);
                item(id, seen)
            }
        }
    })
    .await
}

fn config(server: &Server, backfill: u64) -> HackerNewsConfig {
    HackerNewsConfig {
        base_url: server.url("/v0"),
        poll_interval: Duration::from_millis(50),
        backfill,
        concurrency: 4,
        max_null_polls: 3,
        backoff: BackoffConfig {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
        },
        keep_raw: false,
        http: Default::default(),
    }
}

fn ids(items: &[Result<collectors::Item, CollectorError>]) -> Vec<String> {
    items
        .iter()
        .map(|i| match &i.as_ref().expect("item").event {
            Event::Mention(m) => format!("{}:{}", m.id, m.kind.as_str()),
            Event::Delete { id } => format!("delete {id}"),
            Event::Malformed(bad) => format!("malformed {} {:?}", bad.reason, bad.bytes),
        })
        .collect()
}

#[tokio::test]
async fn polls_in_order_waits_for_null_items_and_retries_429_and_500() {
    let server = server().await;
    let started = Instant::now();
    // Backfill 6 from maxitem 1005: ids 1000..=1005 first.
    let mut s = HackerNews::new(config(&server, 6))
        .expect("cfg")
        .stream(None);
    let items = take(&mut s, 8, Duration::from_secs(10)).await;
    assert_eq!(
        ids(&items),
        [
            "hackernews:1000:post",    // story
            "hackernews:1001:comment", // comment
            "hackernews:1002:post",    // ask HN
            // 1003 job, 1005 poll option: passed over
            "hackernews:1004:post", // poll
            // 1006 null at first, then the story example again
            "hackernews:1006:post",
            // 1007 malformed: counted, skipped, handed on to be dead-lettered
            "malformed malformed_item Some(16)",
            "delete hackernews:1008",
            // 1009 (a job) only after one 500: that item is fetched again, not skipped past
            "hackernews:1010:post",
        ]
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the 429 asked for a 1 s wait"
    );
    let story = match &items[0].as_ref().expect("item").event {
        Event::Mention(m) => m.clone(),
        _ => panic!("story"),
    };
    assert_eq!(story.text, "My YC app: Dropbox - Throw away your USB drive");
    assert_eq!(story.author.handle, "dhouston");
    assert_eq!(story.engagement.replies, Some(71));
    assert_eq!(
        story.media[0].url,
        "http://www.getdropbox.com/u/2/screencast.html"
    );
    let comment = match &items[1].as_ref().expect("item").event {
        Event::Mention(m) => m.clone(),
        _ => panic!("comment"),
    };
    assert_eq!(comment.kind, Kind::Comment);
    assert_eq!(comment.refs.reply_to.as_deref(), Some("hackernews:2921506"));
    assert!(comment.text.starts_with(
        "Aw shucks, guys ... you make me blush with your compliments.\n\nTell you what"
    ));
    assert_eq!(last_cursor(&items), Some(Cursor("1010".into())));
    let item_1009 = server
        .requests()
        .iter()
        .filter(|r| r.path() == "/v0/item/1009.json")
        .count();
    assert_eq!(item_1009, 2, "1009 was fetched again after its 500");
}

#[tokio::test]
async fn a_throttled_item_is_retried_alone_and_its_neighbours_are_kept() {
    let hits: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let server = Server::start(move |_, req| {
        let mut h = hits.lock().expect("lock");
        let n = h.entry(req.path().to_owned()).or_default();
        let seen = *n;
        *n += 1;
        match req.path() {
            "/v0/maxitem.json" => Reply::json(200, "1003"),
            "/v0/item/1001.json" if seen == 0 => Reply::status(429, &[("retry-after", "0")]),
            p => {
                let id: u64 = p
                    .trim_start_matches("/v0/item/")
                    .trim_end_matches(".json")
                    .parse()
                    .unwrap_or(0);
                item(id, 1) // 1000..=1003 have no scripted quirks
            }
        }
    })
    .await;
    let mut cfg = config(&server, 4);
    cfg.concurrency = 4;
    let mut s = HackerNews::new(cfg).expect("cfg").stream(None);
    let items = take(&mut s, 3, Duration::from_secs(10)).await;
    // 1003 is a job (passed over).
    assert_eq!(items.len(), 3, "{items:?}");
    let count = |path: &str| {
        server
            .requests()
            .iter()
            .filter(|r| r.path() == path)
            .count()
    };
    assert_eq!(count("/v0/item/1001.json"), 2, "the throttled item, again");
    for id in [1000, 1002, 1003] {
        let path = format!("/v0/item/{id}.json");
        assert_eq!(
            count(&path),
            1,
            "{path}: fetched with the throttled one and kept"
        );
    }
}

#[tokio::test]
async fn resumes_after_the_saved_item_id() {
    let server = server().await;
    let mut s = HackerNews::new(config(&server, 0))
        .expect("cfg")
        .stream(Some(Cursor("1003".into())));
    let items = take(&mut s, 1, Duration::from_secs(5)).await;
    assert_eq!(ids(&items), ["hackernews:1004:post"]);
    let fetched: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    assert!(
        !fetched.iter().any(|p| p == "/v0/item/1003.json"),
        "{fetched:?}"
    );
}

#[tokio::test]
async fn forbidden_stops_the_collector() {
    let server = Server::start(|_, _| Reply::status(403, &[])).await;
    let mut s = HackerNews::new(config(&server, 0))
        .expect("cfg")
        .stream(None);
    let items = take(&mut s, 3, Duration::from_secs(5)).await;
    assert!(
        matches!(
            items.as_slice(),
            [Err(CollectorError::Auth { status: 403, .. })]
        ),
        "{items:?}"
    );
}
