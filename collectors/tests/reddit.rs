//! Reddit polling against a local server with Reddit's token endpoint and listing routes,
//! serving praw's recorded listings (re-ordered newest first, as `/new` lists) and constructed
//! comments: basic auth on the token request, overlapping polls emitted once and in order,
//! deleted things and a malformed listing skipped, the token refreshed before it expires,
//! `X-Ratelimit-*` and 429 waits, paging down to the cursor, resume after a restart, and
//! 401-after-refresh / 403 stopping at once.

mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use collectors::{BackoffConfig, CollectorError, Cursor, Item, Reddit, RedditConfig};
use model::{Kind, MediaKind};
use serde_json::{Value, json};
use support::http::{Reply, Request, Server};
use support::{last_cursor, malformed, mentions, take};

const ASKREDDIT: &str = include_str!("fixtures/reddit/TestSubredditListings.test_hot.listing.json");
const DOMAIN: &str = include_str!("fixtures/reddit/TestDomainListing.test_hot.listing.json");
const UA: &str = "test:backchannel-collectors:0.1 (by /u/backchannel)";
/// `backchannel-test:s3cret` in base 64.
const BASIC: &str = "Basic YmFja2NoYW5uZWwtdGVzdDpzM2NyZXQ=";

/// A fixture's things, newest first (`/new` order; the recordings are `/hot`).
fn things(fixture: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(fixture).expect("fixture");
    let mut c = v["data"]["children"].as_array().expect("children").clone();
    c.sort_by_key(|t| std::cmp::Reverse(id36(name(t))));
    c
}

fn name(t: &Value) -> &str {
    t["data"]["name"].as_str().expect("name")
}

fn id36(fullname: &str) -> u64 {
    u64::from_str_radix(&fullname[3..], 36).expect("base 36")
}

fn listing(children: &[Value], after: Option<&str>) -> Reply {
    let body = json!({"kind": "Listing", "data": {"modhash": "", "children": children,
        "after": after, "before": null}});
    Reply::json(200, body.to_string())
}

/// A comment shaped like those `/r/{sub}/comments` lists (fields we read, and a few we do not).
fn comment(id: &str, parent: &str, body: &str) -> Value {
    let deleted = body == "[deleted]";
    json!({"kind": "t1", "data": {"id": id, "name": format!("t1_{id}"), "body": body,
        "body_html": format!("<div class=\"md\"><p>{body}</p></div>"),
        "author": if deleted { "[deleted]" } else { "commenter" },
        "author_fullname": if deleted { Value::Null } else { json!("t2_c0ffee") },
        "created_utc": 1_456_820_000.0 + id36(&format!("t1_{id}")) as f64, "score": 3,
        "parent_id": parent, "link_id": "t3_48f9pq", "subreddit": "AskReddit",
        "permalink": format!("/r/AskReddit/comments/48f9pq/take/{id}/"), "ups": 3,
        "distinguished": null, "stickied": false}})
}

fn token_reply(n: u32, expires_in: u64) -> Reply {
    Reply::json(
        200,
        json!({"access_token": format!("tok-{n}"), "token_type": "bearer",
            "expires_in": expires_in, "scope": "*"})
        .to_string(),
    )
}

/// The token endpoint as Reddit runs it: the app's id and secret as basic auth, a form body,
/// our User-Agent; anything else is refused with a 401.
fn token(req: &Request, n: u32, expires_in: u64) -> Reply {
    let ok = req.method == "POST"
        && req.header("authorization") == Some(BASIC)
        && req.header("user-agent") == Some(UA)
        && req.body == b"grant_type=client_credentials";
    if ok {
        token_reply(n, expires_in)
    } else {
        Reply::status(401, &[])
    }
}

/// A server that routes by path; `script` gets the path, that path's hit count and the request.
async fn server(script: impl Fn(&str, u32, &Request) -> Reply + Send + Sync + 'static) -> Server {
    let hits: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    Server::start(move |_, req| {
        let seen = {
            let mut h = hits.lock().expect("lock");
            let n = h.entry(req.path().to_owned()).or_default();
            *n += 1;
            *n - 1
        };
        script(req.path(), seen, req)
    })
    .await
}

fn config(server: &Server, secret: &tempfile::NamedTempFile, subs: &[&str]) -> RedditConfig {
    let mut c: RedditConfig = toml::from_str(&format!(
        "client_id = \"backchannel-test\"\nclient_secret = {{ file = \"{}\" }}\n\
         user_agent = \"{UA}\"\nauth_url = \"{}\"\napi_url = \"{}\"\n\
         poll_interval = \"50ms\"\nbackfill = 100\nsubreddits = []\n",
        secret.path().display(),
        server.url(""),
        server.url("")
    ))
    .expect("config");
    c.subreddits = subs.iter().map(|s| (*s).to_owned()).collect();
    c.backoff = BackoffConfig {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
    };
    c
}

fn secret_file() -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(f.path(), "s3cret\n").expect("write");
    f
}

fn ids(items: &[Result<Item, CollectorError>]) -> Vec<String> {
    mentions(items).into_iter().map(|m| m.id).collect()
}

fn reddit_ids(things: &[Value]) -> Vec<String> {
    things
        .iter()
        .rev() // oldest first, as emitted
        .map(|t| format!("reddit:{}", name(t)))
        .collect()
}

fn requests_to(server: &Server, path: &str) -> Vec<Request> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path() == path)
        .collect()
}

#[tokio::test]
async fn overlapping_polls_emit_each_thing_once_in_order() {
    let posts = things(ASKREDDIT);
    let served = posts.clone();
    let server = server(move |path, n, req| match (path, n) {
        ("/api/v1/access_token", n) => token(req, n + 1, 3600),
        // Ten older posts, then five newer ones over five already seen, then the same again.
        ("/r/AskReddit/new", 0) => listing(&served[10..20], Some("t3_after")),
        ("/r/AskReddit/new", _) => listing(&served[5..15], Some("t3_after")),
        // c2 is deleted; then a malformed page; then two new comments over one seen.
        ("/r/AskReddit/comments", 0) => listing(
            &[
                comment("c3", "t1_c1", "a reply to the first"),
                comment("c2", "t3_48f9pq", "[deleted]"),
                comment("c1", "t3_48f9pq", "first!"),
            ],
            None,
        ),
        ("/r/AskReddit/comments", 1) => Reply::json(200, "<html>we took reddit offline</html>"),
        ("/r/AskReddit/comments", _) => listing(
            &[
                comment("c5", "t1_c4", "and again"),
                comment("c4", "t3_48f9pq", "me &amp; you"),
                comment("c3", "t1_c1", "a reply to the first"),
            ],
            None,
        ),
        _ => Reply::status(404, &[]),
    })
    .await;
    let secret = secret_file();
    let mut s = Reddit::new(config(&server, &secret, &["r/AskReddit"]))
        .expect("cfg")
        .stream(None);
    // 19 mentions and the malformed page, handed on to be dead-lettered.
    let items = take(&mut s, 20, Duration::from_secs(3)).await;
    let bad: Vec<&str> = malformed(&items).iter().map(|(r, _)| *r).collect();
    assert_eq!(bad, ["malformed_listing"]);
    let more = take(&mut s, 1, Duration::from_millis(300)).await;
    assert!(more.is_empty(), "nothing twice: {more:?}");
    let mut want = reddit_ids(&posts[10..20]);
    want.extend(["reddit:t1_c1".into(), "reddit:t1_c3".into()]);
    want.extend(reddit_ids(&posts[5..10]));
    want.extend(["reddit:t1_c4".into(), "reddit:t1_c5".into()]);
    assert_eq!(ids(&items), want);

    let ms = mentions(&items);
    let post = &ms[0];
    let source = &posts[19]["data"];
    assert_eq!(post.kind, Kind::Post);
    assert_eq!(post.text, source["title"].as_str().expect("title"));
    assert_eq!(
        post.author.handle,
        source["author"].as_str().expect("author")
    );
    assert_eq!(post.engagement.likes, source["score"].as_u64());
    assert_eq!(post.engagement.replies, source["num_comments"].as_u64());
    assert_eq!(
        post.url.as_deref(),
        Some(
            format!(
                "https://www.reddit.com{}",
                source["permalink"].as_str().expect("p")
            )
            .as_str()
        )
    );
    let reply = &ms[11];
    assert_eq!(reply.kind, Kind::Comment);
    assert_eq!(reply.refs.reply_to.as_deref(), Some("reddit:t1_c1"));
    assert_eq!(reply.refs.conversation.as_deref(), Some("reddit:t3_48f9pq"));
    assert_eq!(reply.author.id, "t2_c0ffee");

    // One token, sent on every listing request with the query we promise.
    assert_eq!(requests_to(&server, "/api/v1/access_token").len(), 1);
    let gets = requests_to(&server, "/r/AskReddit/new");
    assert!(gets.len() >= 2);
    for r in &gets {
        assert_eq!(r.header("authorization"), Some("Bearer tok-1"));
        assert_eq!(r.header("user-agent"), Some(UA));
        assert_eq!(r.query("limit").as_deref(), Some("100"));
        assert_eq!(r.query("raw_json").as_deref(), Some("1"));
        assert_eq!(r.query("after"), None, "a listing is read from the top");
    }
}

#[tokio::test]
async fn a_listing_empty_at_the_first_poll_emits_the_first_things_that_appear() {
    let posts = things(ASKREDDIT);
    let served = posts.clone();
    let server = server(move |path, n, req| match (path, n) {
        ("/api/v1/access_token", n) => token(req, n + 1, 3600),
        // A new subreddit: nothing at the first poll, then its first two posts.
        ("/r/AskReddit/new", 0) => listing(&[], None),
        ("/r/AskReddit/new", _) => listing(&served[18..20], None),
        ("/r/AskReddit/comments", _) => listing(&[], None),
        _ => Reply::status(404, &[]),
    })
    .await;
    let secret = secret_file();
    let mut cfg = config(&server, &secret, &["r/AskReddit"]);
    // No backfill: a first poll only marks what it finds as seen.
    cfg.backfill = 0;
    let mut s = Reddit::new(cfg).expect("cfg").stream(None);
    let items = take(&mut s, 2, Duration::from_secs(3)).await;
    assert_eq!(ids(&items), reddit_ids(&posts[18..20]));
}

#[tokio::test]
async fn a_first_poll_backfills_the_newest_and_maps_the_recorded_page() {
    let posts = things(ASKREDDIT);
    let served = posts.clone();
    let server = server(move |path, n, req| match path {
        "/api/v1/access_token" => token(req, n + 1, 3600),
        _ => listing(&served, None),
    })
    .await;
    let secret = secret_file();
    let mut c = config(&server, &secret, &["AskReddit"]);
    c.comments = false;
    c.keep_raw = true;
    let mut s = Reddit::new(c).expect("cfg").stream(None);
    // 102 things (praw's page has two stickies on top of 100): backfill = 100 emits the
    // newest 100 and only marks the two oldest as seen.
    let items = take(&mut s, 100, Duration::from_secs(3)).await;
    assert_eq!(ids(&items), reddit_ids(&posts[..100]));
    assert_eq!(posts.len(), 102);
    let more = take(&mut s, 1, Duration::from_millis(300)).await;
    assert!(more.is_empty(), "{more:?}");
    let ms = mentions(&items);
    let megathread = ms
        .iter()
        .find(|m| m.id == "reddit:t3_488k4a")
        .expect("the megathread");
    assert!(megathread.text.starts_with(
        "The Leonardo DaVinci wins the Golden Globe Megathread! What do we do now?\n\n\
         Please use this thread to discuss all things Leo + Oscar related."
    ));
    assert_eq!(
        megathread.author.id, "roastedbagel",
        "no author_fullname in 2016"
    );
    assert_eq!(megathread.created_at.timestamp(), 1_456_722_961);
    assert_eq!(megathread.engagement.likes, Some(1394));
    assert_eq!(megathread.engagement.replies, Some(506));
    assert_eq!(megathread.extra["subreddit"], "AskReddit");
    assert_eq!(
        megathread.raw.as_ref().map(|r| r["kind"].clone()),
        Some(json!("t3"))
    );
    assert!(ms.iter().all(|m| m.media.is_empty()), "self posts only");
    // Reddit's `edited` (false, or when in epoch seconds) is the edit mark.
    let mut marks: Vec<(String, Option<i64>)> = ms
        .iter()
        .map(|m| (m.id.clone(), m.edited_at.map(|t| t.timestamp())))
        .collect();
    let mut edited: Vec<(String, Option<i64>)> = posts[..100]
        .iter()
        .map(|p| {
            let id = format!("reddit:{}", name(p));
            (id, p["data"]["edited"].as_f64().map(|s| s as i64))
        })
        .collect();
    marks.sort();
    edited.sort();
    assert_eq!(marks, edited);
    let marks: Vec<Option<i64>> = marks.into_iter().map(|m| m.1).collect();
    assert_eq!(marks.iter().flatten().count(), 3, "the page's edited posts");
}

#[tokio::test]
async fn the_token_is_fetched_again_before_it_expires() {
    let posts = things(ASKREDDIT);
    let server = server(move |path, n, req| match path {
        "/api/v1/access_token" => token(req, n + 1, 1),
        _ => listing(&posts[..1], None),
    })
    .await;
    let secret = secret_file();
    let mut c = config(&server, &secret, &["AskReddit"]);
    c.comments = false;
    c.poll_interval = Duration::from_millis(100);
    let mut s = Reddit::new(c).expect("cfg").stream(None);
    let items = take(&mut s, 10, Duration::from_millis(1600)).await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert!(items[0].is_ok());
    let tokens = requests_to(&server, "/api/v1/access_token").len();
    assert!(
        tokens >= 2,
        "a 1 s token is refreshed within 1.6 s: {tokens}"
    );
    let bearers: Vec<String> = requests_to(&server, "/r/AskReddit/new")
        .iter()
        .filter_map(|r| r.header("authorization").map(str::to_owned))
        .collect();
    assert_eq!(bearers.first().map(String::as_str), Some("Bearer tok-1"));
    assert!(bearers.iter().any(|b| b == "Bearer tok-2"), "{bearers:?}");
    let first_tok2 = bearers.iter().position(|b| b == "Bearer tok-2");
    assert!(
        bearers[first_tok2.unwrap_or(0)..]
            .iter()
            .all(|b| b != "Bearer tok-1"),
        "the old token is not used again: {bearers:?}"
    );
}

#[tokio::test]
async fn ratelimit_headers_and_429_make_it_wait() {
    let links = things(DOMAIN);
    let served = links.clone();
    let times: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let t = times.clone();
    let server = server(move |path, n, req| match (path, n) {
        ("/api/v1/access_token", n) => token(req, n + 1, 3600),
        ("/r/videos+Music/new", n) => {
            t.lock().expect("lock").push(Instant::now());
            match n {
                // The window is spent: nothing may go out for a second.
                0 => match listing(&served[2..4], None) {
                    Reply::Full {
                        status,
                        mut headers,
                        body,
                    } => {
                        headers.extend([
                            ("x-ratelimit-used".into(), "600".into()),
                            ("x-ratelimit-remaining".into(), "0.0".into()),
                            ("x-ratelimit-reset".into(), "1".into()),
                        ]);
                        Reply::Full {
                            status,
                            headers,
                            body,
                        }
                    }
                    r => r,
                },
                1 => Reply::status(429, &[("retry-after", "1")]),
                _ => listing(&served[..4], None),
            }
        }
        _ => Reply::status(404, &[]),
    })
    .await;
    let secret = secret_file();
    let mut c = config(&server, &secret, &["videos+Music"]);
    c.comments = false;
    let mut s = Reddit::new(c).expect("cfg").stream(None);
    let items = take(&mut s, 4, Duration::from_secs(6)).await;
    assert_eq!(
        ids(&items),
        [reddit_ids(&links[2..4]), reddit_ids(&links[..2])].concat()
    );
    let t = times.lock().expect("lock").clone();
    assert!(t.len() >= 3, "{t:?}");
    assert!(
        t[1] - t[0] >= Duration::from_millis(950),
        "paused for the reset: {:?}",
        t[1] - t[0]
    );
    assert!(
        t[2] - t[1] >= Duration::from_millis(950),
        "waited for Retry-After: {:?}",
        t[2] - t[1]
    );
    let link = &mentions(&items)[0];
    assert_eq!(link.media.len(), 1);
    assert_eq!(link.media[0].kind, MediaKind::Link);
    assert_eq!(
        Some(link.media[0].url.as_str()),
        links[3]["data"]["url"].as_str()
    );
}

#[tokio::test]
async fn resumes_from_the_checkpointed_cursor_and_pages_down_to_it() {
    let posts = things(ASKREDDIT);
    let served = posts.clone();
    let restarted = Arc::new(Mutex::new(false));
    let r = restarted.clone();
    let server = server(move |path, n, req| {
        if path == "/api/v1/access_token" {
            return token(req, n + 1, 3600);
        }
        if !*r.lock().expect("lock") {
            return listing(&served[30..40], Some("t3_older"));
        }
        // After the restart, thirty new posts over ten pages' worth: three pages of ten.
        match req.query("after") {
            None => listing(&served[..10], Some(name(&served[9]))),
            Some(a) if a == name(&served[9]) => listing(&served[10..20], Some(name(&served[19]))),
            Some(a) if a == name(&served[19]) => listing(&served[20..35], Some("t3_older")),
            Some(_) => Reply::status(400, &[]),
        }
    })
    .await;
    let secret = secret_file();
    let mut c = config(&server, &secret, &["AskReddit"]);
    c.comments = false;
    let mut s = Reddit::new(c.clone()).expect("cfg").stream(None);
    let first = take(&mut s, 10, Duration::from_secs(3)).await;
    assert_eq!(ids(&first), reddit_ids(&posts[30..40]));
    drop(s);
    let cursor = last_cursor(&first).expect("cursor");
    let saved: Value = serde_json::from_str(cursor.as_str()).expect("cursor is JSON");
    assert_eq!(saved["r/AskReddit/new"]["newest"], json!(name(&posts[30])));
    assert_eq!(
        saved["r/AskReddit/new"]["recent"].as_array().map(Vec::len),
        Some(10)
    );

    *restarted.lock().expect("lock") = true;
    let mut s = Reddit::new(c).expect("cfg").stream(Some(cursor));
    let second = take(&mut s, 40, Duration::from_millis(1500)).await;
    assert_eq!(ids(&second), reddit_ids(&posts[..30]));
    assert!(matches!(last_cursor(&second), Some(Cursor(c)) if c.contains(name(&posts[0]))));
}

#[tokio::test]
async fn a_second_401_after_a_refresh_stops_without_a_retry_loop() {
    let server = server(|path, n, req| match path {
        "/api/v1/access_token" => token(req, n + 1, 3600),
        _ => Reply::status(401, &[("www-authenticate", "Bearer realm=\"reddit\"")]),
    })
    .await;
    let secret = secret_file();
    let mut s = Reddit::new(config(&server, &secret, &["AskReddit"]))
        .expect("cfg")
        .stream(None);
    let items = take(&mut s, 3, Duration::from_secs(3)).await;
    assert!(
        matches!(
            items.as_slice(),
            [Err(CollectorError::Auth { status: 401, .. })]
        ),
        "{items:?}"
    );
    assert_eq!(requests_to(&server, "/api/v1/access_token").len(), 2);
    let gets = requests_to(&server, "/r/AskReddit/new");
    let bearers: Vec<_> = gets.iter().map(|r| r.header("authorization")).collect();
    assert_eq!(bearers, [Some("Bearer tok-1"), Some("Bearer tok-2")]);
}

#[tokio::test]
async fn forbidden_and_refused_credentials_stop_at_once() {
    let server_403 = server(|path, n, req| match path {
        "/api/v1/access_token" => token(req, n + 1, 3600),
        _ => Reply::status(403, &[]),
    })
    .await;
    let secret = secret_file();
    let mut s = Reddit::new(config(&server_403, &secret, &["AskReddit"]))
        .expect("cfg")
        .stream(None);
    let items = take(&mut s, 3, Duration::from_secs(3)).await;
    assert!(
        matches!(
            items.as_slice(),
            [Err(CollectorError::Auth { status: 403, .. })]
        ),
        "{items:?}"
    );
    assert_eq!(requests_to(&server_403, "/api/v1/access_token").len(), 1);
    assert_eq!(requests_to(&server_403, "/r/AskReddit/new").len(), 1);

    // A wrong secret: the token endpoint's 401 is final too.
    let wrong = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(wrong.path(), "not-it").expect("write");
    let server_401 = server(|path, n, req| match path {
        "/api/v1/access_token" => token(req, n + 1, 3600),
        _ => Reply::status(500, &[]),
    })
    .await;
    let mut s = Reddit::new(config(&server_401, &wrong, &["AskReddit"]))
        .expect("cfg")
        .stream(None);
    let items = take(&mut s, 3, Duration::from_secs(3)).await;
    assert!(
        matches!(
            items.as_slice(),
            [Err(CollectorError::Auth { status: 401, .. })]
        ),
        "{items:?}"
    );
    assert_eq!(server_401.requests().len(), 1, "no listing without a token");
}
