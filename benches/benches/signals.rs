//! Signal matching throughput: all tenants' signals compiled together, matched against the real
//! corpus, at 100 to 100,000 signals; and the time to compile 10,000 signals.
//!
//! `cargo bench -p benches --bench signals`
//!
//! `SIGNALS_CPU=1 cargo bench -p benches --bench signals` instead prints the CPU time this
//! thread spent per mention (from `/proc/thread-self/stat`, Linux), which stays meaningful on a
//! shared, loaded machine where wall-clock samples do not; `SIGNALS_SIZES=100,10000` limits it to
//! those sizes (handy under a profiler).
//!
//! "match" builds a fresh `Analysis` per mention, so it includes UAX #29 word segmentation;
//! "match_shared_tokens" reuses analyses whose words are already segmented, as in the pipeline
//! where the catalogue has segmented them before matching runs. Each pass over the corpus starts
//! with a cold word cache (a fresh `Scratch`), so cache misses are paid for every distinct word.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use transforms::signals::{Live, Matcher, Scratch, synthetic};
use transforms::{Analysis, Record};

const SIZES: [usize; 4] = [100, 1_000, 10_000, 100_000];

fn matching(c: &mut Criterion) {
    let posts = transforms::corpus::real_posts();
    let record = Record::new();
    let mut group = c.benchmark_group("signals");
    group
        .throughput(Throughput::Elements(posts.len() as u64))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let analyses: Vec<Analysis<'_>> = posts.iter().map(Analysis::new).collect();
    analyses.iter().for_each(|a| {
        a.words();
    });
    for n in SIZES {
        let set = synthetic::signal_set(&posts, n, 42);
        let matcher = Matcher::compile(&set).expect("synthetic signals compile");
        group.bench_function(BenchmarkId::new("match", n), |b| {
            b.iter(|| {
                // A cold word cache per pass over the corpus, as a worker that just started.
                let mut scratch = Scratch::default();
                let mut matched = 0;
                for m in &posts {
                    let a = Analysis::new(m);
                    let view = Live {
                        analysis: &a,
                        record: &record,
                    };
                    matched += matcher.matches_with(&view, &mut scratch).len();
                }
                black_box(matched)
            })
        });
        group.bench_function(BenchmarkId::new("match_shared_tokens", n), |b| {
            b.iter(|| {
                // A cold word cache per pass over the corpus, as a worker that just started.
                let mut scratch = Scratch::default();
                let mut matched = 0;
                for a in &analyses {
                    let view = Live {
                        analysis: a,
                        record: &record,
                    };
                    matched += matcher.matches_with(&view, &mut scratch).len();
                }
                black_box(matched)
            })
        });
    }
    group.finish();
}

fn compiling(c: &mut Criterion) {
    let posts = transforms::corpus::real_posts();
    let set = synthetic::signal_set(&posts, 10_000, 42);
    let mut group = c.benchmark_group("signals_compile");
    group
        .throughput(Throughput::Elements(set.signals.len() as u64))
        .sample_size(10);
    group.bench_function("compile_10000", |b| {
        b.iter(|| Matcher::compile(black_box(&set)).expect("compiles"))
    });
    group.finish();
}

/// The sizes to report: `SIGNALS_SIZES=100,10000` picks some (for profiling one size), else all.
fn sizes() -> Vec<usize> {
    match std::env::var("SIGNALS_SIZES") {
        Ok(v) => v.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
        Err(_) => SIZES.to_vec(),
    }
}

/// CPU time used by this thread so far (Linux; 10 ms resolution).
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the parenthesised command name start at field 3; utime and stime are 14, 15.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Duration::from_millis((tick(11) + tick(12)) * 10)
}

/// Prints CPU µs per mention at each size, running passes over the corpus until at least 3 s of
/// CPU time have been spent, each pass with a cold word cache.
fn cpu_report() {
    let posts = transforms::corpus::real_posts();
    let record = Record::new();
    let analyses: Vec<Analysis<'_>> = posts.iter().map(Analysis::new).collect();
    analyses.iter().for_each(|a| {
        a.words();
    });
    for n in sizes() {
        let set = synthetic::signal_set(&posts, n, 42);
        let t = thread_cpu();
        let matcher = Matcher::compile(&set).expect("synthetic signals compile");
        let compile = thread_cpu() - t;
        let (start, mut passes, mut matched) = (thread_cpu(), 0u32, 0usize);
        while passes < 2 || thread_cpu() - start < Duration::from_secs(3) {
            let mut scratch = Scratch::default();
            for a in &analyses {
                let view = Live {
                    analysis: a,
                    record: &record,
                };
                matched += matcher.matches_with(&view, &mut scratch).len();
            }
            passes += 1;
        }
        let mentions = f64::from(passes) * posts.len() as f64;
        let us = (thread_cpu() - start).as_secs_f64() * 1e6 / mentions;
        println!(
            "signals cpu: {n:>6} rules: {us:6.2} µs/mention ({:>7.0} mentions/s), \
             {:.2} matches/mention, compile {:.0} ms (±10)",
            1e6 / us,
            matched as f64 / mentions,
            compile.as_secs_f64() * 1e3,
        );
    }
}

criterion_group!(benches, matching, compiling);

fn main() {
    if std::env::var_os("SIGNALS_CPU").is_some() {
        cpu_report();
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
