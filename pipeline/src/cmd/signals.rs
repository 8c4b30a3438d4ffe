//! `backchannel signals test`: try a query against mentions before saving it. (`signals
//! put|delete|list` are operator actions: [`crate::admin`], run by [`super::manage`].)

use std::io::{BufRead, Write};
use std::sync::Arc;

use transforms::signals::{Limits, Matcher, Signal, SignalOptions, SignalSet};

use crate::error::{Error, Result};
use crate::signals;

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
    let limits = model::DecodeLimits::default();
    super::each_line(input, limits.max_bytes, |i, line| {
        if line.is_ok_and(|l| l.iter().all(u8::is_ascii_whitespace)) {
            return Ok(());
        }
        total += 1;
        let m = match super::decode_line(line, limits) {
            Ok(m) => m,
            Err(e) => {
                writeln!(
                    out,
                    "{}",
                    serde_json::json!({"line": i + 1, "error": e.to_string()})
                )?;
                return Ok(());
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
        Ok(())
    })?;
    Ok((matched, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::Action;

    fn mention(text: &str) -> String {
        let mut m = collectors::Synthetic::new(Default::default()).mention(0);
        m.text = text.into();
        serde_json::to_string(&m).expect("json")
    }

    #[test]
    fn test_command_reports_matches_with_highlights() {
        // Line 4 is not UTF-8 and line 5 is over the 1 MiB payload limit: each is reported
        // on its own line and the lines after them are still read.
        let mut invalid = mention("acme phone").into_bytes();
        invalid.insert(invalid.len() - 2, 0xff);
        let huge = mention(&"acme phone ".repeat(200_000)).into_bytes();
        let input = [
            mention("I love my new Acme phone").into_bytes(),
            mention("nothing to see").into_bytes(),
            b"{bad".to_vec(),
            invalid,
            huge.clone(),
            mention("ACME support is slow").into_bytes(),
        ]
        .join(&b'\n');
        let mut out = Vec::new();
        let (matched, total) = test(
            "acme AND (phone OR support)",
            SignalOptions::default(),
            &input[..],
            &mut out,
        )
        .expect("runs");
        assert_eq!((matched, total), (2, 6));
        let text = String::from_utf8(out).expect("utf8");
        assert!(
            text.contains("\"matched_text\":[\"Acme\",\"phone\"]"),
            "{text}"
        );
        assert!(
            text.contains("\"error\":\"malformed JSON") && text.contains("\"line\":3}"),
            "bad lines are reported: {text}"
        );
        assert!(
            text.contains("\"error\":\"invalid UTF-8") && text.contains("\"line\":4}"),
            "{text}"
        );
        let too_large = format!(
            "{{\"error\":\"payload of {} bytes exceeds the limit of 1048576 bytes\",\"line\":5}}",
            huge.len()
        );
        assert!(text.contains(&too_large), "{text}");
        assert!(text.contains("\"line\":6,"), "read on after them: {text}");
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
        async fn apply(store: &crate::embedded::RedbStore, action: Action) -> Result<String> {
            crate::admin::apply(store, action, &Default::default())
                .await
                .map(|r| r.out)
        }
        let put = |q: &str| Action::PutSignal {
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
                Action::DeleteSignal {
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
