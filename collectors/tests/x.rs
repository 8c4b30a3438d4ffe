//! X filtered stream against a local server: rule sync (stale rule deleted, missing one added),
//! the fixture's NDJSON frames with CRLF keep-alives, a disconnect mid-line, a 429 with
//! Retry-After, the reconnect overlap dropped, malformed frames skipped, frames without the author
//! expansion kept, references, entities
//! and media from constructed v2-shaped frames, backfill on resume, 401/403 fatal.

mod support;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use collectors::{BackoffConfig, CollectorError, Cursor, SecretRef, X, XConfig, XRule};
use model::{Kind, MediaKind};
use serde_json::{Value, json};
use support::http::{Reply, Server};
use support::{last_cursor, malformed, mentions, take};

const FIXTURE: &str = include_str!("fixtures/x/v2_filtered_stream_replay.CONSTRUCTED.ndjson");

/// The fixture's lines (frames and blank keep-alives), each frame given the `author_id` and
/// `includes.users` a request with our default `expansions` gets (see the fixture README).
fn fixture_lines() -> Vec<String> {
    FIXTURE
        .split_inclusive("\r\n")
        .map(|l| {
            if l.trim().is_empty() {
                return l.to_owned();
            }
            let mut v: Value = serde_json::from_str(l).expect("fixture frame");
            v["data"]["author_id"] = json!("2244994945");
            v["includes"] = json!({"users": [{"id": "2244994945", "username": "TwitterDev",
                "name": "Twitter Dev", "public_metrics": {"followers_count": 515000}}]});
            format!("{v}\r\n")
        })
        .collect()
}

/// Constructed frames in the v2 documentation's shape: a reply with entities and escaped text,
/// a quote, a repost with a photo.
fn constructed() -> Vec<String> {
    let reply = json!({
        "data": {"id": "1600000000000000001", "author_id": "99", "conversation_id": "1599999999999999999",
            "created_at": "2022-12-06T07:00:00.000Z", "lang": "en",
            "text": "@TwitterDev tips &amp; tricks for #TwitterAPI https://t.co/abc",
            "referenced_tweets": [{"type": "replied_to", "id": "1599999999999999999"}],
            "entities": {
                "mentions": [{"start": 0, "end": 11, "username": "TwitterDev", "id": "2244994945"}],
                "hashtags": [{"start": 34, "end": 45, "tag": "TwitterAPI"}],
                "urls": [{"start": 46, "end": 62, "url": "https://t.co/abc",
                    "expanded_url": "https://developer.x.com/en/docs", "display_url": "developer.x.com/en/docs"}]},
            "public_metrics": {"retweet_count": 2, "reply_count": 1, "like_count": 5, "quote_count": 0,
                "impression_count": 80}},
        "includes": {"users": [{"id": "99", "username": "dev_person", "name": "Dev Person",
            "verified": false, "created_at": "2013-12-14T04:35:55.000Z"}]},
        "matching_rules": [{"id": "1700000000000000002", "tag": "twitterapi"}]
    });
    let quote = json!({
        "data": {"id": "1600000000000000002", "author_id": "99", "text": "this!",
            "referenced_tweets": [{"type": "quoted", "id": "1578466218075312129"}]},
        "includes": {"users": [{"id": "99", "username": "dev_person"}]},
        "matching_rules": [{"id": "1700000000000000001", "tag": "python"}]
    });
    let repost = json!({
        "data": {"id": "1600000000000000003", "author_id": "99", "text": "RT @TwitterDev: a photo",
            "referenced_tweets": [{"type": "retweeted", "id": "1578000000000000001"}],
            "attachments": {"media_keys": ["3_1"]}},
        "includes": {"users": [{"id": "99", "username": "dev_person"}],
            "media": [{"media_key": "3_1", "type": "photo", "url": "https://pbs.twimg.com/media/x.jpg",
                "alt_text": "a chart"}]},
        "matching_rules": [{"id": "1700000000000000001", "tag": "python"}]
    });
    [reply, quote, repost]
        .iter()
        .map(|v| format!("{v}\r\n"))
        .collect()
}

fn rules_list() -> Reply {
    Reply::json(
        200,
        r#"{"data":[{"id":"1700000000000000001","value":"python","tag":"python"},
            {"id":"1700000000000000009","value":"old rule","tag":"stale"}],
            "meta":{"sent":"2022-10-07T19:00:00.000Z","result_count":2}}"#,
    )
}

fn config(server: &Server, token: &tempfile::NamedTempFile) -> XConfig {
    let mut c: XConfig = toml::from_str(&format!(
        "base_url = \"{}\"\nbearer_token = {{ file = \"{}\" }}\nidle_timeout = \"5s\"\n\
         [[rules]]\nvalue = \"python\"\ntag = \"python\"\n\
         [[rules]]\nvalue = \"@TwitterDev OR #TwitterAPI\"\ntag = \"twitterapi\"\n",
        server.url(""),
        token.path().display()
    ))
    .expect("config");
    c.backoff = BackoffConfig {
        initial: Duration::from_millis(10),
        max: Duration::from_millis(50),
    };
    c
}

fn token_file() -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(f.path(), "bearer-xyz\n").expect("write");
    f
}

fn stream_reply(lines: &[String]) -> Reply {
    // Several frames per write, one write splitting a frame: the reader must reassemble.
    let all = lines.concat().into_bytes();
    let chunks = all.chunks(700).map(<[u8]>::to_vec).collect();
    Reply::stream("application/json", chunks, Duration::from_millis(50))
}

#[tokio::test]
async fn syncs_rules_then_streams_through_a_cut_a_429_and_bad_frames() {
    let lines = fixture_lines();
    let frames: Vec<&String> = lines.iter().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(frames.len(), 60);
    assert!(lines.len() > 60, "the fixture has keep-alive lines");
    // Connection 1: up to frame 30, then half of frame 31 and the socket closes.
    let cut = lines
        .iter()
        .position(|l| *l == *frames[30])
        .expect("frame 31");
    let mut first: Vec<String> = lines[..cut].to_vec();
    first.push(frames[30][..40].to_owned());
    // Connection 3: frames 29 and 30 again (backfill overlap), the rest, then bad frames and
    // the constructed ones, then the connection stays open.
    let mut second: Vec<String> = vec![frames[28].clone(), frames[29].clone()];
    second.extend(lines[cut..].iter().cloned());
    second.push("{\"data\":{\"id\":\r\n".into());
    second.push("\r\n".into());
    second.push("{\"data\":{\"id\":\"1578000000000000000\",\"text\":\"no author\"}}\r\n".into());
    second.extend(constructed());
    let streams = Arc::new(Mutex::new(0usize));
    let server = Server::start(move |_, req| match (req.method.as_str(), req.path()) {
        ("GET", "/2/tweets/search/stream/rules") => rules_list(),
        ("POST", "/2/tweets/search/stream/rules") => Reply::json(
            201,
            r#"{"meta":{"sent":"2022-10-07T19:00:01.000Z","summary":{"created":1,"not_created":0,"valid":1,"invalid":0,"deleted":1,"not_deleted":0}}}"#,
        ),
        ("GET", "/2/tweets/search/stream") => {
            let mut n = streams.lock().expect("lock");
            *n += 1;
            match *n {
                1 => stream_reply(&first),
                2 => Reply::status(429, &[("retry-after", "1")]),
                _ => {
                    let mut r = stream_reply(&second);
                    if let Reply::Stream { hold, .. } = &mut r {
                        *hold = Duration::from_secs(30);
                    }
                    r
                }
            }
        }
        _ => Reply::status(404, &[]),
    })
    .await;
    let token = token_file();
    let started = Instant::now();
    let mut s = X::new(config(&server, &token)).expect("cfg").stream(None);
    // 64 mentions and the broken frame, handed on to be dead-lettered.
    let items = take(&mut s, 65, Duration::from_secs(10)).await;
    let bad: Vec<&str> = malformed(&items).iter().map(|(r, _)| *r).collect();
    assert_eq!(bad, ["malformed_json"]);
    let ms = mentions(&items);
    assert_eq!(
        ms.len(),
        64,
        "60 fixture posts, one without an author, 3 constructed"
    );
    let more = take(&mut s, 1, Duration::from_millis(300)).await;
    assert!(more.is_empty(), "no duplicates or extras: {more:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "the 429 asked for 1 s"
    );
    let want: Vec<String> = frames
        .iter()
        .map(|f| {
            let v: Value = serde_json::from_str(f).expect("frame");
            format!("x:{}", v["data"]["id"].as_str().expect("id"))
        })
        .chain(["x:1578000000000000000".to_owned()])
        .chain((1..=3).map(|k| format!("x:160000000000000000{k}")))
        .collect();
    let got: Vec<String> = ms.iter().map(|m| m.id.clone()).collect();
    assert_eq!(got, want);
    assert_eq!(ms[60].author.id, "unknown", "a frame without author_id");

    // The rules: the stale one deleted first, then the missing one added.
    let reqs = server.requests();
    let posts: Vec<Value> = reqs
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| serde_json::from_slice(&r.body).expect("json body"))
        .collect();
    assert_eq!(
        posts,
        [
            json!({"delete": {"ids": ["1700000000000000009"]}}),
            json!({"add": [{"value": "@TwitterDev OR #TwitterAPI", "tag": "twitterapi"}]}),
        ]
    );
    let stream_req = reqs
        .iter()
        .find(|r| r.path() == "/2/tweets/search/stream")
        .expect("stream request");
    assert_eq!(
        stream_req.header("authorization"),
        Some("Bearer bearer-xyz")
    );
    let fields = stream_req.query("tweet.fields").unwrap_or_default();
    assert!(
        fields.contains("author_id") && fields.contains("referenced_tweets"),
        "{fields}"
    );
    assert!(
        stream_req
            .query("expansions")
            .unwrap_or_default()
            .contains("author_id")
    );
    assert!(stream_req.query("backfill_minutes").is_none());

    // A fixture post: text unescaped, author from includes, time from the snowflake id.
    let first = &ms[0];
    assert_eq!(first.kind, Kind::Post);
    assert_eq!(
        first.text,
        "Swift Playgrounds is frustrating. Also, drag and drop on iPadOS is annoyingly bad."
    );
    assert_eq!(first.author.handle, "TwitterDev");
    assert_eq!(first.author.followers, Some(515_000));
    assert_eq!(
        first.created_at.to_rfc3339(),
        "2022-10-07T19:24:07.530+00:00"
    );
    assert_eq!(
        first.url.as_deref(),
        Some("https://x.com/TwitterDev/status/1578466218075312129")
    );
    assert_eq!(
        first.extra["matching_rules"],
        json!([{"id": "1700000000000000001", "tag": "python"}])
    );
    let escaped = ms
        .iter()
        .find(|m| m.id == "x:1578341223664062465")
        .expect("RT");
    assert!(
        escaped.text.contains("via @Twitter < great feature"),
        "{}",
        escaped.text
    );

    let (reply, quote, repost) = (&ms[61], &ms[62], &ms[63]);
    assert_eq!(reply.kind, Kind::Reply);
    assert_eq!(
        reply.refs.reply_to.as_deref(),
        Some("x:1599999999999999999")
    );
    assert_eq!(
        reply.refs.conversation.as_deref(),
        Some("x:1599999999999999999")
    );
    assert_eq!(
        reply.text,
        "@TwitterDev tips & tricks for #TwitterAPI https://t.co/abc"
    );
    assert_eq!(reply.lang_hint.as_deref(), Some("en"));
    assert_eq!(reply.engagement.likes, Some(5));
    assert_eq!(reply.engagement.views, Some(80));
    assert_eq!(reply.author.display_name.as_deref(), Some("Dev Person"));
    let facets = reply.extra["facets"].as_array().expect("facets");
    let spans: Vec<(String, String)> = facets
        .iter()
        .map(|f| {
            let (s, e) = (
                f["start"].as_u64().unwrap_or(0),
                f["end"].as_u64().unwrap_or(0),
            );
            let span: String = reply
                .text
                .chars()
                .skip(s as usize)
                .take((e - s) as usize)
                .collect();
            (f["value"].as_str().unwrap_or("").to_owned(), span)
        })
        .collect();
    assert_eq!(
        spans,
        [
            ("TwitterDev".to_owned(), "@TwitterDev".to_owned()),
            ("TwitterAPI".to_owned(), "#TwitterAPI".to_owned()),
            (
                "https://developer.x.com/en/docs".to_owned(),
                "https://t.co/abc".to_owned()
            ),
        ],
        "offsets follow the unescaped text"
    );
    assert_eq!(quote.kind, Kind::Quote);
    assert_eq!(
        quote.refs.quote_of.as_deref(),
        Some("x:1578466218075312129")
    );
    assert_eq!(repost.kind, Kind::Repost);
    assert_eq!(
        repost.refs.repost_of.as_deref(),
        Some("x:1578000000000000001")
    );
    assert_eq!(repost.media.len(), 1);
    assert_eq!(repost.media[0].kind, MediaKind::Image);
    assert_eq!(repost.media[0].alt_text.as_deref(), Some("a chart"));
    // The cursor is the high-water mark: the largest id delivered.
    assert_eq!(
        last_cursor(&items),
        Some(Cursor("1600000000000000003".into()))
    );
}

#[tokio::test]
async fn resume_asks_for_backfill_and_never_moves_the_cursor_back() {
    let older = fixture_lines()
        .into_iter()
        .find(|l| !l.trim().is_empty())
        .expect("frame");
    let server = Server::start(move |_, req| match req.path() {
        "/2/tweets/search/stream" => Reply::stream(
            "application/json",
            vec![older.clone().into_bytes()],
            Duration::from_secs(5),
        ),
        _ => Reply::status(404, &[]),
    })
    .await;
    let token = token_file();
    let mut cfg = config(&server, &token);
    cfg.sync_rules = false;
    cfg.backfill_minutes = 2;
    let mut s = X::new(cfg)
        .expect("cfg")
        .stream(Some(Cursor("1600000000000000003".into())));
    let items = take(&mut s, 1, Duration::from_secs(5)).await;
    assert_eq!(mentions(&items).len(), 1, "an older id is still delivered");
    assert_eq!(
        last_cursor(&items),
        Some(Cursor("1600000000000000003".into()))
    );
    let reqs = server.requests();
    assert!(
        reqs.iter().all(|r| r.path() == "/2/tweets/search/stream"),
        "no rule calls"
    );
    assert_eq!(reqs[0].query("backfill_minutes").as_deref(), Some("2"));
}

#[tokio::test]
async fn refused_credentials_and_rejected_rules_stop_the_collector() {
    let token = token_file();
    for (status, method) in [(401, "GET"), (403, "GET")] {
        let server = Server::start(move |_, _| Reply::status(status, &[])).await;
        let mut s = X::new(config(&server, &token)).expect("cfg").stream(None);
        let items = take(&mut s, 3, Duration::from_secs(5)).await;
        assert!(
            matches!(items.as_slice(), [Err(CollectorError::Auth { status: s, .. })] if *s == status),
            "{items:?}"
        );
        assert_eq!(
            server.requests().len(),
            1,
            "{method} {status} is not retried"
        );
    }
    // X answers an invalid rule with a 2xx and `errors`: a config error, fatal.
    let server = Server::start(|_, req| match req.method.as_str() {
        "GET" => Reply::json(200, r#"{"meta":{"sent":"2022-10-07T19:00:00.000Z","result_count":0}}"#),
        _ => Reply::json(
            201,
            r#"{"meta":{"summary":{"created":1,"not_created":1,"valid":1,"invalid":1}},
               "errors":[{"value":"@TwitterDev OR #TwitterAPI","details":["Rules must be at least 1 character"],"title":"UnprocessableEntity"}]}"#,
        ),
    })
    .await;
    let mut s = X::new(config(&server, &token)).expect("cfg").stream(None);
    let items = take(&mut s, 3, Duration::from_secs(5)).await;
    assert!(
        matches!(items.as_slice(), [Err(CollectorError::Config(m))] if m.contains("x.rules")),
        "{items:?}"
    );
}

#[test]
fn config_rejects_unknown_keys_and_an_empty_rule_set() {
    let bad: Result<XConfig, _> =
        toml::from_str("bearer_token = { env = \"X\" }\nrules = []\nfilter = \"x\"\n");
    assert!(bad.is_err());
    let empty: XConfig =
        toml::from_str("bearer_token = { env = \"X_UNSET_FOR_TEST\" }\n").expect("cfg");
    let err = X::new(empty).expect_err("no rules");
    assert!(err.to_string().contains("x.rules"), "{err}");
    let mut c: XConfig =
        toml::from_str("bearer_token = { env = \"X_UNSET_FOR_TEST\" }\nsync_rules = false\n")
            .expect("cfg");
    c.rules = vec![XRule {
        value: " ".into(),
        tag: Some("blank".into()),
    }];
    let err = X::new(c.clone()).expect_err("blank rule");
    assert!(err.to_string().contains("x.rules"), "{err}");
    c.rules.clear();
    c.bearer_token = SecretRef {
        env: None,
        file: None,
    };
    let err = X::new(c).expect_err("no secret");
    assert!(err.to_string().contains("x.bearer_token"), "{err}");
}

#[tokio::test]
async fn frames_without_author_expansions_become_mentions_with_what_they_have() {
    // The recorded posts exactly as recorded: no `author_id`, no `includes.users` (an app
    // that did not ask for the expansion, or a user object withheld), and one frame whose
    // `author_id` has no user object beside it.
    let mut lines: Vec<String> = FIXTURE.split_inclusive("\r\n").map(str::to_owned).collect();
    let first = lines
        .iter()
        .position(|l| !l.trim().is_empty())
        .expect("a frame");
    let mut v: Value = serde_json::from_str(&lines[first]).expect("frame");
    v["data"]["author_id"] = json!("2244994945");
    lines[first] = format!("{v}\r\n");
    let server = Server::start(move |_, req| match req.path() {
        "/2/tweets/search/stream" => {
            let mut r = stream_reply(&lines);
            if let Reply::Stream { hold, .. } = &mut r {
                *hold = Duration::from_secs(30);
            }
            r
        }
        _ => Reply::status(404, &[]),
    })
    .await;
    let token = token_file();
    let mut cfg = config(&server, &token);
    cfg.sync_rules = false;
    let mut s = X::new(cfg).expect("cfg").stream(None);
    let items = take(&mut s, 60, Duration::from_secs(10)).await;
    let ms = mentions(&items);
    assert_eq!(ms.len(), 60, "every recorded frame is a mention");
    assert_eq!(ms[0].author.id, "2244994945");
    assert_eq!(ms[0].author.handle, "");
    assert_eq!(ms[0].author.display_name, None);
    for m in &ms[1..] {
        assert_eq!(m.author.id, "unknown");
        assert_eq!(m.author.handle, "");
        assert!(m.validate().is_ok(), "{m:?}");
        assert!(
            m.url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://x.com/i/web/status/")),
            "{:?}",
            m.url
        );
    }
}
