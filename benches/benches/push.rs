//! What `backchannel serve`'s hub costs per matched record it reads from the enriched topic:
//! decoding its matches and mention for live push ("ingest"), the same while it also counts
//! the record into its signals' provisional minutes ("ingest_counting", what `serve` does), and
//! the same again with 50 live streams open, five per tenant, drained by a task each on a
//! runtime thread of their own ("ingest_to_50_streams": each matched record is queued, under
//! the hub's lock, to every stream of its tenant).
//!
//! `cargo bench -p benches --bench push`
//!
//! The records are the real corpus, created now (so they fall in the counted span), enriched and
//! matched against 1,000 synthetic signals as a worker does, compact (Avro) as a worker publishes
//! them; only those that matched a signal are fed, as `serve` skips the others by their header.

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
use pipeline::push::{Filter, Hub, HubSettings, Step};
use pipeline::traits::Delivery;
use transforms::signals::{Matcher, synthetic};

fn ingest(c: &mut Criterion) {
    let mut posts = transforms::corpus::real_posts();
    let set = synthetic::signal_set(&posts, 1_000, 42);
    let matcher = Matcher::compile(&set).expect("synthetic signals compile");
    let now = chrono::Utc::now();
    for m in &mut posts {
        m.created_at = now;
    }
    let batch = posts
        .iter()
        .enumerate()
        .map(|(i, m)| Delivery::of_mention(m, 0, i as i64))
        .collect();
    let out = pipeline::runtime::process_batch(batch, &Default::default(), Some(&matcher));
    let records: Vec<&[u8]> = out
        .stored
        .iter()
        .filter(|s| s.matched())
        .map(|s| s.record.as_slice())
        .collect();
    assert!(!records.is_empty(), "the signals match some posts");
    let mut group = c.benchmark_group("push");
    group
        .throughput(Throughput::Elements(records.len() as u64))
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    let tenants: std::collections::BTreeSet<String> =
        set.signals.iter().map(|s| s.tenant.clone()).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .expect("runtime");
    for (name, counting, streams) in [
        ("ingest", false, 0),
        ("ingest_counting", true, 0),
        ("ingest_to_50_streams", true, 50),
    ] {
        let hub = Hub::new(HubSettings::default());
        let hub = Arc::new(if counting {
            hub.counting_minutes()
        } else {
            hub
        });
        hub.begin(0, 0);
        let delivered = Arc::new(AtomicU64::new(0));
        for tenant in tenants.iter().cycle().take(streams) {
            let filter = Filter {
                tenant: Arc::from(tenant.as_str()),
                signals: None,
                fields: Vec::new(),
            };
            let mut stream = hub.subscribe(filter, None);
            let delivered = delivered.clone();
            runtime.spawn(async move {
                loop {
                    if let Step::Match(..) = stream.next().await {
                        delivered.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
        let mut offset = 0;
        group.bench_function(BenchmarkId::new(name, records.len()), |b| {
            b.iter(|| {
                for r in &records {
                    hub.ingest(0, offset, r, None);
                    offset += 1;
                }
                black_box(offset)
            })
        });
        if streams > 0 {
            let n = delivered.load(Ordering::Relaxed);
            assert!(n > 0, "the streams were delivered matches");
            eprintln!("{name}: {n} matches delivered to the streams");
        }
    }
    group.finish();
}

criterion_group!(benches, ingest);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
}
