#!/usr/bin/env python3
"""Checks the Helm chart without a cluster, so a broken chart fails CI rather than a deploy.

    python3 deploy/helm/check_helm.py [--helm HELM] [--chart DIR] [--write-config DIR] [--render NAME]

Runs `helm lint --strict` and `helm template` on the chart (deploy/helm/backchannel unless --chart
names a copy), with its default values, with ci/full-values.yaml (every option on) and with that
and secrets.existingSecret, and checks what they render:

- the objects exist: the worker Deployment, its HorizontalPodAutoscaler and PodDisruptionBudget,
  the serve Deployment, Service and PodDisruptionBudget, the ConfigMap, the Secret, the
  `schema apply` Job as a pre-install and pre-upgrade hook, one collector Deployment per
  [collectors.NAME] of the config (one replica, Recreate, its checkpoint directory mounted);
- the HPA (autoscaling/v2) scales the worker Deployment on the External metric LAG_METRIC with an
  AverageValue target, and maxReplicas is below kafka.partitions;
- backchannel.toml in the ConfigMap parses, every key is a key of deploy/config/defaults.toml
  with a value of the same type (kafka.properties and collectors.* are free-form), mode is
  distributed and metrics.listen / api.listen are the container ports the probes and Service use;
  the schema Job's hook copy is the same file;
- every container has a pinned image (a tag, not latest) and cpu and memory requests and a memory
  limit; every BACKCHANNEL__SECTION__KEY variable names a key of defaults.toml; every
  secretKeyRef names a Secret the chart makes or the existingSecret, and with existingSecret the
  chart makes no Secret of its own;
- worker and serve probe /healthz (startup, liveness) and /readyz (readiness) on the metrics port;
  every pod is scraped (prometheus.io annotations on that port, or the ServiceMonitor with
  job=backchannel-<component>, which the rules and the dashboard select on);
- selectors match their pods' labels (Deployments, Services, PodDisruptionBudgets).

--write-config DIR writes each render's backchannel.toml there (default.toml, full-values.toml, ...)
for pipeline/tests/deploy_files.rs to load with the binary's own loader.

Exits 0 with a one-line summary, 1 listing every problem, 2 when it cannot run at all.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

try:
    import tomllib  # Python 3.11+
except ImportError:
    sys.exit("check_helm: needs Python 3.11 or later (tomllib)")
try:
    import yaml
except ImportError:
    sys.exit(
        "check_helm: PyYAML is missing; deploy/dev/test installs it into .services/venv "
        "(PY_ORACLES in deploy/versions.env), or: pip install PyYAML"
    )

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "backchannel"
DEFAULTS = ROOT / "deploy" / "config" / "defaults.toml"
# The External metric the HPA reads; README.md beside the chart has the adapter rules for it.
LAG_METRIC = "backchannel_consumer_lag_messages"
CONFIG_PATH = "/etc/backchannel/backchannel.toml"
RELEASE = "bc"
# The Secret named by secrets.existingSecret in the third render.
EXISTING = "backchannel-credentials"
# Where a key's value is free-form (librdkafka properties, collectors' own tables).
FREE_FORM = (("kafka", "properties"), ("collectors",))


def run(cmd):
    return subprocess.run(cmd, capture_output=True, text=True)


def keys_of(table, path=()):
    """Every (path, value) leaf of a TOML table; free-form tables are leaves themselves."""
    for k, v in table.items():
        p = path + (k,)
        if isinstance(v, dict) and p not in FREE_FORM:
            yield from keys_of(v, p)
        else:
            yield p, v


def same_type(default, value):
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return type(default) is type(value)


def check_config(text, defaults, where, problems):
    try:
        cfg = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        problems.append(f"{where}: backchannel.toml does not parse: {e}")
        return None
    flat = dict(keys_of(defaults))
    for path, value in keys_of(cfg):
        dotted = ".".join(path)
        if path[:1] == ("collectors",):
            for name, table in value.items():
                if not isinstance(table, dict) or "type" not in table:
                    problems.append(f"{where}: collectors.{name} has no type")
            continue
        if path not in flat:
            problems.append(f"{where}: backchannel.toml key {dotted} is not a key of {DEFAULTS.name}")
        elif not same_type(flat[path], value):
            problems.append(
                f"{where}: backchannel.toml key {dotted} is {type(value).__name__} "
                f"{value!r}, {DEFAULTS.name} has {type(flat[path]).__name__} {flat[path]!r}"
            )
    if cfg.get("pipeline", {}).get("mode") != "distributed":
        problems.append(f"{where}: pipeline.mode must be \"distributed\"")
    return cfg


def env_key_known(name, defaults):
    path = [p.lower() for p in name[len("BACKCHANNEL__"):].split("__")]
    node = defaults
    for p in path:
        if not isinstance(node, dict) or p not in node:
            return False
        node = node[p]
    return not isinstance(node, dict)


def port_of(listen):
    return int(listen.rsplit(":", 1)[1]) if listen and ":" in listen else None


def pod_spec(obj):
    return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}


def pod_labels(obj):
    return (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def component(obj):
    return ((obj.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/component")


def hook_of(obj):
    return ((obj.get("metadata") or {}).get("annotations") or {}).get("helm.sh/hook", "")


def check_render(docs, defaults, where, problems, existing_secret=None):
    """Checks one `helm template` output; returns its backchannel.toml text."""
    objs = [d for d in docs if isinstance(d, dict) and d.get("kind")]
    by_kind = {}
    for o in objs:
        by_kind.setdefault(o["kind"], []).append(o)

    def one(kind, comp, hook=False):
        found = [o for o in by_kind.get(kind, []) if component(o) == comp and bool(hook_of(o)) == hook]
        if len(found) != 1:
            problems.append(f"{where}: expected one {kind} for {comp or 'the release'}, found {len(found)}")
            return None
        return found[0]

    # The configuration.
    cms = [o for o in by_kind.get("ConfigMap", []) if not hook_of(o)]
    if len(cms) != 1 or "backchannel.toml" not in (cms[0].get("data") or {}):
        problems.append(f"{where}: expected one ConfigMap with backchannel.toml, found {len(cms)}")
        return None
    text = cms[0]["data"]["backchannel.toml"]
    cfg = check_config(text, defaults, where, problems) or {}
    metrics_port = port_of(cfg.get("metrics", {}).get("listen"))
    api_port = port_of(cfg.get("api", {}).get("listen"))
    if metrics_port is None or api_port is None:
        problems.append(f"{where}: metrics.listen and api.listen must be set to host:port")
    partitions = cfg.get("kafka", {}).get("partitions", defaults["kafka"]["partitions"])
    if not isinstance(partitions, int):  # reported above as a wrong type
        partitions = defaults["kafka"]["partitions"]

    worker = one("Deployment", "worker")
    serve = one("Deployment", "serve")
    job = one("Job", "schema", hook=True)
    secret_names = {o["metadata"]["name"] for o in by_kind.get("Secret", [])}
    if existing_secret:
        secret_names.add(existing_secret)
        if [o for o in by_kind.get("Secret", []) if not hook_of(o)]:
            problems.append(f"{where}: the chart makes a Secret although secrets.existingSecret names one")
    release_secret = [o for o in by_kind.get("Secret", []) if not hook_of(o)]

    # The schema Job: a pre-install and pre-upgrade hook running `schema apply` on the same file.
    if job:
        hooks = set(hook_of(job).split(","))
        if not {"pre-install", "pre-upgrade"} <= hooks:
            problems.append(f"{where}: the schema Job must be a pre-install,pre-upgrade hook, is {sorted(hooks)}")
        args = [c.get("args") for c in pod_spec(job).get("containers", [])]
        if args != [["schema", "apply"]]:
            problems.append(f"{where}: the schema Job must run `schema apply`, runs {args}")
        hook_cms = [o for o in by_kind.get("ConfigMap", []) if hook_of(o)]
        if not hook_cms or any(o["data"].get("backchannel.toml") != text for o in hook_cms):
            problems.append(f"{where}: the schema Job's hook ConfigMap differs from the release's")

    # The HPA: the worker Deployment, on the lag metric.
    hpas = by_kind.get("HorizontalPodAutoscaler", [])
    if len(hpas) != 1:
        problems.append(f"{where}: expected one HorizontalPodAutoscaler, found {len(hpas)}")
    elif worker:
        hpa = hpas[0]
        spec = hpa.get("spec") or {}
        target = spec.get("scaleTargetRef") or {}
        if hpa.get("apiVersion") != "autoscaling/v2":
            problems.append(f"{where}: the HPA must be autoscaling/v2, is {hpa.get('apiVersion')}")
        if (target.get("kind"), target.get("name")) != ("Deployment", worker["metadata"]["name"]):
            problems.append(
                f"{where}: the HPA scales {target.get('kind')}/{target.get('name')}, "
                f"not the worker Deployment {worker['metadata']['name']}"
            )
        ext = [m.get("external") or {} for m in spec.get("metrics") or [] if m.get("type") == "External"]
        if not any((e.get("metric") or {}).get("name") == LAG_METRIC for e in ext):
            problems.append(f"{where}: the HPA has no External metric {LAG_METRIC}: {spec.get('metrics')}")
        for e in ext:
            if (e.get("target") or {}).get("type") != "AverageValue":
                problems.append(f"{where}: the HPA's lag target must be an AverageValue (lag per worker)")
        lo, hi = spec.get("minReplicas", 1), spec.get("maxReplicas", 0)
        if not 1 <= lo <= hi < partitions:
            problems.append(
                f"{where}: HPA replicas {lo}..{hi} must be within 1..kafka.partitions-1 ({partitions - 1}): "
                "a rolling update adds a worker, and one without a partition never turns ready"
            )
        if "replicas" in (worker.get("spec") or {}):
            problems.append(f"{where}: the worker Deployment sets replicas although the HPA owns them")

    # Serve: its Service reaches the API port.
    svc = one("Service", "serve")
    if svc and serve:
        sel = (svc.get("spec") or {}).get("selector") or {}
        if not sel or any(pod_labels(serve).get(k) != v for k, v in sel.items()):
            problems.append(f"{where}: the serve Service selects {sel}, not the serve pods")
        ports = {p.get("name"): p.get("containerPort") for c in pod_spec(serve).get("containers", []) for p in c.get("ports") or []}
        if ports.get("api") != api_port:
            problems.append(f"{where}: serve's api port {ports.get('api')} is not api.listen's {api_port}")
        if not any(p.get("targetPort") in ("api", api_port) for p in svc["spec"].get("ports") or []):
            problems.append(f"{where}: the serve Service does not target the api port")

    # PodDisruptionBudgets for worker and serve.
    for d in (worker, serve):
        if not d:
            continue
        pdbs = [p for p in by_kind.get("PodDisruptionBudget", []) if component(p) == component(d)]
        sel = ((pdbs[0].get("spec") or {}).get("selector") or {}).get("matchLabels") if pdbs else None
        if not pdbs or not sel or any(pod_labels(d).get(k) != v for k, v in sel.items()):
            problems.append(f"{where}: no PodDisruptionBudget selects the {component(d)} pods")

    # Collectors: one Deployment each, one replica, Recreate, checkpoints on a volume.
    collectors = cfg.get("collectors", {})
    coll_deps = [o for o in by_kind.get("Deployment", []) if component(o) == "collector"]
    checkpoint_dir = cfg.get("collect", {}).get("checkpoint_dir")
    for name in collectors:
        mine = [d for d in coll_deps if any(
            c.get("args") == ["collect", "--source", name] for c in pod_spec(d).get("containers", []))]
        if len(mine) != 1:
            problems.append(f"{where}: expected one Deployment running `collect --source {name}`, found {len(mine)}")
            continue
        d = mine[0]
        if d["spec"].get("replicas") != 1 or (d["spec"].get("strategy") or {}).get("type") != "Recreate":
            problems.append(f"{where}: collector {name} must run one replica with the Recreate strategy")
        mounts = [m.get("mountPath") for c in pod_spec(d).get("containers", []) for m in c.get("volumeMounts") or []]
        if checkpoint_dir not in mounts:
            problems.append(f"{where}: collector {name} has no volume at collect.checkpoint_dir ({checkpoint_dir})")
    if len(coll_deps) != len(collectors):
        problems.append(f"{where}: {len(coll_deps)} collector Deployments for {len(collectors)} configured collectors")

    # Every workload: images, resources, env, secrets, selectors, probes, scraping.
    monitors = by_kind.get("ServiceMonitor", [])
    for o in by_kind.get("Deployment", []) + by_kind.get("Job", []):
        name = f"{o['kind']} {o['metadata']['name']}"
        spec = pod_spec(o)
        if o["kind"] == "Deployment":
            sel = ((o.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            if not sel or any(pod_labels(o).get(k) != v for k, v in sel.items()):
                problems.append(f"{where}: {name}: its selector {sel} does not match its pod labels")
            ann = (((o.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("annotations") or {}
            scraped = ann.get("prometheus.io/scrape") == "true" and ann.get("prometheus.io/port") == str(metrics_port)
            if not scraped and not monitors:
                problems.append(f"{where}: {name}: not scraped (no prometheus.io annotations on port {metrics_port}, no ServiceMonitor)")
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            cname = f"{name} container {c.get('name')}"
            image = c.get("image") or ""
            last = image.rsplit("/", 1)[-1]
            if not image or ":" not in last or last.endswith(":") or last.split(":", 1)[1] == "latest":
                problems.append(f"{where}: {cname}: image {image!r} is not pinned to a tag")
            res = c.get("resources") or {}
            for part, key in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory")):
                if not (res.get(part) or {}).get(key):
                    problems.append(f"{where}: {cname}: resources.{part}.{key} is not set")
            env = {e.get("name"): e for e in c.get("env") or []}
            if (env.get("BACKCHANNEL_CONFIG") or {}).get("value") != CONFIG_PATH:
                problems.append(f"{where}: {cname}: BACKCHANNEL_CONFIG is not {CONFIG_PATH}")
            for e in env.values():
                n = e.get("name") or ""
                if n.startswith("BACKCHANNEL__") and not env_key_known(n, defaults):
                    problems.append(f"{where}: {cname}: {n} names no key of {DEFAULTS.name}")
                ref = (e.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref.get("name") not in secret_names:
                    problems.append(f"{where}: {cname}: {n} reads Secret {ref.get('name')}, which the chart does not make")
                if ref and not ref.get("optional") and release_secret and ref.get("name") == release_secret[0]["metadata"]["name"]:
                    if ref.get("key") not in (release_secret[0].get("data") or {}):
                        problems.append(f"{where}: {cname}: {n} reads key {ref.get('key')}, which the Secret lacks")
            mounts = {m.get("mountPath") for m in c.get("volumeMounts") or []}
            if CONFIG_PATH not in mounts:
                problems.append(f"{where}: {cname}: backchannel.toml is not mounted at {CONFIG_PATH}")
            if o["kind"] != "Deployment":
                continue
            ports = {p.get("name"): p.get("containerPort") for p in c.get("ports") or []}
            if ports.get("metrics") != metrics_port:
                problems.append(f"{where}: {cname}: port `metrics` {ports.get('metrics')} is not metrics.listen's {metrics_port}")
            if component(o) in ("worker", "serve"):
                for probe, path in (("startupProbe", "/healthz"), ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
                    get = (c.get(probe) or {}).get("httpGet") or {}
                    if get.get("path") != path or get.get("port") not in ("metrics", metrics_port):
                        problems.append(f"{where}: {cname}: {probe} must GET {path} on the metrics port, is {get}")
                grace = pod_spec(o).get("terminationGracePeriodSeconds", 30)
                if component(o) == "worker" and grace < 75:
                    problems.append(f"{where}: {cname}: terminationGracePeriodSeconds {grace} < 75 (drain + producer timeout)")
    for m in monitors:
        eps = (m.get("spec") or {}).get("endpoints") or []
        if not any(r.get("targetLabel") == "job" and str(r.get("replacement", "")).startswith("backchannel")
                   for e in eps for r in e.get("relabelings") or []):
            problems.append(f"{where}: ServiceMonitor {m['metadata']['name']} does not set job=backchannel-*")
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--helm", default=os.environ.get("BACKCHANNEL_HELM") or shutil.which("helm"))
    ap.add_argument("--chart", type=Path, default=CHART)
    ap.add_argument("--write-config", type=Path)
    ap.add_argument("--render", action="append", help="only this render (default, full-values, existing-secret)")
    args = ap.parse_args()
    if not args.helm or not Path(args.helm).exists() and not shutil.which(args.helm):
        print("check_helm: no helm (set BACKCHANNEL_HELM or --helm; deploy/dev/test builds it)", file=sys.stderr)
        return 2
    defaults = tomllib.loads(DEFAULTS.read_text())
    chart = args.chart.resolve()
    problems = []
    full = ["-f", str(chart / "ci" / "full-values.yaml")]
    renders = [
        ("default", [], None),
        ("full-values", full, None),
        ("existing-secret", full + ["--set", f"secrets.existingSecret={EXISTING}"], EXISTING),
    ]
    if args.render:
        renders = [r for r in renders if r[0] in args.render]
    for where, extra, existing in renders:
        lint = run([args.helm, "lint", "--strict", str(chart), *extra])
        if lint.returncode != 0:
            problems.append(f"{where}: helm lint --strict failed:\n{lint.stdout}{lint.stderr}".rstrip())
        out = run([args.helm, "template", RELEASE, str(chart), "--namespace", "backchannel", *extra])
        if out.returncode != 0:
            problems.append(f"{where}: helm template failed:\n{out.stderr}".rstrip())
            continue
        try:
            docs = list(yaml.safe_load_all(out.stdout))
        except yaml.YAMLError as e:
            problems.append(f"{where}: helm template's output is not YAML: {e}")
            continue
        text = check_render(docs, defaults, where, problems, existing)
        if text is not None and args.write_config:
            args.write_config.mkdir(parents=True, exist_ok=True)
            (args.write_config / f"{where}.toml").write_text(text)
    if problems:
        for p in problems:
            print(f"check_helm: {p}", file=sys.stderr)
        print(f"check_helm: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_helm: OK: {chart.name} lints and renders ({', '.join(r[0] for r in renders)}) as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
