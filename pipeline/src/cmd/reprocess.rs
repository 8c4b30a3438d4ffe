//! `backchannel reprocess`: brings stored mentions up to the running field catalogue (see
//! [`crate::reprocess`]) in either mode, with a progress line; Ctrl-C pauses it, and running it
//! again with the same range carries on from its checkpoint.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::config::{Config, Mode};
use crate::error::{Error, Result};
use crate::reprocess::{self, Checkpoint, Options, Progress};
use crate::runtime::Settings;
use crate::services::{self, Background};
use crate::traits::{Cache, Publisher, Store};

/// What the command was asked.
#[derive(Debug, Clone)]
pub struct Args {
    pub options: Options,
    /// Where progress is saved; see [`default_checkpoint`].
    pub checkpoint: Option<PathBuf>,
    /// Forget a saved checkpoint and start over.
    pub restart: bool,
}

/// The checkpoint file when none is named: beside the embedded store, or in the working
/// directory in distributed mode (give a job that may move between hosts its own path on a
/// volume that follows it).
pub fn default_checkpoint(config: &Config) -> PathBuf {
    match config.pipeline.mode {
        Mode::Embedded => config.embedded.data_dir.join("reprocess.json"),
        Mode::Distributed => PathBuf::from("backchannel-reprocess.json"),
    }
}

/// The command: runs the job to its end (or until Ctrl-C) and prints what it did.
pub async fn main(config: &Config, args: Args) -> Result<()> {
    let path = args
        .checkpoint
        .clone()
        .unwrap_or_else(|| default_checkpoint(config));
    if args.restart {
        match std::fs::remove_file(&path) {
            Ok(()) => eprintln!("backchannel reprocess: removed {}", path.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Config(format!("{}: {e}", path.display()))),
        }
    }
    eprintln!(
        "backchannel reprocess: {} to catalogue {} at {}; progress in {}; Ctrl-C pauses",
        reprocess::describe(&args.options),
        transforms::registry().version,
        match args.options.rate {
            0 => "full speed".to_owned(),
            r => format!("at most {r} mentions/s"),
        },
        path.display()
    );
    if let Ok(saved) = std::fs::read(&path)
        && let Ok(saved) = serde_json::from_slice::<Checkpoint>(&saved)
    {
        eprintln!(
            "backchannel reprocess: {} ({} read so far); --restart runs it from the start",
            if saved.done {
                "this job finished before"
            } else {
                "carrying on from the checkpoint"
            },
            saved.scanned
        );
    }
    let cp = run(config, &args.options, &path).await?;
    println!("{}", summary(&cp));
    Ok(())
}

/// Runs the job on the configured services; returns where it got to.
pub async fn run(config: &Config, options: &Options, path: &Path) -> Result<Checkpoint> {
    let mut background = Background::default();
    let stop = services::stop_flag(
        "\npausing: run the same command again to carry on from the checkpoint…",
        None,
        &mut background,
    );
    match config.pipeline.mode {
        Mode::Embedded => {
            let svc = services::embedded(config, &mut background)
                .await
                .map_err(|e| match e {
                    Error::StoreInUse { path, .. } => Error::Config(format!(
                        "{} is open in a running `backchannel run`: stop it first, or start it \
                         with `--reprocess` to reprocess beside live traffic",
                        path.display()
                    )),
                    e => e,
                })?;
            let signals = services::signals(&svc.store, true, &mut background).await?;
            let settings = Settings::from_config(config, "reprocess", signals)?;
            let cp = job(
                &*svc.store,
                &*svc.cache,
                &*svc.publisher,
                &settings,
                options,
                path,
                stop,
            )
            .await?;
            svc.store.sync()?;
            Ok(cp)
        }
        Mode::Distributed => {
            let store = services::wait_for_store(config).await?;
            let publisher = crate::distributed::KafkaPublisher::new(&config.kafka)?;
            let cache = services::redis_cache(config)?;
            let store = std::sync::Arc::new(store);
            let signals = services::signals(&store, true, &mut background).await?;
            let settings = Settings::from_config(config, "reprocess", signals)?;
            let cp = job(&*store, &cache, &publisher, &settings, options, path, stop).await?;
            // The workers' rollups recount the minutes the rewrites marked; one here as well
            // means the series are right as soon as the command returns.
            store.rollup(Duration::ZERO).await?;
            Ok(cp)
        }
    }
}

/// The job with a progress line: redrawn in place at a terminal, a log line every 10 s
/// otherwise.
pub async fn job<S: Store, K: Cache, P: Publisher>(
    store: &S,
    cache: &K,
    publisher: &P,
    settings: &Settings,
    options: &Options,
    path: &Path,
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<Checkpoint> {
    let tty = std::io::stderr().is_terminal();
    let mut last = Instant::now();
    let report = |p: &Progress| {
        if tty {
            eprint!("\r\x1b[2K{}", p.line());
        } else if p.checkpoint.done || last.elapsed() >= Duration::from_secs(10) {
            eprintln!("reprocess: {}", p.line());
            last = Instant::now();
        }
    };
    let svc = reprocess::Services {
        store,
        cache,
        publisher,
        settings,
    };
    let cp = reprocess::run(&svc, options, path, stop, report).await;
    if tty {
        eprintln!();
    }
    cp
}

/// What a job did, in one line.
pub fn summary(cp: &Checkpoint) -> String {
    format!(
        "reprocess {}: {} read, {} rewritten, {} already current, {} failed (dead-lettered)",
        if cp.done { "done" } else { "paused" },
        cp.scanned,
        cp.rewritten,
        cp.current,
        cp.failed
    )
}
