#!/usr/bin/env bash
# Benchmark: what keeping the state in S3 costs, against the local file.
# For each backend (local, then S3 on the harness): a full apply of
# plans/dev.toml (76 resources) and a no-change plan, with wall time, the
# state's S3 calls by operation, and the state's size; then destroy.
#
#   bash scripts/bench-state.sh            # LocalStack on 127.0.0.1:4566
#   DRCTL_PORT=4631 bash scripts/bench-state.sh
#
# Figures, not limits. The emulator is left running.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${DRCTL_PORT:-4566}"
endpoint="http://127.0.0.1:$port"
if ! curl -fsS "$endpoint/_localstack/health" >/dev/null 2>&1; then
  bash tests/harness/localstack.sh start "$port" >/dev/null
fi
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE DRCTL_STATE
[ -x target/debug/drctl ] || cargo build -q -p drctl
venv=$(bash tests/harness/localstack.sh install)
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
bucket="bench-state-$(date +%s)"
"$venv/bin/python" - "$endpoint" "$bucket" <<'PY'
import boto3, sys
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-east-1")
s3.create_bucket(Bucket=sys.argv[2])
s3.put_bucket_versioning(Bucket=sys.argv[2], VersioningConfiguration={"Status": "Enabled"})
PY
report() { # label start end
  python3 - "$work/calls.json" "$1" "$2" "$3" <<'PY'
import json, sys
calls = json.load(open(sys.argv[1]))
state = {k[6:]: v for k, v in calls.items() if k.startswith("state:")}
aws = sum(v for k, v in calls.items() if not k.startswith("state:"))
print(f"{sys.argv[2]}: {float(sys.argv[4]) - float(sys.argv[3]):.1f} s, "
      f"{aws} resource API calls, state S3 calls: {sum(state.values())} {state}")
PY
}
for backend in local s3; do
  env="bst${backend}$(date +%s | tail -c 6)"
  mkdir -p "$work/plans"
  cp plans/dev.toml "$work/plans/$env.toml"
  if [ "$backend" = s3 ]; then state="s3://$bucket/drctl/$env.state.json"; else state="$work/$env.state.json"; fi
  drctl() {
    DRCTL_CALL_LOG="$work/calls.json" target/debug/drctl --plans-dir "$work/plans" \
      --state "$state" --endpoint "$endpoint" --no-color "$@"
  }
  start=$(date +%s.%N)
  drctl apply --env "$env" --auto-approve >"$work/apply.log" 2>&1 || { cat "$work/apply.log"; exit 1; }
  end=$(date +%s.%N)
  report "$backend state, full dev apply" "$start" "$end"
  start=$(date +%s.%N)
  drctl plan --env "$env" --detailed-exitcode >/dev/null
  end=$(date +%s.%N)
  report "$backend state, no-change plan" "$start" "$end"
  echo "$backend state: $(drctl state pull --env "$env" | wc -c) bytes"
  drctl destroy --env "$env" --auto-approve >"$work/destroy.log" 2>&1 || { cat "$work/destroy.log"; exit 1; }
done
