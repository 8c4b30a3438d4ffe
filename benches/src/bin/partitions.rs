//! How big `topic_mentions` partitions get at internet scale, with and without hot-topic buckets:
//! a simulation that runs the store's own placement code (`buckets::Heat`, the plans it proposes,
//! `bucket_of`, the spills, `row_bytes`) over a synthetic firehose.
//!
//! ```text
//! cargo run --release -p benches --bin partitions [RATE] [WORKERS] [MINUTES]
//! ```
//!
//! Defaults: 1,000,000 mentions/s over 64 workers for 12 minutes. Workers see equal shares of every
//! topic (mentions are spread over partitions by id), so one worker's stream is simulated mention
//! by mention and the others' rows are its rows times WORKERS (each bucket's share comes from
//! hashing the simulated ids). The firehose: sources by share (x 40%, bluesky 25%, mastodon 15%,
//! reddit 10%, hackernews 5%, rss 5%); 0–3 hashtags a mention from a Zipf(1.1) over 200,000 tags;
//! ten signals matching 0.5–8% of mentions; and from minute 3 a breaking hashtag that jumps from
//! nothing to 5% of all mentions. Plans are proposed for the next minute (or, late in a minute, the
//! one after) and only widen, as in the store; the target is the default 32 MiB. The deployment is
//! new: `schema apply` marked the minute before the first with every source at the width the rate
//! needs (`buckets::first_plan`, for `scylla.expected_rate` = RATE), so the minutes before the
//! workers' first mark carry it. Every worker is down from 4:30 to 7:00 (its backlog, kept by
//! Kafka, is written afterwards into the minutes it was dated in) and restarts with nothing counted
//! but what the table records it proposed (below): workers mark the minutes they plan once they
//! have watched for a minute, and a final plan is settled by the store's own `buckets::settle`, so
//! the minutes nobody planned carry the last marked plan. Bluesky's collector alone is down from
//! 8:30 to 11:30 while the workers keep up with the rest: what it replays afterwards is written
//! into minutes 8 to 11, and minutes 10 and 11 were planned and marked while Bluesky was quiet, so
//! the workers hold it at its width from before (`Heat::held`). Every worker restarts again at 9:00
//! (a roll) and, as at every start, before it marks a minute is seeded with what the table records
//! the workers before it proposed from their own view (`buckets::SEEN`, `Heat::seed`); the bench
//! also runs the roll without that record. A minute whose rows the workers' heat projects above
//! twice its plan spills (`Heat::spill`, `spill_bucket`), as in the store; the bench also places
//! every row by the plans alone, to show what spilling bounds.

use std::collections::HashMap;

use std::sync::Arc;

use pipeline::distributed::scylla::buckets::{self, Heat, Held, Plan};
use rand::{Rng, SeedableRng};

const TARGET: u64 = 32 << 20;

/// A proposal of `width` for `topic` in a minute's `topic_widths` rows: a plan only widens.
/// Returns the width the plan holds.
fn widen(held: &mut Held, topic: &str, width: u32) -> u32 {
    let plan = held.widths.entry(topic.to_owned()).or_insert((1, false));
    plan.0 = plan.0.max(width);
    plan.0
}

/// Workers writing a row of `bytes` for topic `t` at `now`: counted into their heat, and
/// proposed into `held` when the topic needs a wider plan. Returns the width the heat projects
/// for the topic and the proposal made.
fn propose(
    heat: &mut Heat,
    held: &mut HashMap<i64, Held>,
    (t, bytes, share): (&str, u64, f64),
    now: chrono::DateTime<chrono::Utc>,
) -> (u32, Option<(i64, u32)>) {
    let needed = heat.observe(t, bytes, share, now);
    let Some((m, w)) = heat.proposal(t, needed, now) else {
        return (needed, None);
    };
    let holds = widen(held.entry(m).or_default(), t, w);
    heat.proposed(m, t, w);
    heat.holds(m, t, holds);
    (needed, Some((m, w)))
}

/// Workers marking minute `m` in `held`: first the topics their heat holds (`Heat::held`).
fn mark(heat: &mut Heat, held: &mut HashMap<i64, Held>, m: i64) {
    let h = held.entry(m).or_default();
    if !h.marked {
        for (t, w) in heat.held(m) {
            let holds = widen(h, &t, w);
            heat.holds(m, &t, holds);
        }
        h.marked = true;
    }
}

/// The final plan of `minute`, carrying the last marked one's (`buckets::settle`).
fn settle(held: &HashMap<i64, Held>, minute: i64, carried: &mut Option<Arc<Plan>>) -> Arc<Plan> {
    let h = held.get(&minute).cloned().unwrap_or_default();
    let plan = buckets::settle(&h, carried.as_ref());
    if h.marked {
        *carried = Some(plan.clone());
    }
    plan
}

/// The workers after a roll that ended their heat without the table's record of what they saw
/// (`buckets::SEEN`): their own view, plans and the running minute's plan.
struct Unseeded {
    heat: Heat,
    held: HashMap<i64, Held>,
    carried: Option<Arc<Plan>>,
    settled: (i64, Arc<Plan>),
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rate: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let workers: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(64);
    let minutes: i64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(12);
    // Seconds no worker runs; they restart at its end with nothing counted.
    let outage = 270..420;
    // Seconds Bluesky's collector is down; it replays them when it is back.
    let (quiet, quiet_topic) = (510..690, "source:bluesky");
    let replayed = 8..12;
    // Every worker restarts at 9:00 (a roll), in Bluesky's outage.
    let roll = 540;
    let per_worker = rate / workers.max(1);
    let share = 1.0 / workers.max(1) as f64;
    let sources = [
        ("source:x", 0.40),
        ("source:bluesky", 0.25),
        ("source:mastodon", 0.15),
        ("source:reddit", 0.10),
        ("source:hackernews", 0.05),
        ("source:rss", 0.05),
    ];
    let signals: Vec<(String, f64)> = (0..10)
        .map(|i| {
            (
                format!("signal:tenant{i}/brand"),
                0.005 + 0.075 * f64::from(i) / 9.0,
            )
        })
        .collect();
    // Zipf(1.1) over 200,000 hashtags, sampled by inverse CDF.
    let tags = 200_000usize;
    let mut cdf = Vec::with_capacity(tags);
    let mut sum = 0.0;
    for k in 1..=tags {
        sum += 1.0 / (k as f64).powf(1.1);
        cdf.push(sum);
    }
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut heat = Heat::new(TARGET);
    // minute -> what `topic_widths` holds for it; (topic, minute, bucket) -> bytes (all workers).
    let mut held: HashMap<i64, Held> = HashMap::new();
    // The same without the widths held for quiet topics.
    let mut unheld: HashMap<i64, Held> = HashMap::new();
    // The running minute, its final plan, its own plan (nothing carried), and its own plan
    // without the held widths.
    let mut settled: (i64, Arc<Plan>, Arc<Plan>, Arc<Plan>) = Default::default();
    // `schema apply` marked the minute before the first with the plan for the expected rate
    // (`scylla.expected_rate`, the simulated rate here): the minutes before the workers' first
    // mark carry it.
    let mut carried: Option<Arc<Plan>> = Some(Arc::new(buckets::first_plan(rate, TARGET)));
    // The minutes no worker marked, counted from the start: before the first mark, and the
    // outage's.
    let (cold, unmarked) = (0..2, 6..9);
    let mut watching = 0;
    // What the workers recorded as proposed from their own view (`SEEN` rows), and whether the
    // running workers were seeded with it.
    let mut seen: HashMap<(i64, String), u32> = HashMap::new();
    let mut seeded = true;
    let mut unseeded: Option<Unseeded> = None;
    // Bluesky's replay placed by workers rolled without the record.
    let mut rolled_bare: HashMap<(String, i64, i32), u64> = HashMap::new();
    let mut bucketed: HashMap<(String, i64, i32), u64> = HashMap::new();
    // The same placed by the plans alone, as if no worker spilled.
    let mut unspilled: HashMap<(String, i64, i32), u64> = HashMap::new();
    // The minutes nobody marked placed as if no plan were carried.
    let mut uncarried: HashMap<(String, i64, i32), u64> = HashMap::new();
    // Bluesky's replay placed as if quiet topics held nothing.
    let mut not_held: HashMap<(String, i64, i32), u64> = HashMap::new();
    let mut whole: HashMap<(String, i64), u64> = HashMap::new();
    let start = chrono::DateTime::from_timestamp(1_796_000_400, 0).expect("time");
    let mut n = 0u64;
    let mut topics: Vec<String> = Vec::with_capacity(16);
    let mut hashtags: Vec<String> = Vec::with_capacity(4);
    for second in 0..minutes * 60 {
        let now = start + chrono::Duration::seconds(second);
        let minute = now.timestamp().div_euclid(60) * 60;
        let up = !outage.contains(&second);
        if second == outage.end {
            heat = Heat::new(TARGET);
            watching = second;
            seeded = false;
        }
        if second == roll {
            heat = Heat::new(TARGET);
            watching = second;
            seeded = false;
            unseeded = Some(Unseeded {
                heat: Heat::new(TARGET),
                held: held.clone(),
                carried: carried.clone(),
                settled: Default::default(),
            });
        }
        if up && second - watching >= buckets::WATCH_BEFORE_MARKING {
            let m = buckets::proposal_minute(now);
            if !seeded {
                // A worker that starts holds what the table records the others saw.
                for ((sm, t), w) in &seen {
                    if *sm > m - buckets::HOLD_MINUTES * 60 && *sm < m {
                        heat.seed(*sm, t, *w);
                    }
                }
                seeded = true;
            }
            // Before marking, the topics planned in the last hour keep their width.
            mark(&mut heat, &mut held, m);
            if let Some(u) = unseeded.as_mut() {
                mark(&mut u.heat, &mut u.held, m);
            }
        }
        // A minute's plan is final from before it starts; the minutes carry in order.
        if settled.0 != minute {
            let plan = settle(&held, minute, &mut carried);
            let h = held.get(&minute).cloned().unwrap_or_default();
            let u = unheld.get(&minute).cloned().unwrap_or_default();
            settled = (
                minute,
                plan,
                buckets::settle(&h, None),
                buckets::settle(&u, None),
            );
            if let Some(u) = unseeded.as_mut() {
                u.settled = (minute, settle(&u.held, minute, &mut u.carried));
            }
        }
        let (_, plan, own, own_unheld) = &settled;
        for _ in 0..per_worker {
            n += 1;
            let id = format!("x:{:019}", n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            topics.clear();
            hashtags.clear();
            let r: f64 = rng.random();
            let mut acc = 0.0;
            for (s, p) in sources {
                acc += p;
                if r < acc {
                    topics.push(s.to_owned());
                    break;
                }
            }
            for _ in 0..rng.random_range(0..=3) {
                let u: f64 = rng.random::<f64>() * sum;
                let k = cdf.partition_point(|c| *c < u);
                hashtags.push(format!("tag{k}"));
            }
            if second >= 180 && rng.random::<f64>() < 0.05 {
                hashtags.push("breaking".to_owned());
            }
            for h in &hashtags {
                let t = format!("hashtag:{h}");
                if !topics.contains(&t) {
                    topics.push(t);
                }
            }
            for (s, p) in &signals {
                if rng.random::<f64>() < *p {
                    topics.push(s.clone());
                }
            }
            // Written live, or replayed by its collector into the minute it is dated in.
            let live = !(quiet.contains(&second) && topics[0] == quiet_topic);
            for t in &topics {
                let bytes = buckets::row_bytes(t, &id, &hashtags);
                let width = plan.get(t).copied().unwrap_or(1);
                let mut spilled = false;
                if up && live {
                    let row = (t.as_str(), bytes, share);
                    let (needed, proposal) = propose(&mut heat, &mut held, row, now);
                    // Every worker sees the same share of the topic, so all spill together.
                    spilled = heat.spill(t, minute, needed, width).0;
                    if let Some((m, w)) = proposal {
                        widen(unheld.entry(m).or_default(), t, w);
                        let s = seen.entry((m, t.clone())).or_default();
                        *s = (*s).max(w);
                    }
                    if let Some(u) = unseeded.as_mut() {
                        propose(&mut u.heat, &mut u.held, row, now);
                    }
                }
                if !live && replayed.contains(&((minute - start.timestamp()) / 60)) {
                    let b = buckets::bucket_of(&id, own_unheld.get(t).copied().unwrap_or(1));
                    *not_held.entry((t.clone(), minute, b)).or_default() += bytes * workers;
                    if let Some(u) = &unseeded {
                        let b = buckets::bucket_of(&id, u.settled.1.get(t).copied().unwrap_or(1));
                        *rolled_bare.entry((t.clone(), minute, b)).or_default() += bytes * workers;
                    }
                }
                let b = buckets::bucket_of(&id, width);
                *unspilled.entry((t.clone(), minute, b)).or_default() += bytes * workers;
                let b = if spilled {
                    buckets::spill_bucket(&id, width)
                } else {
                    b
                };
                *bucketed.entry((t.clone(), minute, b)).or_default() += bytes * workers;
                let m = (minute - start.timestamp()) / 60;
                if unmarked.contains(&m) || cold.contains(&m) {
                    let b = buckets::bucket_of(&id, own.get(t).copied().unwrap_or(1));
                    *uncarried.entry((t.clone(), minute, b)).or_default() += bytes * workers;
                }
                *whole.entry((t.clone(), minute)).or_default() += bytes * workers;
            }
        }
    }
    let mb = |b: u64| b as f64 / 1e6;
    let largest = |m: &HashMap<(String, i64), u64>| {
        m.iter()
            .max_by_key(|(_, b)| **b)
            .map(|((t, mi), b)| (t.clone(), (mi - start.timestamp()) / 60, *b))
            .unwrap_or_default()
    };
    let (wt, wm, wb) = largest(&whole);
    let (bt, bm, bb) = bucketed
        .iter()
        .max_by_key(|(_, b)| **b)
        .map(|((t, mi, _), b)| (t.clone(), (mi - start.timestamp()) / 60, *b))
        .unwrap_or_default();
    // Steady state: minutes after the plans have caught up (from minute 1), breaking excluded
    // until its plan took over (minute 4).
    let steady = bucketed
        .iter()
        .filter(|((t, mi, _), _)| {
            let m = (mi - start.timestamp()) / 60;
            m >= 1 && (t != "hashtag:breaking" || m >= 4)
        })
        .map(|(_, b)| *b)
        .max()
        .unwrap_or(0);
    let over =
        |m: &HashMap<(String, i64, i32), u64>| m.values().filter(|b| **b > 100_000_000).count();
    let burst = |m: &HashMap<(String, i64, i32), u64>, from: i64, to: i64| {
        m.iter()
            .filter(|((t, mi, _), _)| {
                let m = (mi - start.timestamp()) / 60;
                t == "hashtag:breaking" && (from..to).contains(&m)
            })
            .map(|(_, b)| *b)
            .max()
            .unwrap_or(0)
    };
    println!(
        "{rate} mentions/s over {workers} workers for {minutes} min ({} simulated mentions, \
         target {} MiB a bucket)",
        n,
        TARGET >> 20
    );
    println!(
        "one partition per (topic, minute):   largest {:.0} MB ({wt}, minute {wm})",
        mb(wb)
    );
    let (ut, um, ub) = unspilled
        .iter()
        .max_by_key(|(_, b)| **b)
        .map(|((t, mi, _), b)| (t.clone(), (mi - start.timestamp()) / 60, *b))
        .unwrap_or_default();
    println!(
        "bucketed, every minute:              largest {:.0} MB ({bt}, minute {bm}; {} partitions, {} over 100 MB)",
        mb(bb),
        bucketed.len(),
        over(&bucketed)
    );
    println!(
        "  by the plans alone, no spilling:   largest {:.0} MB ({ut}, minute {um}; {} partitions, {} over 100 MB)",
        mb(ub),
        unspilled.len(),
        over(&unspilled)
    );
    // What spilling costs readers: the topic-minutes read over their spill buckets too.
    let spilled: std::collections::HashSet<(&String, i64)> = bucketed
        .keys()
        .filter(|(_, _, b)| *b < 0)
        .map(|(t, m, _)| (t, *m))
        .collect();
    let mut spilled_in: Vec<i64> = spilled
        .iter()
        .map(|(_, mi)| (mi - start.timestamp()) / 60)
        .collect();
    spilled_in.sort_unstable();
    spilled_in.dedup();
    println!(
        "  spilled: {} topic-minutes of {} (in minutes {:?}), each read over its spill buckets too",
        spilled.len(),
        whole.len(),
        spilled_in
    );
    println!(
        "bucketed, once plans have caught up: largest {:.1} MB (minute 1 on; the breaking tag from minute 4)",
        mb(steady)
    );
    let in_minutes = |m: &HashMap<(String, i64, i32), u64>, minutes: &std::ops::Range<i64>| {
        m.iter()
            .filter(|((_, mi, _), _)| minutes.contains(&((mi - start.timestamp()) / 60)))
            .max_by_key(|(_, b)| **b)
            .map(|((t, _, _), b)| (t.clone(), *b))
            .unwrap_or_default()
    };
    let sources_in = |m: &HashMap<(String, i64, i32), u64>| {
        m.iter()
            .filter(|((t, mi, _), _)| {
                t.starts_with("source:") && cold.contains(&((mi - start.timestamp()) / 60))
            })
            .map(|(_, b)| *b)
            .max()
            .unwrap_or(0)
    };
    let ((ct, cb), (ut, ub)) = (in_minutes(&bucketed, &cold), in_minutes(&uncarried, &cold));
    let (st, sb) = in_minutes(&unspilled, &cold);
    println!(
        "a fresh deployment (minutes 0-1, before the workers' first mark): largest {:.1} MB ({ct}), \
         spilled; without spilling {:.0} MB ({st}); sources {:.1} MB carrying the plan schema \
         apply marked for {rate}/s, unplanned {:.0} MB; unplanned the largest would be {:.0} MB ({ut})",
        mb(cb),
        mb(sb),
        mb(sources_in(&bucketed)),
        mb(sources_in(&uncarried)),
        mb(ub)
    );
    println!(
        "the breaking hashtag: largest {:.1} MB in minute 3 (before its plan), spilled; without \
         spilling {:.0} MB; {:.1} MB from minute 4",
        mb(burst(&bucketed, 3, 4)),
        mb(burst(&unspilled, 3, 4)),
        mb(burst(&bucketed, 4, i64::MAX))
    );
    let ((ct, cb), (ut, ub)) = (
        in_minutes(&bucketed, &unmarked),
        in_minutes(&uncarried, &unmarked),
    );
    println!(
        "every worker down 4:30-7:00 (minutes 6-8 nobody marked, written from the backlog): \
         largest {:.1} MB ({ct}) carrying minute 5's plan; unplanned it would be {:.0} MB ({ut})",
        mb(cb),
        mb(ub)
    );
    let largest_of = |m: &HashMap<(String, i64, i32), u64>| {
        m.iter()
            .filter(|((t, mi, _), _)| {
                t == quiet_topic && replayed.contains(&((mi - start.timestamp()) / 60))
            })
            .map(|(_, b)| *b)
            .max()
            .unwrap_or(0)
    };
    println!(
        "{quiet_topic}'s collector down 8:30-11:30 (replayed into minutes 8-11; minutes 10 and 11 \
         planned while it was quiet; every worker restarted at 9:00): largest {:.1} MB, held at \
         its width; without the hold {:.0} MB; restarted without the table's record of what the \
         workers saw {:.0} MB",
        mb(largest_of(&bucketed)),
        mb(largest_of(&not_held)),
        mb(largest_of(&rolled_bare))
    );
    let mut widest: Vec<(&String, u32)> = held
        .get(&(start.timestamp() + 4 * 60))
        .map(|h| h.widths.iter().map(|(t, (w, _))| (t, *w)).collect())
        .unwrap_or_default();
    widest.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let shown: Vec<String> = widest
        .iter()
        .take(8)
        .map(|(t, w)| format!("{t} {w}"))
        .collect();
    println!("widths planned for minute 4: {}", shown.join(", "));
}
