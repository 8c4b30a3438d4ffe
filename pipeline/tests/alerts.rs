//! The alerts evaluation harness: a seeded simulation of 20 signals over five days (quiet to
//! busy, daily rhythms, slow drifts, injected spikes and negative swings of known start, size
//! and driver), fed minute by minute to the detector, with every Opened alert matched to the
//! incidents. It prints recall, precision, detection delay, alerts per incident and how often
//! the explanation names the injected driver, and asserts the targets. Pure: no
//! services, a few seconds in a debug build. `BACKCHANNEL_ALERTS_SEED` picks another seed.

mod alerts_sim;

use std::collections::HashMap;

use alerts_sim::{DAY, Injected, Sim};
use chrono::{DateTime, Duration, TimeZone, Utc};
use pipeline::alerts::detect::{DetectorConfig, SignalDetector, Transition};
use pipeline::alerts::explain::{Period, explain};
use pipeline::alerts::{AlertKind, Driver};

const SIGNALS: usize = 20;
const DAYS: i64 = 5;
const DEFAULT_SEED: u64 = 15;
/// Minutes before an incident's start that explanations take as the baseline.
const BASELINE_MINUTES: i64 = 120;

/// An Opened alert, in simulation minutes.
#[derive(Debug)]
struct Opened {
    signal: usize,
    kind: AlertKind,
    started: i64,
    at: i64,
    drivers: Vec<Driver>,
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
        .single()
        .expect("a valid date")
}

fn minute_number(t: DateTime<Utc>) -> i64 {
    (t - t0()).num_minutes()
}

/// Runs the detector over every minute of every signal; returns the Opened alerts (explained
/// as a caller would: aggregate hashtags plus the mentions' authors, domains and terms) and
/// the number of all transitions.
fn run(sim: &mut Sim, cfg: &DetectorConfig) -> (Vec<Opened>, usize) {
    let mut detectors: Vec<SignalDetector> = (0..SIGNALS).map(|_| SignalDetector::new()).collect();
    let (mut opened, mut events) = (Vec::new(), 0);
    for minute in 0..DAYS * DAY {
        for (signal, det) in detectors.iter_mut().enumerate() {
            let agg = sim.minute(signal, minute);
            for t in det.observe(cfg, t0() + Duration::minutes(minute), &agg) {
                events += 1;
                let Transition::Opened(inc) = t else { continue };
                let (started, at) = (minute_number(inc.started_at), minute_number(inc.at));
                let window = sim.samples(signal, started, at + 1);
                let baseline = sim.samples(signal, started - BASELINE_MINUTES, started);
                let (drivers, _) = explain(
                    Period {
                        samples: &window,
                        minutes: (at + 1 - started) as f64,
                    },
                    Period {
                        samples: &baseline,
                        minutes: BASELINE_MINUTES as f64,
                    },
                    Some((&inc.hashtags, &inc.baseline_hashtags)),
                );
                opened.push(Opened {
                    signal,
                    kind: inc.kind,
                    started,
                    at,
                    drivers,
                });
            }
        }
    }
    (opened, events)
}

/// The result for one kind of incident (or all).
#[derive(Debug, Default)]
struct Score {
    incidents: usize,
    detected: usize,
    alerts: usize,
    false_positives: usize,
    /// Incidents with more than one Opened alert.
    duplicated: usize,
    delays: Vec<i64>,
    explained: usize,
}

impl Score {
    fn recall(&self) -> f64 {
        self.detected as f64 / self.incidents.max(1) as f64
    }
    fn precision(&self) -> f64 {
        (self.alerts - self.false_positives) as f64 / self.alerts.max(1) as f64
    }
    fn delay(&self, q: f64) -> f64 {
        let mut d = self.delays.clone();
        d.sort_unstable();
        d.get(((d.len().max(1) - 1) as f64 * q).round() as usize)
            .map_or(f64::NAN, |x| *x as f64)
    }
    fn explained_share(&self) -> f64 {
        self.explained as f64 / self.detected.max(1) as f64
    }
}

/// Matches each Opened alert to an incident of the same signal and kind whose span, widened
/// by 2 minutes before and 5 after, holds the alert's start; the first match detects it.
fn score(incidents: &[Injected], opened: &[Opened], kind: Option<AlertKind>) -> Score {
    let wanted = |k: AlertKind| kind.is_none_or(|w| w == k);
    let mut s = Score {
        incidents: incidents.iter().filter(|i| wanted(i.kind)).count(),
        ..Score::default()
    };
    let mut hits: HashMap<usize, usize> = HashMap::new();
    for a in opened.iter().filter(|a| wanted(a.kind)) {
        s.alerts += 1;
        let hit = incidents.iter().position(|i| {
            i.signal == a.signal
                && i.kind == a.kind
                && (i.start - 2..=i.end + 5).contains(&a.started)
        });
        let Some(id) = hit else {
            s.false_positives += 1;
            continue;
        };
        let n = hits.entry(id).or_default();
        *n += 1;
        if *n > 1 {
            s.duplicated += usize::from(*n == 2);
            continue;
        }
        s.detected += 1;
        s.delays.push((a.at - incidents[id].start).max(0));
        let tag = &incidents[id].tag;
        s.explained += usize::from(
            a.drivers
                .iter()
                .any(|d| d.kind == "hashtag" && &d.value == tag),
        );
    }
    s
}

fn seed() -> u64 {
    std::env::var("BACKCHANNEL_ALERTS_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(DEFAULT_SEED)
}

#[test]
fn detector_finds_injected_incidents_and_ignores_rhythm_drift_and_noise() {
    let seed = seed();
    let mut sim = Sim::new(seed, SIGNALS, DAYS);
    let (opened, events) = run(&mut sim, &DetectorConfig::default());
    let rows = [
        (
            "volume_spike",
            score(&sim.incidents, &opened, Some(AlertKind::VolumeSpike)),
        ),
        (
            "negative_shift",
            score(&sim.incidents, &opened, Some(AlertKind::NegativeShift)),
        ),
        ("all", score(&sim.incidents, &opened, None)),
    ];
    eprintln!("alerts harness, seed {seed}: {SIGNALS} signals, {DAYS} days, {events} transitions");
    eprintln!(
        "{:<15} {:>9} {:>8} {:>6} {:>6} {:>4} {:>9} {:>6} {:>6} {:>6} {:>8}",
        "kind",
        "incidents",
        "detected",
        "recall",
        "alerts",
        "fp",
        "precision",
        "p50",
        "p90",
        "dups",
        "explain"
    );
    for (name, s) in &rows {
        eprintln!(
            "{:<15} {:>9} {:>8} {:>6.3} {:>6} {:>4} {:>9.3} {:>6.1} {:>6.1} {:>6} {:>8.3}",
            name,
            s.incidents,
            s.detected,
            s.recall(),
            s.alerts,
            s.false_positives,
            s.precision(),
            s.delay(0.5),
            s.delay(0.9),
            s.duplicated,
            s.explained_share()
        );
    }
    let all = &rows[2].1;
    eprintln!(
        "transitions per detected incident: {:.2}",
        events as f64 / all.detected.max(1) as f64
    );
    for a in opened.iter().filter(|a| {
        !sim.incidents.iter().any(|i| {
            i.signal == a.signal
                && i.kind == a.kind
                && (i.start - 2..=i.end + 5).contains(&a.started)
        })
    }) {
        let s = &sim.signals[a.signal];
        eprintln!(
            "false positive: signal {} ({:.1}/min, rate now {:.1}) {:?} at minute {} (day {}, started {})",
            a.signal,
            s.level,
            s.rate(a.at),
            a.kind,
            a.at,
            a.at / DAY,
            a.started
        );
    }
    for i in &sim.incidents {
        if !opened.iter().any(|a| {
            a.signal == i.signal
                && a.kind == i.kind
                && (i.start - 2..=i.end + 5).contains(&a.started)
        }) {
            eprintln!(
                "missed: signal {} {:?} ×{:.2} for {} min at minute {} (rate {:.1}/min)",
                i.signal,
                i.kind,
                i.size,
                i.end - i.start,
                i.start,
                sim.signals[i.signal].rate(i.start)
            );
        }
    }
    for (name, s) in &rows {
        assert!(s.incidents > 0, "{name}: the simulation injected incidents");
        assert!(
            s.precision() >= 0.9,
            "{name}: precision {:.3}",
            s.precision()
        );
        assert!(s.recall() >= 0.9, "{name}: recall {:.3}", s.recall());
        assert!(s.delay(0.5) <= 2.0, "{name}: median delay {}", s.delay(0.5));
        assert_eq!(
            s.duplicated, 0,
            "{name}: an incident was opened more than once"
        );
        assert!(
            s.explained_share() >= 0.9,
            "{name}: explanations named the driver in {:.3}",
            s.explained_share()
        );
    }
}
