#!/usr/bin/env bash
# drctl's benchmark: one table of figures (never limits; nothing fails on a slow run).
#
#   bash scripts/bench.sh           against a fresh harness emulator: full two-region apply of
#                                   plans/dev.toml, a no-change plan, a no-change apply and
#                                   destroy, each timed, with the AWS calls by service and kind
#                                   (read / mutating) from the emulator's request log and drctl's
#                                   peak RSS; the same phases at -parallelism=1, as a ratio; and
#                                   the sequential boto3 baseline (scripts/bench_baseline.py).
#   bash scripts/bench.sh --sim     only the simulation (real executor, real graphs, real-AWS
#                                   durations on a virtual clock; no emulator, debug build)
#
# Environment:
#   DRCTL_BIN=path        use this drctl binary (CI and repeated runs: no build at all);
#                         default: build the `perf` profile (release at opt-level "s",
#                         dependencies too: a smaller binary is a smaller peak RSS; see
#                         Cargo.toml) into target/perf/drctl, ~30 min on 2 cores
#   DRCTL_SIM_BIN=path    use this drctl-sim binary for --sim (default: cargo build -p drctl-bench)
#   BENCH_PORT=4640       emulator port (a fresh emulator is started there and stopped after)
#   BENCH_BASELINE=0      skip the boto3 baseline
#   BENCH_LATENCY_MS=50   answer every call of the whole table that much later (through the
#                         drctl-chaos proxy, built with cargo build -p drctl-chaos)
#   BENCH_REALISTIC_MS=100  the per-call latency of the extra apply/destroy pair printed after
#                         the table (0: skip it). The emulator answers at once from one Python
#                         process, so on it parallelism only overlaps drctl's own work with the
#                         emulator's; AWS answers each call after tens to hundreds of ms, which
#                         parallel calls overlap. 100 ms is the per-request latency AWS's own
#                         guide assumes for its APIs (Amazon EC2 User Guide, EBS direct APIs,
#                         "Optimize performance": "Assuming PutSnapshotBlock latency is 100ms")
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--sim" ]; then
  sim="${DRCTL_SIM_BIN:-}"
  if [ -z "$sim" ]; then
    cargo build -q -p drctl-bench --bin drctl-sim
    sim=target/debug/drctl-sim
  fi
  exec "$sim" --plans-dir plans "${@:2}"
fi
[ $# -eq 0 ] || { echo "usage: bash scripts/bench.sh [--sim]" >&2; exit 2; }

bin="${DRCTL_BIN:-}"
if [ -z "$bin" ]; then
  echo "building drctl with the perf profile (once; ~30 min on 2 cores) ..." >&2
  cargo build -q --profile perf -p drctl
  bin=target/perf/drctl
fi
[ -x "$bin" ] || { echo "no drctl binary at $bin" >&2; exit 1; }
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

port="${BENCH_PORT:-4640}"
endpoint="http://127.0.0.1:$port"
harness=tests/harness/localstack.sh
venv=$(bash "$harness" install)
if curl -fsS "$endpoint/_localstack/health" >/dev/null 2>&1; then
  echo "an emulator already runs on $port; the benchmark needs a fresh one (BENCH_PORT=...)" >&2
  exit 1
fi
bash "$harness" start "$port" >/dev/null
work="$(mktemp -d)"
trap 'bash "$harness" stop "$port" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
proxy_pids=()
trap '[ ${#proxy_pids[@]} -eq 0 ] || kill "${proxy_pids[@]}" 2>/dev/null; bash "$harness" stop "$port" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
# proxy MS PORT: answers every call MS ms later, on 127.0.0.1:PORT (drctl-chaos).
proxy() {
  local chaos="${DRCTL_CHAOS_BIN:-target/debug/drctl-chaos}"
  [ -x "$chaos" ] || cargo build -q -p drctl-chaos
  "$chaos" --upstream "$endpoint" --listen "127.0.0.1:$2" --delay-fraction 1 \
    --delay-ms "$1" >"$work/proxy-$2.log" 2>&1 &
  proxy_pids+=($!)
  until grep -q listening "$work/proxy-$2.log" 2>/dev/null; do sleep 0.2; done
}
emulator="$endpoint"
latency="${BENCH_LATENCY_MS:-0}"
if [ "$latency" != 0 ]; then
  proxy "$latency" $((port + 1))
  endpoint="http://127.0.0.1:$((port + 1))"
fi
# The emulator takes any credentials; never send real ones to it.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE DRCTL_STATE
log="${DRCTL_HARNESS_HOME:-$HOME/.cache/drctl-harness}/run/$port/localstack.log"
[ -f "$log" ] || { echo "emulator log not found at $log" >&2; exit 1; }
mkdir -p "$work/plans"
results="$work/results.tsv"
: >"$results"

# The emulator logs one line per request ("AWS ec2.DescribeVpcs => 200"); a phase's calls are
# the lines it added. The log is written asynchronously: wait until it stops growing.
settle() {
  local n m
  n=$(wc -l <"$log")
  while sleep 0.5; m=$(wc -l <"$log"); [ "$m" != "$n" ]; do n=$m; done
  echo "$n"
}

# CPU seconds the emulator's processes have used (utime + stime of the tree).
emulator_pid=$(cat "$(dirname "$log")/localstack.pid")
emulator_cpu() {
  python3 - "$emulator_pid" <<'PY'
import os, sys
def tree(pid):
    yield pid
    for t in os.listdir(f"/proc/{pid}/task"):
        try:
            kids = open(f"/proc/{pid}/task/{t}/children").read().split()
        except OSError:
            kids = []
        for k in kids:
            yield from tree(int(k))
ticks = 0
for p in tree(int(sys.argv[1])):
    try:
        f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        ticks += int(f[11]) + int(f[12])
    except OSError:
        pass
print(ticks / os.sysconf("SC_CLK_TCK"))
PY
}

# The state's serial (0 before the first write): each write bumps it once, so a phase's
# state writes are the difference (group commit joins the records of concurrent tasks).
serial() {
  python3 -c 'import json,sys
try: print(json.load(open(sys.argv[1]))["serial"])
except Exception: print(0)' "$1"
}

# phase LABEL PARALLELISM ENV CMD... : runs drctl, appends one TSV row.
phase() {
  local label=$1 par=$2 env=$3; shift 3
  local before after cpu0 cpu1 serial0 serial1
  serial0=$(serial "$work/$env.state.json")
  before=$(settle)
  cpu0=$(emulator_cpu)
  if ! /usr/bin/time -f "%e %M %U %S" -o "$work/time" \
      "$bin" --plans-dir "$work/plans" --state "$work/$env.state.json" --endpoint "${phase_endpoint:-$endpoint}" \
      --no-color -parallelism="$par" "$@" >"$work/out.log" 2>&1; then
    # plan -detailed-exitcode is not used: any failure is a failed benchmark.
    cat "$work/out.log" >&2
    echo "bench: '$label' failed" >&2
    exit 1
  fi
  cpu1=$(emulator_cpu)
  serial1=$(serial "$work/$env.state.json")
  after=$(settle)
  local resources
  resources=$(python3 -c 'import json,sys
try: print(len(json.load(open(sys.argv[1]))["resources"]))
except Exception: print(0)' "$work/$env.state.json")
  sed -n "$((before + 1)),${after}p" "$log" | python3 -c '
import re, sys, collections
by = collections.Counter(); reads = muts = 0
for line in sys.stdin:
    m = re.search(r"localstack\.request\.aws\s*:\s*AWS (\S+)\.(\w+) =>", line)
    if not m: continue
    svc, op = m.groups()
    by[svc] += 1
    if re.match(r"(Describe|Get|List|Head|Lookup|Search|Test)", op): reads += 1
    else: muts += 1
svc = " ".join(f"{k} {v}" for k, v in sorted(by.items(), key=lambda kv: -kv[1]))
print(reads, muts, svc or "-", sep="\t")' >"$work/calls"
  read -r wall rss user sys <"$work/time"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$par" "$wall" "$((rss / 1024))" \
    "$(python3 -c "print(f'{$user + $sys:.2f}')")" "$resources" "$(cat "$work/calls")" \
    "$(python3 -c "print(f'{$cpu1 - $cpu0:.2f}')")" "$((serial1 - serial0))" >>"$results"
  echo "  $label (-parallelism=$par): ${wall}s" >&2
}

run_set() { # PARALLELISM
  local par=$1 env
  env="bench$(date +%s | tail -c 6)p$par"
  cp plans/dev.toml "$work/plans/$env.toml"
  echo "env '$env' at -parallelism=$par on $endpoint:" >&2
  # What the apply's own refresh costs: the same reads, nothing exists yet.
  phase "plan, nothing exists" "$par" "$env" plan --env "$env"
  phase apply "$par" "$env" apply --env "$env" -auto-approve
  phase "no-change plan" "$par" "$env" plan --env "$env"
  phase "no-change apply" "$par" "$env" apply --env "$env" -auto-approve
  phase destroy "$par" "$env" destroy --env "$env" -auto-approve
}

# Warm-up (not measured): the emulator loads each service on its first request.
warm="benchwarm$(date +%s | tail -c 6)"
cp plans/dev.toml "$work/plans/$warm.toml"
echo "warming up the emulator (apply + destroy of '$warm', not measured) ..." >&2
for cmd in apply destroy; do
  "$bin" --plans-dir "$work/plans" --state "$work/$warm.state.json" --endpoint "$endpoint" --no-color \
    "$cmd" --env "$warm" -auto-approve >"$work/warm.log" 2>&1 || { cat "$work/warm.log" >&2; exit 1; }
done

run_set 10
run_set 1

# The same apply and destroy with every call answered BENCH_REALISTIC_MS later.
realistic="${BENCH_REALISTIC_MS:-100}"
if [ "$realistic" != 0 ] && [ "$latency" = 0 ]; then
  proxy "$realistic" $((port + 2))
  phase_endpoint="http://127.0.0.1:$((port + 2))"
  for par in 10 1; do
    env="bench$(date +%s | tail -c 6)l$par"
    cp plans/dev.toml "$work/plans/$env.toml"
    echo "env '$env' at -parallelism=$par, every call answered ${realistic} ms later:" >&2
    phase "apply, ${realistic} ms per call" "$par" "$env" apply --env "$env" -auto-approve
    phase "destroy, ${realistic} ms per call" "$par" "$env" destroy --env "$env" -auto-approve
  done
  phase_endpoint=""
fi

baseline=""
if [ "${BENCH_BASELINE:-1}" != 0 ]; then
  echo "boto3 sequential baseline:" >&2
  before=$(settle)
  start=$(date +%s.%N)
  "$venv/bin/python" scripts/bench_baseline.py "$endpoint" "bl$(date +%s | tail -c 6)" >"$work/baseline.log" 2>&1 || {
    cat "$work/baseline.log" >&2; echo "bench: baseline failed" >&2; exit 1; }
  end=$(date +%s.%N)
  after=$(settle)
  baseline="$(python3 -c "print(f'{$end - $start:.2f}')")	$(sed -n "$((before + 1)),${after}p" "$log" | grep -c 'localstack.request.aws' || true)	$(tail -1 "$work/baseline.log")"
fi

python3 - "$results" "$baseline" "$bin" <<'PY'
import sys, platform, os, subprocess
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
by = {(r[0], r[1]): r for r in rows}
cpu = "?"
try:
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip(); break
except OSError:
    pass
latency = os.environ.get("BENCH_LATENCY_MS", "0")
print(f"drctl benchmark: dev (both regions) on the LocalStack harness"
      f"{'' if latency == '0' else f', every call answered {latency} ms later'}; "
      f"{os.cpu_count()} cores, {cpu}; binary {sys.argv[3]}")
print()
print("| phase | wall s | wall s -p1 | -p1 / default | read calls | mutating calls | calls by service | peak RSS MB | drctl CPU s | emulator CPU s | emulator CPU s -p1 | state writes | state writes -p1 |")
print("|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|")
phases = ["plan, nothing exists", "apply", "no-change plan", "no-change apply", "destroy"]
phases += sorted({r[0] for r in rows if " ms per call" in r[0]}, key=lambda p: not p.startswith("apply"))
for phase in phases:
    d, s = by[(phase, "10")], by[(phase, "1")]
    ratio = float(s[2]) / max(float(d[2]), 0.01)
    print(f"| {phase} | {d[2]} | {s[2]} | {ratio:.1f}x | {d[6]} | {d[7]} | {d[8]} | {d[3]} | {d[4]} | {d[9]} | {s[9]} | {d[10]} | {s[10]} |")
apply, plan = by[("apply", "10")], by[("no-change plan", "10")]
resources = int(plan[5]) or 1
print()
print(f"no-change plan: {int(plan[6]) / resources:.2f} read calls per resource ({plan[6]} for {resources}); "
      f"no-change apply: {by[('no-change apply', '10')][7]} mutating calls")
print(f"apply at -parallelism=10 vs 1: {float(by[('apply', '1')][2]) / float(apply[2]):.1f}x faster "
      f"(the emulator's own CPU: {apply[9]} s of the {apply[2]} s at 10, {by[('apply', '1')][9]} s of "
      f"{by[('apply', '1')][2]} s at 1: one Python process answering one call at a time bounds the "
      f"default's wall time from below, so no parallelism can beat "
      f"{float(by[('apply', '1')][2]) / max(float(apply[9]), 0.01):.1f}x here; state writes "
      f"{apply[10]} at 10, {by[('apply', '1')][10]} at 1)")
for phase in phases:
    if phase.startswith("apply, "):
        d, s = by[(phase, "10")], by[(phase, "1")]
        print(f"{phase}: -parallelism=10 vs 1: {float(s[2]) / float(d[2]):.1f}x faster ({d[2]} s vs {s[2]} s)")
if sys.argv[2]:
    wall, calls, note = sys.argv[2].split("\t", 2)
    total = int(apply[6]) + int(apply[7])
    refresh = int(by[("plan, nothing exists", "10")][6])
    print(f"sequential boto3 baseline ({note}): {wall} s, {calls} calls; "
          f"drctl apply / baseline: wall {float(apply[2]) / float(wall):.2f}, calls {total / int(calls):.2f} "
          f"({(total - refresh) / int(calls):.2f} without the {refresh} reads of the apply's refresh, "
          f"which the blind script does not make)")
PY
