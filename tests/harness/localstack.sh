#!/usr/bin/env bash
# LocalStack (no Docker) for drctl's tests: elbv2 / autoscaling / rds / dynamodb go to moto
# in-process through the plugin in ./drctl_localstack_plugin. See README.md.
#
#   localstack.sh install              build (or reuse) the cached venv; prints its path
#   localstack.sh start PORT           start in the background on 127.0.0.1:PORT, wait healthy
#   localstack.sh stop [PORT]          stop the one started on PORT (or the only one running)
#   localstack.sh status [PORT]        show what is running
#   localstack.sh logs PORT [-f]       print (or follow) its log
#   localstack.sh run-foreground PORT  run in the foreground (used by start and the Dockerfile)
#
# Environment:
#   DRCTL_HARNESS_HOME     cache + state root (default ~/.cache/drctl-harness)
#   DRCTL_HARNESS_PYTHON   Python 3.11 used to create the venv (default python3)
#   DRCTL_HARNESS_BIND     address run-foreground binds (default 127.0.0.1; 0.0.0.0 in Docker)
#   DRCTL_HARNESS_START_TIMEOUT  seconds start waits for health (default 120)
#   DRCTL_HEALTH_CHECK_TIME_SCALE  Route53 checker interval factor (default 0.02; 1 = AWS)
#   DRCTL_S3_REPLICATION_DELAY     seconds before a new object is replicated (default 0.2)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SELF="$HERE/$(basename "${BASH_SOURCE[0]}")"
HARNESS_HOME="${DRCTL_HARNESS_HOME:-$HOME/.cache/drctl-harness}"
PYTHON="${DRCTL_HARNESS_PYTHON:-python3}"
BIND="${DRCTL_HARNESS_BIND:-127.0.0.1}"
START_TIMEOUT="${DRCTL_HARNESS_START_TIMEOUT:-120}"
SERVICES="ec2,iam,sts,s3,secretsmanager,route53,sns,cloudwatch,elbv2,autoscaling,rds,dynamodb,resourcegroupstaggingapi"
PLUGIN_DIR="$HERE/drctl_localstack_plugin"

log() { echo "localstack.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# --- install -----------------------------------------------------------------------------
plugin_files() {
    (cd "$HERE" && find drctl_localstack_plugin -type f \
        \( -name '*.py' -o -name 'pyproject.toml' \) \
        -not -path '*/__pycache__/*' -not -path '*/build/*' -not -path '*.egg-info/*' | LC_ALL=C sort)
}

input_hash() {
    {
        "$PYTHON" -c 'import sys; print(sys.version_info[:2])'
        for f in requirements.txt constraints.txt $(plugin_files); do
            echo "== $f"
            cat "$HERE/$f"
        done
    } | sha256sum | cut -c1-16
}

venv_dir() { echo "$HARNESS_HOME/venv-$(input_hash)"; }

venv_ok() {
    # .complete alone is not proof: a venv pruned by a parallel install can keep the marker
    # while losing its packages, and would then fail at start with "No module named localstack"
    [[ -f "$1/.complete" && -x "$1/bin/python" && -d "$(echo "$1"/lib/python3*/site-packages/localstack)" ]]
}

prune_venvs() {
    # each venv is ~500 MB: drop those of older inputs unless a running emulator uses one or
    # it was used in the last two hours (another checkout's test run may be about to start it)
    local keep="$1" v f in_use
    for v in "$HARNESS_HOME"/venv-*; do
        [[ -d "$v" && "$v" != "$keep" ]] || continue
        [[ -n "$(find "$v/.complete" -mmin -120 2>/dev/null)" ]] && continue
        in_use=0
        for f in "$HARNESS_HOME"/run/*/venv; do
            [[ -f "$f" && "$(cat "$f")" == "$v" ]] || continue
            pid_alive "$(cat "$(dirname "$f")/localstack.pid" 2>/dev/null)" && in_use=1
        done
        (( in_use )) || { log "removing old $v"; rm -rf "$v"; }
    done
}

cmd_install() {
    local venv
    venv="$(venv_dir)"
    if venv_ok "$venv"; then
        touch "$venv/.complete"
        echo "$venv"
        return 0
    fi
    mkdir -p "$HARNESS_HOME"
    # one installer at a time (parallel test runs share the cache)
    exec 9>"$HARNESS_HOME/install.lock"
    flock 9
    if ! venv_ok "$venv"; then
        log "building $venv (takes a minute or two the first time)"
        rm -rf "$venv"
        "$PYTHON" -m venv "$venv"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
            -r "$HERE/requirements.txt" -c "$HERE/constraints.txt" >&2
        # build the plugin from a copy, so that setuptools leaves no build/ or egg-info in the repo
        local src
        src="$(mktemp -d)"
        cp -r "$PLUGIN_DIR" "$src/"
        "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps \
            -c "$HERE/constraints.txt" "$src/drctl_localstack_plugin" >&2
        rm -rf "$src"
        # fail now, not at start, if LocalStack cannot see the plugin's providers
        "$venv/bin/python" - <<'EOF' >&2
from importlib.metadata import entry_points
names = {ep.name for ep in entry_points(group="localstack.aws.provider")
         if ep.value.startswith("drctl_localstack_plugin.")}
want = {"elbv2:default", "autoscaling:default", "rds:default", "dynamodb:drctl",
        "dynamodbstreams:drctl", "kinesis:drctl", "resourcegroupstaggingapi:drctl",
        "route53:drctl", "s3:drctl",
        "cloudwatch:drctl", "ec2:drctl"}
missing = want - names
assert not missing, f"plugin entry points missing: {missing}"
EOF
        touch "$venv/.complete"
        log "installed $venv"
        prune_venvs "$venv"
    fi
    flock -u 9
    echo "$venv"
}

# --- run ---------------------------------------------------------------------------------
check_port() {
    [[ "${1:-}" =~ ^[0-9]+$ ]] && (( $1 > 0 && $1 < 65536 )) || die "PORT must be a port number, got '${1:-}'"
}

run_dir() { echo "$HARNESS_HOME/run/$1"; }

port_in_use() {
    "$PYTHON" - "$1" <<'EOF'
import socket, sys
s = socket.socket()
s.settimeout(1)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)  # nothing listening
sys.exit(0)
EOF
}

cmd_run_foreground() {
    local port="${1:-}"
    check_port "$port"
    local venv
    venv="$(cmd_install)"
    local dir
    dir="$(run_dir "$port")"
    mkdir -p "$dir"
    echo "$venv" >"$dir/venv"
    # fresh emulator state on every run
    rm -rf "$dir/fs"
    mkdir -p "$dir/fs"
    export GATEWAY_LISTEN="$BIND:$port"
    export LOCALSTACK_HOST="localhost.localstack.cloud:$port"
    export SERVICES
    export EAGER_SERVICE_LOADING=1        # load every provider at start: a broken plugin fails start
    export STRICT_SERVICE_LOADING=1
    export PROVIDER_OVERRIDE_DYNAMODB=drctl
    # dynamodb pulls in dynamodbstreams -> kinesis; LocalStack's own need downloads: use moto's
    export PROVIDER_OVERRIDE_DYNAMODBSTREAMS=drctl
    export PROVIDER_OVERRIDE_KINESIS=drctl
    export PROVIDER_OVERRIDE_RESOURCEGROUPSTAGGINGAPI=drctl
    export PROVIDER_OVERRIDE_ROUTE53=drctl    # health checkers, TestDNSAnswer (route53_health.py)
    export PROVIDER_OVERRIDE_S3=drctl         # replication of new objects (s3_replication.py)
    # Route53 checker interval x this (30 s -> 0.6 s) so drills run in seconds; 1 = AWS timing
    export DRCTL_HEALTH_CHECK_TIME_SCALE="${DRCTL_HEALTH_CHECK_TIME_SCALE:-0.02}"
    export PROVIDER_OVERRIDE_EC2=drctl        # subnets held by instances, NAT EIP release (ec2_dependencies.py)
    export PROVIDER_OVERRIDE_CLOUDWATCH=drctl  # alarm tags as AWS keeps them
    export OVERRIDE_IN_DOCKER=0           # same host-mode layout on a host and inside our image
    export FILESYSTEM_ROOT="$dir/fs"      # LocalStack's dirs (tmp, state, cache) live here
    export LOCALSTACK_VOLUME_DIR="$dir/fs/volume"
    export PERSISTENCE=0
    export SKIP_SSL_CERT_DOWNLOAD=1       # offline: use the self-signed cert
    export DISABLE_EVENTS=1               # no analytics
    export DNS_ADDRESS=0                  # no DNS server on :53
    export LOCALSTACK_CLI=0
    export DEBUG="${DEBUG:-0}"
    # plux keeps an entry-point cache under $XDG_CACHE_HOME/plux; keep ours apart
    export XDG_CACHE_HOME="$HARNESS_HOME/xdg-cache"
    unset AWS_ENDPOINT_URL
    exec "$venv/bin/python" -m localstack.runtime.main
}

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

health_ok() {
    # exit 0 when every service in $SERVICES is available/running
    local port="$1" venv="$2"
    "$venv/bin/python" - "$port" "$SERVICES" <<'EOF'
import json, sys, urllib.request
port, services = sys.argv[1], sys.argv[2].split(",")
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_localstack/health", timeout=2) as r:
        state = json.load(r).get("services", {})
except Exception:
    sys.exit(1)
bad = {s: state.get(s) for s in services if state.get(s) not in ("available", "running")}
if bad:
    print(json.dumps(bad), file=sys.stderr)
    sys.exit(2)
EOF
}

cmd_start() {
    local port="${1:-}"
    check_port "$port"
    local dir pidfile
    dir="$(run_dir "$port")"
    pidfile="$dir/localstack.pid"
    if [[ -f "$pidfile" ]] && pid_alive "$(cat "$pidfile")"; then
        die "a harness LocalStack is already running on port $port (pid $(cat "$pidfile")); run: $SELF stop $port"
    fi
    if port_in_use "$port"; then
        die "something is already listening on 127.0.0.1:$port; refusing to start (a leftover emulator must not answer the tests)"
    fi
    local venv
    venv="$(cmd_install)"
    mkdir -p "$dir"
    rm -f "$pidfile"
    local logfile="$dir/localstack.log"
    local t0=$SECONDS
    # setsid: own process group, so stop can end LocalStack and all its children together
    setsid "$SELF" run-foreground "$port" </dev/null >"$logfile" 2>&1 &
    local pid=$!
    echo "$pid" >"$pidfile"
    local why=""
    while :; do
        if ! pid_alive "$pid"; then
            log "LocalStack exited during start; last lines of $logfile:"
            tail -n 40 "$logfile" >&2 || true
            rm -f "$pidfile"
            exit 1
        fi
        if why="$(health_ok "$port" "$venv" 2>&1)"; then
            break
        fi
        if (( SECONDS - t0 >= START_TIMEOUT )); then
            log "not healthy after ${START_TIMEOUT}s (${why:-no answer}); last lines of $logfile:"
            tail -n 40 "$logfile" >&2 || true
            stop_pid "$pid"
            rm -f "$pidfile"
            exit 1
        fi
        sleep 0.5
    done
    log "healthy after $((SECONDS - t0))s (pid $pid, log $logfile)"
    echo "http://127.0.0.1:$port"
}

stop_pid() {
    local pid="$1"
    pid_alive "$pid" || return 0
    # the pid is the process-group leader (setsid): signal the whole group
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
        pid_alive "$pid" || return 0
        sleep 0.25
    done
    log "pid $pid still alive after 10s; sending KILL"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
}

running_ports() {
    local f
    for f in "$HARNESS_HOME"/run/*/localstack.pid; do
        [[ -f "$f" ]] || continue
        basename "$(dirname "$f")"
    done
}

cmd_stop() {
    local port="${1:-}"
    if [[ -z "$port" ]]; then
        local ports
        ports="$(running_ports)"
        [[ -n "$ports" ]] || { log "nothing to stop"; return 0; }
        [[ "$(echo "$ports" | wc -l)" -eq 1 ]] || die "several running (ports: $(echo $ports)); say which: stop PORT"
        port="$ports"
    fi
    check_port "$port"
    local pidfile
    pidfile="$(run_dir "$port")/localstack.pid"
    if [[ ! -f "$pidfile" ]]; then
        log "no harness LocalStack on port $port"
        return 0
    fi
    stop_pid "$(cat "$pidfile")"
    rm -f "$pidfile"
    log "stopped LocalStack on port $port"
}

cmd_status() {
    local ports="${1:-$(running_ports)}"
    if [[ -z "$ports" ]]; then
        echo "no harness LocalStack running"
        return 0
    fi
    local port pid
    for port in $ports; do
        pid="$(cat "$(run_dir "$port")/localstack.pid" 2>/dev/null || true)"
        if pid_alive "$pid"; then
            echo "port $port: pid $pid running, endpoint http://127.0.0.1:$port, log $(run_dir "$port")/localstack.log"
        else
            echo "port $port: not running${pid:+ (stale pid file, pid $pid)}"
        fi
    done
}

cmd_logs() {
    local port="${1:-}"
    check_port "$port"
    local logfile
    logfile="$(run_dir "$port")/localstack.log"
    [[ -f "$logfile" ]] || die "no log for port $port"
    if [[ "${2:-}" == "-f" ]]; then
        exec tail -f "$logfile"
    fi
    cat "$logfile"
}

case "${1:-}" in
    install) shift; cmd_install "$@" ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; cmd_stop "$@" ;;
    status) shift; cmd_status "$@" ;;
    logs) shift; cmd_logs "$@" ;;
    run-foreground) shift; cmd_run_foreground "$@" ;;
    *)
        sed -n '2,17p' "$SELF" | sed 's/^# \{0,1\}//'
        exit 2
        ;;
esac
