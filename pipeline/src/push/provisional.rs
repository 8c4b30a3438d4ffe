//! Provisional minutes: a signal's latest minutes counted from the enriched stream, so that a
//! live chart shows the minute in progress in distributed mode too.
//!
//! Distributed, a series comes from the rollup's exact per-minute rows, and the rollup recounts
//! a minute only once it has been quiet for a second: a signal that matches all the time shows
//! its current minute only after the minute is over (embedded mode counts each minute as its
//! mentions are written, so it needs none of this). `backchannel serve` already reads every
//! matched record of the enriched topic for live push; it counts each one into its signals'
//! minutes here with the same [`MinuteAggregate`] the rollup uses, and a series request gets
//! these figures, flagged provisional, where they are ahead of the stored ones.
//!
//! **Which figure a minute shows.** Only minutes in the last [`SPAN`] are counted (and a minute
//! ahead, for clocks that differ). In that span a minute shows the stream's figure when it counted
//! more mentions than the stored minute holds, else the stored one. Both are counts of mentions
//! that did happen: the stream's misses what came before this instance started following (its
//! replay window covers that after a restart), the stored one misses what came after the last
//! rollup, so the larger is the closer. Once the rollup has recounted the minute, the stored figure
//! is at least the stream's and replaces it. What the stream may count too many: a mention the
//! worker published twice (it redelivers after a crash, and the rollup counts each id once), a
//! reprocessed mention that no longer matches, and one its source deleted since. Each shows only
//! until the minute leaves the span.
//!
//! **Memory.** Entries of minutes older than the span are dropped as time moves on; a minute keeps
//! its most frequent hashtags as a stored minute does; and the whole is held under
//! [`BUDGET`] bytes: once full, a minute not yet counted is not started (the stored figure stands
//! for it) and a held minute counts its mentions but takes no new hashtag, so the bytes stay
//! within one mention's hashtags of the budget (`backchannel_push_provisional_dropped_total`
//! counts the mentions left out or cut short).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::aggregate::{MinuteAggregate, Series};

/// How far back the stream's figures are kept and offered: the exact rollup normally follows a
/// minute within seconds, but a store that falls behind delays it.
pub const SPAN: chrono::TimeDelta = chrono::TimeDelta::minutes(5);

/// Bytes the provisional minutes may hold, all signals together: ample for thousands of busy
/// signals over the span.
pub const BUDGET: usize = 32 << 20;

/// Hashtags a minute may gather before it is cut to the most frequent [`KEEP_HASHTAGS`], as the
/// embedded store keeps a stored minute's.
const MAX_HASHTAGS: usize = 4 * crate::aggregate::TOP_HASHTAGS;
const KEEP_HASHTAGS: usize = 2 * crate::aggregate::TOP_HASHTAGS;

/// What an entry costs besides its topic and hashtags (key, aggregate, map slot).
const ENTRY_BYTES: usize = 160;
/// What a hashtag costs in a minute's map besides its text.
const HASHTAG_BYTES: usize = 48;

/// One matched mention as the stream gives it to [`Provisional::count`].
#[derive(Debug, Clone, PartialEq)]
pub struct Counted {
    pub created_at: DateTime<Utc>,
    pub sentiment: Option<f64>,
    pub hashtags: Vec<String>,
}

/// The minutes counted from the stream, by signal topic (`signal:<tenant>/<id>`).
#[derive(Debug, Default)]
pub struct Provisional {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// By topic, its minutes (a few: those of the span).
    topics: HashMap<Box<str>, Vec<(DateTime<Utc>, MinuteAggregate)>>,
    bytes: usize,
    /// The oldest minute kept: entries before it were dropped.
    since: Option<DateTime<Utc>>,
}

fn bytes_of(topic: &str, agg: &MinuteAggregate) -> usize {
    ENTRY_BYTES
        + topic.len()
        + agg
            .hashtags
            .keys()
            .map(|h| h.len() + HASHTAG_BYTES)
            .sum::<usize>()
}

/// The minutes a count or a read at `now` covers: the span before it and one minute ahead.
fn window(now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let minute = crate::aggregate::minute_of(now);
    (minute - SPAN, minute + chrono::TimeDelta::minutes(1))
}

impl Provisional {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts one mention into the minute of each of `topics` (each once) at `now`. A mention
    /// outside the span is not counted.
    pub fn count<'a>(
        &self,
        topics: impl IntoIterator<Item = &'a str>,
        m: &Counted,
        now: DateTime<Utc>,
    ) {
        let (first, last) = window(now);
        let minute = crate::aggregate::minute_of(m.created_at);
        let mut inner = self.lock();
        if inner.since.is_none_or(|s| s < first) {
            inner.forget_before(first);
        }
        if minute < first || minute > last {
            return;
        }
        let mut seen = BTreeSet::new();
        let mut dropped = false;
        for topic in topics {
            if !seen.insert(topic) {
                continue;
            }
            let Inner { topics, bytes, .. } = &mut *inner;
            // Full: no new minute is started, and a held one takes no new hashtag.
            let full = *bytes + ENTRY_BYTES + topic.len() > BUDGET;
            let held = topics.get_mut(topic);
            let at = held
                .as_ref()
                .and_then(|minutes| minutes.iter().position(|(t, _)| *t == minute));
            let (agg, before) = match (held, at) {
                (Some(minutes), Some(i)) => {
                    let before = bytes_of(topic, &minutes[i].1);
                    (&mut minutes[i].1, before)
                }
                _ if full => {
                    dropped = true;
                    continue;
                }
                (held, _) => {
                    let minutes = match held {
                        Some(minutes) => minutes,
                        None => topics.entry(topic.into()).or_default(),
                    };
                    minutes.push((minute, MinuteAggregate::default()));
                    (&mut minutes.last_mut().expect("just pushed").1, 0)
                }
            };
            if !full {
                agg.add(m.sentiment, &m.hashtags);
            } else {
                // The mention counts, but only with hashtags the minute already holds.
                let held: Vec<String> = m
                    .hashtags
                    .iter()
                    .filter(|h| agg.hashtags.contains_key(&h.to_lowercase()))
                    .cloned()
                    .collect();
                agg.add(m.sentiment, &held);
                dropped |= held.len() < m.hashtags.len();
            }
            if agg.hashtags.len() > MAX_HASHTAGS {
                agg.keep_top_hashtags(KEEP_HASHTAGS);
            }
            *bytes = (*bytes + bytes_of(topic, agg)).saturating_sub(before);
        }
        let bytes = inner.bytes;
        drop(inner);
        crate::telemetry::push_provisional_bytes(bytes);
        if dropped {
            crate::telemetry::push_provisional_dropped();
        }
    }

    /// `exact` (a topic's stored minutes, oldest first, as [`crate::traits::Store::series`]
    /// gives them) with the stream's figure in place of each minute of the span where the stream
    /// counted more; returns the minutes, oldest first, and those that came from the stream.
    pub fn overlay(
        &self,
        topic: &str,
        exact: Series,
        now: DateTime<Utc>,
    ) -> (Series, BTreeSet<DateTime<Utc>>) {
        let (first, last) = window(now);
        let mut counted = Vec::new();
        {
            let inner = self.lock();
            if let Some(minutes) = inner.topics.get(topic) {
                counted.extend(
                    minutes
                        .iter()
                        .filter(|(t, _)| (first..=last).contains(t))
                        .cloned(),
                );
            }
        }
        let mut out: std::collections::BTreeMap<DateTime<Utc>, MinuteAggregate> =
            exact.into_iter().collect();
        let mut from_stream = BTreeSet::new();
        for (minute, agg) in counted {
            if out.get(&minute).is_none_or(|e| agg.mentions > e.mentions) {
                out.insert(minute, agg);
                from_stream.insert(minute);
            }
        }
        (out.into_iter().collect(), from_stream)
    }

    /// Bytes held (as [`BUDGET`] counts them).
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

impl Inner {
    fn forget_before(&mut self, first: DateTime<Utc>) {
        let mut bytes = 0;
        self.topics.retain(|topic, minutes| {
            minutes.retain(|(minute, _)| *minute >= first);
            bytes += minutes
                .iter()
                .map(|(_, agg)| bytes_of(topic, agg))
                .sum::<usize>();
            !minutes.is_empty()
        });
        self.bytes = bytes;
        self.since = Some(first);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("a time")
            .with_timezone(&Utc)
    }

    fn mention(created: &str, sentiment: f64, tags: &[&str]) -> Counted {
        Counted {
            created_at: at(created),
            sentiment: Some(sentiment),
            hashtags: tags.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    #[test]
    fn the_stream_shows_where_it_counted_more_and_the_stored_minute_replaces_it() {
        let p = Provisional::default();
        let now = at("2026-12-06T10:30:20Z");
        let topic = "signal:acme/brand";
        for (created, s) in [
            ("2026-12-06T10:30:05Z", 0.5),
            ("2026-12-06T10:30:10Z", -0.4),
            ("2026-12-06T10:29:59Z", 0.0),
            // Outside the span, and another signal's.
            ("2026-12-06T10:20:00Z", 0.9),
        ] {
            p.count([topic, topic], &mention(created, s, &["Rust", "rust"]), now);
        }
        p.count(
            ["signal:other/x"],
            &mention("2026-12-06T10:30:00Z", 0.9, &[]),
            now,
        );
        // Nothing stored yet: the stream's two minutes, each mention counted once per topic.
        let (minutes, streamed) = p.overlay(topic, Vec::new(), now);
        let current = at("2026-12-06T10:30:00Z");
        let previous = at("2026-12-06T10:29:00Z");
        assert_eq!(
            streamed,
            BTreeSet::from([previous, current]),
            "the 10:20 mention is outside the span"
        );
        let mut want = MinuteAggregate::default();
        want.add(Some(0.5), &["rust".into()]);
        want.add(Some(-0.4), &["rust".into()]);
        let mut before = MinuteAggregate::default();
        before.add(Some(0.0), &["rust".into()]);
        assert_eq!(minutes, vec![(previous, before), (current, want.clone())]);
        // A stale stored minute (a rollup mid-minute) and an old one: the stream wins where it
        // counted more, the stored minutes stand elsewhere.
        let mut stale = MinuteAggregate::default();
        stale.add(Some(0.5), &[]);
        let mut old = MinuteAggregate::default();
        old.add(Some(0.9), &[]);
        let ten_twenty = at("2026-12-06T10:20:00Z");
        let (minutes, streamed) = p.overlay(
            topic,
            vec![(ten_twenty, old.clone()), (current, stale)],
            now,
        );
        assert_eq!(streamed, BTreeSet::from([previous, current]));
        assert_eq!(minutes.len(), 3);
        assert_eq!(minutes[0], (ten_twenty, old.clone()));
        assert_eq!(minutes[2], (current, want.clone()));
        // Rolled up: as many stored as streamed, so the stored minute shows.
        let mut exact = want.clone();
        exact.hashtags.insert("exact".into(), 1);
        let (minutes, streamed) = p.overlay(topic, vec![(current, exact.clone())], now);
        assert_eq!(streamed, BTreeSet::from([previous]));
        assert_eq!(minutes[1], (current, exact));
        // Later, the span has passed: nothing from the stream, and its entries are dropped.
        let later = at("2026-12-06T10:40:00Z");
        let (minutes, streamed) = p.overlay(topic, vec![(ten_twenty, old.clone())], later);
        assert!(streamed.is_empty());
        assert_eq!(minutes, vec![(ten_twenty, old)]);
        assert!(p.bytes() > 0);
        p.count(
            ["signal:other/x"],
            &mention("2026-12-06T10:39:00Z", 0.0, &[]),
            later,
        );
        assert_eq!(
            p.bytes(),
            ENTRY_BYTES + "signal:other/x".len(),
            "only the new minute is held"
        );
    }

    #[test]
    fn held_bytes_stay_under_the_budget_and_a_minutes_hashtags_are_cut() {
        let p = Provisional::default();
        let now = at("2026-12-06T10:30:20Z");
        let tags: Vec<String> = (0..1_000).map(|i| format!("tag{i}")).collect();
        for chunk in tags.chunks(5) {
            let m = Counted {
                created_at: now,
                sentiment: None,
                hashtags: chunk.to_vec(),
            };
            p.count(["signal:a/s"], &m, now);
        }
        let (minutes, _) = p.overlay("signal:a/s", Vec::new(), now);
        assert_eq!(minutes[0].1.mentions, 200);
        assert!(minutes[0].1.hashtags.len() <= MAX_HASHTAGS);
        let held = p.bytes();
        assert_eq!(
            held,
            bytes_of("signal:a/s", &minutes[0].1),
            "bytes kept exact"
        );
        // Many signals: past the budget, new minutes are not started; the held ones still count.
        let topics: Vec<String> = (0..BUDGET / ENTRY_BYTES)
            .map(|i| format!("signal:t/{i}"))
            .collect();
        for t in &topics {
            p.count(
                [t.as_str()],
                &mention("2026-12-06T10:30:00Z", 0.0, &[]),
                now,
            );
        }
        assert!(p.bytes() <= BUDGET, "{} held", p.bytes());
        let last = topics.last().expect("topics");
        assert!(p.overlay(last, Vec::new(), now).1.is_empty(), "not started");
        // A held minute still counts its mentions, with the hashtags it holds but no new one.
        let full = p.bytes();
        let kept = minutes[0]
            .1
            .hashtags
            .keys()
            .next()
            .expect("a hashtag")
            .clone();
        p.count(
            ["signal:a/s"],
            &mention("2026-12-06T10:30:00Z", 0.0, &[&kept, "brandnew"]),
            now,
        );
        let (minutes, _) = p.overlay("signal:a/s", Vec::new(), now);
        assert_eq!(minutes[0].1.mentions, 201, "a held minute still counts");
        assert_eq!(minutes[0].1.hashtags[&kept], 2);
        assert!(!minutes[0].1.hashtags.contains_key("brandnew"));
        assert_eq!(p.bytes(), full, "no new hashtag once full");
    }
}
