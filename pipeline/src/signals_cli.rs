//! `backchannel signals …`: manage tenants' signals in the configured store, and try a query
//! against mentions before saving it.
//!
//! In distributed mode the commands talk to ScyllaDB. In embedded mode they open the redb file —
//! unless a running `backchannel run` holds it, in which case they go through that process's
//! HTTP API on `metrics.listen` (loopback), so a change reaches the running pipeline at once.

use std::io::{BufRead, Write};
use std::sync::Arc;

use transforms::signals::{Limits, Matcher, Signal, SignalOptions, SignalSet};

use crate::config::{Config, Mode};
use crate::error::{Error, Result};
use crate::signals::{self, SignalStore};

/// One `signals` command.
#[derive(Debug, Clone)]
pub enum Action {
    Put {
        tenant: String,
        id: String,
        query: String,
        options: SignalOptions,
    },
    Delete {
        tenant: String,
        id: String,
    },
    List {
        tenant: Option<String>,
    },
}

/// Runs a management action and returns what to print.
pub async fn manage(config: &Config, action: Action) -> Result<String> {
    match config.pipeline.mode {
        Mode::Distributed => {
            let store = crate::worker::store(config).await?;
            apply(&store, action).await
        }
        Mode::Embedded => match crate::embedded::RedbStore::open(&config.embedded.data_dir) {
            Ok(store) => apply(&store, action).await,
            Err(e) if e.to_string().contains("already open") => {
                via_http(&config.metrics.listen, action)
            }
            Err(e) => Err(e),
        },
    }
}

async fn apply<S: SignalStore>(store: &S, action: Action) -> Result<String> {
    match action {
        Action::Put {
            tenant,
            id,
            query,
            options,
        } => {
            let v = signals::put(store, &tenant, &id, &query, options).await?;
            Ok(format!("saved {tenant}/{id} version {v}"))
        }
        Action::Delete { tenant, id } => Ok(if store.delete_signal(&tenant, &id).await? {
            format!("deleted {tenant}/{id}")
        } else {
            format!("no signal {tenant}/{id}")
        }),
        Action::List { tenant } => {
            let (_, mut all) = store.load_signals().await?;
            all.retain(|s| tenant.as_deref().is_none_or(|t| t == s.tenant));
            all.sort_by(|a, b| (&a.tenant, &a.id).cmp(&(&b.tenant, &b.id)));
            Ok(all
                .iter()
                .map(|s| serde_json::to_string(s).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n"))
        }
    }
}

/// Sends the action to a running embedded pipeline's API.
fn via_http(listen: &str, action: Action) -> Result<String> {
    let unreachable = |e: std::io::Error| {
        Error::Config(format!(
            "the data directory is in use and its API at {listen} does not answer: {e}"
        ))
    };
    let (method, path, body) = match &action {
        Action::Put {
            tenant,
            id,
            query,
            options,
        } => (
            "PUT",
            format!("/v1/signals/{tenant}/{id}"),
            serde_json::json!({"query": query, "options": options}).to_string(),
        ),
        Action::Delete { tenant, id } => (
            "DELETE",
            format!("/v1/signals/{tenant}/{id}"),
            String::new(),
        ),
        Action::List { .. } => ("GET", "/v1/signals".to_owned(), String::new()),
    };
    let (status, reply) = http(listen, method, &path, &body).map_err(unreachable)?;
    if !(200..300).contains(&status) {
        return Err(Error::Config(format!("{method} {path}: {status} {reply}")));
    }
    Ok(match action {
        Action::Put { tenant, id, .. } => format!("saved {tenant}/{id} ({reply})"),
        Action::Delete { tenant, id } => format!("deleted {tenant}/{id}"),
        Action::List { tenant } => {
            let mut all: Vec<Signal> =
                serde_json::from_str(&reply).map_err(|e| Error::Internal(e.to_string()))?;
            all.retain(|s| tenant.as_deref().is_none_or(|t| t == s.tenant));
            all.iter()
                .map(|s| serde_json::to_string(s).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
        }
    })
}

/// A minimal HTTP/1.1 request to a loopback address (no client library for one call).
fn http(addr: &str, method: &str, path: &str, body: &str) -> std::io::Result<(u16, String)> {
    use std::io::Read;
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    let status = reply
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = reply
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Ok((status, body))
}

/// `signals test`: which of the mentions on `input` (JSON lines) would `query` match? Writes one
/// JSON line per match to `out` and returns (matched, total).
pub fn test(
    query: &str,
    options: SignalOptions,
    input: impl BufRead,
    mut out: impl Write,
) -> Result<(u64, u64)> {
    signals::validate("test", "query", query, options)?;
    let set = SignalSet {
        signals: vec![Signal {
            tenant: "test".into(),
            id: "query".into(),
            version: 1,
            query: query.into(),
            options,
        }],
    };
    let matcher = Arc::new(
        Matcher::compile_with(
            &set,
            &Limits::default(),
            &transforms::signals::registry_fields,
        )
        .map_err(|e| Error::Config(e.to_string()))?,
    );
    let mut record = transforms::Record::new();
    let (mut matched, mut total) = (0, 0);
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        total += 1;
        let m = match model::Mention::decode(line.as_bytes(), Default::default()) {
            Ok(m) => m,
            Err(e) => {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"line": i + 1, "error": e.to_string()})
                )?;
                continue;
            }
        };
        let hits = transforms::enrich_and_match(&m, &mut record, Some(&matcher));
        if let Some(hit) = hits.first() {
            matched += 1;
            let chars: Vec<char> = m.text.chars().collect();
            let snippets: Vec<String> = hit
                .highlights
                .iter()
                .map(|[a, b]| {
                    chars[(*a as usize).min(chars.len())..(*b as usize).min(chars.len())]
                        .iter()
                        .collect()
                })
                .collect();
            writeln!(
                out,
                "{}",
                serde_json::json!({"line": i + 1, "id": m.id, "highlights": hit.highlights, "matched_text": snippets, "text": m.text})
            )?;
        }
    }
    Ok((matched, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mention(text: &str) -> String {
        let mut m = collectors::Synthetic::new(Default::default()).mention(0);
        m.text = text.into();
        serde_json::to_string(&m).expect("json")
    }

    #[test]
    fn test_command_reports_matches_with_highlights() {
        let input = [
            mention("I love my new Acme phone"),
            mention("nothing to see"),
            "{bad".into(),
            mention("ACME support is slow"),
        ]
        .join("\n");
        let mut out = Vec::new();
        let (matched, total) = test(
            "acme AND (phone OR support)",
            SignalOptions::default(),
            input.as_bytes(),
            &mut out,
        )
        .expect("runs");
        assert_eq!((matched, total), (2, 4));
        let text = String::from_utf8(out).expect("utf8");
        assert!(
            text.contains("\"matched_text\":[\"Acme\",\"phone\"]"),
            "{text}"
        );
        assert!(
            text.contains("\"error\":\"malformed JSON") && text.contains("\"line\":3}"),
            "bad lines are reported: {text}"
        );
        let err = test(
            "acme AND (",
            SignalOptions::default(),
            "".as_bytes(),
            Vec::new(),
        )
        .expect_err("parse error");
        assert!(err.to_string().contains("at character"), "{err}");
    }

    #[tokio::test]
    async fn embedded_store_versions_signals_and_the_handle_reloads() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = crate::embedded::RedbStore::open(dir.path()).expect("open");
        let handle = signals::SignalsHandle::default();
        assert!(
            handle.refresh(&store).await.expect("refresh"),
            "first load swaps"
        );
        assert!(handle.current().is_none(), "no signals, no matcher");
        let put = |q: &str| Action::Put {
            tenant: "t1".into(),
            id: "brand".into(),
            query: q.into(),
            options: Default::default(),
        };
        assert_eq!(
            apply(&store, put("acme")).await.expect("put"),
            "saved t1/brand version 1"
        );
        assert_eq!(
            apply(&store, put("acme OR nimbus")).await.expect("put"),
            "saved t1/brand version 2"
        );
        assert!(
            apply(&store, put("acme AND (")).await.is_err(),
            "invalid queries are refused"
        );
        assert!(handle.refresh(&store).await.expect("refresh"));
        assert!(
            !handle.refresh(&store).await.expect("refresh"),
            "unchanged revision: no reload"
        );
        let m: model::Mention = serde_json::from_str(&mention("Nimbus is great")).expect("mention");
        let mut rec = transforms::Record::new();
        let hits = transforms::enrich_and_match(&m, &mut rec, handle.current().as_deref());
        assert_eq!(hits.len(), 1);
        assert_eq!(
            (
                hits[0].signal.tenant(),
                hits[0].signal.id(),
                hits[0].version
            ),
            ("t1", "brand", 2)
        );
        assert_eq!(
            apply(
                &store,
                Action::Delete {
                    tenant: "t1".into(),
                    id: "brand".into()
                }
            )
            .await
            .expect("delete"),
            "deleted t1/brand"
        );
        assert!(handle.refresh(&store).await.expect("refresh"));
        assert!(handle.current().is_none());
    }
}
