//! The deployment files no other test runs. `deploy/compose/check_compose.py` parses the compose
//! file (CI has no Docker): it must pass on the committed file, and fail naming the image on a copy
//! with an unpinned one, so the check is known to bite. `promtool` checks the compose Prometheus
//! config as `monitoring.rs` checks the example one. The config file the compose containers read
//! must load with the compose file's own `BACKCHANNEL__` values, as the binary would load it.
//! The Helm chart's checks are the module `deploy_helm` (`tests/deploy_helm/mod.rs`).
//!
//! The script runs under `BACKCHANNEL_PYTHON` (else `python3`), which needs Python 3.11+ and
//! PyYAML: `deploy/dev/test` installs both (PY_ORACLES in `deploy/versions.env`). Without them
//! the tests are skipped loudly, unless `BACKCHANNEL_TEST_SERVICES=required` or `CI` is set.

mod common;
// The Helm chart's checks, in this binary rather than one more test target to link.
mod deploy_helm;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::services_required;

const PROMTOOL: &str = "/usr/bin/promtool";

fn compose_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/compose")
}

fn python() -> String {
    std::env::var("BACKCHANNEL_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// Whether the script can run here; when not, fails if the tools are required, else skips loudly.
fn python_ready() -> bool {
    let out = Command::new(python())
        .args(["-c", "import tomllib, yaml"])
        .output();
    if out.as_ref().is_ok_and(|o| o.status.success()) {
        return true;
    }
    let why = match &out {
        Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
        Err(e) => e.to_string(),
    };
    let msg = format!(
        "`{}` cannot run deploy/compose/check_compose.py (it needs Python 3.11+ with PyYAML, \
         which deploy/dev/test installs): {why}",
        python()
    );
    assert!(!services_required(), "{msg}");
    eprintln!("SKIPPED: {msg}; run deploy/dev/test to run this test");
    false
}

/// Runs the check on `compose` (the committed file when `None`), resolving its relative paths
/// against `deploy/compose/` as the committed file's are.
fn check_compose(compose: Option<&Path>) -> Output {
    let mut cmd = Command::new(python());
    cmd.arg(compose_dir().join("check_compose.py"));
    if let Some(file) = compose {
        cmd.arg(file).arg("--project-dir").arg(compose_dir());
    }
    cmd.output().expect("run deploy/compose/check_compose.py")
}

fn printed(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn the_compose_file_passes_check_compose() {
    if !python_ready() {
        return;
    }
    let out = check_compose(None);
    assert!(
        out.status.success(),
        "check_compose.py refused deploy/compose/compose.yaml:\n{}",
        printed(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("check_compose: OK"),
        "{}",
        printed(&out)
    );
}

#[test]
fn an_unpinned_image_fails_check_compose_and_is_named() {
    if !python_ready() {
        return;
    }
    let original =
        std::fs::read_to_string(compose_dir().join("compose.yaml")).expect("read compose.yaml");
    let line = original
        .lines()
        .find(|l| l.trim_start().starts_with("image: redis:"))
        .expect("compose.yaml runs a pinned redis image");
    let pinned = line.trim_start().trim_start_matches("image: ");
    for unpinned in ["redis", "redis:latest"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let copy = dir.path().join("compose.yaml");
        let edited = original.replacen(line, &line.replace(pinned, unpinned), 1);
        assert_ne!(edited, original);
        std::fs::write(&copy, edited).expect("write the copy");

        let out = check_compose(Some(&copy));
        assert_eq!(
            out.status.code(),
            Some(1),
            "check_compose.py must refuse image {unpinned} (status 1: a finding, not a crash):\n{}",
            printed(&out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("image {unpinned}:")) && stderr.contains("1 problem(s)"),
            "the one problem names image {unpinned}:\n{}",
            printed(&out)
        );
    }
}

#[test]
fn the_compose_prometheus_config_passes_promtool() {
    if !Path::new(PROMTOOL).exists() {
        assert!(
            !services_required(),
            "{PROMTOOL} is missing; deploy/dev/test installs it (apt package prometheus)"
        );
        eprintln!("SKIPPED: {PROMTOOL} is missing; run deploy/dev/test to run this test");
        return;
    }
    // From deploy/compose, as Prometheus reads it in the container: the rule file is the
    // relative path ../prometheus/backchannel.rules.yml.
    let out = Command::new(PROMTOOL)
        .args(["check", "config", "prometheus.yml"])
        .current_dir(compose_dir())
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool check config deploy/compose/prometheus.yml:\n{}",
        printed(&out)
    );
}

/// `value` with compose's `${VAR:-default}` replaced by the default and any other `${…}` by "test".
fn interpolate(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find('}').expect("a closed ${...} in compose.yaml");
        out.push_str(after[..end].split_once(":-").map_or("test", |(_, d)| d));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_compose_config_loads_with_the_compose_settings() {
    let compose =
        std::fs::read_to_string(compose_dir().join("compose.yaml")).expect("read compose.yaml");
    let mut vars: Vec<(String, String)> = Vec::new();
    for line in compose.lines() {
        if let Some((key, value)) = line.trim().split_once(": ")
            && key.starts_with("BACKCHANNEL__")
        {
            vars.push((key.to_owned(), interpolate(value.trim().trim_matches('"'))));
        }
    }
    assert!(
        vars.len() >= 8,
        "the BACKCHANNEL__ settings of compose.yaml: {vars:?}"
    );
    let config =
        pipeline::config::Config::load(Some(&compose_dir().join("backchannel.toml")), vars.clone())
            .unwrap_or_else(|e| panic!("deploy/compose/backchannel.toml with {vars:?}: {e}"));
    assert!(
        config.collectors.contains_key("hackernews"),
        "the collector `collect` runs"
    );
    assert_eq!(
        config.metrics.listen, "0.0.0.0:9898",
        "what Prometheus scrapes"
    );
}
