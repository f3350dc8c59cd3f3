#!/usr/bin/env bash
# Benchmarks hookd end to end on this machine, for each SQLite durability mode, and prints a Markdown
# report. Everything runs on 127.0.0.1; every step is time-bounded; servers and temp dirs are cleaned up.
#
# Usage: bench/run.sh [options]
#   --messages N          scenario 1 (concurrent) total messages      [50000]
#   --publishers N        scenario 1 publishers                       [32]
#   --single-messages N   scenario 2 (1 publisher) total messages     [5000]
#   --inbound-requests N  scenario 3 (inbound, GitHub-signed) requests [100000]
#   --timers-pending N    scenario 4 (timers, normal mode) pending timers [1000000]; 0 skips it
#   --payload-bytes N     payload object size in bytes                [256]
#   --modes "A B"         HOOKD_SQLITE_SYNCHRONOUS values to run      ["normal full"]
#   --delivery-timeout S  per scenario: wait for deliveries, seconds  [120]
#   --scenario-timeout S  per scenario: hard limit, seconds           [900]
#   --skip-build          use the existing target/release/hookd (or $HOOKD_BIN) without building it
#   --out FILE            also write the report to FILE
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)

MESSAGES=50000
PUBLISHERS=32
SINGLE_MESSAGES=5000
INBOUND_REQUESTS=100000
TIMERS_PENDING=1000000
PAYLOAD=256
MODES="normal full"
DELIVERY_TIMEOUT=120
SCENARIO_TIMEOUT=900
SKIP_BUILD=0
OUT=""
BUILD_TIMEOUT=1800
TOKEN=bench-token

while [[ $# -gt 0 ]]; do
  case "$1" in
    --messages) MESSAGES=$2; shift 2 ;;
    --publishers) PUBLISHERS=$2; shift 2 ;;
    --single-messages) SINGLE_MESSAGES=$2; shift 2 ;;
    --inbound-requests) INBOUND_REQUESTS=$2; shift 2 ;;
    --timers-pending) TIMERS_PENDING=$2; shift 2 ;;
    --payload-bytes) PAYLOAD=$2; shift 2 ;;
    --modes) MODES=$2; shift 2 ;;
    --delivery-timeout) DELIVERY_TIMEOUT=$2; shift 2 ;;
    --scenario-timeout) SCENARIO_TIMEOUT=$2; shift 2 ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

HOOKD=${HOOKD_BIN:-$ROOT/target/release/hookd}
BENCH=$BENCH_DIR/target/release/hookd-bench

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hookd-bench.XXXXXX")
SERVER_PID=""
BENCH_PID=""
RESULTS=$TMP/results.tsv
COMMANDS=()

stop_server() {
  local pid=$SERVER_PID
  SERVER_PID=""
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "run.sh: hookd (pid $pid) ignored SIGTERM for 10 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  if [[ -n $BENCH_PID ]]; then
    kill -TERM "$BENCH_PID" 2>/dev/null || true # timeout(1) passes it on to hookd-bench
    wait "$BENCH_PID" 2>/dev/null || true
  fi
  stop_server
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "== $*" >&2; }

command -v curl >/dev/null || { echo "run.sh: curl is required" >&2; exit 1; }

# ---- build -----------------------------------------------------------------------------------------
if [[ $SKIP_BUILD == 0 ]]; then
  log "building hookd (release)"
  (cd "$ROOT" && timeout --foreground "$BUILD_TIMEOUT" cargo build --release)
fi
log "building hookd-bench (release)"
(cd "$BENCH_DIR" && timeout --foreground "$BUILD_TIMEOUT" cargo build --release)
[[ -x $HOOKD ]] || { echo "run.sh: $HOOKD not found (build hookd or set HOOKD_BIN)" >&2; exit 1; }

rss_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo "?"; }

run_scenario() { # mode name publishers messages
  local mode=$1 name=$2 pubs=$3 msgs=$4 rc=0
  local cmd=("$BENCH" e2e --url "http://127.0.0.1:$PORT" --token "$TOKEN" --publishers "$pubs"
             --messages "$msgs" --payload-bytes "$PAYLOAD" --timeout-secs "$DELIVERY_TIMEOUT")
  COMMANDS+=("$(printf '%q ' timeout "$SCENARIO_TIMEOUT" "${cmd[@]}")  # $mode / $name")
  log "$mode / $name: $pubs publishers, $msgs messages"
  # In the background + wait, so that a signal to this script interrupts the wait and runs cleanup.
  timeout --kill-after=10 "$SCENARIO_TIMEOUT" "${cmd[@]}" > "$TMP/$mode-$name.out" &
  BENCH_PID=$!
  wait "$BENCH_PID" || rc=$?
  BENCH_PID=""
  cat "$TMP/$mode-$name.out" >&2
  local result
  result=$(grep '^RESULT ' "$TMP/$mode-$name.out" | tail -n1 | cut -c8-) || true
  if [[ -z $result ]]; then
    result="no RESULT line (exit $rc)"
  elif [[ $rc != 0 ]]; then
    log "$mode / $name: hookd-bench exited $rc (loss, errors or timeout; see RESULT)"
  fi
  kill -0 "$SERVER_PID" 2>/dev/null || log "$mode / $name: hookd is no longer running!"
  printf '%s\t%s\t%s\t%s\t%s\n' "$mode" "$name" "$IDLE_RSS" "$(rss_kib "$SERVER_PID" VmHWM)" "$result" >> "$RESULTS"
}

TIMER_RESULTS=$TMP/timers.txt
run_timers() { # mode: a million pending timers, then 5,000 expiries a second
  local mode=$1 rc=0
  local cmd=("$BENCH" timers --url "http://127.0.0.1:$PORT" --token "$TOKEN" --senders 32 --pending "$TIMERS_PENDING"
             --expiring 50000 --expire-rate 5000 --pid "$SERVER_PID")
  COMMANDS+=("$(printf '%q ' timeout "$SCENARIO_TIMEOUT" "${cmd[@]}")  # $mode / timers")
  log "$mode / timers: $TIMERS_PENDING pending, then 50,000 expiring at 5,000/s"
  timeout --kill-after=10 "$SCENARIO_TIMEOUT" "${cmd[@]}" > "$TMP/$mode-timers.out" &
  BENCH_PID=$!
  wait "$BENCH_PID" || rc=$?
  BENCH_PID=""
  cat "$TMP/$mode-timers.out" >&2
  [[ $rc == 0 ]] || log "$mode / timers: hookd-bench exited $rc (see RESULT)"
  local r
  r=$(grep '^RESULT ' "$TMP/$mode-timers.out" | tail -n1 | cut -c8-) || true
  field() { sed -E "s/.*\"$1\":([0-9.]+).*/\1/" <<< "$r"; }
  if [[ -n $r ]]; then
    printf '| %s | %s | %s | %s | %s | %s / %s / %s | %s |\n' "$mode" "$(field pending)" "$(field create_rate_per_s)" \
      "$(field rss_mib_with_pending)" "$(field received)" "$(field late_p50_ms)" "$(field late_p99_ms)" "$(field late_max_ms)" \
      "$(field errors)" >> "$TIMER_RESULTS"
  else
    printf '| %s | no RESULT line (exit %s) | | | | | |\n' "$mode" "$rc" >> "$TIMER_RESULTS"
  fi
}

INBOUND_RESULTS=$TMP/inbound.txt
run_inbound() { # mode: GitHub-signed 1 KB requests to an inbound registration
  local mode=$1 rc=0
  local cmd=("$BENCH" inbound --url "http://127.0.0.1:$PORT" --token "$TOKEN" --senders 32
             --requests "$INBOUND_REQUESTS" --body-bytes 1024)
  COMMANDS+=("$(printf '%q ' timeout "$SCENARIO_TIMEOUT" "${cmd[@]}")  # $mode / inbound")
  log "$mode / inbound: 32 senders, $INBOUND_REQUESTS GitHub-signed requests"
  timeout --kill-after=10 "$SCENARIO_TIMEOUT" "${cmd[@]}" > "$TMP/$mode-inbound.out" &
  BENCH_PID=$!
  wait "$BENCH_PID" || rc=$?
  BENCH_PID=""
  cat "$TMP/$mode-inbound.out" >&2
  [[ $rc == 0 ]] || log "$mode / inbound: hookd-bench exited $rc (errors or requests not stored; see RESULT)"
  local r
  r=$(grep '^RESULT ' "$TMP/$mode-inbound.out" | tail -n1 | cut -c8-) || true
  field() { sed -E "s/.*\"$1\":([0-9.]+).*/\1/" <<< "$r"; }
  if [[ -n $r ]]; then
    printf '| %s | %s | %s | %s / %s | %s | %s |\n' "$mode" "$(field requests)" "$(field rate_per_s)" "$(field p50_ms)" \
      "$(field p99_ms)" "$(field stored)" "$(field errors)" >> "$INBOUND_RESULTS"
  else
    printf '| %s | no RESULT line (exit %s) | | | | |\n' "$mode" "$rc" >> "$INBOUND_RESULTS"
  fi
}

# ---- per durability mode ---------------------------------------------------------------------------
: > "$RESULTS"
: > "$INBOUND_RESULTS"
: > "$TIMER_RESULTS"
for MODE in $MODES; do
  mkdir -p "$TMP/$MODE"
  PORT=$("$BENCH" free-port)
  DB="sqlite://$TMP/$MODE/bench.db"
  log "starting hookd ($MODE) on 127.0.0.1:$PORT"
  COMMANDS+=("$(printf '%q ' env HOOKD_LISTEN="127.0.0.1:$PORT" HOOKD_DATABASE_URL="$DB" \
    HOOKD_ADMIN_TOKEN="$TOKEN" HOOKD_ALLOW_PRIVATE_NETWORKS=true HOOKD_SQLITE_SYNCHRONOUS="$MODE" "$HOOKD" serve)")
  HOOKD_LISTEN="127.0.0.1:$PORT" HOOKD_DATABASE_URL="$DB" HOOKD_ADMIN_TOKEN="$TOKEN" \
    HOOKD_ALLOW_PRIVATE_NETWORKS=true HOOKD_SQLITE_SYNCHRONOUS="$MODE" \
    "$HOOKD" serve > "$TMP/$MODE/server.log" 2>&1 &
  SERVER_PID=$!

  ready=0
  for _ in $(seq 300); do # up to ~30 s
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$PORT/api/v1/health/ping" || true)
    if [[ $code == 204 ]]; then ready=1; break; fi
    sleep 0.1
  done
  if [[ $ready != 1 ]]; then
    if kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "run.sh: hookd ($MODE) did not answer 204 on /api/v1/health/ping within 30 s; its log:" >&2
    else
      st=0; wait "$SERVER_PID" || st=$?; SERVER_PID=""
      echo "run.sh: hookd ($MODE) exited with status $st before becoming ready; its log:" >&2
    fi
    tail -n 50 "$TMP/$MODE/server.log" >&2 || true
    exit 1
  fi
  sleep 2 # settle before measuring idle memory
  IDLE_RSS=$(rss_kib "$SERVER_PID" VmRSS)
  log "hookd ($MODE) idle RSS: ${IDLE_RSS} KiB"

  run_scenario "$MODE" concurrent "$PUBLISHERS" "$MESSAGES"
  run_scenario "$MODE" single 1 "$SINGLE_MESSAGES"
  run_inbound "$MODE"
  if [[ $MODE == normal && $TIMERS_PENDING != 0 ]]; then run_timers "$MODE"; fi

  log "stopping hookd ($MODE)"
  stop_server
  if grep -qiE 'panic|error' "$TMP/$MODE/server.log"; then
    log "hookd ($MODE) logged errors; last lines:"
    grep -iE 'panic|error' "$TMP/$MODE/server.log" | tail -n 10 >&2 || true
  fi
done

# ---- report ----------------------------------------------------------------------------------------
report() {
  echo "## hookd benchmark"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -sr), hookd $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')."
  echo "Payload $PAYLOAD B; 'concurrent' = $PUBLISHERS closed-loop publishers, 'single' = 1 publisher."
  echo "Peak RSS is hookd's VmHWM after the scenario (cumulative over that server's life)."
  echo
  "$BENCH" table "$RESULTS"
  echo
  echo "Inbound: 32 closed-loop senders, GitHub-signed 1 KB bodies, each answered 200 only once verified and committed."
  echo
  echo "| sync | requests | acknowledged/s | p50 / p99 ms | stored | errors |"
  echo "|---|--:|--:|--:|--:|--:|"
  cat "$INBOUND_RESULTS"
  echo
  echo "Timers: $TIMERS_PENDING pending (an hour away) created by 32 senders, then 50,000 expiring at 5,000/s; lateness is"
  echo "arrival of timer_expired at the receiver minus the deadline. RSS is hookd's with the pending timers stored."
  echo
  echo "| sync | pending | created/s | RSS MiB | expired received | lateness p50 / p99 / max ms | errors |"
  echo "|---|--:|--:|--:|--:|--:|--:|"
  cat "$TIMER_RESULTS"
  echo
  echo "Commands (each mode on a fresh database in a temp dir):"
  echo
  echo '```'
  printf '%s\n' "${COMMANDS[@]}"
  echo '```'
}
if [[ -n $OUT ]]; then report | tee "$OUT"; else report; fi
