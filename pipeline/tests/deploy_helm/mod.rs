//! The Helm chart (`deploy/helm/backchannel`). `deploy/helm/check_helm.py` runs `helm lint` and
//! `helm template` and checks what they render; here it must pass on the committed chart, its
//! rendered `backchannel.toml` must load with the binary's own loader, and copies of the chart
//! broken on purpose must be refused, naming what is wrong, so the check is known to bite.
//!
//! Helm is `BACKCHANNEL_HELM` (deploy/dev/test builds the pinned one and sets it), else `helm` on
//! PATH, else the one deploy/dev/test left in ~/.cache/backchannel. Without Helm (or the script's
//! Python) the tests are skipped loudly, unless `BACKCHANNEL_TEST_SERVICES=required` or `CI` is set.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{printed, python, python_ready, services_required};

fn chart_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/helm/backchannel")
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/helm/check_helm.py")
}

/// The Helm version pinned in deploy/versions.env.
fn pinned_version() -> String {
    let env = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/versions.env"),
    )
    .expect("read deploy/versions.env");
    env.lines()
        .find_map(|l| l.strip_prefix("HELM_VERSION="))
        .expect("HELM_VERSION in deploy/versions.env")
        .trim()
        .to_owned()
}

/// The Helm to use, or `None` after skipping loudly (failing when the tools are required).
fn helm() -> Option<String> {
    if !python_ready() {
        return None;
    }
    if let Ok(h) = std::env::var("BACKCHANNEL_HELM") {
        return Some(h);
    }
    let on_path = Command::new("helm").arg("version").output();
    if on_path.is_ok_and(|o| o.status.success()) {
        return Some("helm".into());
    }
    let cache = std::env::var("BACKCHANNEL_TOOL_CACHE")
        .map(PathBuf::from)
        .or_else(|_| std::env::var("HOME").map(|h| Path::new(&h).join(".cache/backchannel")));
    if let Ok(cache) = cache {
        let cached = cache.join(format!("helm-{}/bin/helm", pinned_version()));
        if cached.exists() {
            return Some(cached.display().to_string());
        }
    }
    let msg = "no helm: BACKCHANNEL_HELM is unset, none is on PATH and deploy/dev/test has not \
               built the pinned one into ~/.cache/backchannel";
    assert!(!services_required(), "{msg}");
    eprintln!("SKIPPED: {msg}; run deploy/dev/test to run this test");
    None
}

/// Runs the script on `chart`; `render` limits it to one of its renders (the broken copies need
/// only the default one, and each render is a `helm lint` and a `helm template`).
fn check_helm(
    helm: &str,
    chart: &Path,
    write_config: Option<&Path>,
    render: Option<&str>,
) -> Output {
    let mut cmd = Command::new(python());
    cmd.arg(script())
        .args(["--helm", helm, "--chart"])
        .arg(chart);
    if let Some(dir) = write_config {
        cmd.arg("--write-config").arg(dir);
    }
    if let Some(render) = render {
        cmd.args(["--render", render]);
    }
    cmd.output().expect("run deploy/helm/check_helm.py")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the copy's folder");
    for entry in std::fs::read_dir(from).expect("read the chart") {
        let entry = entry.expect("a chart entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("its type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a chart file");
        }
    }
}

#[test]
fn the_helm_chart_passes_check_helm_and_its_config_loads() {
    let Some(helm) = helm() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let out = check_helm(&helm, &chart_dir(), Some(dir.path()), None);
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).starts_with("check_helm: OK"),
        "check_helm.py refused deploy/helm/backchannel:\n{}",
        printed(&out)
    );
    // As the pods load it: the file, plus the Redis URL the Secret gives by variable.
    let env = vec![(
        "BACKCHANNEL__REDIS__URL".to_owned(),
        "redis://:secret@redis-master.redis:6379".to_owned(),
    )];
    for (render, collectors) in [("default", 0), ("full-values", 2)] {
        let file = dir.path().join(format!("{render}.toml"));
        let config = pipeline::config::Config::load(Some(&file), env.clone()).unwrap_or_else(|e| {
            panic!(
                "the chart's backchannel.toml ({render}) does not load: {e}\n{}",
                std::fs::read_to_string(&file).unwrap_or_default()
            )
        });
        assert_eq!(config.pipeline.mode, pipeline::config::Mode::Distributed);
        assert_eq!(
            config.metrics.listen, "0.0.0.0:9898",
            "what the probes and Prometheus reach"
        );
        assert_eq!(
            config.api.listen, "0.0.0.0:8787",
            "what the serve Service targets"
        );
        assert_eq!(config.scylla.replication_factor, 3, "{render}");
        assert_eq!(config.kafka.replication_factor, 3, "{render}");
        assert_eq!(config.collectors.len(), collectors, "{render}");
    }
}

#[test]
fn a_broken_chart_fails_check_helm_naming_what_is_wrong() {
    let Some(helm) = helm() else { return };
    let breakages: [(&str, &str, &str, &str); 3] = [
        // The HPA scaling the wrong Deployment.
        (
            "templates/worker-hpa.yaml",
            "name: {{ include \"backchannel.fullname\" $ }}-worker\n  minReplicas",
            "name: {{ include \"backchannel.fullname\" $ }}-serve\n  minReplicas",
            "the HPA scales Deployment/bc-backchannel-serve",
        ),
        // A key defaults.toml does not have.
        (
            "values.yaml",
            "    partitions: 24\n",
            "    partitions: 24\n    partition_count: 24\n",
            "kafka.partition_count is not a key of defaults.toml",
        ),
        // A worker without a CPU request.
        (
            "values.yaml",
            "      cpu: \"2\"\n",
            "",
            "container worker: resources.requests.cpu is not set",
        ),
    ];
    for (file, from, to, named) in breakages {
        let dir = tempfile::tempdir().expect("temp dir");
        let copy = dir.path().join("backchannel");
        copy_dir(&chart_dir(), &copy);
        let path = copy.join(file);
        let text = std::fs::read_to_string(&path).expect("read the chart file");
        assert!(
            text.contains(from),
            "{file} no longer contains {from:?}: update this test"
        );
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write the broken copy");

        let out = check_helm(&helm, &copy, None, Some("default"));
        assert_eq!(
            out.status.code(),
            Some(1),
            "check_helm.py must refuse the chart with {file} broken (status 1):\n{}",
            printed(&out)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(named),
            "the refusal names {named:?}:\n{}",
            printed(&out)
        );
    }
}
