#!/usr/bin/env bash
# Starts the LocalStack harness (no Docker needed) and applies the dev stack
# to it end to end, printing the outputs. Safe to run again: the second run
# finds everything in place and changes nothing.
#
#   bash scripts/dev-apply.sh            # apply plans/dev.toml to LocalStack on 127.0.0.1:4566
#   DRCTL_PORT=4570 bash scripts/dev-apply.sh
#
# Afterwards: `bash scripts/dev-apply.sh destroy` removes the stack,
# `bash tests/harness/localstack.sh stop 4566` stops the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${DRCTL_PORT:-4566}"
endpoint="http://127.0.0.1:$port"
if curl -fsS "$endpoint/_localstack/health" >/dev/null 2>&1; then
  echo "Using the emulator already running at $endpoint"
else
  echo "Starting LocalStack on $endpoint (the first run installs it into a virtualenv, ~1 min)"
  bash tests/harness/localstack.sh start "$port" >/dev/null
fi
# The emulator takes any credentials; never send real ones to it.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE
if [ ! -x target/debug/drctl ]; then
  echo "building drctl (first build takes ~10 min on 2 cores)"
fi
cargo build -q -p drctl
if [ "${1:-apply}" = destroy ]; then
  exec target/debug/drctl destroy --env dev --auto-approve --endpoint "$endpoint"
fi
exec target/debug/drctl apply --env dev --auto-approve --endpoint "$endpoint"
