//! A seeded simulator of per-signal traffic for the alerts harness: levels from quiet to busy,
//! a daily rhythm, Poisson noise, Zipf-ish vocabularies, slow drifts, and injected incidents of
//! known start, length and size whose mentions carry their own driver hashtag, author and domain.
//! Time is only a minute counter: days run in a loop, nothing sleeps.

use std::collections::VecDeque;
use std::f64::consts::TAU;

use pipeline::aggregate::MinuteAggregate;
use pipeline::alerts::AlertKind;
use pipeline::alerts::explain::Sample;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

pub const DAY: i64 = 24 * 60;
/// Extra mentions per minute a volume incident brings at least: less, on a quiet signal, is
/// below the detector's floor by design (0 → 3 must not alert).
pub const MIN_EXTRA_PER_MINUTE: f64 = 5.0;
/// Negative swings are injected where the signal has at least this many mentions per minute:
/// a share cannot be told from noise over a handful of mentions.
pub const MIN_SWING_RATE: f64 = 15.0;
/// Real traffic wanders more than Poisson: each minute's rate is multiplied by a log-normal
/// factor with this spread, and now and then a single minute bursts to up to twice the rate
/// (a thread, a repost wave): noise the detector must not alert on.
pub const OVERDISPERSION: f64 = 0.2;
pub const BURST_CHANCE: f64 = 1.0 / 240.0;
/// Minutes of raw mentions kept per signal, for explanations.
pub const KEEP_MINUTES: usize = 200;

/// Names drawn with Zipf-like frequencies (`1 / rank^1.1`).
pub struct Vocab {
    names: Vec<String>,
    cdf: Vec<f64>,
}

impl Vocab {
    fn new(prefix: &str, n: usize) -> Self {
        let mut total = 0.0;
        let mut cdf = Vec::with_capacity(n);
        for rank in 1..=n {
            total += 1.0 / (rank as f64).powf(1.1);
            cdf.push(total);
        }
        cdf.iter_mut().for_each(|c| *c /= total);
        let names = (0..n).map(|i| format!("{prefix}{i}")).collect();
        Self { names, cdf }
    }

    fn draw(&self, rng: &mut SmallRng) -> u32 {
        let u: f64 = rng.random();
        self.cdf.partition_point(|c| *c < u).min(self.cdf.len() - 1) as u32
    }
}

/// One simulated signal's habits.
pub struct Signal {
    pub level: f64,
    pub amplitude: f64,
    pub peak_hour: f64,
    pub negative_share: f64,
    /// Minute the drift starts and how long it takes to double the level.
    pub drift: Option<(i64, i64)>,
    tags: Vocab,
    authors: Vocab,
    domains: Vocab,
    terms: Vocab,
}

impl Signal {
    /// Expected mentions per minute at `minute`, without incidents.
    pub fn rate(&self, minute: i64) -> f64 {
        let drift = match self.drift {
            Some((start, len)) => 1.0 + ((minute - start) as f64 / len as f64).clamp(0.0, 1.0),
            None => 1.0,
        };
        let hour = (minute % DAY) as f64 / 60.0;
        self.level * drift * (1.0 + self.amplitude * ((hour - self.peak_hour) / 24.0 * TAU).cos())
    }
}

/// An incident the simulator injects, with the answer the detector should find.
#[derive(Debug, Clone)]
pub struct Injected {
    pub signal: usize,
    pub kind: AlertKind,
    pub start: i64,
    /// First minute after it.
    pub end: i64,
    /// Volume: the multiplier of the normal rate; shift: the share of mentions turned negative.
    pub size: f64,
    /// The driver hashtag its mentions carry.
    pub tag: String,
}

/// One mention, compactly; turned into a [`Sample`] only when an explanation needs it.
#[derive(Debug, Clone, Copy)]
struct Draw {
    /// Index of the incident whose driver this mention is, or `usize::MAX`.
    incident: usize,
    tag: Option<u32>,
    author: u32,
    domain: u32,
    term: u32,
    negative: bool,
    dup_key: u64,
}

pub struct Sim {
    pub rng: SmallRng,
    pub signals: Vec<Signal>,
    pub incidents: Vec<Injected>,
    /// Per signal: the last [`KEEP_MINUTES`] minutes of mentions, oldest first.
    kept: Vec<VecDeque<(i64, Vec<Draw>)>>,
    next_key: u64,
}

fn draw_poisson(rng: &mut SmallRng, mean: f64) -> usize {
    if mean > 30.0 {
        let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-12), rng.random());
        let z = (-2.0 * u.ln()).sqrt() * (TAU * v).cos();
        return (mean + z * mean.sqrt()).round().max(0.0) as usize;
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

impl Sim {
    /// `n` signals over `days` days: levels spread log-uniformly from 0.5 to 60 per minute,
    /// every fourth signal drifting to twice its level over one to two days, and incidents
    /// injected from the second day on (the first is for learning).
    pub fn new(seed: u64, n: usize, days: i64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let signals: Vec<Signal> = (0..n)
            .map(|i| {
                let spread = i as f64 / (n.max(2) - 1) as f64;
                Signal {
                    level: 0.5 * 120f64.powf(spread) * rng.random_range(0.85..1.15),
                    amplitude: rng.random_range(0.5..0.8),
                    peak_hour: rng.random_range(0.0..24.0),
                    negative_share: rng.random_range(0.1..0.3),
                    drift: (i % 4 == 1).then(|| {
                        (
                            rng.random_range(DAY..2 * DAY),
                            rng.random_range(DAY..2 * DAY),
                        )
                    }),
                    tags: Vocab::new(&format!("s{i}tag"), 300),
                    authors: Vocab::new(&format!("s{i}user"), 3000),
                    domains: Vocab::new(&format!("s{i}site"), 40),
                    terms: Vocab::new(&format!("s{i}word"), 500),
                }
            })
            .collect();
        let mut sim = Sim {
            rng,
            kept: (0..n).map(|_| VecDeque::new()).collect(),
            signals,
            incidents: Vec::new(),
            next_key: 1 << 32,
        };
        for s in 0..n {
            sim.schedule(s, days);
        }
        sim
    }

    /// Three volume spikes and, where the signal is busy enough, two negative swings, at least
    /// four hours apart.
    fn schedule(&mut self, signal: usize, days: i64) {
        let plan = [
            AlertKind::VolumeSpike,
            AlertKind::NegativeShift,
            AlertKind::VolumeSpike,
            AlertKind::NegativeShift,
            AlertKind::VolumeSpike,
        ];
        for kind in plan {
            for _try in 0..50 {
                let start = self.rng.random_range(DAY + 60..days * DAY - 90);
                let len = self.rng.random_range(5..=30);
                let clear = self
                    .incidents
                    .iter()
                    .filter(|i| i.signal == signal)
                    .all(|i| start + len + 240 < i.start || i.end + 240 < start);
                let busy = self.signals[signal].rate(start) >= MIN_SWING_RATE;
                if !clear || (kind == AlertKind::NegativeShift && !busy) {
                    continue;
                }
                let size = match kind {
                    AlertKind::VolumeSpike => (self.rng.random_range(3f64.ln()..20f64.ln())).exp(),
                    AlertKind::NegativeShift => self.rng.random_range(0.35..0.6),
                };
                let id = self.incidents.len();
                self.incidents.push(Injected {
                    signal,
                    kind,
                    start,
                    end: start + len,
                    size,
                    tag: format!("incident{id}"),
                });
                break;
            }
        }
    }

    fn incident_at(&self, signal: usize, minute: i64) -> Option<usize> {
        self.incidents
            .iter()
            .position(|i| i.signal == signal && i.start <= minute && minute < i.end)
    }

    fn ordinary(&mut self, signal: usize) -> Draw {
        let s = &self.signals[signal];
        let rng = &mut self.rng;
        self.next_key += 1;
        Draw {
            incident: usize::MAX,
            tag: (rng.random::<f64>() < 0.7).then(|| s.tags.draw(rng)),
            author: s.authors.draw(rng),
            domain: s.domains.draw(rng),
            term: s.terms.draw(rng),
            negative: rng.random::<f64>() < s.negative_share,
            dup_key: self.next_key,
        }
    }

    /// A mention of incident `id`: its own hashtag, one of its few authors, its domain, and
    /// one of a few near-duplicate clusters (the reposts an incident is made of).
    fn driver(&mut self, id: usize, negative: bool) -> Draw {
        let cluster = self.rng.random_range(0..6u64);
        Draw {
            incident: id,
            tag: None,
            author: self.rng.random_range(0..3),
            domain: 0,
            term: 0,
            negative,
            dup_key: (id as u64) << 8 | cluster,
        }
    }

    /// Generates one minute of one signal, keeps its mentions, and returns its aggregate.
    pub fn minute(&mut self, signal: usize, minute: i64) -> MinuteAggregate {
        let rate = self.signals[signal].rate(minute);
        let (u, v): (f64, f64) = (self.rng.random::<f64>().max(1e-12), self.rng.random());
        let wander = (OVERDISPERSION * (-2.0 * u.ln()).sqrt() * (TAU * v).cos()).exp();
        let burst = if self.rng.random::<f64>() < BURST_CHANCE {
            self.rng.random_range(1.5..2.0)
        } else {
            1.0
        };
        let noisy = rate * wander * burst;
        let incident = self.incident_at(signal, minute);
        let mut draws: Vec<Draw> = Vec::new();
        for _ in 0..draw_poisson(&mut self.rng, noisy) {
            let mut d = self.ordinary(signal);
            let swing = incident.filter(|id| self.incidents[*id].kind == AlertKind::NegativeShift);
            if let Some(id) = swing.filter(|id| self.rng.random::<f64>() < self.incidents[*id].size)
            {
                d = self.driver(id, true);
            }
            draws.push(d);
        }
        if let Some(id) = incident.filter(|id| self.incidents[*id].kind == AlertKind::VolumeSpike) {
            let extra = ((self.incidents[id].size - 1.0) * rate).max(MIN_EXTRA_PER_MINUTE);
            for _ in 0..draw_poisson(&mut self.rng, extra) {
                let negative = self.rng.random::<f64>() < self.signals[signal].negative_share;
                let d = self.driver(id, negative);
                draws.push(d);
            }
        }
        let agg = self.aggregate(signal, &draws);
        let kept = &mut self.kept[signal];
        kept.push_back((minute, draws));
        while kept.len() > KEEP_MINUTES {
            kept.pop_front();
        }
        agg
    }

    fn aggregate(&self, signal: usize, draws: &[Draw]) -> MinuteAggregate {
        let s = &self.signals[signal];
        let mut agg = MinuteAggregate::default();
        for d in draws {
            let tags: &[String] = match (d.incident, d.tag) {
                (usize::MAX, Some(t)) => std::slice::from_ref(&s.tags.names[t as usize]),
                (usize::MAX, None) => &[],
                (id, _) => std::slice::from_ref(&self.incidents[id].tag),
            };
            agg.add(Some(if d.negative { -0.5 } else { 0.2 }), tags);
        }
        // The embedded store keeps the 40 most frequent hashtags of a minute.
        agg.keep_top_hashtags(40);
        agg
    }

    /// The kept mentions of `signal` in minutes `from..to`, as the explainer's samples.
    pub fn samples(&self, signal: usize, from: i64, to: i64) -> Vec<Sample> {
        let s = &self.signals[signal];
        let mut out = Vec::new();
        for (minute, draws) in self.kept[signal]
            .iter()
            .filter(|(m, _)| (from..to).contains(m))
        {
            for (i, d) in draws.iter().enumerate() {
                let (tag, author, domain, term) = match d.incident {
                    usize::MAX => (
                        d.tag.map(|t| s.tags.names[t as usize].clone()),
                        s.authors.names[d.author as usize].clone(),
                        s.domains.names[d.domain as usize].clone(),
                        s.terms.names[d.term as usize].clone(),
                    ),
                    id => (
                        Some(self.incidents[id].tag.clone()),
                        format!("incident{id}author{}", d.author),
                        format!("incident{id}.example"),
                        format!("incident{id}word"),
                    ),
                };
                out.push(Sample {
                    id: format!("s{signal}m{minute}i{i}"),
                    author,
                    hashtags: tag.into_iter().collect(),
                    domains: vec![domain],
                    terms: vec![term],
                    dup_key: d.dup_key,
                });
            }
        }
        out
    }
}
