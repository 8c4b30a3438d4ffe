use chrono::TimeZone;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::alerts::AlertState;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0)
        .single()
        .unwrap_or_default()
}

/// A Poisson draw (Knuth's method for small means, a rounded normal for large ones).
fn poisson(rng: &mut SmallRng, mean: f64) -> i64 {
    if mean > 30.0 {
        let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
        let z = (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos();
        return (mean + z * mean.sqrt()).round().max(0.0) as i64;
    }
    let (limit, mut k, mut p) = ((-mean).exp(), 0, 1.0);
    loop {
        p *= rng.random::<f64>();
        if p <= limit {
            return k;
        }
        k += 1;
    }
}

/// A minute of `n` mentions, `negative` of them negative, each carrying `tag`.
fn minute(n: i64, negative: i64, tag: &str) -> MinuteAggregate {
    let mut agg = MinuteAggregate::default();
    let tags = [tag.to_owned()];
    for i in 0..n {
        agg.add(Some(if i < negative { -0.5 } else { 0.3 }), &tags);
    }
    agg
}

/// Runs minutes `from..to` (minute numbers from `t0`) with `rate(minute)` mentions per minute
/// and `share(minute)` of them negative, returning every transition.
fn run(
    det: &mut SignalDetector,
    cfg: &DetectorConfig,
    rng: &mut SmallRng,
    span: std::ops::Range<i64>,
    rate: impl Fn(i64) -> f64,
    share: impl Fn(i64) -> f64,
) -> Vec<Transition> {
    let mut out = Vec::new();
    for m in span {
        let n = poisson(rng, rate(m));
        let neg = (0..n).filter(|_| rng.random::<f64>() < share(m)).count() as i64;
        out.extend(det.observe(cfg, t0() + Duration::minutes(m), &minute(n, neg, "usual")));
    }
    out
}

fn opened(ts: &[Transition]) -> Vec<&Incident> {
    ts.iter()
        .filter(|t| t.state() == AlertState::Opened)
        .map(Transition::incident)
        .collect()
}

const DAY: i64 = 24 * 60;

#[test]
fn a_quiet_signal_going_from_0_to_3_does_not_alert() {
    let (cfg, mut det, mut rng) = (
        DetectorConfig::default(),
        SignalDetector::new(),
        SmallRng::seed_from_u64(1),
    );
    assert!(run(&mut det, &cfg, &mut rng, 0..DAY, |_| 0.05, |_| 0.2).is_empty());
    let mut out = Vec::new();
    for (i, n) in [3, 0, 0, 3, 3, 0].into_iter().enumerate() {
        out.extend(det.observe(
            &cfg,
            t0() + Duration::minutes(DAY + i as i64),
            &minute(n, 0, "x"),
        ));
    }
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn a_tenfold_spike_opens_once_and_resolves_once_after_calm() {
    let (cfg, mut det, mut rng) = (
        DetectorConfig::default(),
        SignalDetector::new(),
        SmallRng::seed_from_u64(2),
    );
    let spike = DAY..DAY + 15;
    let rate = |m: i64| if spike.contains(&m) { 200.0 } else { 20.0 };
    let out = run(&mut det, &cfg, &mut rng, 0..DAY + 60, rate, |_| 0.2);
    let open = opened(&out);
    assert_eq!(open.len(), 1, "{out:?}");
    assert_eq!(open[0].kind, AlertKind::VolumeSpike);
    assert_eq!(open[0].started_at, t0() + Duration::minutes(DAY));
    assert!(
        open[0].at <= t0() + Duration::minutes(DAY + 1),
        "opened late: {:?}",
        open[0].at
    );
    assert!(
        open[0].observed > 100.0 && (15.0..25.0).contains(&open[0].expected),
        "{:?}",
        open[0]
    );
    let resolved: Vec<&Transition> = out
        .iter()
        .filter(|t| t.state() == AlertState::Resolved)
        .collect();
    assert_eq!(resolved.len(), 1);
    let end = resolved[0].incident();
    // Calm from minute DAY+15; the 3-minute window clears two minutes later, then 5 calm minutes.
    assert!(
        end.at >= t0() + Duration::minutes(DAY + 15 + 4)
            && end.at <= t0() + Duration::minutes(DAY + 15 + 8),
        "{:?}",
        end.at
    );
    assert!(
        end.mentions > 15 * 150,
        "the incident counts its mentions: {}",
        end.mentions
    );
    assert!(
        out.iter()
            .filter(|t| t.state() == AlertState::Updated)
            .count()
            <= 2,
        "{out:?}"
    );
}

#[test]
fn a_detector_saved_mid_incident_resumes_it_without_opening_again() {
    let (cfg, mut det, mut rng) = (
        DetectorConfig::default(),
        SignalDetector::new(),
        SmallRng::seed_from_u64(3),
    );
    let rate = |m: i64| {
        if (DAY..DAY + 20).contains(&m) {
            150.0
        } else {
            15.0
        }
    };
    let before = run(&mut det, &cfg, &mut rng, 0..DAY + 5, rate, |_| 0.2);
    assert_eq!(opened(&before).len(), 1);
    assert!(det.is_open(AlertKind::VolumeSpike));
    let saved = serde_json::to_string(&det).unwrap_or_default();
    let mut resumed: SignalDetector = match serde_json::from_str(&saved) {
        Ok(d) => d,
        Err(e) => panic!("the saved detector reads back: {e}"),
    };
    // JSON floats may differ in the last bit; what matters is the open incident came back.
    assert_eq!(
        resumed
            .volume
            .as_ref()
            .map(|o| (o.incident.started_at, o.incident.mentions)),
        det.volume
            .as_ref()
            .map(|o| (o.incident.started_at, o.incident.mentions))
    );
    let after = run(
        &mut resumed,
        &cfg,
        &mut rng,
        DAY + 5..DAY + 60,
        rate,
        |_| 0.2,
    );
    assert!(opened(&after).is_empty(), "{after:?}");
    let resolved: Vec<&Incident> = after
        .iter()
        .filter(|t| t.state() == AlertState::Resolved)
        .map(Transition::incident)
        .collect();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0].started_at, t0() + Duration::minutes(DAY));
}

#[test]
fn a_slow_ramp_with_a_daily_rhythm_does_not_alert() {
    let (cfg, mut det, mut rng) = (
        DetectorConfig::default(),
        SignalDetector::new(),
        SmallRng::seed_from_u64(4),
    );
    // 10/min doubling over two days, with a ±70% daily rhythm peaking at 15:00.
    let rate = |m: i64| {
        let level = 10.0 * (1.0 + (m as f64 / (2 * DAY) as f64).min(1.0));
        let hour = (m % DAY) as f64 / 60.0;
        level * (1.0 + 0.7 * ((hour - 15.0) / 24.0 * std::f64::consts::TAU).cos())
    };
    let out = run(&mut det, &cfg, &mut rng, 0..4 * DAY, rate, |_| 0.2);
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn a_negative_swing_opens_a_negative_shift_not_a_spike() {
    let (cfg, mut det, mut rng) = (
        DetectorConfig::default(),
        SignalDetector::new(),
        SmallRng::seed_from_u64(5),
    );
    let swing = DAY..DAY + 15;
    let share = |m: i64| if swing.contains(&m) { 0.6 } else { 0.15 };
    let out = run(&mut det, &cfg, &mut rng, 0..DAY + 60, |_| 30.0, share);
    let open = opened(&out);
    assert_eq!(open.len(), 1, "{out:?}");
    assert_eq!(open[0].kind, AlertKind::NegativeShift);
    assert!(
        open[0].at <= t0() + Duration::minutes(DAY + 2),
        "opened late: {:?}",
        open[0].at
    );
    assert!(
        open[0].observed > 0.4 && (0.1..0.2).contains(&open[0].expected),
        "{:?}",
        open[0]
    );
    assert_eq!(
        out.iter()
            .filter(|t| t.state() == AlertState::Resolved)
            .count(),
        1
    );
}

#[test]
fn a_gap_counts_as_silent_minutes_and_old_minutes_are_ignored() {
    let (cfg, mut det) = (DetectorConfig::default(), SignalDetector::new());
    let busy = minute(10, 0, "a");
    assert!(det.observe(&cfg, t0(), &busy).is_empty());
    assert!(
        det.observe(&cfg, t0() + Duration::minutes(10), &busy)
            .is_empty()
    );
    assert_eq!(det.seen, 11, "the 9 missing minutes were replayed as empty");
    assert!(
        det.observe(&cfg, t0() + Duration::minutes(5), &busy)
            .is_empty()
    );
    assert_eq!(det.seen, 11);
}

#[test]
fn the_default_config_is_valid_and_a_bad_one_names_its_key() {
    assert!(DetectorConfig::default().validate().is_ok());
    let bad = DetectorConfig {
        calm_ratio: 3.0,
        ..DetectorConfig::default()
    };
    let err = bad
        .validate()
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("calm_ratio"), "{err}");
    let parsed: DetectorConfig =
        serde_json::from_str(r#"{"min_mentions": 12}"#).unwrap_or_default();
    assert_eq!(parsed.min_mentions, 12);
    assert!(serde_json::from_str::<DetectorConfig>(r#"{"nope": 1}"#).is_err());
}
