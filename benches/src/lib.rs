//! Shared set-up for the criterion benches (see `benches/`) and the `throughput` binary: the
//! corpora they run over and a per-thread CPU clock that stays meaningful on a loaded machine.

pub mod services;

use collectors::{Synthetic, SyntheticConfig};
use model::Mention;

/// A piece of shared per-mention work to time alone, returning something to keep it observable.
pub type Probe = fn(&transforms::Analysis<'_>) -> usize;

/// How many synthetic mentions the synthetic and mixed corpora hold.
pub const SYNTHETIC: usize = 5_000;

/// The real posts (`transforms/tests/fixtures/real_posts.jsonl`, licences beside it).
pub fn real() -> Vec<Mention> {
    transforms::corpus::real_posts()
}

/// `n` synthetic multilingual mentions from the default seed (deterministic).
pub fn synthetic(n: usize) -> Vec<Mention> {
    let s = Synthetic::new(SyntheticConfig::default());
    (0..n as u64).map(|i| s.mention(i)).collect()
}

/// Real and [`SYNTHETIC`] synthetic mentions interleaved one by one (then the rest of the real
/// ones), so caches see the two kinds of traffic alternate as a busy worker would.
pub fn mix() -> Vec<Mention> {
    let (real, synth) = (real(), synthetic(SYNTHETIC));
    let mut out = Vec::with_capacity(real.len() + synth.len());
    let mut r = real.into_iter();
    for s in synth {
        out.extend(r.next());
        out.push(s);
    }
    out.extend(r);
    out
}

/// A corpus by name: `real`, `synthetic` or `mix`.
pub fn corpus(name: &str) -> Option<Vec<Mention>> {
    match name {
        "real" => Some(real()),
        "synthetic" => Some(synthetic(SYNTHETIC)),
        "mix" => Some(mix()),
        _ => None,
    }
}

pub use pipeline::telemetry::thread_cpu;
