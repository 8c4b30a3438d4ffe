//! Enriches a corpus with the full catalogue on ONE thread and prints mentions per second: the
//! Rust side of `benches/compare-python`, and a quick CPU-time check that does not need criterion.
//!
//! ```text
//! cargo run --release -p benches --bin throughput -- [--corpus real|synthetic|mix]
//!     [--seconds S] [--per-extractor] [--rate-only] [--dump FILE] [--count N]
//! ```
//!
//! `--count N` enriches exactly N mentions (the corpus over and over) and prints nothing else:
//! run under an instruction counter at two counts, the difference is the transforms' cost per
//! mention without start-up (`benches/overhead --instructions`).
//!
//! `--dump FILE` writes every mention's enriched JSON, one per line, and exits: comparing two
//! dumps shows that a speed change left every field's output as it was.
//!
//! Rates are per CPU second of this thread (`/proc/thread-self/schedstat`), so time the kernel
//! gives to other processes on a shared machine is not counted; wall-clock rates are printed
//! beside them. One untimed pass warms the lazily built tables first.
//!
//! `--per-extractor` also times each extractor alone (`transforms::catalogue::run_one`) with a
//! fresh `Analysis` per mention, so shared lazy work (words, language, entities) is charged to
//! every extractor that uses it; the `shared/*` rows time that work on its own.

use std::hint::black_box;
use std::time::{Duration, Instant};

use model::Mention;
use transforms::catalogue::{registry, run_one};
use transforms::{Analysis, Record};

struct Args {
    corpus: String,
    seconds: f64,
    per_extractor: bool,
    rate_only: bool,
    dump: Option<String>,
    count: Option<usize>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        corpus: "real".to_owned(),
        seconds: 3.0,
        per_extractor: false,
        rate_only: false,
        dump: None,
        count: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--corpus" => args.corpus = it.next().ok_or("--corpus needs a value")?,
            "--seconds" => {
                args.seconds = it
                    .next()
                    .and_then(|s| s.parse().ok())
                    .filter(|s: &f64| *s > 0.0)
                    .ok_or("--seconds needs a positive number")?
            }
            "--per-extractor" => args.per_extractor = true,
            "--rate-only" => args.rate_only = true,
            "--dump" => args.dump = Some(it.next().ok_or("--dump needs a file")?),
            "--count" => {
                args.count = Some(
                    it.next()
                        .and_then(|s| s.parse().ok())
                        .ok_or("--count needs a number of mentions")?,
                )
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(args)
}

/// CPU and wall time of one timed run, and how many mentions it covered.
struct Timing {
    cpu: Duration,
    wall: Duration,
    mentions: usize,
}

impl Timing {
    fn us_per_mention(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e6 / self.mentions as f64
    }
    fn rate(&self) -> f64 {
        self.mentions as f64 / self.cpu.as_secs_f64()
    }
    fn wall_rate(&self) -> f64 {
        self.mentions as f64 / self.wall.as_secs_f64()
    }
}

/// Runs `pass` (one pass over `n` mentions) until `seconds` of CPU time have been spent, after
/// one untimed warm-up pass.
fn time_passes(n: usize, seconds: f64, mut pass: impl FnMut()) -> Timing {
    pass();
    let cpu = || benches::thread_cpu().unwrap_or_default();
    let (c0, w0) = (cpu(), Instant::now());
    let mut passes = 0;
    loop {
        pass();
        passes += 1;
        // Without a CPU clock, fall back to wall time.
        let spent = match benches::thread_cpu() {
            Some(c) => c - c0,
            None => w0.elapsed(),
        };
        if spent.as_secs_f64() >= seconds {
            let wall = w0.elapsed();
            return Timing {
                cpu: if benches::thread_cpu().is_some() {
                    spent
                } else {
                    wall
                },
                wall,
                mentions: passes * n,
            };
        }
    }
}

fn full(posts: &[Mention], seconds: f64) -> Timing {
    let mut rec = Record::new();
    time_passes(posts.len(), seconds, || {
        for m in posts {
            transforms::enrich_into(m, &mut rec);
            black_box(&rec);
        }
    })
}

fn per_extractor(posts: &[Mention], seconds: f64) {
    let reg = registry();
    let mut rec = Record::new();
    let mut rows: Vec<(String, Timing)> = Vec::new();
    let shared: [(&str, benches::Probe); 4] = [
        ("shared/analysis_new", |_| 0),
        ("shared/words", |a| a.words().len()),
        ("shared/lower_words", |a| a.lower_words().len()),
        ("shared/lang", |a| usize::from(a.lang().code.len() > 1)),
    ];
    let shared_entities: (&str, benches::Probe) =
        ("shared/entities", |a| a.entities().hashtags.len());
    for (name, f) in shared.into_iter().chain([shared_entities]) {
        let t = time_passes(posts.len(), seconds, || {
            for m in posts {
                black_box(f(&Analysis::new(m)));
            }
        });
        rows.push((name.to_owned(), t));
    }
    for (i, e) in reg.extractors.iter().enumerate() {
        let t = time_passes(posts.len(), seconds, || {
            for m in posts {
                let a = Analysis::new(m);
                run_one(i, &a, &mut rec);
            }
            black_box(&rec);
        });
        rows.push((format!("extractor/{}", e.name()), t));
    }
    println!("{:<28} {:>10} {:>14}", "", "µs/mention", "mentions/s");
    for (name, t) in &rows {
        println!("{name:<28} {:>10.3} {:>14.0}", t.us_per_mention(), t.rate());
    }
}

/// Writes each mention's enriched JSON as a line of `path`, enriching them in order into one
/// reused record as the worker does.
fn dump(posts: &[Mention], path: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut rec = Record::new();
    for m in posts {
        transforms::enrich_into(m, &mut rec);
        serde_json::to_writer(&mut out, &transforms::EnrichedRef::new(m, &rec))?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("throughput: {e}");
            std::process::exit(2);
        }
    };
    let Some(posts) = benches::corpus(&args.corpus) else {
        eprintln!("throughput: unknown corpus {:?}", args.corpus);
        std::process::exit(2);
    };
    if let Some(path) = &args.dump {
        if let Err(e) = dump(&posts, path) {
            eprintln!("throughput: writing {path}: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Some(n) = args.count {
        let mut rec = Record::new();
        for m in posts.iter().cycle().take(n) {
            transforms::enrich_into(m, &mut rec);
            black_box(&rec);
        }
        println!("{n}");
        return;
    }
    let t = full(&posts, args.seconds);
    if args.rate_only {
        println!("{:.0}", t.rate());
        return;
    }
    println!(
        "rust ({} corpus, {} mentions, {} fields, 1 thread): {:.0} mentions/s per CPU second \
         ({:.2} µs/mention), {:.0} mentions/s wall",
        args.corpus,
        posts.len(),
        registry().fields.len(),
        t.rate(),
        t.us_per_mention(),
        t.wall_rate(),
    );
    if args.per_extractor {
        per_extractor(&posts, (args.seconds / 4.0).max(0.3));
    }
}
