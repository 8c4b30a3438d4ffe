//! Mastodon streaming against a scripted local server replaying the documentation's real SSE
//! events: a disconnect mid-event, a malformed frame, a 429 with Retry-After, the REST backfill
//! from the cursor after reconnecting, resume after a restart, and a 401 that stops at once;
//! a failed backfill (404, 5xx) skipped for the live stream, `Last-Event-ID` sent back, and
//! re-delivered events that do not reset the reconnect backoff.

mod support;

use std::time::{Duration, Instant};

use collectors::{
    BackoffConfig, CollectorError, Event, Mastodon, MastodonConfig, MastodonTimeline, SecretRef,
};
use model::Kind;
use support::http::{Reply, Server};
use support::{last_cursor, malformed, mentions, take};

const FIXTURE: &str = include_str!("fixtures/mastodon/streaming_doc_events.sse");

fn events() -> Vec<String> {
    FIXTURE
        .split("\n\n")
        .filter(|e| !e.trim().is_empty())
        .map(|e| format!("{e}\n\n"))
        .collect()
}

/// The `data:` JSON of event `i`.
fn status_json(i: usize) -> String {
    events()[i]
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .expect("data")
        .to_owned()
}

fn config(server: &Server, token: &tempfile::NamedTempFile) -> MastodonConfig {
    MastodonConfig {
        server: server.url(""),
        timeline: MastodonTimeline::Public,
        hashtag: None,
        token: Some(SecretRef {
            env: None,
            file: Some(token.path().to_owned()),
        }),
        backoff: BackoffConfig {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
        },
        idle_timeout: Duration::from_secs(5),
        backfill_pages: 2,
        dedup_window: 10_000,
        keep_raw: false,
        http: Default::default(),
    }
}

fn token_file() -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().expect("temp");
    std::fs::write(f.path(), "tok-123\n").expect("write");
    f
}

fn sse(chunks: Vec<String>) -> Reply {
    Reply::stream(
        "text/event-stream",
        chunks.into_iter().map(String::into_bytes).collect(),
        Duration::from_millis(50),
    )
}

#[tokio::test]
async fn streams_reconnects_after_cut_and_429_and_backfills_from_the_cursor() {
    let ev = events();
    let part_a: Vec<String> = ev[..=13]
        .iter()
        .cloned()
        .chain([
            "event: update\ndata: {broken json\n\n".to_owned(),
            "event: delete\ndata: not an id!\n\n".to_owned(),
            // Cut off mid-event: this half status must never be emitted.
            "event: update\ndata: {\"id\":\"1".to_owned(),
        ])
        .collect();
    let part_b: Vec<String> = ev[14..].to_vec();
    let backfilled = format!("[{}]", status_json(14));
    // 0: the stream, cut; 1: a backfill refused with 429 (skipped: the stream comes next);
    // 2: the stream refused with 429 (retried after Retry-After); 3: the backfill; 4: the stream.
    let server = Server::start(move |n, req| match (n, req.path()) {
        (0, "/api/v1/streaming/public") => sse(part_a.clone()),
        (1 | 2, _) => Reply::status(429, &[("retry-after", "1")]),
        (_, "/api/v1/timelines/public")
            if req.query("min_id").as_deref() == Some("109348684737626801") =>
        {
            Reply::json(200, backfilled.clone())
        }
        (_, "/api/v1/timelines/public") => Reply::json(200, "[]"),
        (4, "/api/v1/streaming/public") => sse(part_b.clone()),
        _ => sse(vec![":thump\n".into()]),
    })
    .await;
    let token = token_file();
    let mut s = Mastodon::new(config(&server, &token))
        .expect("cfg")
        .stream(None);
    // 15 statuses, 6 deletions and the two bad events, handed on to be dead-lettered.
    let items = take(&mut s, 23, Duration::from_secs(10)).await;
    assert_eq!(items.len(), 23, "{items:?}");
    let bad: Vec<&str> = malformed(&items).iter().map(|(r, _)| *r).collect();
    assert_eq!(bad, ["malformed_json", "bad_delete"]);

    let host = server.addr.to_string();
    let got = mentions(&items);
    assert_eq!(got.len(), 15);
    let first = &got[0];
    assert_eq!(first.id, format!("mastodon:{host}/108914327388663283"));
    assert_eq!(first.kind, Kind::Reply);
    assert_eq!(first.text, "@disarray glad i was able to help");
    assert_eq!(first.author.handle, "freon@letsalllovela.in");
    assert_eq!(first.author.followers, Some(37));
    assert_eq!(
        first.refs.reply_to,
        Some(format!("mastodon:{host}/108914298452377720"))
    );
    // The backfilled status comes between the two streams.
    assert_eq!(got[5].id, format!("mastodon:{host}/109348699525106378"));
    // An edited status says when it was edited, on the stream and from the backfill alike; a
    // status never edited says nothing.
    let edited = |m: &model::Mention| {
        m.edited_at
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
    };
    assert_eq!(edited(first), None);
    assert_eq!(edited(&got[5]).as_deref(), Some("2022-11-15T16:12:41.694Z"));
    let streamed = got
        .iter()
        .find(|m| m.id.ends_with("/109348677773283527"))
        .expect("a streamed edit");
    assert_eq!(
        edited(streamed).as_deref(),
        Some("2022-11-15T16:07:29.023Z")
    );

    let deletes: Vec<String> = items
        .iter()
        .filter_map(|i| match &i.as_ref().ok()?.event {
            Event::Delete { id } => Some(id.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(deletes.len(), 6);
    assert_eq!(deletes[0], format!("mastodon:{host}/107214471804101576"));

    let reqs = server.requests();
    assert_eq!(reqs[0].header("authorization"), Some("Bearer tok-123"));
    assert_eq!(reqs[1].path(), "/api/v1/timelines/public");
    assert_eq!(reqs[2].path(), "/api/v1/streaming/public");
    assert_eq!(reqs[3].path(), "/api/v1/timelines/public");
    assert_eq!(
        reqs[3].query("min_id").as_deref(),
        Some("109348684737626801")
    );
    assert_eq!(reqs[4].path(), "/api/v1/streaming/public");
    assert_eq!(
        last_cursor(&items).map(|c| c.0),
        Some("109348699525106378".into())
    );
}

#[tokio::test]
async fn resumes_after_a_restart_by_backfilling_from_the_saved_cursor() {
    let page = format!("[{},{}]", status_json(14), status_json(11)); // newest first
    let server = Server::start(move |_, req| match req.path() {
        "/api/v1/timelines/public"
            if req.query("min_id").as_deref() == Some("109348677773283527") =>
        {
            Reply::json(200, page.clone())
        }
        "/api/v1/timelines/public" => Reply::json(200, "[]"),
        _ => sse(vec![":thump\n\n".into()]),
    })
    .await;
    let token = token_file();
    let resume = Some(collectors::Cursor("109348677773283527".into()));
    let mut s = Mastodon::new(config(&server, &token))
        .expect("cfg")
        .stream(resume);
    let items = take(&mut s, 2, Duration::from_secs(5)).await;
    let got = mentions(&items);
    let host = server.addr.to_string();
    assert_eq!(
        got[0].id,
        format!("mastodon:{host}/109348684737626801"),
        "oldest first"
    );
    assert_eq!(got[1].id, format!("mastodon:{host}/109348699525106378"));
    assert_eq!(server.requests()[0].path(), "/api/v1/timelines/public");
}

/// The events that are statuses or deletions (what counts as news), by index into `events()`.
fn news_events() -> Vec<String> {
    events()
        .into_iter()
        .filter(|e| {
            ["event: update", "event: status.update", "event: delete"]
                .iter()
                .any(|k| e.contains(&format!("{k}\n")))
        })
        .collect()
}

#[tokio::test]
async fn a_failed_backfill_is_skipped_and_the_live_stream_goes_on() {
    // A restart with a saved cursor against a server whose timeline API answers 503, then 404
    // (servers that hide their timelines): each backfill fails, the stream still runs. A 503 may
    // pass, so the next reconnect asks again; a 404 will not, so later reconnects do not.
    let news = news_events();
    let server = Server::start(move |n, req| match req.path() {
        "/api/v1/timelines/public" if n == 0 => Reply::status(503, &[]),
        "/api/v1/timelines/public" => Reply::status(404, &[]),
        _ if n == 1 => sse(news[..4].to_vec()),
        _ if n == 3 => sse(news[4..8].to_vec()),
        _ => sse(vec![":thump\n\n".into()]),
    })
    .await;
    let token = token_file();
    let resume = Some(collectors::Cursor("109348677773283527".into()));
    let mut s = Mastodon::new(config(&server, &token))
        .expect("cfg")
        .stream(resume);
    let items = take(&mut s, 8, Duration::from_secs(5)).await;
    assert!(items.iter().all(Result::is_ok), "{items:?}");
    assert_eq!(items.len(), 8, "both streams delivered: {items:?}");
    let paths: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    assert_eq!(
        paths[..4],
        [
            "/api/v1/timelines/public",
            "/api/v1/streaming/public",
            "/api/v1/timelines/public",
            "/api/v1/streaming/public"
        ]
    );
    // The next reconnect goes straight to the stream: the 404 paused the backfill.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while server.requests().len() < 5 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let paths: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.path().to_owned())
        .collect();
    assert!(paths.len() >= 5, "a third connection: {paths:?}");
    assert!(
        paths[4..].iter().all(|p| p == "/api/v1/streaming/public"),
        "no backfill after the 404: {paths:?}"
    );
}

#[tokio::test]
async fn a_reconnect_sends_the_last_sse_id_as_last_event_id() {
    // The documented events, each given an SSE id as a server that can resume would send.
    let with_ids: Vec<String> = news_events()
        .into_iter()
        .take(3)
        .enumerate()
        .map(|(i, e)| format!("id: 7-{i}\n{e}"))
        .collect();
    let server = Server::start(move |n, _| match n {
        0 => sse(with_ids.clone()),
        _ => sse(vec![":thump\n\n".into()]),
    })
    .await;
    let token = token_file();
    let mut cfg = config(&server, &token);
    cfg.backfill_pages = 0;
    let mut s = Mastodon::new(cfg).expect("cfg").stream(None);
    let items = take(&mut s, 3, Duration::from_secs(5)).await;
    assert_eq!(items.len(), 3);
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.requests().len() < 2 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let reqs = server.requests();
    assert_eq!(reqs[0].header("last-event-id"), None);
    assert_eq!(reqs[1].header("last-event-id"), Some("7-2"));
}

#[tokio::test]
async fn re_delivered_events_do_not_reset_the_backoff() {
    // A server that answers every connection with the same events and hangs up at once (seen in
    // the field: ~10 reconnects/s). Only the first connection brings news; afterwards the backoff
    // grows (10 ms doubling to 1 s) instead of restarting at 10 ms each time.
    let same = news_events()[..3].to_vec();
    let server = Server::start(move |_, _| {
        Reply::stream(
            "text/event-stream",
            same.iter().map(|e| e.clone().into_bytes()).collect(),
            Duration::ZERO,
        )
    })
    .await;
    let token = token_file();
    let mut cfg = config(&server, &token);
    cfg.backfill_pages = 0;
    cfg.backoff = BackoffConfig {
        initial: Duration::from_millis(10),
        max: Duration::from_secs(1),
    };
    let mut s = Mastodon::new(cfg).expect("cfg").stream(None);
    let items = take(&mut s, 10_000, Duration::from_secs(3)).await;
    assert!(
        items.iter().all(Result::is_ok),
        "re-deliveries are still delivered"
    );
    let connections = server.requests().len();
    eprintln!("connections in 3 s: {connections}");
    assert!(
        connections < 25,
        "{connections} connections in 3 s: the backoff was reset by re-deliveries"
    );
}

#[tokio::test]
async fn a_404_at_start_stops_with_the_url_but_one_after_the_stream_worked_is_retried() {
    // At start: the route does not exist (a server without streaming): stop, saying so.
    let server = Server::start(|_, _| Reply::status(404, &[])).await;
    let token = token_file();
    let mut s = Mastodon::new(config(&server, &token))
        .expect("cfg")
        .stream(None);
    let items = take(&mut s, 5, Duration::from_secs(5)).await;
    match items.as_slice() {
        [Err(e @ CollectorError::Http { status: 404, .. })] => {
            let msg = e.to_string();
            assert!(
                msg.starts_with(&format!(
                    "the server answered HTTP 404 Not Found for {}",
                    server.url("/api/v1/streaming/public")
                )),
                "{msg}"
            );
        }
        other => panic!("{other:?}"),
    }

    // Mid-run: the stream worked, then one connection is answered 404 (a node restarting):
    // the collector retries and the stream goes on.
    let news = news_events();
    let server = Server::start(move |n, req| match (n, req.path()) {
        (0, _) => sse(news[..3].to_vec()),
        (_, "/api/v1/timelines/public") => Reply::json(200, "[]"),
        (2, _) => Reply::status(404, &[]),
        _ => sse(news[3..6].to_vec()),
    })
    .await;
    let mut s = Mastodon::new(config(&server, &token))
        .expect("cfg")
        .stream(None);
    let items = take(&mut s, 6, Duration::from_secs(5)).await;
    assert_eq!(items.len(), 6, "{items:?}");
    assert!(items.iter().all(Result::is_ok), "{items:?}");
}

#[tokio::test]
async fn bad_credentials_stop_the_collector_without_retrying() {
    let server = Server::start(|_, _| Reply::status(401, &[])).await;
    let token = token_file();
    let started = Instant::now();
    let mut s = Mastodon::new(config(&server, &token))
        .expect("cfg")
        .stream(None);
    let items = take(&mut s, 5, Duration::from_secs(5)).await;
    assert_eq!(items.len(), 1);
    assert!(
        matches!(items[0], Err(CollectorError::Auth { status: 401, .. })),
        "{items:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn config_is_checked() {
    let bad: Result<MastodonConfig, _> =
        serde_json::from_str(r#"{"server":"https://m.example","stream":"public"}"#);
    assert!(bad.is_err(), "unknown key");
    let c: MastodonConfig =
        serde_json::from_str(r#"{"server":"https://m.example","timeline":"hashtag"}"#)
            .expect("parse");
    assert!(
        matches!(Mastodon::new(c), Err(CollectorError::Config(m)) if m.contains("mastodon.hashtag"))
    );
}
