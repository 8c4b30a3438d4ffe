#!/usr/bin/env python3
"""Checks deploy/compose without Docker, so a broken compose file fails CI rather than a deploy.

    python3 deploy/compose/check_compose.py [COMPOSE_FILE] [--project-dir DIR]

COMPOSE_FILE defaults to deploy/compose/compose.yaml. Relative host paths are resolved against the
project directory, the compose file's own unless --project-dir names another (as with
`docker compose --project-directory`). What is checked:

- every image is pinned: a tag naming a version (or a digest), never `latest` or no tag; the same
  for the FROM lines of the Dockerfiles the services build (an image built here needs a tag only);
- the apache/kafka tag is KAFKA_VERSION of deploy/versions.env, the Kafka the tests run against;
- every BACKCHANNEL__SECTION__KEY variable names a key of deploy/config/defaults.toml (the binary
  refuses an unknown one at start, so a typo would only show when the container starts);
- every host path mounted or built from exists inside the repository; every named volume is
  declared; every depends_on names a service (and none that only a profile starts);
- Prometheus's config (followed from the prometheus service's --config.file through its mounts)
  loads rule files that are mounted, and scrapes only compose services: a Backchannel service on
  the port of its BACKCHANNEL__METRICS__LISTEN (not loopback) under a `backchannel*` job name,
  which the rules and the dashboard select on;
- every ${VAR} the file reads is listed in .env.example beside it and the other way round, and no
  password, secret, token or key, nor a URL's credentials, is written in the file itself.

Exits 0 with a one-line summary, 1 listing every problem, 2 when it cannot run at all.
"""

import posixpath
import re
import sys
from pathlib import Path

try:
    import tomllib  # Python 3.11+
except ImportError:
    sys.exit("check_compose: needs Python 3.11 or later (tomllib)")
try:
    import yaml
except ImportError:
    sys.exit(
        "check_compose: PyYAML is missing; deploy/dev/test installs it into .services/venv "
        "(PY_ORACLES in deploy/versions.env), or: pip install PyYAML"
    )

ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = ROOT / "deploy" / "config" / "defaults.toml"
VERSIONS = ROOT / "deploy" / "versions.env"
PREFIX = "BACKCHANNEL__"
VAR = re.compile(r"(?<!\$)\$\{?([A-Za-z_][A-Za-z0-9_]*)")
SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|_KEY$|AUTH$", re.I)


def image_problem(ref, built):
    """Why `ref` is not pinned, or None."""
    if "${" in ref or "$" in ref:
        return f"image {ref}: its tag comes from a variable, so the file pins nothing"
    if "@sha256:" in ref:
        return None
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last:
        return f"image {ref}: no tag, so it floats with `latest`; pin a version ({ref}:X.Y.Z)"
    tag = last.split(":", 1)[1]
    if tag == "latest":
        return f"image {ref}: `latest` is not a pinned version"
    if not built and not re.search(r"\d", tag):
        return f"image {ref}: tag {tag!r} names no version, so it moves; pin one"
    return None


def repo_of(ref):
    """`apache/kafka` of `docker.io/apache/kafka:4.4.0`."""
    name = ref.split("@", 1)[0]
    head, _, last = name.rpartition("/")
    name = f"{head}/{last.split(':', 1)[0]}" if head else last.split(":", 1)[0]
    for registry in ("docker.io/library/", "docker.io/"):
        if name.startswith(registry):
            name = name[len(registry):]
    return name


def tag_of(ref):
    last = ref.split("@", 1)[0].rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else None


def env_of(service):
    """A service's environment as a dict (compose takes a mapping or a list of K=V)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict((e.split("=", 1) + [None])[:2] for e in env)
    return {str(k): (None if v is None else str(v)) for k, v in env.items()}


def mounts_of(service):
    """(source, target, is_bind) for each volume of a service."""
    out = []
    for v in service.get("volumes") or []:
        if isinstance(v, dict):
            out.append((str(v.get("source", "")), str(v.get("target", "")), v.get("type") == "bind"))
            continue
        parts = str(v).split(":")
        if len(parts) == 1:  # an anonymous volume: a container path only
            continue
        src, dst = parts[0], parts[1]
        out.append((src, dst, src.startswith((".", "/", "~"))))
    return out


def depends_of(service):
    deps = service.get("depends_on") or []
    return list(deps) if isinstance(deps, (list, dict)) else []


def command_args(service):
    cmd = service.get("command") or []
    return cmd.split() if isinstance(cmd, str) else [str(c) for c in cmd]


def walk_strings(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from walk_strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk_strings(v)
    elif isinstance(node, str):
        yield node


def dockerfile_froms(path):
    """The images a Dockerfile's FROM lines name (not its own stages, not scratch)."""
    stages, images = set(), []
    for line in path.read_text().splitlines():
        words = line.split()
        if not words or words[0].upper() != "FROM":
            continue
        args = [w for w in words[1:] if not w.startswith("--")]
        if not args:
            continue
        if len(args) >= 3 and args[1].upper() == "AS":
            stages.add(args[2])
        if args[0] not in stages and args[0] != "scratch":
            images.append(args[0])
    return images


class Check:
    def __init__(self, compose_path, project_dir):
        self.path = compose_path
        self.project = project_dir
        self.problems = []
        self.counts = {"images": 0, "paths": 0, "jobs": 0}
        self.keys = set()
        self.dockerfiles = set()

    def fail(self, msg):
        self.problems.append(msg)

    def host_path(self, src, what):
        """Checks that host path `src` exists inside the repository; returns it resolved."""
        if "$" in src:
            self.fail(f"{what}: host path {src} comes from a variable; name a repository path")
            return None
        p = (self.project / Path(src).expanduser()).resolve()
        self.counts["paths"] += 1
        if not p.exists():
            self.fail(f"{what}: host path {src} does not exist ({p})")
            return None
        if ROOT != p and ROOT not in p.parents:
            self.fail(f"{what}: host path {src} is outside the repository ({p})")
            return None
        return p

    def run(self):
        try:
            doc = yaml.safe_load(self.path.read_text())
        except (OSError, yaml.YAMLError) as e:
            print(f"check_compose: cannot read {self.path}: {e}", file=sys.stderr)
            return 2
        services = (doc or {}).get("services") or {}
        if not services:
            self.fail("no services")
        defaults = tomllib.loads(DEFAULTS.read_text())
        versions = dict(
            line.split("=", 1)
            for line in VERSIONS.read_text().splitlines()
            if "=" in line and not line.lstrip().startswith("#")
        )
        declared_volumes = set((doc.get("volumes") or {}).keys())

        for name, svc in services.items():
            built = "build" in svc
            self.images(name, svc, built, versions)
            self.env(name, svc, defaults)
            self.volumes(name, svc, declared_volumes)
            for dep in depends_of(svc):
                if dep not in services:
                    self.fail(f"{name}: depends_on {dep}, which is not a service")
                elif services[dep].get("profiles") and not svc.get("profiles"):
                    self.fail(f"{name}: depends_on {dep}, which only starts with a profile")
        for name, svc in services.items():
            if repo_of(str(svc.get("image", ""))) in ("prom/prometheus", "quay.io/prometheus/prometheus"):
                self.prometheus(name, svc, services, defaults)
        if self.counts["jobs"] == 0:
            self.fail("no Prometheus service with a scrape config was found to check")
        self.variables(doc)

        if self.problems:
            print(f"check_compose: FAIL: {self.path}: {len(self.problems)} problem(s):", file=sys.stderr)
            for p in self.problems:
                print(f"  - {p}", file=sys.stderr)
            return 1
        c = self.counts
        print(
            f"check_compose: OK: {self.path.name}: {len(services)} services, {c['images']} images "
            f"pinned, {len(self.keys)} BACKCHANNEL__ keys found in defaults.toml, {c['paths']} host "
            f"paths in the repository, {c['jobs']} scrape jobs on compose services"
        )
        return 0

    def images(self, name, svc, built, versions):
        refs = []
        if svc.get("image"):
            refs.append((str(svc["image"]), built))
        elif not built:
            self.fail(f"{name}: neither image nor build")
        if built:
            build = svc["build"]
            build = {"context": build} if isinstance(build, str) else build
            ctx = self.host_path(str(build.get("context", ".")), f"{name}: build context")
            if ctx is not None:
                dockerfile = ctx / str(build.get("dockerfile", "Dockerfile"))
                if not dockerfile.is_file():
                    self.fail(f"{name}: Dockerfile {dockerfile} does not exist")
                elif dockerfile not in self.dockerfiles:
                    self.dockerfiles.add(dockerfile)
                    refs += [(ref, False) for ref in dockerfile_froms(dockerfile)]
        for ref, local in refs:
            problem = image_problem(ref, local)
            if problem:
                self.fail(f"{name}: {problem}")
            else:
                self.counts["images"] += 1
            if repo_of(ref) == "apache/kafka" and tag_of(ref) != versions.get("KAFKA_VERSION"):
                self.fail(
                    f"{name}: image {ref}: the tests run Kafka {versions.get('KAFKA_VERSION')} "
                    "(KAFKA_VERSION in deploy/versions.env); use that tag"
                )

    def env(self, name, svc, defaults):
        for key, value in env_of(svc).items():
            if key.startswith(PREFIX):
                self.config_key(name, key, defaults)
            if value and "$" not in value:
                secret = SECRET_NAME.search(key) and not re.search(r"_(ENV|FILE)$", key, re.I)
                if secret:
                    self.fail(f"{name}: {key} has a literal value; take it from .env (${{VAR}})")
            if value and re.search(r"://[^/@\s]*:[^/@\s]+@", value):
                userinfo = value.split("://", 1)[1].split("@", 1)[0]
                if "${" not in userinfo:
                    self.fail(f"{name}: {key} carries a literal password in its URL; use ${{VAR}}")

    def config_key(self, name, key, defaults):
        path = [p.lower() for p in key[len(PREFIX):].split("__")]
        node = defaults
        for i, part in enumerate(path):
            if not part or not isinstance(node, dict) or part not in node:
                self.fail(
                    f"{name}: {key}: deploy/config/defaults.toml has no key {'.'.join(path[: i + 1])}"
                )
                return
            node = node[part]
        if isinstance(node, dict):
            self.fail(f"{name}: {key}: {'.'.join(path)} is a table, not a key")
            return
        self.keys.add(key)

    def volumes(self, name, svc, declared):
        for src, dst, bind in mounts_of(svc):
            if bind:
                self.host_path(src, f"{name}: volume {src}:{dst}")
            elif src and src not in declared:
                self.fail(f"{name}: named volume {src} is not declared under top-level volumes")

    def container_to_host(self, svc, container_path):
        """The repository file mounted at `container_path` in `svc`, or None."""
        for src, dst, bind in mounts_of(svc):
            if not bind:
                continue
            dst = dst.rstrip("/")
            if container_path == dst:
                return (self.project / src).resolve()
            if container_path.startswith(dst + "/"):
                return (self.project / src / container_path[len(dst) + 1:]).resolve()
        return None

    def prometheus(self, name, svc, services, defaults):
        args = command_args(svc)
        config = "/etc/prometheus/prometheus.yml"
        for i, a in enumerate(args):
            if a.startswith("--config.file="):
                config = a.split("=", 1)[1]
            elif a == "--config.file" and i + 1 < len(args):
                config = args[i + 1]
        host = self.container_to_host(svc, config)
        if host is None or not host.is_file():
            self.fail(f"{name}: its config {config} is not mounted from a file in the repository")
            return
        prom = yaml.safe_load(host.read_text()) or {}
        for rule in prom.get("rule_files") or []:
            target = posixpath.normpath(posixpath.join(posixpath.dirname(config), rule))
            rule_host = self.container_to_host(svc, target)
            if rule_host is None or not rule_host.is_file():
                self.fail(f"{name}: rule file {rule} ({target} in the container) is not mounted")
        for job in prom.get("scrape_configs") or []:
            job_name = job.get("job_name", "?")
            targets = []
            for sc in job.get("static_configs") or []:
                targets += [str(t) for t in sc.get("targets") or []]
            for sd in job.get("dns_sd_configs") or []:
                targets += [f"{n}:{sd.get('port', '')}" for n in sd.get("names") or []]
            others = [k for k in job if k.endswith("_sd_configs") and k != "dns_sd_configs"]
            if others:
                self.fail(f"{name}: job {job_name} uses {others}, which this check cannot follow")
            if not targets:
                self.fail(f"{name}: job {job_name} has no target")
            for t in targets:
                self.scrape_target(name, job_name, t, services, defaults)
            self.counts["jobs"] += 1

    def scrape_target(self, name, job, target, services, defaults):
        hostname, _, port = target.split("://")[-1].rpartition(":")
        if hostname not in services:
            self.fail(f"{name}: job {job} scrapes {target}, but {hostname or target} is not a compose service")
            return
        svc = services[hostname]
        if "build" not in svc:
            return
        if not job.startswith("backchannel"):
            self.fail(f"{name}: job {job} scrapes Backchannel's {hostname}; the rules select job=~\"backchannel.*\"")
        listen = env_of(svc).get(PREFIX + "METRICS__LISTEN") or defaults["metrics"]["listen"]
        lhost, _, lport = listen.rpartition(":")
        if lhost not in ("0.0.0.0", "[::]", ""):
            self.fail(f"{hostname}: metrics.listen {listen} is not reachable from Prometheus's container")
        if lport != port:
            self.fail(f"{name}: job {job} scrapes {target}, but {hostname} serves metrics on {listen}")

    def variables(self, doc):
        used = {m.group(1) for s in walk_strings(doc) for m in VAR.finditer(s)}
        example = self.project / ".env.example"
        if not example.is_file():
            if used:
                self.fail(f"{example} is missing; it must list {sorted(used)}")
            return
        listed = set()
        for line in example.read_text().splitlines():
            line = line.strip()
            if line and not line.startswith("#") and "=" in line:
                listed.add(line.split("=", 1)[0].strip())
        for v in sorted(used - listed):
            self.fail(f"${{{v}}} is read by the compose file but not listed in .env.example")
        for v in sorted(listed - used):
            self.fail(f".env.example lists {v}, which the compose file never reads")


def main(argv):
    args, project = [], None
    it = iter(argv)
    for a in it:
        if a == "--project-dir":
            project = next(it, None)
            if project is None:
                sys.exit("check_compose: --project-dir needs a directory")
        elif a in ("-h", "--help"):
            print(__doc__)
            return 0
        else:
            args.append(a)
    if len(args) > 1:
        sys.exit("usage: check_compose.py [COMPOSE_FILE] [--project-dir DIR]")
    compose = Path(args[0]) if args else ROOT / "deploy" / "compose" / "compose.yaml"
    compose = compose.resolve()
    project_dir = Path(project).resolve() if project else compose.parent
    return Check(compose, project_dir).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
