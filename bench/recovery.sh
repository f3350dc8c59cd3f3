#!/usr/bin/env bash
# Backlog recovery (issue 19, part 4): one hookd (SQLite or PostgreSQL) and `hookd-bench recovery`: the receiver is
# down (503) for 30 s while 20,000 messages are published to one endpoint, then comes back; prints the RESULT line
# (seconds from its return until every message was delivered, attempts per message, 429s). Figures of record are in
# BENCHMARKS.md ("Backlog recovery").
#
# Usage: bench/recovery.sh --hookd BIN --store sqlite|postgres [--nodes N] [--limit N] [--messages N] [--down S]
#                           [-- ENV=VALUE…]
#   --hookd BIN     the hookd binary (e.g. target/release/hookd, or a build of an earlier commit)
#   --nodes N       PostgreSQL only: N hookd nodes on the one database; publishing goes through the first, and
#                   every node delivers (each claims due work)                            [1]
#   --limit N       once back, the receiver takes N requests a second and answers 429 over it (a 50-deep bucket)
#   --pg-url URL    PostgreSQL server, without a database      [postgres://postgres@127.0.0.1:5432]
#   ENV=VALUE       passed to hookd (e.g. HOOKD_BREAKER_RELEASE_RATE=50)
# Needs bench/target/release/hookd-bench (cargo build --release in bench/). The database it makes is removed.
set -euo pipefail
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
BENCH_BIN=${HOOKD_BENCH_BIN:-$BENCH_DIR/target/release/hookd-bench}
HOOKD="" STORE=sqlite NODES=1 LIMIT=() MESSAGES=20000 DOWN=30 PG_URL=postgres://postgres@127.0.0.1:5432 EXTRA=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --hookd) HOOKD=$2; shift 2 ;;
    --store) STORE=$2; shift 2 ;;
    --nodes) NODES=$2; shift 2 ;;
    --limit) LIMIT=(--limit-per-second "$2"); shift 2 ;;
    --messages) MESSAGES=$2; shift 2 ;;
    --down) DOWN=$2; shift 2 ;;
    --pg-url) PG_URL=$2; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) echo "recovery.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -x $HOOKD ]] || { echo "recovery.sh: --hookd BIN is required" >&2; exit 2; }
[[ $NODES == 1 || $STORE == postgres ]] || { echo "recovery.sh: --nodes needs --store postgres" >&2; exit 2; }
TMP=$(mktemp -d)
PORT=$("$BENCH_BIN" free-port)
DB=""
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n $DB ]]; then
    timeout 30 psql "$PG_URL/postgres" -X -q -c "DROP DATABASE IF EXISTS \"$DB\" WITH (FORCE)" >/dev/null || true
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT
case $STORE in
  sqlite) URL="sqlite://$TMP/recovery.db" ;;
  postgres)
    DB="hookd_recovery_$$_$PORT"
    timeout 30 psql "$PG_URL/postgres" -X -q -c "CREATE DATABASE \"$DB\"" >/dev/null
    URL="$PG_URL/$DB" ;;
  *) echo "recovery.sh: --store sqlite|postgres" >&2; exit 2 ;;
esac
for n in $(seq "$NODES"); do
  port=$PORT
  [[ $n == 1 ]] || port=$("$BENCH_BIN" free-port)
  env HOOKD_LISTEN="127.0.0.1:$port" HOOKD_DATABASE_URL="$URL" HOOKD_ADMIN_TOKEN=bench-token \
    HOOKD_ALLOW_PRIVATE_NETWORKS=true "${EXTRA[@]}" "$HOOKD" serve > "$TMP/server-$n.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 300); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/api/v1/health/ping" || true) == 204 ]] && break
    kill -0 "${PIDS[-1]}" 2>/dev/null || { tail -n 20 "$TMP/server-$n.log" >&2; exit 1; }
    sleep 0.1
  done
done
status=0
HOOKD_TOKEN=bench-token "$BENCH_BIN" recovery --url "http://127.0.0.1:$PORT" --messages "$MESSAGES" \
  --down-secs "$DOWN" "${LIMIT[@]}" || status=$?
for n in $(seq "$NODES"); do grep -E 'circuit|released' "$TMP/server-$n.log" | tail -n 6 | sed "s/^/node $n: /" >&2 || true; done
exit $status
