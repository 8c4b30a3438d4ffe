//! Enrichment throughput, in mentions per second (`Throughput::Elements`):
//!
//! - `catalogue/full/{real,synthetic,mix}`: every extractor, as the worker runs them
//!   (`transforms::enrich_into` into one reused `Record`), over the real posts
//!   (`transforms/tests/fixtures/real_posts.jsonl`), 5,000 synthetic multilingual mentions
//!   (`collectors::Synthetic`, default seed) and the two interleaved.
//! - `extractor/<name>`: one extractor alone over the real posts, through
//!   `transforms::catalogue::run_one` with a fresh `Analysis` per mention. Shared lazy work
//!   (UAX #29 words, lower-casing, language, entities) is therefore charged to every extractor
//!   that uses it, as if it ran first: the rows do not add up to `catalogue/full`.
//! - `shared/{words,lang,entities}`: that shared work on its own (`lang` includes the words it
//!   segments).
//! - `serialise/json`: `serde_json::to_vec(&EnrichedRef)` of already enriched mentions, the
//!   output step with `enriched_format = "json"`.
//! - `serialise/avro`: `transforms::avro::encode` of the same mentions into a buffer of the
//!   capacity the worker gives it, the compact record every mode stores and publishes.
//!
//! `cargo bench -p benches --bench transforms` (about two minutes). Samples are few and short,
//! in flat mode (each sample one or more whole passes over the corpus), so the run stays short;
//! on a shared machine, `cargo run --release -p benches --bin throughput -- --per-extractor`
//! gives the same numbers per CPU second instead of wall-clock.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, measurement::WallTime};
use model::Mention;
use transforms::catalogue::{registry, run_one};
use transforms::{Analysis, EnrichedRef, Record};

/// How many enriched real posts the serialisation bench holds in memory.
const SERIALISED: usize = 2_000;

fn configure(group: &mut BenchmarkGroup<'_, WallTime>, n: usize) {
    group
        .throughput(Throughput::Elements(n as u64))
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
}

fn catalogue(c: &mut Criterion) {
    let corpora = [
        ("real", benches::real()),
        ("synthetic", benches::synthetic(benches::SYNTHETIC)),
        ("mix", benches::mix()),
    ];
    let mut group = c.benchmark_group("catalogue");
    let mut rec = Record::new();
    for (name, posts) in &corpora {
        configure(&mut group, posts.len());
        group.bench_function(format!("full/{name}"), |b| {
            b.iter(|| {
                for m in posts {
                    transforms::enrich_into(m, &mut rec);
                    black_box(&rec);
                }
            })
        });
    }
    group.finish();
}

fn extractors(c: &mut Criterion) {
    let posts = benches::real();
    let mut rec = Record::new();
    let mut group = c.benchmark_group("extractor");
    configure(&mut group, posts.len());
    for (i, e) in registry().extractors.iter().enumerate() {
        group.bench_function(e.name(), |b| {
            b.iter(|| {
                for m in &posts {
                    let a = Analysis::new(m);
                    run_one(i, &a, &mut rec);
                }
                black_box(&rec);
            })
        });
    }
    group.finish();
}

fn shared(c: &mut Criterion) {
    let posts = benches::real();
    let mut group = c.benchmark_group("shared");
    configure(&mut group, posts.len());
    let work: [(&str, benches::Probe); 3] = [
        ("words", |a| a.words().len()),
        ("lang", |a| a.lang().code.len()),
        ("entities", |a| a.entities().hashtags.len()),
    ];
    for (name, f) in work {
        group.bench_function(name, |b| {
            b.iter(|| {
                posts
                    .iter()
                    .map(|m| f(&Analysis::new(m)))
                    .fold(0, usize::wrapping_add)
            })
        });
    }
    group.finish();
}

fn serialise(c: &mut Criterion) {
    let posts: Vec<Mention> = benches::real().into_iter().take(SERIALISED).collect();
    let records: Vec<Record> = posts.iter().map(transforms::enrich).collect();
    let mut group = c.benchmark_group("serialise");
    configure(&mut group, posts.len());
    group.bench_function("json", |b| {
        b.iter(|| {
            posts
                .iter()
                .zip(&records)
                .map(|(m, r)| serde_json::to_vec(&EnrichedRef::new(m, r)).map_or(0, |v| v.len()))
                .sum::<usize>()
        })
    });
    group.bench_function("avro", |b| {
        b.iter(|| {
            posts
                .iter()
                .zip(&records)
                .map(|(m, r)| {
                    let mut record = Vec::with_capacity(2048);
                    transforms::avro::encode(m, r, &[], &mut record);
                    black_box(record).len()
                })
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion::criterion_group!(benches, catalogue, extractors, shared, serialise);
criterion::criterion_main!(benches);
