//! `backchannel signals put|delete|list|test`: manage tenants' signals in the configured store,
//! and try a query against mentions before saving it.
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

/// One `signals` command that changes or lists the stored signals.
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

/// The matching options from the command line: `--stem LANGUAGE`, `--keep-accents`.
pub fn options(stem: Option<&str>, keep_accents: bool) -> Result<SignalOptions> {
    let stem = match stem {
        Some(s) => Some(
            serde_json::from_value(serde_json::Value::String(s.to_lowercase()))
                .map_err(|_| Error::Config(format!("--stem {s}: not a Snowball language")))?,
        ),
        None => None,
    };
    Ok(SignalOptions { keep_accents, stem })
}

/// The command: runs `action` and prints what it reports.
pub async fn main(config: &Config, action: Action) -> Result<()> {
    let out = manage(config, action).await?;
    if !out.is_empty() {
        println!("{out}");
    }
    Ok(())
}

/// `signals test` on stdin and stdout, with the count on stderr.
pub fn main_test(query: &str, options: SignalOptions) -> Result<()> {
    let (matched, total) = test(
        query,
        options,
        std::io::stdin().lock(),
        std::io::stdout().lock(),
    )?;
    eprintln!("{matched} of {total} mentions match");
    Ok(())
}

/// Runs a management action and returns what to print.
pub async fn manage(config: &Config, action: Action) -> Result<String> {
    match config.pipeline.mode {
        Mode::Distributed => {
            let store = crate::services::scylla_store(config).await?;
            apply(&store, action).await
        }
        Mode::Embedded => match crate::embedded::RedbStore::open(&config.embedded.data_dir) {
            Ok(store) => apply(&store, action).await,
            Err(Error::StoreInUse { .. }) => via_http(&config.metrics.listen, action).await,
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
async fn via_http(listen: &str, action: Action) -> Result<String> {
    let unreachable = |e: &dyn std::fmt::Display| {
        Error::Config(format!(
            "the data directory is in use and its API at {listen} does not answer: {e}"
        ))
    };
    let client = collectors::common::http_client().map_err(|e| unreachable(&e))?;
    let base = format!("http://{listen}");
    let request = match &action {
        Action::Put {
            tenant,
            id,
            query,
            options,
        } => client
            .put(format!("{base}/v1/signals/{tenant}/{id}"))
            .header("content-type", "application/json")
            .body(serde_json::json!({"query": query, "options": options}).to_string()),
        Action::Delete { tenant, id } => client.delete(format!("{base}/v1/signals/{tenant}/{id}")),
        Action::List { .. } => client.get(format!("{base}/v1/signals")),
    };
    let request = request
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|e| unreachable(&e))?;
    let what = format!("{} {}", request.method(), request.url().path());
    let response = client.execute(request).await.map_err(|e| unreachable(&e))?;
    let status = response.status();
    let reply = response.text().await.map_err(|e| unreachable(&e))?;
    if !status.is_success() {
        return Err(Error::Config(format!(
            "{what}: {} {reply}",
            status.as_u16()
        )));
    }
    Ok(match action {
        Action::Put { tenant, id, .. } => format!("saved {tenant}/{id} ({reply})"),
        Action::Delete { tenant, id } => format!("deleted {tenant}/{id}"),
        Action::List { tenant } => {
            let mut all: Vec<Signal> = serde_json::from_str(&reply)
                .map_err(|e| Error::internal("reading the API's signal list", e))?;
            all.retain(|s| tenant.as_deref().is_none_or(|t| t == s.tenant));
            all.iter()
                .map(|s| serde_json::to_string(s).unwrap_or_default())
                .collect::<Vec<_>>()
                .join("\n")
        }
    })
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
