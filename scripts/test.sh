#!/usr/bin/env bash
# Runs the whole test suite. Installs what the cross-checks need (the official Svix and Standard Webhooks
# Python libraries, kubectl, kubernetes-validate and opentelemetry-proto into .venv, the providers' Node libraries
# and playwright-core into tests/node, Debian's chromium for the dashboard's browser test, podman and promtool for
# the deployment checks), then runs every Rust test: unit tests, the end-to-end tests
# against the real server, the Python SDK flow, the seeds' verification recipes (Python and Node), the
# dashboard in a headless browser and the SIGKILL crash test — first on SQLite, then the end-to-end tests
# again on the machine's PostgreSQL (`HOOKD_TEST_PG`, by default postgres://postgres@127.0.0.1:5432, trust
# auth).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v node >/dev/null || { echo "node is needed for the seeds' Node verification recipes" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r tests/requirements.txt
export HOOKD_TEST_PYTHON="$PWD/.venv/bin/python"
# The providers' official Node libraries, for signing inbound test requests, and playwright-core for the
# dashboard's browser test.
npm ci --prefix tests/node --no-audit --no-fund --loglevel=error
# The browser that test drives: Debian's Chromium (playwright-core downloads no browser of its own); podman builds
# the container image and podman-compose reads the compose file, promtool (Debian's prometheus) checks the alert
# rules, systemd-analyze the unit (tests/deploy.rs).
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v podman >/dev/null || missing+=(podman)
command -v podman-compose >/dev/null || missing+=(podman-compose)
command -v promtool >/dev/null || missing+=(prometheus)
command -v systemd-analyze >/dev/null || missing+=(systemd)
if [ ${#missing[@]} -gt 0 ]; then
    sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Every test waits with a deadline; this bound only turns a hang nobody foresaw into a failure with its output.
bounded() { timeout --signal=INT --kill-after=30s 40m "$@"; }

# The bounded fuzz run (tests/fuzz.rs): seconds per target, on stable, among the tests; README for a long run.
export HOOKD_FUZZ_SECS="${HOOKD_FUZZ_SECS:-1}"

# 1. Everything on the embedded store (SQLite).
bounded cargo test --locked "$@"

# 2. The end-to-end tests again on PostgreSQL, hookd's scale-out store: each test on a database of its own.
export HOOKD_TEST_PG="${HOOKD_TEST_PG:-postgres://postgres@127.0.0.1:5432}"
if ! psql "$HOOKD_TEST_PG/postgres" -qAtc 'SELECT 1' >/dev/null 2>&1; then
    if [ "${CI:-}" = true ]; then
        echo "PostgreSQL does not answer at $HOOKD_TEST_PG: on CI that is a failure" >&2
        exit 1
    fi
    echo "PostgreSQL does not answer at $HOOKD_TEST_PG: the PostgreSQL run is skipped (it fails on CI)" >&2
    exit 0
fi
# The databases earlier runs left behind.
psql "$HOOKD_TEST_PG/postgres" -qAtc "SELECT datname FROM pg_database WHERE datname LIKE 'hookd\_test\_%'" |
    while read -r db; do psql "$HOOKD_TEST_PG/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null; done
export HOOKD_TEST_STORE=postgres
bounded cargo test --locked --test '*' "$@"
# Several nodes on one database, and the two stores' schemas side by side (ignored in the SQLite pass).
bounded cargo test --locked --test multinode --test schema "$@" -- --include-ignored
# Alone and last: it stops and starts the machine's PostgreSQL.
bounded cargo test --locked --test pg_restart "$@" -- --include-ignored
