#!/usr/bin/env bash
# The whole test suite against one emulator: the harness's own Python tests,
# then every Rust test (unit, snapshot and LocalStack integration tests).
# With AWS_ENDPOINT_URL set, that emulator is used as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
harness=tests/harness/localstack.sh
venv=$(bash "$harness" install)
if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  bash "$harness" start "$port" >/dev/null
  trap 'bash "$harness" stop "$port" >/dev/null 2>&1 || true' EXIT
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  # The emulator accepts any credentials; never send real ones to it.
  export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN= AWS_PROFILE=
  unset AWS_SESSION_TOKEN AWS_PROFILE
fi
export AWS_REGION="${AWS_REGION:-us-east-1}"
"$venv/bin/python" -m pytest -p no:cacheprovider tests/harness -q
cargo test --workspace --no-fail-fast
