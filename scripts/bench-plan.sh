#!/usr/bin/env bash
# Benchmark: what a no-change `drctl plan` of the whole dev stack costs.
# Applies plans/dev.toml (under a fresh env name) to the LocalStack harness,
# then plans it again N times and prints, per run, the wall time and the
# AWS calls made (read and mutating), and the read calls by operation.
#
#   bash scripts/bench-plan.sh            # 5 plans, LocalStack on 127.0.0.1:4566
#   RUNS=10 DRCTL_PORT=4570 bash scripts/bench-plan.sh
#
# Figures, not limits: nothing here fails on a slow run. The emulator is
# left running (stop it with `bash tests/harness/localstack.sh stop PORT`).
set -euo pipefail
cd "$(dirname "$0")/.."
port="${DRCTL_PORT:-4566}"
runs="${RUNS:-5}"
endpoint="http://127.0.0.1:$port"
if ! curl -fsS "$endpoint/_localstack/health" >/dev/null 2>&1; then
  bash tests/harness/localstack.sh start "$port" >/dev/null
fi
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE
cargo build -q -p drctl
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The dev plan under a fresh env name (names and tags derive from it): the
# benchmark never touches a stack someone applied with scripts/dev-apply.sh.
env="bench$(date +%s)"
mkdir -p "$work/plans"
cp plans/dev.toml "$work/plans/$env.toml"
drctl() {
  target/debug/drctl --plans-dir "$work/plans" --state "$work/state.json" \
    --endpoint "$endpoint" --no-color "$@"
}
echo "applying plans/dev.toml as env '$env' to $endpoint ..."
drctl apply --env "$env" --auto-approve >"$work/apply.log" 2>&1 || {
  cat "$work/apply.log"; exit 1; }
resources=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["resources"]))' "$work/state.json")
echo "resources in the state: $resources"
for i in $(seq 1 "$runs"); do
  start=$(date +%s.%N)
  DRCTL_CALL_LOG="$work/calls.json" drctl plan --env "$env" --detailed-exitcode >/dev/null
  end=$(date +%s.%N)
  python3 - "$work/calls.json" "$start" "$end" "$i" "$resources" <<'EOF'
import json, sys
calls = json.load(open(sys.argv[1]))
reads = {k: v for k, v in calls.items()
         if k.split(":")[-1].startswith(("Describe", "Get", "List", "Head"))}
writes = sum(calls.values()) - sum(reads.values())
print(f"plan {sys.argv[4]}: {float(sys.argv[3]) - float(sys.argv[2]):.2f} s, "
      f"{sum(reads.values())} read calls for {sys.argv[5]} resources, {writes} mutating")
EOF
done
start=$(date +%s.%N)
DRCTL_CALL_LOG="$work/calls.json" drctl plan --env "$env" --refresh=false >/dev/null
end=$(date +%s.%N)
echo "plan --refresh=false: $(python3 -c "print(f'{$end - $start:.2f}')") s, $(python3 -c 'import json,sys; print(sum(json.load(open(sys.argv[1])).values()))' "$work/calls.json") AWS calls"
echo "read calls of the last refreshing plan, by operation:"
DRCTL_CALL_LOG="$work/calls.json" drctl plan --env "$env" >/dev/null
python3 -c 'import json,sys; [print(f"  {v:3d}  {k}") for k, v in sorted(json.load(open(sys.argv[1])).items())]' "$work/calls.json"
echo "destroying env '$env' ..."
drctl destroy --env "$env" --auto-approve >"$work/destroy.log" 2>&1 || {
  cat "$work/destroy.log"; exit 1; }
echo "done"
