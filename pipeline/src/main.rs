//! `backchannel`: the command-line entry point. `anyhow` lives here only.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use pipeline::cmd;
use pipeline::collect::{CollectOptions, Sink};
use pipeline::config::{self, Config};

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
        /// Also bring the stored mentions of other catalogue versions up to this one while live
        /// traffic flows, as `backchannel reprocess` does with its defaults (the store's file
        /// is this process's, so a separate `reprocess` cannot run beside it).
        #[arg(long)]
        reprocess: bool,
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
    /// Serve the client API with live push (SSE, WebSocket) in distributed mode: follow every
    /// partition of the enriched topic and fan matches out to this instance's clients. Run as
    /// many as clients need. Stops on SIGTERM or Ctrl-C.
    Serve,
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
    /// Re-enrich stored mentions that another version of the field catalogue wrote (or all
    /// of them with --all) and rewrite them in place: topics re-filed, aggregates corrected,
    /// republished to the enriched topic with a `reprocess` header. Paced by --rate, resumable
    /// from its checkpoint (Ctrl-C pauses; the same command carries on), in either mode.
    Reprocess {
        /// Mentions created at or after this time (RFC 3339, e.g. 2026-12-01T00:00:00Z).
        #[arg(long, value_parser = parse_time)]
        since: Option<chrono::DateTime<chrono::Utc>>,
        /// Mentions created before this time (RFC 3339).
        #[arg(long, value_parser = parse_time)]
        until: Option<chrono::DateTime<chrono::Utc>>,
        /// Mentions of this source only (mastodon, bluesky, reddit, …).
        #[arg(long, value_parser = parse_source)]
        source: Option<model::Source>,
        /// Mentions rewritten per second at most (0 = as fast as the store takes them).
        #[arg(long, default_value_t = pipeline::reprocess::DEFAULT_RATE)]
        rate: u64,
        /// Every mention in the range, not only those of other catalogue versions.
        #[arg(long)]
        all: bool,
        /// Mentions read per page (and checkpointed after).
        #[arg(long, default_value_t = pipeline::reprocess::DEFAULT_PAGE)]
        page: usize,
        /// The checkpoint file (default: reprocess.json in the embedded data directory, or
        /// ./backchannel-reprocess.json in distributed mode).
        #[arg(long)]
        checkpoint: Option<PathBuf>,
        /// Forget a saved checkpoint and start over.
        #[arg(long)]
        restart: bool,
    },
    /// List the source types a collector can be configured with, and their keys.
    Sources,
    /// Check the configuration, the services it names (Kafka, ScyllaDB, Redis; or the embedded
    /// data directory), the schema, the topics and the clock; one line per check (OK, WARN,
    /// FAIL with what to do). Exits with status 1 on any FAIL. Reads only.
    Doctor,
    /// Manage tenants' signals (tracked queries) and try queries before saving them.
    Signals {
        #[command(subcommand)]
        action: SignalsAction,
    },
    /// Manage tenants and their API keys. A new key is printed once, alone on stdout; the store
    /// keeps only a hash of it.
    Tenants {
        #[command(subcommand)]
        action: TenantsAction,
    },
    /// Tenants' alerts (volume spikes and negative shifts of their signals) and the webhooks
    /// they are delivered to.
    Alerts {
        #[command(subcommand)]
        action: AlertsAction,
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
enum TenantsAction {
    /// Create a tenant and print its first API key (shown only this once).
    Create { name: String },
    /// List tenants with their key ids and key creation/revocation times, as JSON lines (never
    /// keys).
    List,
    /// Revoke one key now (the API refuses it within api.key_cache_ttl).
    RevokeKey { name: String, key_id: String },
    /// Print a new key for the tenant; its other keys stay valid for --grace, then expire.
    RotateKey {
        name: String,
        /// How long the old keys keep working ("0s": revoke them at once).
        #[arg(long, default_value = "1h", value_parser = parse_duration)]
        grace: Duration,
    },
}

#[derive(Debug, Subcommand)]
enum AlertsAction {
    /// A signal's alerts, newest incident first, as JSON lines.
    List {
        tenant: String,
        signal: String,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Set a tenant's webhook and print its new signing secret (shown only this once).
    SetWebhook { tenant: String, url: String },
    /// Remove a tenant's webhook.
    RemoveWebhook { tenant: String },
    /// Send one signed test event to the tenant's webhook now; fails if it is not taken.
    Test { tenant: String },
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
    fn parse(&self) -> pipeline::Result<transforms::signals::SignalOptions> {
        cmd::signals::options(self.stem.as_deref(), self.keep_accents)
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SinkName {
    Kafka,
    Stdout,
}

impl From<SinkName> for Sink {
    fn from(s: SinkName) -> Sink {
        match s {
            SinkName::Kafka => Sink::Kafka,
            SinkName::Stdout => Sink::Stdout,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Markdown,
    /// The Avro schema of the compact enriched record (deploy/schema/enriched.avsc).
    Avro,
}

impl From<Format> for cmd::fields::Format {
    fn from(f: Format) -> Self {
        match f {
            Format::Table => cmd::fields::Format::Table,
            Format::Json => cmd::fields::Format::Json,
            Format::Markdown => cmd::fields::Format::Markdown,
            Format::Avro => cmd::fields::Format::Avro,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum EnrichFormat {
    Json,
    Avro,
}

impl From<EnrichFormat> for cmd::enrich::Format {
    fn from(f: EnrichFormat) -> Self {
        match f {
            EnrichFormat::Json => cmd::enrich::Format::Json,
            EnrichFormat::Avro => cmd::enrich::Format::Avro,
        }
    }
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    config::duration("duration", s).map_err(|e| e.to_string())
}

fn parse_time(s: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.to_utc())
        .map_err(|e| format!("{e}: give a time like 2026-12-01T00:00:00Z"))
}

fn parse_source(s: &str) -> Result<model::Source, String> {
    serde_json::from_value(serde_json::Value::String(s.to_owned()))
        .map_err(|_| format!("{s:?} is not a source (mastodon, bluesky, reddit, hackernews, rss, x, webhook, file, synthetic)"))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BACKCHANNEL_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal: a log file or a collector gets plain text
        // (and NO_COLOR turns it off everywhere, https://no-color.org).
        .with_ansi(
            std::io::IsTerminal::is_terminal(&std::io::stderr())
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        )
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
            reprocess,
        } => {
            let config = load()?;
            let opts = cmd::run::RunOptions {
                rate,
                limit,
                duration,
                seed,
                status: !quiet,
                reprocess,
            };
            block_on(cmd::run::main(&config, opts))
        }
        Command::Enrich { format } => {
            Ok(cmd::enrich::main(load()?.decode_limits(), format.into())?)
        }
        Command::Worker { status } => block_on(cmd::worker::main(&load()?, status)),
        Command::Serve => block_on(cmd::serve::main(&load()?)),
        Command::Schema {
            action: SchemaAction::Print,
        } => Ok(cmd::schema::print(&load()?)?),
        Command::Schema {
            action: SchemaAction::Apply,
        } => block_on(cmd::schema::apply(&load()?)),
        Command::Collect { sources, sink, .. } if sources.iter().any(|s| s != "synthetic") => {
            block_on(cmd::collect::configured(&load()?, &sources, sink.into()))
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
            let opts = CollectOptions {
                seed,
                start,
                limit,
                rate,
                sink: sink.into(),
                live_times: !fixed_times,
            };
            block_on(cmd::collect::synthetic(&load()?, &opts))
        }
        Command::Doctor => {
            let config = Config::load(cli.config.as_deref(), std::env::vars());
            let findings = tokio::runtime::Runtime::new()?.block_on(cmd::doctor::main(config));
            let failed = findings
                .iter()
                .filter(|f| f.level == cmd::doctor::Level::Fail)
                .count();
            if failed > 0 {
                eprintln!("doctor: {failed} check(s) failed");
                std::process::exit(1);
            }
            Ok(())
        }
        Command::Reprocess {
            since,
            until,
            source,
            rate,
            all,
            page,
            checkpoint,
            restart,
        } => {
            let args = cmd::reprocess::Args {
                options: pipeline::reprocess::Options {
                    since,
                    until,
                    source,
                    all,
                    rate,
                    page,
                },
                checkpoint,
                restart,
            };
            block_on(cmd::reprocess::main(&load()?, args))
        }
        Command::Sources => {
            cmd::sources::main();
            Ok(())
        }
        Command::Fields { format } => Ok(cmd::fields::main(format.into())?),
        Command::Signals {
            action: SignalsAction::Test { options, query },
        } => Ok(cmd::signals::main_test(&query, options.parse()?)?),
        Command::Tenants { action } => {
            use pipeline::admin::Action;
            let action = match action {
                TenantsAction::Create { name } => Action::CreateTenant { name },
                TenantsAction::List => Action::ListTenants,
                TenantsAction::RevokeKey { name, key_id } => Action::RevokeKey {
                    tenant: name,
                    key_id,
                },
                TenantsAction::RotateKey { name, grace } => Action::RotateKey {
                    tenant: name,
                    grace,
                },
            };
            block_on(cmd::manage(&load()?, action))
        }
        Command::Alerts { action } => {
            use pipeline::admin::Action;
            let action = match action {
                AlertsAction::List {
                    tenant,
                    signal,
                    limit,
                } => Action::ListAlerts {
                    tenant,
                    signal,
                    limit,
                },
                AlertsAction::SetWebhook { tenant, url } => Action::SetWebhook { tenant, url },
                AlertsAction::RemoveWebhook { tenant } => Action::RemoveWebhook { tenant },
                AlertsAction::Test { tenant } => Action::TestWebhook { tenant },
            };
            block_on(cmd::manage(&load()?, action))
        }
        Command::Signals { action } => {
            use pipeline::admin::Action;
            let action = match action {
                SignalsAction::Put {
                    tenant,
                    id,
                    options,
                    query,
                } => Action::PutSignal {
                    tenant,
                    id,
                    query,
                    options: options.parse()?,
                },
                SignalsAction::Delete { tenant, id } => Action::DeleteSignal { tenant, id },
                SignalsAction::List { tenant } => Action::ListSignals { tenant },
                SignalsAction::Test { .. } => unreachable!("handled above"),
            };
            block_on(cmd::manage(&load()?, action))
        }
    }
}

/// Runs an async command on a multi-threaded runtime.
fn block_on(command: impl Future<Output = pipeline::Result<()>>) -> anyhow::Result<()> {
    Ok(tokio::runtime::Runtime::new()?.block_on(command)?)
}
