//! The faults: a service stopped with `deploy/dev/services` or hung with SIGSTOP, always brought
//! back (on drop too), and the workers' memory.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::{Error, Run};

#[derive(Debug, Clone, Copy)]
pub(crate) enum Fault {
    Cassandra,
    Kafka,
    Redis,
}

impl Fault {
    pub(crate) fn length(self) -> Duration {
        match self {
            Fault::Kafka => Duration::from_secs(20),
            Fault::Cassandra | Fault::Redis => Duration::from_secs(30),
        }
    }
}

/// A stopped or hung service; brought back by `end` or, failing that, on drop.
pub(crate) struct Outage {
    services: PathBuf,
    fault: Fault,
    redis_pid: Option<u32>,
    over: bool,
}

impl Outage {
    pub(crate) fn start(run: &Run, fault: Fault) -> Result<Outage, Error> {
        let services = run.root.join("deploy/dev/services");
        let mut o = Outage {
            services,
            fault,
            redis_pid: None,
            over: false,
        };
        match fault {
            Fault::Redis => {
                let pidfile = run.root.join(".services/run/redis.pid");
                let pid: u32 = std::fs::read_to_string(pidfile)?.trim().parse()?;
                o.redis_pid = Some(pid);
                signal(pid, "STOP")?;
            }
            Fault::Cassandra => o.services("down", "cassandra")?,
            Fault::Kafka => o.services("down", "kafka")?,
        }
        Ok(o)
    }

    fn services(&self, action: &str, name: &str) -> Result<(), Error> {
        let ok = Command::new("bash")
            .arg(&self.services)
            .args([action, name])
            .stdout(Stdio::null())
            .status()?;
        if !ok.success() {
            return Err(format!("deploy/dev/services {action} {name} failed").into());
        }
        Ok(())
    }

    pub(crate) fn end(mut self) -> Result<(), Error> {
        self.over = true;
        match self.fault {
            Fault::Redis => signal(self.redis_pid.unwrap_or_default(), "CONT"),
            Fault::Cassandra => self.services("up", "cassandra"),
            Fault::Kafka => self.services("up", "kafka"),
        }
    }
}

impl Drop for Outage {
    fn drop(&mut self) {
        if !self.over {
            self.over = true;
            eprintln!("bringing back {:?}", self.fault);
            let _ = match self.fault {
                Fault::Redis => signal(self.redis_pid.unwrap_or_default(), "CONT"),
                Fault::Cassandra => self.services("up", "cassandra"),
                Fault::Kafka => self.services("up", "kafka"),
            };
        }
    }
}

pub(crate) fn signal(pid: u32, sig: &str) -> Result<(), Error> {
    if pid == 0
        || !Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(pid.to_string())
            .status()?
            .success()
    {
        return Err(format!("kill -{sig} {pid} failed").into());
    }
    Ok(())
}

/// The most memory a process has held (VmHWM), in KiB.
pub(crate) fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
