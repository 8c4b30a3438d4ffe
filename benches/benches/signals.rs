//! Signal matching throughput: all tenants' signals compiled together, matched against the real
//! corpus, at 100 to 100,000 signals; and the time to compile 10,000 signals.
//!
//! `cargo bench -p benches --bench signals`
//!
//! "match" builds a fresh `Analysis` per mention, so it includes UAX #29 word segmentation;
//! "match_shared_tokens" reuses analyses whose words are already segmented, as in the pipeline
//! where the catalogue has segmented them before matching runs. Each pass over the corpus starts
//! with a cold word cache (a fresh `Scratch`), so cache misses are paid for every distinct word.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
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

criterion_group!(benches, matching, compiling);
criterion_main!(benches);
