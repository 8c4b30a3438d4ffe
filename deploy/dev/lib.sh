# shellcheck shell=bash
# Shared helpers for deploy/dev/services and deploy/dev/test. Source it; do not execute it.
# Everything the dev services need is installed from Debian's apt, Maven Central or PyPI;
# nothing is downloaded any other way.

BC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BC_DEV="$BC_ROOT/deploy/dev"
# shellcheck source=../versions.env
source "$BC_ROOT/deploy/versions.env"

# All mutable state lives in one git-ignored folder.
BC_STATE="$BC_ROOT/.services"
# A worktree may share another checkout's running services through a symlinked .services; the
# pid checks compare a process's working directory with BC_DATA, so use the physical path.
if [[ -L $BC_STATE ]]; then BC_STATE=$(readlink -f "$BC_STATE"); fi
BC_CACHE="$BC_STATE/cache"   # jars fetched by Maven, per version
BC_DATA="$BC_STATE/data"     # service data (kafka log dirs, cassandra sstables, redis dir)
BC_LOGS="$BC_STATE/logs"     # one folder per service
BC_RUN="$BC_STATE/run"       # pidfiles, rendered configs, lock
BC_VENV="$BC_STATE/venv"     # python venv for test oracles
BC_CARGO_TOOLS="$BC_STATE/cargo-tools" # cargo subcommands built from crates.io, per version

bc_log() { printf '[%s] %s\n' "${BC_LOG_TAG:-dev}" "$*"; }
bc_die() { printf '[%s] ERROR: %s\n' "${BC_LOG_TAG:-dev}" "$*" >&2; exit 1; }
bc_now() { echo "${EPOCHREALTIME/,/.}"; }
# Seconds (one decimal) elapsed since a bc_now timestamp.
bc_since() { awk -v a="$1" -v b="$(bc_now)" 'BEGIN { printf "%.1f", b - a }'; }

# Run as root, or through sudo when available (developer laptops).
bc_as_root() {
  if [[ $EUID -eq 0 ]]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    bc_die "need root to run: $*"; fi
}

# bc_apt_install PKG ... — apt-get install (update once per run first).
# Daemons in those packages (redis-server, prometheus) must NOT be started by their
# postinst: they would grab our ports. A temporary policy-rc.d forbids that.
bc_apt_install() {
  mkdir -p "$BC_LOGS"
  bc_log "apt-get install $*"
  local policy=/usr/sbin/policy-rc.d created_policy=0 rc=0
  if [[ ! -e $policy ]]; then
    bc_as_root sh -c "printf '#!/bin/sh\\nexit 101\\n' > $policy && chmod +x $policy"
    created_policy=1
  fi
  {
    if [[ -z ${BC_APT_UPDATED:-} ]]; then
      bc_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq && BC_APT_UPDATED=1
    fi &&
      bc_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
  } >>"$BC_LOGS/apt.log" 2>&1 || rc=$?
  ((created_policy)) && bc_as_root rm -f "$policy"
  if ((rc)); then
    tail -n 20 "$BC_LOGS/apt.log" >&2
    bc_die "apt-get install $* failed (full log: $BC_LOGS/apt.log)"
  fi
}

# bc_apt_ensure CMD:PKG ... — installs the Debian packages whose command is missing.
bc_apt_ensure() {
  local missing=() pair
  for pair in "$@"; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair#*:}")
  done
  ((${#missing[@]} == 0)) || bc_apt_install "${missing[@]}"
}

# Java 17 exactly: Cassandra 5.0 runs on 11 or 17 only, Kafka 4.x needs >= 17.
# Sets BC_JAVA. Prefers $JAVA_HOME if it is a 17, then Debian's openjdk-17, then `java`.
bc_java_major() { "$1" -XshowSettings:properties -version 2>&1 | awk -F'= ' '/java.specification.version/ { print $2; exit }'; }
bc_find_java17() {
  local c
  for c in ${JAVA_HOME:+"$JAVA_HOME/bin/java"} /usr/lib/jvm/java-17-openjdk-*/bin/java "$(command -v java || true)"; do
    if [[ -x $c && "$(bc_java_major "$c")" == 17 ]]; then BC_JAVA=$c; return 0; fi
  done
  return 1
}
bc_ensure_java() {
  bc_find_java17 || { bc_apt_install openjdk-17-jre-headless && bc_find_java17; } ||
    bc_die "no Java 17 found (Cassandra 5.0 needs 11 or 17)"
  bc_apt_ensure mvn:maven
}

# Everything the services and the tests expect on the machine.
bc_ensure_system_packages() {
  # cmake + compilers + libcurl headers: rdkafka's bundled librdkafka 2.12.1 (cmake-build) includes
  # <curl/curl.h> even with curl off (its config.h defines WITH_OAUTHBEARER_OIDC as 0, rdkafka_conf.c
  # tests #ifdef), so the build fails without the headers; nothing links against libcurl.
  bc_apt_ensure python3:python3 redis-server:redis-server redis-cli:redis-tools kcat:kcat \
    promtool:prometheus cmake:cmake make:make cc:gcc c++:g++ pkg-config:pkg-config \
    curl-config:libcurl4-openssl-dev
  # Headless Chromium and its WebDriver: the dashboard's browser test (pipeline/tests/dashboard/).
  bc_apt_ensure chromium:chromium chromedriver:chromium-driver
  # OpenSSL headers: rdkafka's `ssl` feature and the CQL driver's TLS link the system OpenSSL.
  dpkg -s libssl-dev >/dev/null 2>&1 || bc_apt_install libssl-dev
  bc_ensure_java
}

# ---------------------------------------------------------------- python hook
# bc_pip_install PKG==VER ... — installs into the git-ignored venv .services/venv (quiet; pip's
# own cache makes re-runs fast). Later test oracles are added here or in deploy/dev/test.
bc_ensure_venv() {
  [[ -x $BC_VENV/bin/python ]] && return 0
  mkdir -p "$BC_STATE"
  # Debian's python3 needs python3-venv for ensurepip; try as-is first.
  if ! python3 -m venv "$BC_VENV" >/dev/null 2>&1; then
    rm -rf "$BC_VENV"
    bc_apt_install python3-venv
    python3 -m venv "$BC_VENV"
  fi
}
bc_pip_install() {
  bc_ensure_venv
  "$BC_VENV/bin/python" -m pip install -q --disable-pip-version-check "$@"
}

# ---------------------------------------------------------------- cargo tools
# bc_cargo_tool NAME VERSION — prints the path of NAME (a crates.io binary crate) at VERSION,
# built once with `cargo install --locked` into the git-ignored .services/cargo-tools/NAME-VERSION;
# later runs find it there and build nothing.
bc_cargo_tool() {
  local name=$1 version=$2 root="$BC_CARGO_TOOLS/$1-$2"
  if [[ ! -x $root/bin/$name ]]; then
    bc_log "building $name $version (once; a few minutes) into $root" >&2
    cargo install --quiet --locked --root "$root" --version "=$version" "$name" >&2 ||
      bc_die "cargo install $name $version failed"
  fi
  echo "$root/bin/$name"
}

# ---------------------------------------------------------------- go tools
# Tools built from the Go module proxy live outside the clone, in the user's cache: CI runs in a
# fresh clone each time, and rebuilding Helm costs minutes. BACKCHANNEL_TOOL_CACHE moves it.
BC_TOOL_CACHE="${BACKCHANNEL_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/backchannel}"

# Prints a `go` to build with: on PATH or Go's own /usr/local/go (this machine kind has Go 1.26).
# Go 1.21 or later, which fetches the toolchain a module asks for from the module proxy
# (GOTOOLCHAIN=auto); Debian 12's golang-go is 1.19, too old for that, so it is not a fallback.
bc_find_go() {
  local c minor
  for c in "$(command -v go || true)" /usr/local/go/bin/go; do
    [[ -n $c && -x $c ]] || continue
    minor=$("$c" env GOVERSION | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
    if [[ -n $minor ]] && ((minor >= 21)); then echo "$c"; return 0; fi
  done
  return 1
}

# bc_go_tool NAME PACKAGE VERSION — prints the path of NAME, built once with
# `go install PACKAGE@VERSION` into $BC_TOOL_CACHE/NAME-VERSION/bin; later runs build nothing.
bc_go_tool() {
  local name=$1 package=$2 version=$3 bin="$BC_TOOL_CACHE/$1-$3/bin" go t0
  if [[ ! -x $bin/$name ]]; then
    go=$(bc_find_go) || bc_die "no Go 1.21+ to build $name with (on PATH or /usr/local/go)"
    t0=$(bc_now)
    bc_log "building $name $version with $("$go" version | cut -d' ' -f3) (once; a few minutes) into $bin" >&2
    mkdir -p "$bin"
    GOBIN="$bin" GOTOOLCHAIN=auto "$go" install "$package@$version" >&2 ||
      bc_die "go install $package@$version failed"
    bc_log "built $name $version in $(bc_since "$t0")s" >&2
  fi
  echo "$bin/$name"
}
