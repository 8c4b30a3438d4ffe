//! Hot topics spread over buckets, so no `(topic, minute)` partition of `topic_mentions` grows
//! past a size ScyllaDB handles well.
//!
//! At internet scale a topic such as `source:x`, a trending hashtag or a broad signal takes
//! hundreds of thousands of rows a minute: one partition per `(topic, minute)` would hold
//! gigabytes. So the partition key is `(topic, minute, bucket)`, and a row goes to bucket
//! `hash(id) mod width`, where the *width* of `(topic, minute)` (a power of two) is 1 unless the
//! minute's *plan* in `topic_widths` names another.
//!
//! # Placement is a function of the row, so every write of it lands on the same key
//!
//! Upserts by key are what make redelivery, retries and `reprocess` harmless: a row must go to
//! the same bucket whoever writes it and whenever. So a minute's widths are decided *before*
//! anyone writes into it and never change after:
//!
//! - Each worker counts the row bytes it writes per topic in a count-min sketch (fixed size,
//!   [`Heat::BYTES`], whatever the number of topics), per wall-clock minute, and projects the
//!   topic's volume per minute across all workers: scaled to the whole minute, divided by the
//!   worker's share of the raw topic's partitions (mentions are spread over partitions by id, so
//!   every worker sees the same share of every topic), the previous minute's as the floor.
//! - A topic projected above the target (`scylla.partition_target_bytes`) is *proposed* at the
//!   width that brings it under, for the next minute while the current one is less than
//!   [`PROPOSE_UNTIL`] seconds old, else for the one after ([`Heat::proposal`]): lightweight
//!   transactions that only ever widen a plan, so every worker reads the same one. No proposal
//!   for a minute is made later than 20 s before it starts, so from [`FINAL_BEFORE`] seconds
//!   before it (10 s of margin for clocks that differ between hosts) its plan is final: read once
//!   per process and hour, and cached.
//! - A row for a minute whose plan is not final yet (a mention dated ahead of the clock) first
//!   fixes its topic's width for that minute by the same transaction: at what was proposed, and
//!   no narrower than the topic needs now (the writer's projection, the running minute's
//!   width), so a hot topic's early row cannot pin a minute of it to one partition.
//!
//! - A worker that has watched the traffic for a minute, and keeps up with it, *marks* each
//!   minute it plans ([`MARK`]). A final minute nobody marked is one no worker was there to plan
//!   (all of them down, or the store or Kafka, or catching up on a backlog): what was kept
//!   meanwhile is written into it afterwards, so it carries the plan of the last marked minute
//!   ([`settle`]). Before it marks a minute, it proposes every topic it planned in the last
//!   [`HOLD_MINUTES`] at the widest width it had ([`Heat::held`]): a topic gone quiet because
//!   its own collector is down keeps its width for what that collector replays into it later.
//!   Workers record those proposals in the table ([`SEEN`]), and one that starts holds what
//!   the others recorded, so a restart or a roll of every worker keeps the holds.
//!
//! A steady hot topic keeps its width from minute to minute and its partitions stay under the
//! target. One that turns hot within a minute is planned from the next minute or the one after,
//! and a new deployment's first minutes carry the plan `schema apply` marks for its expected
//! rate ([`first_plan`]), which knows its sources only. What no plan foresaw *spills*:
//!
//! - A writer whose projection of a topic's minute needs more than twice the buckets the
//!   minute's plan gives it ([`spills`]) writes that minute's rows from then on to the topic's
//!   *spill buckets* instead ([`spill_bucket`]: negative numbers, `spill_width(width)` of them,
//!   at least 64), after it has marked the minute spilled: the static column `spilled` of its
//!   bucket 0, written once per process and minute before any spilled row. So a plan bucket
//!   holds what was written before the spill, about twice the target at most, and the spill
//!   buckets share the rest (at 1,000,000 mentions/s a hashtag hot from the first minute
//!   fills ~1.3 GB: ~20 MB a spill bucket).
//! - Spilling is each writer's own decision, so a redelivered row can land in its plan bucket
//!   and in its spill bucket both (a worker restarted mid-minute has not spilled yet). Readers
//!   of a spilled minute drop the second copy: a row's spill bucket is `≡` its plan bucket
//!   modulo the width, so the rollup compares each plan bucket with its own spill buckets only,
//!   and recent reads merge by id.
//!
//! `benches/partitions` simulates the plans, the outages above and the spills.
//!
//! Readers read buckets `0..width` in parallel, and a spilled minute's spill buckets after; a
//! cold topic has no plan, one bucket, and costs one query as before.

use std::collections::HashMap;

use chrono::{DateTime, Utc};

/// Proposals made in a minute's first this many seconds are for the next minute; later ones are
/// for the minute after. So every proposal for a minute is made at least 20 s before it starts.
pub const PROPOSE_UNTIL: i64 = 40;
/// A minute's plan is final from this many seconds before it starts: 10 s after the last
/// proposal for it can have been made, the margin for clocks that differ between hosts.
pub const FINAL_BEFORE: i64 = 10;

/// Whether the plan of `minute` (seconds since the epoch) is final at `now`.
pub fn is_final(minute: i64, now: DateTime<Utc>) -> bool {
    now.timestamp() >= minute - FINAL_BEFORE
}

/// The hour whose `topic_widths` partition holds `minute`'s plan.
pub fn hour_of(minute: i64) -> i64 {
    minute.div_euclid(3600) * 3600
}

/// The minute proposals made at `now` are for: the next one while the current one is less than
/// [`PROPOSE_UNTIL`] seconds old, else the one after. Always at least 20 s ahead of `now`.
pub fn proposal_minute(now: DateTime<Utc>) -> i64 {
    let current = now.timestamp().div_euclid(60) * 60;
    let ahead = if now.timestamp() - current < PROPOSE_UNTIL {
        1
    } else {
        2
    };
    current + ahead * 60
}

/// The `topic_widths` topic of a minute's *mark*: a worker that had been watching the traffic
/// for a whole minute was running while that minute's plan was made, so every topic hot then
/// was proposed for it. (No topic is empty.)
pub const MARK: &str = "";

/// The prefix of a `topic_widths` row that records a worker's proposal of the topic after it
/// from its own view of the traffic (its width: what was proposed). Not part of any plan:
/// readers skip it (older ones read it as the plan of a topic no row is filed under). A worker
/// that starts holds what these rows of the last [`HOLD_MINUTES`] record ([`Heat::seed`]), so a
/// restart, or a roll of every worker, does not end the holds of quiet topics.
pub const SEEN: &str = "~seen:";

/// How long a worker watches the traffic before it marks the minutes it plans.
pub const WATCH_BEFORE_MARKING: i64 = 60;

/// A mark is written at least this many seconds before its minute starts: 20 s before the
/// minute's plan is final, for the write to land before any process reads it as final.
pub const MARK_LEAD: i64 = 30;

/// How far back an unmarked minute looks for a marked one to carry the plan of: the hours
/// before its own, this many. A week: as long as Kafka keeps the raw topic by default
/// (`log.retention.hours`), so a backlog as old as any Kafka still holds is written at the
/// widths its topics had, however long the outage.
pub const CARRY_HOURS: i64 = 7 * 24;

/// How long a worker keeps proposing a topic at its width after it last proposed it, in
/// minutes: a topic whose own collector is down goes quiet while the workers keep up with the
/// rest, and what that collector replays when it is back is written into the quiet minutes, at
/// the rate the topic had. Readers pay for it: a topic that stops is read over its last width's
/// buckets for this long.
pub const HOLD_MINUTES: i64 = 60;

/// A final plan: topic → width, for the topics wider than 1.
pub type Plan = HashMap<String, u32>;

/// The bytes a row is counted at when sizing a plan for traffic nobody has watched yet: about
/// what [`row_bytes`] counts for a source topic's row (~100 for an X post's numeric id and a
/// hashtag, ~150 for a Bluesky post's URI).
pub const PLANNED_ROW_BYTES: u64 = 128;

/// The plan `schema apply` marks for a new keyspace's first minute, for a deployment built for
/// `rate` mentions a second (`scylla.expected_rate`; 0: none): every source topic at the width a
/// minute of all of that traffic needs. No worker has watched any traffic when a deployment
/// starts, so its first minutes would otherwise hold each source in one partition; marked, they
/// carry this plan ([`settle`]) until the workers mark minutes of their own, a minute or two
/// later. Sized as if one source took everything: the price is reading a source's first minutes
/// over more buckets than it fills.
pub fn first_plan(rate: u64, target: u64) -> Plan {
    let bytes = rate as f64 * 60.0 * PLANNED_ROW_BYTES as f64;
    let width = width_for(bytes, target);
    if width <= 1 {
        return Plan::new();
    }
    model::Source::ALL
        .iter()
        .map(|s| (format!("source:{}", s.as_str()), width))
        .collect()
}

/// What `topic_widths` holds for one minute.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Held {
    /// Whether the minute is marked ([`MARK`]).
    pub marked: bool,
    /// Topic → (width, frozen): what was proposed for it, or fixed by a row dated ahead.
    pub widths: HashMap<String, (u32, bool)>,
    /// Topic → width: the proposals workers recorded as made from their own view ([`SEEN`]).
    pub seen: HashMap<String, u32>,
}

/// The final plan of a minute, from what the table holds for it and `carried`: the plan of the
/// latest marked minute before it, within [`CARRY_HOURS`] hours before its own hour.
///
/// A marked minute's plan is what was proposed for it. An unmarked minute is one no worker was
/// there to plan (every worker, the store or Kafka down, a full restart, a catch-up): what was
/// kept meanwhile is written into it afterwards, at the rate the topics had, so each topic keeps
/// the width the carried plan gives it (widened by a proposal a young worker made for it). A
/// width frozen by a row dated ahead holds as it is: that row was written at it. Every input is
/// final once the minute is (its mark and proposals are made at least 20 s before it, and the
/// minutes carried from are earlier), so every process reads the same plan.
pub fn settle(held: &Held, carried: Option<&std::sync::Arc<Plan>>) -> std::sync::Arc<Plan> {
    let own = |(t, (w, _)): (&String, &(u32, bool))| (*w > 1).then(|| (t.clone(), *w));
    match carried {
        Some(carried) if !held.marked => {
            if held.widths.is_empty() {
                return carried.clone();
            }
            let mut plan = Plan::clone(carried);
            for (t, (w, frozen)) in &held.widths {
                let w = if *frozen {
                    *w
                } else {
                    (*w).max(plan.get(t).copied().unwrap_or(1))
                };
                if w > 1 {
                    plan.insert(t.clone(), w);
                } else {
                    plan.remove(t);
                }
            }
            std::sync::Arc::new(plan)
        }
        _ => std::sync::Arc::new(held.widths.iter().filter_map(own).collect()),
    }
}

/// Most buckets one `(topic, minute)` is spread over.
pub const MAX_WIDTH: u32 = 1024;

/// Bytes a `topic_mentions` row costs besides its topic, id and hashtags: the minute, bucket,
/// creation time and sentiment (8 bytes each at most) and the storage engine's per-row and
/// per-cell overhead, rounded up.
pub const ROW_OVERHEAD: u64 = 64;

/// The bytes one row of `topic_mentions` is counted as.
pub fn row_bytes(topic: &str, id: &str, hashtags: &[String]) -> u64 {
    let tags: usize = hashtags.iter().map(|h| h.len() + 4).sum();
    (topic.len() + id.len() + tags) as u64 + ROW_OVERHEAD
}

/// The bucket of mention `id` at `width` (a power of two): stable across processes and builds.
pub fn bucket_of(id: &str, width: u32) -> i32 {
    let h = fnv1a(id.as_bytes());
    (h % u64::from(width.max(1))) as i32
}

/// Most buckets a spilled `(topic, minute)` puts its overflow in.
pub const MAX_SPILL_WIDTH: u32 = 4 * MAX_WIDTH;

/// How many spill buckets a `(topic, minute)` planned at `width` overflows into: sixteen times
/// its width, at least 64. Sized for the worst a minute no plan foresaw can bring: at 1,000,000
/// mentions/s a hashtag hot from a deployment's first minute fills ~1.3 GB, ~20 MB in each of
/// 64. A multiple of `width`, so the spill buckets of a row are those of its plan bucket
/// ([`spill_bucket`]), and a function of the final plan alone, so every writer and reader
/// agrees on it.
pub fn spill_width(width: u32) -> u32 {
    width.max(1).saturating_mul(16).clamp(64, MAX_SPILL_WIDTH)
}

/// The spill bucket of mention `id` in a `(topic, minute)` planned at `width`: negative, apart
/// from the plan's `0..width`. Its index (`-1 - bucket`) is `hash(id) mod spill_width`, so it is
/// `≡ bucket_of(id, width) (mod width)`: a row is found in its plan bucket or in one of the
/// spill buckets of that bucket, which is what lets readers drop a row written to both.
pub fn spill_bucket(id: &str, width: u32) -> i32 {
    -1 - bucket_of(id, spill_width(width))
}

/// Every spill bucket of a `(topic, minute)` planned at `width`, as stored.
pub fn spill_buckets(width: u32) -> impl Iterator<Item = i32> {
    (1..=spill_width(width) as i32).map(|s| -s)
}

/// The spill buckets that hold rows of plan bucket `bucket` (`0..width`), as stored.
pub fn spill_buckets_of(bucket: i32, width: u32) -> impl Iterator<Item = i32> {
    let step = width.max(1) as usize;
    (bucket.max(0)..spill_width(width) as i32)
        .step_by(step)
        .map(|s| -1 - s)
}

/// Whether a writer whose heat projects `needed` buckets for a topic's minute spills its rows
/// out of a plan of `width`: when the minute holds more than twice what the plan was made for.
/// So a plan bucket takes at most about twice the target before the rows go elsewhere.
pub fn spills(needed: u32, width: u32) -> bool {
    needed > width.saturating_mul(2)
}

/// The smallest power of two `w` with `bytes / w ≤ target`, within `1..=MAX_WIDTH`.
pub fn width_for(bytes: f64, target: u64) -> u32 {
    let need = (bytes / target.max(1) as f64).ceil();
    if need <= 1.0 {
        return 1;
    }
    if need >= f64::from(MAX_WIDTH) {
        return MAX_WIDTH;
    }
    (need as u32).next_power_of_two().min(MAX_WIDTH)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

const DEPTH: usize = 4;
const SLOTS: usize = 1 << 15;

/// A count-min sketch of bytes per `(topic, minute)`: never below the true count, above it by at
/// most ~e/SLOTS of the bytes counted (with probability 1 − e^-DEPTH).
struct Sketch {
    cells: Vec<u64>,
}

impl Sketch {
    fn new() -> Sketch {
        Sketch {
            cells: vec![0; DEPTH * SLOTS],
        }
    }

    fn slots(key: u64) -> [usize; DEPTH] {
        // Double hashing (Kirsch–Mitzenmacher) from one 64-bit hash.
        let (h1, h2) = (key as u32 as usize, ((key >> 32) as usize) | 1);
        std::array::from_fn(|i| i * SLOTS + h1.wrapping_add(i.wrapping_mul(h2)) % SLOTS)
    }

    fn add(&mut self, key: u64, n: u64) {
        for s in Self::slots(key) {
            self.cells[s] = self.cells[s].saturating_add(n);
        }
    }

    fn get(&self, key: u64) -> u64 {
        Self::slots(key)
            .iter()
            .map(|&s| self.cells[s])
            .min()
            .unwrap_or(0)
    }

    fn clear(&mut self) {
        self.cells.fill(0);
    }
}

fn key(topic: &str) -> u64 {
    let h = fnv1a(topic.as_bytes());
    // Finalise, so the two halves used as hashes are independent.
    let h = (h ^ (h >> 33)).wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^ (h >> 33)
}

/// How long into a minute its projection starts trusting the rate: before this, the count so
/// far is scaled as if this much of the minute had passed (a burst in the first instant does not
/// make a topic look a thousand times hotter than it is).
const MIN_ELAPSED_SECS: f64 = 5.0;

/// One worker's view of how hot each topic is; bounded by [`Heat::BYTES`] plus the proposals of
/// the last [`HOLD_MINUTES`] (an entry per hot topic and minute: a topic is proposed only when
/// it needs more than one bucket, so at most the minute's bytes over the target are hot).
pub struct Heat {
    target: u64,
    /// Bytes per topic written in the current wall-clock minute, and in the one before.
    now: Sketch,
    before: Sketch,
    /// The wall-clock minute `now` counts (seconds since the epoch).
    wall_minute: i64,
    /// (minute, topic) → the widest width this process knows the plan holds (it proposed it,
    /// or the table answered it): a plan only widens, so narrower proposals are not made.
    proposed: HashMap<(i64, String), u32>,
    /// (minute, topic) → the widest width this process proposed from its own view of the
    /// traffic, for the minutes ahead and the last [`HOLD_MINUTES`]: what quiet topics hold.
    seen: HashMap<(i64, String), u32>,
    /// (minute, topic) → the wall-clock minute this process began spilling its rows: once it
    /// spills a minute, every later row of it goes to the spill buckets too, so the plan
    /// buckets stop growing. Kept for [`HOLD_MINUTES`], at most [`SPILLS_KEPT`] entries.
    /// Keyed by the topic's hash, so the check made for every row allocates nothing.
    spilled: HashMap<(i64, u64), i64>,
}

/// Most `(minute, topic)` spills a process remembers. A spill needs a minute above twice its
/// plan's target, so a live firehose makes a few hundred an hour; past this (a backlog of many
/// minutes, read at speed), the oldest are forgotten, and a forgotten minute's later rows go to
/// its plan buckets again: still read back, once each.
pub const SPILLS_KEPT: usize = 65_536;

impl std::fmt::Debug for Heat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Heat")
            .field("target", &self.target)
            .field("proposed", &self.proposed.len())
            .field("seen", &self.seen.len())
            .field("spilled", &self.spilled.len())
            .finish()
    }
}

impl Heat {
    /// Memory the two sketches take.
    pub const BYTES: usize = 2 * DEPTH * SLOTS * std::mem::size_of::<u64>();

    /// Widths sized to hold about `target` bytes a bucket.
    pub fn new(target: u64) -> Heat {
        Heat {
            target: target.max(1),
            now: Sketch::new(),
            before: Sketch::new(),
            wall_minute: i64::MIN,
            proposed: HashMap::new(),
            seen: HashMap::new(),
            spilled: HashMap::new(),
        }
    }

    /// The target size of a bucket.
    pub fn target(&self) -> u64 {
        self.target
    }

    /// Counts a row of `bytes` for `topic` written at `now` by a worker holding `share` (0..=1)
    /// of the raw partitions. Returns the topic's projected width: how many buckets a minute of
    /// it at the present rate needs.
    pub fn observe(&mut self, topic: &str, bytes: u64, share: f64, now: DateTime<Utc>) -> u32 {
        let wall = now.timestamp().div_euclid(60) * 60;
        if wall != self.wall_minute {
            std::mem::swap(&mut self.now, &mut self.before);
            self.now.clear();
            if wall != self.wall_minute.saturating_add(60) {
                self.before.clear(); // more than a minute idle: nothing recent to carry
            }
            self.wall_minute = wall;
            self.proposed.retain(|(m, _), _| *m > wall);
            self.seen.retain(|(m, _), _| *m > wall - HOLD_MINUTES * 60);
            self.spilled.retain(|_, at| *at > wall - HOLD_MINUTES * 60);
        }
        let k = key(topic);
        self.now.add(k, bytes);
        self.projected(k, share, now)
    }

    /// The width [`Heat::observe`] would answer for `topic` at `now`, without counting a row:
    /// what a plan frozen early needs at least.
    pub fn width(&self, topic: &str, share: f64, now: DateTime<Utc>) -> u32 {
        self.projected(key(topic), share, now)
    }

    fn projected(&self, k: u64, share: f64, now: DateTime<Utc>) -> u32 {
        let wall = now.timestamp().div_euclid(60) * 60;
        let (current, before) = if wall == self.wall_minute {
            (self.now.get(k), self.before.get(k))
        } else if wall == self.wall_minute.saturating_add(60) {
            (0, self.now.get(k)) // the minute counted last has just ended
        } else {
            (0, 0)
        };
        let into = (now.timestamp_millis() as f64 / 1000.0 - wall as f64).max(MIN_ELAPSED_SECS);
        let projected = (current as f64 * 60.0 / into).max(before as f64);
        let share = if share > 0.0 && share <= 1.0 {
            share
        } else {
            1.0
        };
        width_for(projected / share, self.target)
    }

    /// Whether this process spills `topic`'s rows of `minute` (seconds since the epoch): it
    /// did before, or its projection `needed` (what [`Heat::observe`] answered for the row)
    /// is more than twice the `width` the minute is planned at ([`spills`]). The first time,
    /// also answers `true` in `.1`: the writer marks the minute spilled before it writes there.
    pub fn spill(&mut self, topic: &str, minute: i64, needed: u32, width: u32) -> (bool, bool) {
        let k = (minute, key(topic));
        if self.spilled.contains_key(&k) {
            return (true, false);
        }
        if !spills(needed, width) {
            return (false, false);
        }
        if self.spilled.len() >= SPILLS_KEPT {
            let newest = self
                .spilled
                .values()
                .copied()
                .max()
                .unwrap_or(self.wall_minute);
            self.spilled.retain(|_, at| *at >= newest);
            if self.spilled.len() >= SPILLS_KEPT {
                self.spilled.clear();
            }
        }
        self.spilled.insert(k, self.wall_minute);
        (true, true)
    }

    /// Forgets that this process spills `topic`'s `minute`: its mark could not be written, so
    /// the next row tries again.
    pub fn unspill(&mut self, topic: &str, minute: i64) {
        self.spilled.remove(&(minute, key(topic)));
    }

    /// The proposal to make for `topic` after [`Heat::observe`] answered `width` at `now`: the
    /// next minute (the one after, past [`PROPOSE_UNTIL`]) and the width, unless it is 1 or not
    /// wider than what this process proposed for that minute already.
    pub fn proposal(&self, topic: &str, width: u32, now: DateTime<Utc>) -> Option<(i64, u32)> {
        let minute = proposal_minute(now);
        let before = self
            .proposed
            .get(&(minute, topic.to_owned()))
            .copied()
            .unwrap_or(1);
        (width > before).then_some((minute, width))
    }

    /// Records that this process proposed `width` for `(minute, topic)` from its own view of
    /// the traffic (what [`Heat::proposal`] returned).
    pub fn proposed(&mut self, minute: i64, topic: &str, width: u32) {
        self.seed(minute, topic, width);
        self.holds(minute, topic, width);
    }

    /// Records that a worker proposed `width` for `(minute, topic)` from its own view, as the
    /// table's [`SEEN`] rows say: what a worker that starts holds, as if it had proposed it.
    pub fn seed(&mut self, minute: i64, topic: &str, width: u32) {
        let w = self.seen.entry((minute, topic.to_owned())).or_insert(1);
        *w = (*w).max(width);
    }

    /// Records that `(minute, topic)`'s plan holds `width` or wider now: the table's answer to
    /// a proposal, or a width held for a quiet topic (which holds nothing itself).
    pub fn holds(&mut self, minute: i64, topic: &str, width: u32) {
        let w = self.proposed.entry((minute, topic.to_owned())).or_insert(1);
        *w = (*w).max(width);
    }

    /// The proposals that hold each topic this process proposed from its own view in the last
    /// [`HOLD_MINUTES`] before `minute` at the widest width it proposed then, where `minute` is
    /// not known to be planned that wide already: made before a worker marks `minute`, so a
    /// topic gone quiet (its collector down) keeps its width for what is replayed into it
    /// later. Widths held this way, or answered by the table, hold nothing themselves, so a
    /// hold ends an hour after the traffic last needed it.
    pub fn held(&self, minute: i64) -> Vec<(String, u32)> {
        let mut widest: HashMap<&str, u32> = HashMap::new();
        for ((m, topic), w) in &self.seen {
            if *m > minute - HOLD_MINUTES * 60 && *m < minute {
                let e = widest.entry(topic.as_str()).or_insert(1);
                *e = (*e).max(*w);
            }
        }
        let mut out: Vec<(String, u32)> = widest
            .into_iter()
            .filter(|(t, w)| {
                *w > 1
                    && self
                        .proposed
                        .get(&(minute, (*t).to_owned()))
                        .is_none_or(|p| p < w)
            })
            .map(|(t, w)| (t.to_owned(), w))
            .collect();
        out.sort();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn widths_are_the_smallest_power_of_two_under_the_target() {
        let mb = 1 << 20;
        assert_eq!(width_for(0.0, mb), 1);
        assert_eq!(width_for(mb as f64, mb), 1);
        assert_eq!(width_for(mb as f64 + 1.0, mb), 2);
        assert_eq!(width_for(5.0 * mb as f64, mb), 8);
        assert_eq!(width_for(1e18, mb), MAX_WIDTH);
    }

    #[test]
    fn first_plans_size_every_source_for_the_whole_rate() {
        let target = 32 << 20;
        assert_eq!(first_plan(0, target), Plan::new());
        // 1,000 mentions/s of 128-byte rows is 7.7 MB a minute: one partition holds it.
        assert_eq!(first_plan(1_000, target), Plan::new());
        let big = first_plan(1_000_000, target); // 7.7 GB a minute
        assert_eq!(big.len(), model::Source::ALL.len());
        assert_eq!(big.get("source:x"), Some(&256));
        assert!(big.values().all(|w| *w == 256));
        assert_eq!(first_plan(10_000, target).get("source:bluesky"), Some(&4));
        assert!(
            first_plan(100_000_000, target)
                .values()
                .all(|w| *w == MAX_WIDTH)
        );
    }

    #[test]
    fn a_smaller_width_never_points_past_a_larger_one() {
        for i in 0..1000 {
            let id = format!("x:{i}");
            let b = bucket_of(&id, 64);
            assert!((0..64).contains(&b));
            // Powers of two nest: the bucket at 8 is the bucket at 64 modulo 8.
            assert_eq!(bucket_of(&id, 8), b % 8);
            assert_eq!(bucket_of(&id, 1), 0);
        }
    }

    /// A row's spill bucket is negative, within the spill width, and one of its plan bucket's
    /// own spill buckets: what lets the rollup compare a plan bucket with those only.
    #[test]
    fn spill_buckets_refine_the_plan_bucket() {
        assert_eq!(spill_width(1), 64);
        assert_eq!(spill_width(8), 128);
        assert_eq!(spill_width(MAX_WIDTH), MAX_SPILL_WIDTH);
        for width in [1, 2, 16, 256, MAX_WIDTH] {
            let n = spill_width(width);
            assert_eq!(n % width, 0, "a multiple of {width}");
            let mut all: Vec<i32> = (0..width as i32)
                .flat_map(|b| spill_buckets_of(b, width))
                .collect();
            all.sort_unstable();
            let mut want: Vec<i32> = spill_buckets(width).collect();
            want.sort_unstable();
            assert_eq!(want, (-(n as i32)..0).collect::<Vec<_>>());
            assert_eq!(
                all, want,
                "the plan buckets' spill buckets are all of them, once"
            );
            for i in 0..300 {
                let id = format!("bluesky:at://did:plc:{i}");
                let s = spill_bucket(&id, width);
                let own: Vec<i32> = spill_buckets_of(bucket_of(&id, width), width).collect();
                assert!(own.contains(&s), "{id} at {width}: {s} not among {own:?}");
            }
        }
    }

    /// A writer spills a topic's minute once its projection needs more than twice the plan,
    /// and keeps spilling it whatever it projects after; it marks the minute the first time
    /// only, and again after a mark that failed.
    #[test]
    fn spills_are_sticky_and_marked_once() {
        let mut heat = Heat::new(1 << 20);
        let (t, m) = ("hashtag:breaking", 1_796_000_400);
        assert_eq!(
            heat.spill(t, m, 2, 1),
            (false, false),
            "twice the plan holds"
        );
        assert_eq!(heat.spill(t, m, 4, 2), (false, false));
        assert_eq!(heat.spill(t, m, 4, 1), (true, true), "four times does not");
        assert_eq!(
            heat.spill(t, m, 1, 1),
            (true, false),
            "sticky, marked already"
        );
        assert_eq!(
            heat.spill(t, m + 60, 1, 1),
            (false, false),
            "another minute"
        );
        assert_eq!(heat.spill("hashtag:other", m, 1, 1), (false, false));
        heat.unspill(t, m);
        assert_eq!(heat.spill(t, m, 1, 1), (false, false), "forgotten");
        assert_eq!(heat.spill(t, m, 8, 2), (true, true), "marked again");
    }

    #[test]
    fn buckets_spread_evenly() {
        let mut counts = [0u32; 16];
        for i in 0..160_000 {
            counts[bucket_of(&format!("bluesky:at://did:plc:{i}"), 16) as usize] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
    }

    /// A topic at a steady rate is projected at its width from the first seconds of each
    /// minute once a minute has been seen; a cold topic beside it stays at 1; a worker holding a
    /// quarter of the partitions sizes for four times what it sees.
    #[test]
    fn steady_hot_topics_are_wide_and_cold_ones_are_not() {
        let target = 1 << 20; // 1 MiB
        let mut heat = Heat::new(target);
        let start = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).unwrap();
        // 100 KiB/s seen by this worker, a quarter of the traffic: 24 MiB a minute in all.
        let mut last = 0;
        for second in 0..120 {
            let now = start + chrono::Duration::seconds(second);
            for _ in 0..100 {
                last = heat.observe("source:x", 1024, 0.25, now);
            }
            assert_eq!(heat.observe("hashtag:quiet", 100, 0.25, now), 1);
            if second >= 60 {
                assert_eq!(last, 32, "24 MiB at 1 MiB a bucket, at second {second}");
            }
        }
        assert_eq!(last, 32);
        // Read without counting: the same projection, carried into the next minute by the one
        // that ended, and gone once a whole minute passed without a row.
        let at = |s| start + chrono::Duration::seconds(s);
        assert_eq!(heat.width("source:x", 0.25, at(119)), 32);
        assert_eq!(heat.width("source:x", 0.25, at(130)), 32);
        assert_eq!(heat.width("source:x", 0.25, at(185)), 1);
        assert_eq!(heat.width("hashtag:quiet", 0.25, at(119)), 1);
    }

    /// A marked minute's plan is its own; an unmarked one keeps the carried widths, widened by
    /// proposals, and takes frozen widths as they are; with nothing carried it is its own too.
    #[test]
    fn unmarked_minutes_carry_the_last_marked_plan() {
        let held = |marked, widths: &[(&str, u32, bool)]| Held {
            marked,
            widths: widths
                .iter()
                .map(|(t, w, f)| ((*t).to_owned(), (*w, *f)))
                .collect(),
            ..Held::default()
        };
        let carried = std::sync::Arc::new(Plan::from([
            ("source:x".to_owned(), 64),
            ("hashtag:hot".to_owned(), 8),
            ("signal:a".to_owned(), 4),
        ]));
        let marked = held(true, &[("source:x", 32, false), ("hashtag:cold", 1, true)]);
        assert_eq!(
            *settle(&marked, Some(&carried)),
            Plan::from([("source:x".to_owned(), 32)]),
            "a marked minute: only what was planned for it"
        );
        let outage = held(false, &[]);
        let plan = settle(&outage, Some(&carried));
        assert!(
            std::sync::Arc::ptr_eq(&plan, &carried),
            "shared, not copied"
        );
        let overlaid = held(
            false,
            &[
                ("source:x", 16, false),    // a young worker's narrower proposal
                ("hashtag:hot", 32, false), // a wider one
                ("signal:a", 1, true),      // frozen at 1 by a row dated ahead
                ("signal:b", 2, true),
            ],
        );
        assert_eq!(
            *settle(&overlaid, Some(&carried)),
            Plan::from([
                ("source:x".to_owned(), 64),
                ("hashtag:hot".to_owned(), 32),
                ("signal:b".to_owned(), 2),
            ])
        );
        assert_eq!(
            *settle(&overlaid, None),
            Plan::from([
                ("source:x".to_owned(), 16),
                ("hashtag:hot".to_owned(), 32),
                ("signal:b".to_owned(), 2),
            ]),
            "nothing to carry: its own plan"
        );
    }

    /// A topic planned within the last hour is held at the widest width it had, for a minute
    /// this process has not planned it that wide for; older plans, width 1 and later minutes'
    /// plans hold nothing.
    #[test]
    fn quiet_topics_hold_their_recent_width() {
        let mut heat = Heat::new(1 << 20);
        let at = |m: i64| {
            Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0)
                .unwrap()
                .timestamp()
                + m * 60
        };
        heat.proposed(at(1), "x", 64);
        heat.proposed(at(2), "x", 128);
        heat.proposed(at(3), "x", 32);
        heat.proposed(at(2), "tag", 16);
        heat.proposed(at(3), "cold", 1);
        heat.proposed(at(20), "later", 8);
        let held = heat.held(at(10));
        assert_eq!(held, vec![("tag".to_owned(), 16), ("x".to_owned(), 128)]);
        heat.holds(at(10), "x", 128);
        heat.holds(at(10), "tag", 8);
        assert_eq!(
            heat.held(at(10)),
            vec![("tag".to_owned(), 16)],
            "x planned already"
        );
        let mut two = Heat::new(1 << 20);
        two.proposed(at(2), "x", 128);
        two.proposed(at(3), "x", 32);
        assert_eq!(
            two.held(at(2) + HOLD_MINUTES * 60),
            vec![("x".to_owned(), 32)],
            "an hour after minute 2, only minute 3's plan holds"
        );
        assert_eq!(two.held(at(3) + HOLD_MINUTES * 60), vec![]);
        // What is held, or answered by the table, does not renew the hold.
        two.holds(at(30), "x", 128);
        two.holds(at(40), "x", 256);
        assert_eq!(two.held(at(3) + HOLD_MINUTES * 60 + 60), vec![]);
        // Observing in a later minute forgets what is older than the hold.
        let now = chrono::DateTime::from_timestamp(at(10) + HOLD_MINUTES * 60 + 5, 0).unwrap();
        heat.observe("y", 1, 1.0, now);
        assert_eq!(heat.seen.keys().filter(|(_, t)| t == "x").count(), 0);
        assert!(heat.seen.contains_key(&(at(20), "later".to_owned())));
        // A worker that starts is seeded with what the table records the others proposed, and
        // holds it as its own, for as long.
        let mut fresh = Heat::new(1 << 20);
        fresh.seed(at(2), "x", 16);
        fresh.seed(at(3), "x", 8);
        assert_eq!(fresh.held(at(5)), vec![("x".to_owned(), 16)]);
        assert_eq!(
            fresh.held(at(2) + HOLD_MINUTES * 60),
            vec![("x".to_owned(), 8)]
        );
        assert_eq!(fresh.held(at(3) + HOLD_MINUTES * 60), vec![]);
    }

    /// Proposals name the next minute early in a minute and the one after late in it, once per
    /// topic, minute and width, never width 1, and only ever wider.
    #[test]
    fn proposals_are_made_ahead_once_and_only_widen() {
        let mut heat = Heat::new(1 << 20);
        let now = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 30).unwrap();
        let next = Utc
            .with_ymd_and_hms(2026, 12, 4, 10, 1, 0)
            .unwrap()
            .timestamp();
        heat.observe("t", 1, 1.0, now);
        assert_eq!(heat.proposal("t", 1, now), None);
        assert_eq!(heat.proposal("t", 8, now), Some((next, 8)));
        heat.proposed(next, "t", 8);
        assert_eq!(heat.proposal("t", 8, now), None, "made once");
        assert_eq!(heat.proposal("t", 4, now), None, "a plan only widens");
        assert_eq!(heat.proposal("t", 16, now), Some((next, 16)));
        let late = now + chrono::Duration::seconds(10);
        assert_eq!(
            heat.proposal("t", 8, late),
            Some((next + 60, 8)),
            "40 s in: the one after"
        );
        // The latest proposal for `next` is made 20 s before it starts; its plan is final 10 s
        // later (a clock up to 10 s behind has made its last proposal by then).
        assert!(!is_final(next, now));
        assert!(!is_final(next, now + chrono::Duration::seconds(19)));
        assert!(is_final(next, now + chrono::Duration::seconds(20)));
        assert_eq!(
            hour_of(next + 59),
            Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0)
                .unwrap()
                .timestamp()
        );
    }
}
