#!/usr/bin/env bash
# Runs the whole test suite. Installs what the cross-checks need (the official Svix and Standard Webhooks
# Python libraries into .venv, the providers' Node libraries into tests/node), then runs every Rust test: unit
# tests, the end-to-end tests against the real server, the Python SDK flow, the seeds' verification recipes
# (Python and Node) and the SIGKILL crash test.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v node >/dev/null || { echo "node is needed for the seeds' Node verification recipes" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
export HOOKD_TEST_PYTHON="$PWD/.venv/bin/python"
# The providers' official Node libraries, for signing inbound test requests.
npm ci --prefix tests/node --no-audit --no-fund --loglevel=error

# Every test waits with a deadline; this bound only turns a hang nobody foresaw into a failure with its output.
timeout --signal=INT --kill-after=30s 40m cargo test --locked "$@"
