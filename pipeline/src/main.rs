//! `backchannel`: the command-line entry point. `anyhow` lives here only.

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use pipeline::config::{self, Config};
use pipeline::local::{self, RunOptions};

/// Backchannel: collect social mentions, enrich them with hundreds of fields, store and serve them.
#[derive(Debug, Parser)]
#[command(name = "backchannel", version, about)]
struct Cli {
    /// Configuration file (TOML). Without one, the embedded defaults apply; any key can also be
    /// set with BACKCHANNEL__<SECTION>__<KEY> environment variables.
    #[arg(long, global = true, env = "BACKCHANNEL_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole pipeline in one process on the embedded default, fed by the synthetic
    /// collector, with a live status line; stops on Ctrl-C, --limit or --for.
    Run {
        /// Synthetic mentions per second (0 = as fast as the pipeline takes them).
        #[arg(long, default_value_t = 5_000)]
        rate: u64,
        /// Stop after this many mentions.
        #[arg(long)]
        limit: Option<u64>,
        /// Stop after this long, e.g. "30s" or "2m".
        #[arg(long = "for", value_parser = parse_duration)]
        duration: Option<Duration>,
        /// Seed of the synthetic collector (same seed, same mentions).
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Don't print the live status line.
        #[arg(long)]
        quiet: bool,
    },
    /// Read Mention JSON lines on stdin, write enriched mentions on stdout in order: JSON lines
    /// (one per input line; a bad line yields {"error": {...}} naming the line and the reason),
    /// or with --format avro an Avro object container file (bad lines reported on stderr).
    Enrich {
        #[arg(long, value_enum, default_value_t = EnrichFormat::Json)]
        format: EnrichFormat,
    },
    /// Run the distributed worker: consume the raw topic, enrich, store in ScyllaDB, cache in
    /// Redis, publish to the enriched topic. Stops gracefully on SIGTERM or Ctrl-C.
    Worker {
        /// Print the live status line.
        #[arg(long)]
        status: bool,
    },
    /// Manage the ScyllaDB schema.
    Schema {
        #[command(subcommand)]
        action: SchemaAction,
    },
    /// Run collectors and send their mentions to the raw Kafka topic (or stdout). `synthetic`
    /// is built in; other names are collectors configured under [collectors.NAME] (see
    /// `backchannel sources`). Cursors are checkpointed only after Kafka acknowledged.
    Collect {
        /// The collector(s) to run (repeatable).
        #[arg(long = "source", default_value = "synthetic")]
        sources: Vec<String>,
        /// Where mentions go.
        #[arg(long, value_enum, default_value_t = SinkName::Kafka)]
        sink: SinkName,
        /// Stop after this many mentions.
        #[arg(long)]
        limit: Option<u64>,
        /// Mentions per second (0 = as fast as possible).
        #[arg(long, default_value_t = 0)]
        rate: u64,
        /// Seed of the synthetic source.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// First index of the synthetic sequence.
        #[arg(long, default_value_t = 0)]
        start: u64,
        /// Keep the generator's fixed timestamps instead of stamping mentions as they are sent
        /// (reproducible runs whose aggregates can be recomputed).
        #[arg(long)]
        fixed_times: bool,
    },
    /// List the source types a collector can be configured with, and their keys.
    Sources,
    /// Manage tenants' signals (tracked queries) and try queries before saving them.
    Signals {
        #[command(subcommand)]
        action: SignalsAction,
    },
    /// List the field registry.
    Fields {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Debug, Subcommand)]
enum SchemaAction {
    /// Create the keyspace and tables if they do not exist (idempotent).
    Apply,
    /// Print the CQL that `apply` runs.
    Print,
}

#[derive(Debug, Subcommand)]
enum SignalsAction {
    /// Create or update a signal (its version goes up by one). Running workers pick it up within
    /// a few seconds.
    Put {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        id: String,
        #[command(flatten)]
        options: QueryOptions,
        /// The query (see transforms/src/signals/QUERY_LANGUAGE.md).
        query: String,
    },
    /// Delete a signal.
    Delete {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        id: String,
    },
    /// List signals as JSON lines.
    List {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Show which mentions (JSON lines on stdin) a query would match, with highlights.
    Test {
        #[command(flatten)]
        options: QueryOptions,
        query: String,
    },
}

#[derive(Debug, Clone, clap::Args)]
struct QueryOptions {
    /// Match words by their Snowball stem in this language (e.g. english, french).
    #[arg(long)]
    stem: Option<String>,
    /// Compare with diacritics (café does not match cafe).
    #[arg(long)]
    keep_accents: bool,
}

impl QueryOptions {
    fn parse(&self) -> anyhow::Result<transforms::signals::SignalOptions> {
        let stem = match &self.stem {
            Some(s) => Some(
                serde_json::from_value(serde_json::Value::String(s.to_lowercase()))
                    .with_context(|| format!("--stem {s}: not a Snowball language"))?,
            ),
            None => None,
        };
        Ok(transforms::signals::SignalOptions {
            keep_accents: self.keep_accents,
            stem,
        })
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SinkName {
    Kafka,
    Stdout,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Markdown,
    /// The Avro schema of the compact enriched record (deploy/schema/enriched.avsc).
    Avro,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EnrichFormat {
    Json,
    Avro,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    config::duration("--for", s).map_err(|e| e.to_string())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BACKCHANNEL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let load =
        || Config::load(cli.config.as_deref(), std::env::vars()).context("loading configuration");
    match cli.command {
        Command::Run {
            rate,
            limit,
            duration,
            seed,
            quiet,
        } => {
            let config = load()?;
            let rt = tokio::runtime::Runtime::new()?;
            let opts = RunOptions {
                rate,
                limit,
                duration,
                seed,
                status: !quiet,
            };
            eprintln!(
                "backchannel run: embedded pipeline (data in {}), synthetic collector at {}; Ctrl-C to stop",
                config.embedded.data_dir.display(),
                if rate == 0 {
                    "full speed".to_owned()
                } else {
                    format!("{rate} mentions/s")
                }
            );
            let summary = rt.block_on(local::run(&config, opts))?;
            println!("{}", summary.summary());
            Ok(())
        }
        Command::Enrich { format } => enrich(load()?.decode_limits(), format),
        Command::Worker { status } => {
            let config = load()?;
            let rt = tokio::runtime::Runtime::new()?;
            let summary = rt.block_on(pipeline::worker::run(&config, status))?;
            println!("{}", summary.summary());
            Ok(())
        }
        Command::Schema { action } => {
            let config = load()?;
            let s = &config.scylla;
            let params = pipeline::distributed::scylla_store::SchemaParams::from_config(s)?;
            match action {
                SchemaAction::Print => {
                    for stmt in pipeline::distributed::scylla_store::schema_statements(&params) {
                        println!("{stmt};\n");
                    }
                    Ok(())
                }
                SchemaAction::Apply => {
                    let rt = tokio::runtime::Runtime::new()?;
                    rt.block_on(async {
                        let session = pipeline::distributed::scylla_store::connect(s).await?;
                        pipeline::distributed::scylla_store::apply_schema(&session, &params).await
                    })?;
                    eprintln!("schema applied to keyspace {}", s.keyspace);
                    Ok(())
                }
            }
        }
        Command::Collect { sources, sink, .. } if sources.iter().any(|s| s != "synthetic") => {
            if sources.iter().any(|s| s == "synthetic") {
                anyhow::bail!(
                    "run the synthetic source on its own: it takes --limit/--rate, the others their config"
                );
            }
            let config = load()?;
            let rt = tokio::runtime::Runtime::new()?;
            let sink = match sink {
                SinkName::Kafka => pipeline::collect::Sink::Kafka,
                SinkName::Stdout => pipeline::collect::Sink::Stdout,
            };
            let reports = rt.block_on(async {
                let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
                tokio::spawn(async move {
                    pipeline::worker::wait_for_stop_signal().await;
                    eprintln!(
                        "stopping collectors: waiting for Kafka to acknowledge what was sent…"
                    );
                    let _ = stop_tx.send(true);
                    std::future::pending::<()>().await;
                });
                // Collector metrics on metrics.listen, when that address is free.
                let handle = pipeline::telemetry::install();
                if let Ok(addr) = config.metrics.listen.parse() {
                    let ready = pipeline::http::Readiness::default();
                    ready.set(true);
                    if let Err(e) = pipeline::http::serve(addr, handle, ready, None).await {
                        tracing::warn!(error = %e, "collector metrics not served");
                    }
                }
                pipeline::collect_run::run(&config, &sources, sink, stop_rx).await
            })?;
            for (name, r) in sources.iter().zip(reports) {
                eprintln!(
                    "{name}: {} mentions, {} deletions, {} over the size limit",
                    r.mentions, r.deletes, r.rejected_too_large
                );
            }
            Ok(())
        }
        Command::Sources => {
            print!("{}", pipeline::collect::SOURCES_HELP);
            Ok(())
        }
        Command::Collect {
            sources: _,
            sink,
            limit,
            rate,
            seed,
            start,
            fixed_times,
        } => {
            let config = load()?;
            let rt = tokio::runtime::Runtime::new()?;
            let sink = match sink {
                SinkName::Kafka => pipeline::collect::Sink::Kafka,
                SinkName::Stdout => pipeline::collect::Sink::Stdout,
            };
            let opts = pipeline::collect::CollectOptions {
                seed,
                start,
                limit,
                rate,
                sink,
                live_times: !fixed_times,
            };
            let n = rt.block_on(pipeline::collect::synthetic(&config, &opts))?;
            eprintln!("collected {n} mentions");
            Ok(())
        }
        Command::Fields { format } => fields(format),
        Command::Signals {
            action: SignalsAction::Test { options, query },
        } => {
            let stdin = std::io::stdin().lock();
            let (matched, total) = pipeline::signals_cli::test(
                &query,
                options.parse()?,
                stdin,
                std::io::stdout().lock(),
            )?;
            eprintln!("{matched} of {total} mentions match");
            Ok(())
        }
        Command::Signals { action } => {
            use pipeline::signals_cli::Action;
            let action = match action {
                SignalsAction::Put {
                    tenant,
                    id,
                    options,
                    query,
                } => Action::Put {
                    tenant,
                    id,
                    query,
                    options: options.parse()?,
                },
                SignalsAction::Delete { tenant, id } => Action::Delete { tenant, id },
                SignalsAction::List { tenant } => Action::List { tenant },
                SignalsAction::Test { .. } => unreachable!("handled above"),
            };
            let config = load()?;
            let rt = tokio::runtime::Runtime::new()?;
            let out = rt.block_on(pipeline::signals_cli::manage(&config, action))?;
            if !out.is_empty() {
                println!("{out}");
            }
            Ok(())
        }
    }
}

fn enrich(limits: model::DecodeLimits, format: EnrichFormat) -> anyhow::Result<()> {
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut record = transforms::Record::new();
    match format {
        EnrichFormat::Json => {
            each_mention(limits, |i, mention| {
                match mention {
                    Ok(m) => {
                        transforms::enrich_into(&m, &mut record);
                        serde_json::to_writer(
                            &mut out,
                            &transforms::EnrichedRef::new(&m, &record),
                        )?;
                    }
                    Err(e) => {
                        let err = serde_json::json!({"error": {"line": i + 1, "reason": e.reason(), "message": e.to_string()}});
                        serde_json::to_writer(&mut out, &err)?;
                    }
                }
                Ok(out.write_all(b"\n")?)
            })?;
            out.flush()?;
        }
        EnrichFormat::Avro => {
            let random = std::collections::hash_map::RandomState::new();
            let seed = std::hash::BuildHasher::hash_one(&random, std::time::SystemTime::now());
            let mut marker = [0u8; 16];
            marker[..8].copy_from_slice(&seed.to_le_bytes());
            marker[8..].copy_from_slice(&seed.rotate_left(29).to_le_bytes());
            let mut w = transforms::avro::ContainerWriter::new(out, marker)?;
            each_mention(limits, |i, mention| {
                match mention {
                    Ok(m) => {
                        transforms::enrich_into(&m, &mut record);
                        w.append(&m, &record, &[])?;
                    }
                    Err(e) => eprintln!("line {}: {e} ({})", i + 1, e.reason()),
                }
                Ok(())
            })?;
            w.finish()?;
        }
    }
    Ok(())
}

/// Calls `f` with each stdin line's number (from 0) and its decoded mention.
fn each_mention(
    limits: model::DecodeLimits,
    mut f: impl FnMut(usize, Result<model::Mention, model::DecodeError>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    for (i, line) in std::io::stdin().lock().split(b'\n').enumerate() {
        let mut line = line.context("reading stdin")?;
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        f(i, model::Mention::decode(&line, limits))?;
    }
    Ok(())
}

fn fields(format: Format) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&transforms::docs::catalogue_json())?
        )?,
        Format::Markdown => write!(out, "{}", transforms::docs::fields_markdown())?,
        Format::Avro => write!(out, "{}", transforms::avro::schema::avsc())?,
        Format::Table => {
            let reg = transforms::registry();
            writeln!(
                out,
                "field registry {} ({} fields)",
                reg.version,
                reg.fields.len()
            )?;
            for (e, r) in reg.extractors.iter().zip(&reg.ranges) {
                writeln!(out, "\n[{}] v{}", e.name(), e.version())?;
                for f in &reg.fields[r.clone()] {
                    let ty = if f.nullable {
                        format!("{}?", f.ty.as_str())
                    } else {
                        f.ty.as_str().to_owned()
                    };
                    writeln!(out, "  {:<32} {:<9} {}", f.name, ty, f.doc)?;
                }
            }
        }
    }
    Ok(())
}
