#!/usr/bin/env bash
# Benchmarks hookd end to end on this machine and prints a Markdown report: by default hookd on SQLite in each
# durability mode; with --stores, side by side in one run, the relay reference (hookd-bench relay: parse and forward,
# nothing stored), hookd on SQLite, and hookd on PostgreSQL with one node and with two. Everything runs on 127.0.0.1;
# every step is time-bounded; servers, temp dirs and the PostgreSQL databases it made are cleaned up.
#
# Usage: bench/run.sh [options]
#   --stores "A B"        what to measure, in order: relay sqlite postgres postgres2      [sqlite]
#                         (relay, postgres and postgres2 run the concurrent and single scenarios only)
#   --messages N          scenario 1 (concurrent) total messages      [50000]
#   --publishers N        scenario 1 publishers                       [32]
#   --single-messages N   scenario 2 (1 publisher) total messages     [5000]
#   --inbound-requests N  scenario 3 (inbound, GitHub-signed) requests [100000]
#   --timers-pending N    scenario 4 (timers, normal mode) pending timers [1000000]; 0 skips it
#   --payload-bytes N     payload object size in bytes                [256]
#   --modes "A B"         HOOKD_SQLITE_SYNCHRONOUS values for 'sqlite' ["normal full"; "normal" with --stores]
#   --pg-url URL          PostgreSQL server, without a database   [postgres://postgres@127.0.0.1:5432]
#   --delivery-timeout S  per scenario: wait for deliveries, seconds  [120]
#   --scenario-timeout S  per scenario: hard limit, seconds           [900]
#   --idempotency-keys    every publish carries an Idempotency-Key, as the official Svix SDKs send
#   --transform-only      only hookd on SQLite (normal): the concurrent and single scenarios without and then with a
#                         small JavaScript transformation on the endpoint, and their ratio
#   --filters-only        only hookd on SQLite (normal): the concurrent and single scenarios with 20-field payloads,
#                         plain, then with a payload filter on the endpoint, then with a 20-field schema enforced
#   --tracing-only        only hookd on SQLite (normal): the concurrent and single scenarios with traces off, then
#                         on (100 % sampled, exported over OTLP/HTTP to bench/otlp_sink.py on loopback), and their
#                         ratio; the sink needs opentelemetry-proto ($HOOKD_BENCH_PYTHON, default .venv/bin/python)
#   --destinations-only   only hookd on SQLite (normal): the concurrent and single scenarios to a plain endpoint, then
#                         to a fifoEndpoint destination with batchSize 100, and their ratio; then --messages
#                         published to a pollingEndpoint destination and read back through the poller (pages of 250)
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
MODES=""
STORES=""
PG_URL=postgres://postgres@127.0.0.1:5432
DELIVERY_TIMEOUT=120
SCENARIO_TIMEOUT=900
SKIP_BUILD=0
TRANSFORM_ONLY=0
FILTERS_ONLY=0
TRACING_ONLY=0
DESTINATIONS_ONLY=0
KEYED=()
# The transformation of --transform-only: small, and it keeps the fields the receiver counts by.
TRANSFORM_CODE='function handler(webhook) { webhook.payload.eventType = webhook.eventType; webhook.payload.shaped = true; return webhook; }'
# The filter of --filters-only: four conditions every message meets, so that each is evaluated in full.
FILTER_JSON='{"eventType":"bench.event","payload":{"seq":{"$gte":0},"sent_ns":{"$gt":0},"pad":{"$startsWith":"x"},"f3":{"$in":[3,4]}}}'
# --filters-only payloads: seq, sent_ns, pad and 17 more fields, the 20 fields its schema describes.
EXTRA_FIELDS=17
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
    --stores) STORES=$2; shift 2 ;;
    --pg-url) PG_URL=$2; shift 2 ;;
    --delivery-timeout) DELIVERY_TIMEOUT=$2; shift 2 ;;
    --scenario-timeout) SCENARIO_TIMEOUT=$2; shift 2 ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    --transform-only) TRANSFORM_ONLY=1; shift ;;
    --filters-only) FILTERS_ONLY=1; shift ;;
    --tracing-only) TRACING_ONLY=1; shift ;;
    --destinations-only) DESTINATIONS_ONLY=1; shift ;;
    --idempotency-keys) KEYED=(--idempotency-keys); shift ;;
    -h|--help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done

if [[ -z $MODES ]]; then
  if [[ -z $STORES ]]; then MODES="normal full"; else MODES="normal"; fi
fi
STORES=${STORES:-sqlite}
for s in $STORES; do
  case "$s" in
    relay|sqlite|postgres|postgres2) ;;
    *) echo "run.sh: unknown store '$s' in --stores (relay, sqlite, postgres, postgres2)" >&2; exit 2 ;;
  esac
done
PG_URL=${PG_URL%/}
PG_ADMIN_URL=$PG_URL/postgres

HOOKD=${HOOKD_BIN:-$ROOT/target/release/hookd}
BENCH=$BENCH_DIR/target/release/hookd-bench

TMP=$(mktemp -d "${TMPDIR:-/tmp}/hookd-bench.XXXXXX")
SERVER_PID=""    # the first server of the current store (the one hookd-bench timers reads memory from)
SERVER_PIDS=()   # every server of the current store
BENCH_PID=""
SINK_PID=""      # the OTLP sink of --tracing-only
PG_DBS=()        # PostgreSQL databases made by this run and not dropped yet
RESULTS=$TMP/results.tsv
COMMANDS=()
NOTES=()

stop_servers() {
  local pid pids=("${SERVER_PIDS[@]}")
  SERVER_PIDS=()
  SERVER_PID=""
  for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "run.sh: server (pid $pid) ignored SIGTERM for 10 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
}
pg() { # SQL on the server's maintenance database, bounded to 30 s
  timeout --kill-after=5 30 psql "$PG_ADMIN_URL" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"
}
drop_db() {
  local db=$1 keep=() d
  COMMANDS+=("$(printf '%q ' psql "$PG_ADMIN_URL" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)")")
  pg "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null || echo "run.sh: could not drop database $db" >&2
  for d in "${PG_DBS[@]}"; do [[ $d == "$db" ]] || keep+=("$d"); done
  PG_DBS=("${keep[@]}")
}
cleanup() {
  if [[ -n $BENCH_PID ]]; then
    kill -TERM "$BENCH_PID" 2>/dev/null || true # timeout(1) passes it on to hookd-bench
    wait "$BENCH_PID" 2>/dev/null || true
  fi
  stop_servers
  if [[ -n $SINK_PID ]]; then kill -TERM "$SINK_PID" 2>/dev/null || true; wait "$SINK_PID" 2>/dev/null || true; fi
  local db
  for db in "${PG_DBS[@]}"; do drop_db "$db"; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log() { echo "== $*" >&2; }

command -v curl >/dev/null || { echo "run.sh: curl is required" >&2; exit 1; }
NEEDS_HOOKD=0
for s in $STORES; do [[ $s == relay ]] || NEEDS_HOOKD=1; done

# ---- build -----------------------------------------------------------------------------------------
if [[ $SKIP_BUILD == 0 && $NEEDS_HOOKD == 1 ]]; then
  log "building hookd (release)"
  (cd "$ROOT" && timeout --foreground "$BUILD_TIMEOUT" cargo build --release)
fi
log "building hookd-bench (release)"
(cd "$BENCH_DIR" && timeout --foreground "$BUILD_TIMEOUT" cargo build --release)
if [[ $NEEDS_HOOKD == 1 && ! -x $HOOKD ]]; then
  echo "run.sh: $HOOKD not found (build hookd or set HOOKD_BIN)" >&2; exit 1
fi

rss_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo "?"; }
rss_sum() { # field: the sum over every server of the current store
  local pid v total=0
  for pid in "${SERVER_PIDS[@]}"; do
    v=$(rss_kib "$pid" "$1"); [[ $v =~ ^[0-9]+$ ]] || { echo "?"; return; }
    total=$((total + v))
  done
  echo "$total"
}

# Starts a server in the background and adds it to SERVER_PIDS. Usage: start_server LOG ENV=VAL… -- CMD…
start_server() {
  local logf=$1; shift
  local envs=()
  while [[ $1 != -- ]]; do envs+=("$1"); shift; done
  shift
  if [[ ${#envs[@]} == 0 ]]; then COMMANDS+=("$(printf '%q ' "$@")"); else COMMANDS+=("$(printf '%q ' env "${envs[@]}" "$@")"); fi
  env "${envs[@]}" "$@" > "$logf" 2>&1 &
  SERVER_PIDS+=($!)
  [[ -n $SERVER_PID ]] || SERVER_PID=$!
}

# Waits up to 30 s for GET /api/v1/health/ping to answer 204. Returns 1 (with FAILED_WHY set) if the server exited
# or never answered.
FAILED_WHY=""
wait_ready() { # pid port logfile label
  local pid=$1 port=$2 logf=$3 label=$4 code st
  for _ in $(seq 300); do
    if ! kill -0 "$pid" 2>/dev/null; then break; fi
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$port/api/v1/health/ping" || true)
    [[ $code == 204 ]] && return 0
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    FAILED_WHY="$label did not answer 204 on /api/v1/health/ping within 30 s"
  else
    st=0; wait "$pid" || st=$?
    # Its error (anyhow's "Error: …", a panic, an ERROR log line) rather than the end of a backtrace.
    local why
    why=$(grep -m1 -E '^Error:|panicked at|ERROR' "$logf" || grep -v '^[[:space:]]*$' "$logf" | tail -n 1) || true
    FAILED_WHY="$label exited with status $st before becoming ready: $(tr -d '\t' <<< "$why" | cut -c1-200)"
  fi
  echo "run.sh: $FAILED_WHY; its log:" >&2
  tail -n 20 "$logf" >&2 || true
  return 1
}

# Runs hookd-bench e2e. Usage: run_scenario LABEL NAME PUBLISHERS MESSAGES URLS [PG_CPU_S PG_XACTS]
# With the last two, the PostgreSQL figures are filled in by run_pg_scenario instead (it appends the row itself).
# A NAME ending in "+ JS" sets $TRANSFORM_CODE as the endpoint's transformation.
run_scenario() {
  local label=$1 name=$2 pubs=$3 msgs=$4 urls=$5 rc=0
  local file=$TMP/${label// /_}-${name//[ +]/_}.out
  local cmd=("$BENCH" e2e --url "$urls" --token "$TOKEN" --publishers "$pubs"
             --messages "$msgs" --payload-bytes "$PAYLOAD" --timeout-secs "$DELIVERY_TIMEOUT" "${KEYED[@]}")
  if [[ $name == *"+ JS" ]]; then cmd+=(--transform-code "$TRANSFORM_CODE"); fi
  if [[ $name == *"+ filter" ]]; then cmd+=(--filter "$FILTER_JSON"); fi
  if [[ $name == *"+ schema" ]]; then cmd+=(--schema); fi
  if [[ $name == *"+ FIFO 100" ]]; then cmd+=(--fifo-batch 100); fi
  if [[ $name == poll* ]]; then cmd+=(--poll); fi
  if [[ $FILTERS_ONLY == 1 ]]; then cmd+=(--payload-fields "$EXTRA_FIELDS"); fi
  COMMANDS+=("$(printf '%q ' timeout "$SCENARIO_TIMEOUT" "${cmd[@]}")  # $label / $name")
  log "$label / $name: $pubs publishers, $msgs messages"
  # In the background + wait, so that a signal to this script interrupts the wait and runs cleanup.
  timeout --kill-after=10 "$SCENARIO_TIMEOUT" "${cmd[@]}" > "$file" &
  BENCH_PID=$!
  wait "$BENCH_PID" || rc=$?
  BENCH_PID=""
  cat "$file" >&2
  SCENARIO_RESULT=$(grep '^RESULT ' "$file" | tail -n1 | cut -c8-) || true
  if [[ -z $SCENARIO_RESULT ]]; then
    SCENARIO_RESULT="no RESULT line (exit $rc)"
  elif [[ $rc != 0 ]]; then
    log "$label / $name: hookd-bench exited $rc (loss, errors or timeout; see RESULT)"
  fi
  local pid
  for pid in "${SERVER_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || log "$label / $name: server $pid is no longer running!"; done
  SCENARIO_PEAK=$(rss_sum VmHWM)
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

# ---- the relay reference ---------------------------------------------------------------------------
run_relay() {
  PORT=$("$BENCH" free-port)
  log "starting the relay on 127.0.0.1:$PORT"
  start_server "$TMP/relay.log" -- "$BENCH" relay --addr "127.0.0.1:$PORT" --token "$TOKEN" --max-in-flight 256
  wait_ready "$SERVER_PID" "$PORT" "$TMP/relay.log" "the relay" || exit 1
  sleep 2
  IDLE_RSS=$(rss_sum VmRSS)
  log "relay idle RSS: ${IDLE_RSS} KiB"
  run_scenario relay concurrent "$PUBLISHERS" "$MESSAGES" "http://127.0.0.1:$PORT"
  printf '%s\t%s\t%s\t%s\t%s\n' relay concurrent "$IDLE_RSS" "$SCENARIO_PEAK" "$SCENARIO_RESULT" >> "$RESULTS"
  run_scenario relay single 1 "$SINGLE_MESSAGES" "http://127.0.0.1:$PORT"
  printf '%s\t%s\t%s\t%s\t%s\n' relay single "$IDLE_RSS" "$SCENARIO_PEAK" "$SCENARIO_RESULT" >> "$RESULTS"
  log "stopping the relay"
  stop_servers
  tail -n 1 "$TMP/relay.log" >&2 || true
}

# ---- transformations: the same load without and with a JavaScript transformation on the endpoint ------
VARIANT_RESULTS=$TMP/variants.txt
field() { # RESULT-json key
  grep -o "\"$2\":[0-9.]*" <<< "$1" | head -n1 | cut -d: -f2
}
run_variants() { # label url variant… — each scenario plain, then with each variant ("+ JS", "+ filter", …)
  local label=$1 url=$2 kind plain with variant
  shift 2
  for kind in "concurrent:$PUBLISHERS:$MESSAGES" "single:1:$SINGLE_MESSAGES"; do
    IFS=: read -r name pubs msgs <<< "$kind"
    run_scenario "$label" "$name" "$pubs" "$msgs" "$url"
    plain=$SCENARIO_RESULT
    printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$name" "$IDLE_RSS" "$SCENARIO_PEAK" "$plain" >> "$RESULTS"
    for variant in "$@"; do
      run_scenario "$label" "$name $variant" "$pubs" "$msgs" "$url"
      with=$SCENARIO_RESULT
      printf '%s\t%s\t%s\t%s\t%s\n' "$label" "$name $variant" "$IDLE_RSS" "$SCENARIO_PEAK" "$with" >> "$RESULTS"
      awk -v name="$name $variant" -v r0="$(field "$plain" delivered_rate_per_s)" -v r1="$(field "$with" delivered_rate_per_s)" \
          -v l0="$(field "$plain" delivery_latency_p50_ms)" -v l1="$(field "$with" delivery_latency_p50_ms)" \
          -v p0="$(field "$plain" delivery_latency_p99_ms)" -v p1="$(field "$with" delivery_latency_p99_ms)" \
          'BEGIN { if (r0 > 0) printf "| %s | %.0f | %.0f | %.0f %% | %.2f / %.2f | %+.2f / %+.2f |\n", name, r0, r1, 100 * r1 / r0, l0, l1, l1 - l0, p1 - p0 }' \
          >> "$VARIANT_RESULTS"
    done
  done
}

# ---- traces: the same load with traces off, then on (every span exported to a sink on loopback) --------
TRACING_RESULTS=$TMP/tracing.txt
POLL_RESULTS=$TMP/poll.txt
run_tracing() {
  local traced port name pubs msgs kind sinkport="" spans="" line
  local python=${HOOKD_BENCH_PYTHON:-$ROOT/.venv/bin/python}
  declare -A result cpu_per_k
  for traced in off on; do
    mkdir -p "$TMP/tracing-$traced"
    port=$("$BENCH" free-port)
    local envs=(HOOKD_LISTEN="127.0.0.1:$port" HOOKD_DATABASE_URL="sqlite://$TMP/tracing-$traced/bench.db"
                HOOKD_ADMIN_TOKEN="$TOKEN" HOOKD_ALLOW_PRIVATE_NETWORKS=true HOOKD_SQLITE_SYNCHRONOUS=normal)
    if [[ $traced == on ]]; then
      COMMANDS+=("$(printf '%q ' "$python" "$BENCH_DIR/otlp_sink.py")  # the OTLP sink")
      "$python" "$BENCH_DIR/otlp_sink.py" > "$TMP/sink.out" 2> "$TMP/sink.err" &
      SINK_PID=$!
      for _ in $(seq 100); do
        sinkport=$(grep -o '"port": [0-9]*' "$TMP/sink.out" 2>/dev/null | grep -o '[0-9]*$') && break
        sleep 0.1
      done
      [[ -n $sinkport ]] || { echo "run.sh: the OTLP sink did not start: $(cat "$TMP/sink.err")" >&2; exit 1; }
      envs+=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$sinkport" OTEL_TRACES_SAMPLER=always_on
             OTEL_SERVICE_NAME=hookd-bench)
    fi
    log "starting hookd (traces $traced) on 127.0.0.1:$port"
    start_server "$TMP/tracing-$traced/server.log" "${envs[@]}" -- "$HOOKD" serve
    wait_ready "$SERVER_PID" "$port" "$TMP/tracing-$traced/server.log" "hookd (traces $traced)" || exit 1
    sleep 2
    IDLE_RSS=$(rss_sum VmRSS)
    for kind in "concurrent:$PUBLISHERS:$MESSAGES" "single:1:$SINGLE_MESSAGES"; do
      IFS=: read -r name pubs msgs <<< "$kind"
      # hookd's own CPU time per 1,000 messages: steadier than throughput on cores shared with other work.
      local cpu0 cpu1
      cpu0=$("$BENCH" proc-cpu --tree "$SERVER_PID" 2>/dev/null | awk '{print $1}')
      run_scenario "traces $traced" "$name" "$pubs" "$msgs" "http://127.0.0.1:$port"
      cpu1=$("$BENCH" proc-cpu --tree "$SERVER_PID" 2>/dev/null | awk '{print $1}')
      cpu_per_k[$traced-$name]=$(awk -v a="$cpu0" -v b="$cpu1" -v n="$msgs" 'BEGIN { printf "%.1f", 1000 * (b - a) * 1000 / n }')
      result[$traced-$name]=$SCENARIO_RESULT
      printf '%s\t%s\t%s\t%s\t%s\n' "traces $traced" "$name" "$IDLE_RSS" "$SCENARIO_PEAK" "$SCENARIO_RESULT" >> "$RESULTS"
    done
    log "stopping hookd (traces $traced)"
    stop_servers # SIGTERM: hookd exports the spans still buffered before it exits
    if [[ $traced == on ]]; then
      kill -TERM "$SINK_PID" 2>/dev/null || true
      wait "$SINK_PID" 2>/dev/null || true
      SINK_PID=""
      line=$(grep '"spans"' "$TMP/sink.out" | tail -n1)
      TRACING_SINK=$line
      spans=$(grep -o '"spans": [0-9]*' <<< "$line" | grep -o '[0-9]*$')
      NOTES+=("Traces on: OTEL_TRACES_SAMPLER=always_on, the SDK's default batching (OTEL_BSP_*: queue 2048, batches of 512, every 5 s), exported over OTLP/HTTP protobuf to bench/otlp_sink.py on loopback (Python, decoding every request, on the same cores as hookd: cpu_s is its own CPU time), which received $line for $((MESSAGES + SINGLE_MESSAGES)) messages (a message makes 3 spans: its API request, its publish, its attempt; spans over a full queue are dropped by the SDK).")
    fi
  done
  for name in concurrent single; do
    awk -v name="$name" -v r0="$(field "${result[off-$name]}" delivered_rate_per_s)" -v r1="$(field "${result[on-$name]}" delivered_rate_per_s)" \
        -v l0="$(field "${result[off-$name]}" delivery_latency_p50_ms)" -v l1="$(field "${result[on-$name]}" delivery_latency_p50_ms)" \
        -v p0="$(field "${result[off-$name]}" delivery_latency_p99_ms)" -v p1="$(field "${result[on-$name]}" delivery_latency_p99_ms)" \
        -v c0="${cpu_per_k[off-$name]}" -v c1="${cpu_per_k[on-$name]}" \
        'BEGIN { if (r0 > 0) printf "| %s | %.0f | %.0f | %.0f %% | %.2f / %.2f | %+.2f / %+.2f | %s / %s |\n", name, r0, r1, 100 * r1 / r0, l0, l1, l1 - l0, p1 - p0, c0, c1 }' \
        >> "$TRACING_RESULTS"
  done
}

# ---- hookd on SQLite, per durability mode ----------------------------------------------------------
run_sqlite() { # mode
  local MODE=$1
  mkdir -p "$TMP/$MODE"
  PORT=$("$BENCH" free-port)
  local DB="sqlite://$TMP/$MODE/bench.db"
  log "starting hookd ($MODE) on 127.0.0.1:$PORT"
  start_server "$TMP/$MODE/server.log" HOOKD_LISTEN="127.0.0.1:$PORT" HOOKD_DATABASE_URL="$DB" \
    HOOKD_ADMIN_TOKEN="$TOKEN" HOOKD_ALLOW_PRIVATE_NETWORKS=true HOOKD_SQLITE_SYNCHRONOUS="$MODE" -- "$HOOKD" serve
  wait_ready "$SERVER_PID" "$PORT" "$TMP/$MODE/server.log" "hookd ($MODE)" || exit 1
  sleep 2 # settle before measuring idle memory
  IDLE_RSS=$(rss_sum VmRSS)
  log "hookd ($MODE) idle RSS: ${IDLE_RSS} KiB"

  if [[ $TRANSFORM_ONLY == 1 ]]; then
    run_variants "sqlite $MODE" "http://127.0.0.1:$PORT" "+ JS"
  elif [[ $FILTERS_ONLY == 1 ]]; then
    run_variants "sqlite $MODE" "http://127.0.0.1:$PORT" "+ filter" "+ schema"
  elif [[ $DESTINATIONS_ONLY == 1 ]]; then
    run_variants "sqlite $MODE" "http://127.0.0.1:$PORT" "+ FIFO 100"
    run_scenario "sqlite $MODE" "poll" "$PUBLISHERS" "$MESSAGES" "http://127.0.0.1:$PORT"
    printf '%s\t%s\t%s\t%s\t%s\n' "sqlite $MODE" poll "$IDLE_RSS" "$SCENARIO_PEAK" "$SCENARIO_RESULT" >> "$RESULTS"
    printf '| %s | %s | %s | %.0f |\n' "$(field "$SCENARIO_RESULT" polled)" "$(field "$SCENARIO_RESULT" poll_pages)" \
      "$(field "$SCENARIO_RESULT" poll_seconds)" "$(field "$SCENARIO_RESULT" poll_rate_per_s)" >> "$POLL_RESULTS"
  else
    run_scenario "sqlite $MODE" concurrent "$PUBLISHERS" "$MESSAGES" "http://127.0.0.1:$PORT"
    printf '%s\t%s\t%s\t%s\t%s\n' "sqlite $MODE" concurrent "$IDLE_RSS" "$SCENARIO_PEAK" "$SCENARIO_RESULT" >> "$RESULTS"
    run_scenario "sqlite $MODE" single 1 "$SINGLE_MESSAGES" "http://127.0.0.1:$PORT"
    printf '%s\t%s\t%s\t%s\t%s\n' "sqlite $MODE" single "$IDLE_RSS" "$SCENARIO_PEAK" "$SCENARIO_RESULT" >> "$RESULTS"
    run_inbound "$MODE"
    if [[ $MODE == normal && $TIMERS_PENDING != 0 ]]; then run_timers "$MODE"; fi
  fi

  log "stopping hookd ($MODE)"
  stop_servers
  if grep -qiE 'panic|error' "$TMP/$MODE/server.log"; then
    log "hookd ($MODE) logged errors; last lines:"
    grep -iE 'panic|error' "$TMP/$MODE/server.log" | tail -n 10 >&2 || true
  fi
}

# ---- hookd on PostgreSQL: N nodes on one fresh database per scenario -------------------------------
PG_CHECKED=""     # "", "ok", or why PostgreSQL cannot be used
PG_CPU_SEL=()     # proc-cpu arguments selecting the PostgreSQL server's processes
pg_check() {
  [[ -z $PG_CHECKED ]] || return 0
  if ! command -v psql >/dev/null; then PG_CHECKED="psql is not installed"; return 0; fi
  local err
  if ! err=$(pg "SELECT 1" 2>&1); then
    PG_CHECKED="PostgreSQL at $PG_URL does not answer: $(tr '\n' ' ' <<< "$err" | cut -c1-200)"; return 0
  fi
  # The postmaster's pid (first line of postmaster.pid in its data directory), to count it and its children only.
  local dir pm=""
  dir=$(pg "SHOW data_directory" 2>/dev/null) || true
  [[ -n $dir && -r $dir/postmaster.pid ]] && pm=$(head -n 1 "$dir/postmaster.pid")
  if [[ $pm =~ ^[0-9]+$ ]] && "$BENCH" proc-cpu --tree "$pm" >/dev/null 2>&1; then
    PG_CPU_SEL=(--tree "$pm")
    NOTES+=("PostgreSQL CPU: the postmaster (pid $pm, from $dir/postmaster.pid) and its children, utime+stime plus the cutime+cstime of exited children, from /proc; it counts the whole server, so other databases' load during a scenario would count too.")
  else
    PG_CPU_SEL=(--comm postgres)
    NOTES+=("PostgreSQL CPU: every process named 'postgres' (the postmaster's pid could not be read), utime+stime plus cutime+cstime, from /proc.")
  fi
  PG_CHECKED=ok
}
pg_xacts() { # db
  pg "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$1'" 2>/dev/null || echo "?"
}
pg_cpu() {
  local out
  out=$("$BENCH" proc-cpu "${PG_CPU_SEL[@]}" 2>/dev/null) && echo "${out%% *}" || echo "?"
}
minus() { # after before [printf format]: after - before, or ? when either is unknown
  if [[ $1 =~ ^[0-9.]+$ && $2 =~ ^[0-9.]+$ ]]; then awk -v a="$1" -v b="$2" -v f="${3:-%.3f}" 'BEGIN { printf f, a - b }'; else echo "?"; fi
}

run_pg_scenario() { # label nodes name publishers messages
  local label=$1 nodes=$2 name=$3 pubs=$4 msgs=$5 i port urls="" logf
  pg_check
  if [[ $PG_CHECKED != ok ]]; then
    log "$label / $name: skipped: $PG_CHECKED"
    printf '%s\t%s\t?\t?\t?\t?\t%s\n' "$label" "$name" "skipped: $PG_CHECKED" >> "$RESULTS"
    return 0
  fi
  local db="hookd_bench_$$_${nodes}n_$name"
  COMMANDS+=("$(printf '%q ' psql "$PG_ADMIN_URL" -c "CREATE DATABASE \"$db\"")")
  if ! pg "CREATE DATABASE \"$db\"" >/dev/null; then
    printf '%s\t%s\t?\t?\t?\t?\t%s\n' "$label" "$name" "skipped: CREATE DATABASE $db failed" >> "$RESULTS"
    return 0
  fi
  PG_DBS+=("$db")
  FAILED_WHY=""
  for i in $(seq "$nodes"); do
    port=$("$BENCH" free-port)
    logf=$TMP/pg-$db-node$i.log
    log "$label / $name: starting hookd node $i on 127.0.0.1:$port, database $db"
    start_server "$logf" HOOKD_LISTEN="127.0.0.1:$port" HOOKD_DATABASE_URL="$PG_URL/$db" \
      HOOKD_ADMIN_TOKEN="$TOKEN" HOOKD_ALLOW_PRIVATE_NETWORKS=true -- "$HOOKD" serve
    # Nodes start one after the other, so the first applies the migrations alone.
    wait_ready "${SERVER_PIDS[-1]}" "$port" "$logf" "hookd node $i on PostgreSQL" || break
    urls+="${urls:+,}http://127.0.0.1:$port"
  done
  if [[ -n $FAILED_WHY ]]; then
    log "$label / $name: skipped: $FAILED_WHY"
    # A hookd without the PostgreSQL store: the other PostgreSQL scenarios are skipped at once, for the same reason.
    [[ $FAILED_WHY != *"not built yet"* ]] || PG_CHECKED="this hookd has no PostgreSQL store (${FAILED_WHY#*ready: })"
    printf '%s\t%s\t?\t?\t?\t?\t%s\n' "$label" "$name" "skipped: ${FAILED_WHY//$'\t'/ }" >> "$RESULTS"
    stop_servers
    drop_db "$db"
    return 0
  fi
  sleep 2 # settle: idle memory, and the start's statistics flushed
  local idle cpu0 x0 cpu1 x1
  idle=$(rss_sum VmRSS)
  cpu0=$(pg_cpu); x0=$(pg_xacts "$db")
  COMMANDS+=("$(printf '%q ' "$BENCH" proc-cpu "${PG_CPU_SEL[@]}")  # before and after, PostgreSQL CPU seconds")
  COMMANDS+=("$(printf '%q ' psql "$PG_ADMIN_URL" -Atc "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = '$db'")  # before and after")
  run_scenario "$label" "$name" "$pubs" "$msgs" "$urls"
  log "$label / $name: stopping the nodes"
  stop_servers
  sleep 1 # exiting backends flush their statistics
  cpu1=$(pg_cpu); x1=$(pg_xacts "$db")
  log "$label / $name: PostgreSQL CPU $(minus "$cpu1" "$cpu0") s, transactions $(minus "$x1" "$x0" %d)"
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$name" "$idle" "$SCENARIO_PEAK" "$(minus "$cpu1" "$cpu0")" \
    "$(minus "$x1" "$x0" %d)" "$SCENARIO_RESULT" >> "$RESULTS"
  for logf in "$TMP"/pg-"$db"-node*.log; do
    if grep -qiE 'panic|error' "$logf"; then
      log "$label / $name: $(basename "$logf") logged errors; last lines:"
      grep -iE 'panic|error' "$logf" | tail -n 10 >&2 || true
    fi
  done
  drop_db "$db"
}

run_postgres() { # nodes
  local nodes=$1 label
  if [[ $nodes == 1 ]]; then label="postgres 1 node"; else label="postgres $nodes nodes"; fi
  run_pg_scenario "$label" "$nodes" concurrent "$PUBLISHERS" "$MESSAGES"
  run_pg_scenario "$label" "$nodes" single 1 "$SINGLE_MESSAGES"
}

# ---- run -------------------------------------------------------------------------------------------
: > "$RESULTS"
: > "$INBOUND_RESULTS"
: > "$TIMER_RESULTS"
: > "$VARIANT_RESULTS"
: > "$TRACING_RESULTS"
: > "$POLL_RESULTS"
if [[ $TRANSFORM_ONLY == 1 || $FILTERS_ONLY == 1 || $DESTINATIONS_ONLY == 1 ]]; then STORES=sqlite; MODES=normal; fi
LOOP_STORES=$STORES
if [[ $TRACING_ONLY == 1 ]]; then STORES=sqlite; MODES=normal; LOOP_STORES=""; run_tracing; fi
for STORE in $LOOP_STORES; do
  case "$STORE" in
    relay) run_relay ;;
    sqlite) for MODE in $MODES; do run_sqlite "$MODE"; done ;;
    postgres) run_postgres 1 ;;
    postgres2) run_postgres 2 ;;
  esac
done

# ---- report ----------------------------------------------------------------------------------------
report() {
  echo "## hookd benchmark"
  echo
  local rev
  rev=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
  if [[ -n ${HOOKD_BIN:-} ]]; then
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -sr), hookd-bench $rev, hookd from HOOKD_BIN=$HOOKD (built $(date -u -r "$HOOKD" '+%Y-%m-%d %H:%M UTC' 2>/dev/null || echo '?'))."
  else
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, $(uname -sr), hookd $rev."
  fi
  echo "Stores: $STORES (sqlite modes: $MODES). Payload $PAYLOAD B; 'concurrent' = $PUBLISHERS closed-loop publishers, 'single' = 1 publisher."
  echo "Idle and peak RSS are the server's (VmRSS after a 2 s settle, VmHWM after the scenario; the sum over nodes with several)."
  if [[ $STORES == *relay* ]]; then
    echo "relay = \`hookd-bench relay\`: parses each message, answers 202, forwards the payload signed to the endpoint with at"
    echo "most 256 in flight, stores nothing and retries nothing — the ceiling of any webhook server on these cores."
  fi
  if [[ $STORES == *postgres* ]]; then
    echo "PostgreSQL: a fresh database per scenario, dropped after it. With two nodes the publishers alternate between them"
    echo "('single' has one publisher, so it publishes through the first node only). PG CPU s and xacts per 1,000 accepted"
    echo "messages run from after the nodes' start to after their stop (xact_commit + xact_rollback of that database), so"
    echo "they include the nodes' background work (heartbeats, polling) over the scenario: short runs overstate them."
  fi
  local n
  for n in "${NOTES[@]}"; do echo "$n"; done
  echo
  "$BENCH" table "$RESULTS"
  if [[ -s $INBOUND_RESULTS ]]; then
    echo
    echo "Inbound (SQLite): 32 closed-loop senders, GitHub-signed 1 KB bodies, each answered 200 only once verified and committed."
    echo
    echo "| sync | requests | acknowledged/s | p50 / p99 ms | stored | errors |"
    echo "|---|--:|--:|--:|--:|--:|"
    cat "$INBOUND_RESULTS"
  fi
  if [[ -s $VARIANT_RESULTS ]]; then
    echo
    if [[ $DESTINATIONS_ONLY == 1 ]]; then
      echo "Destinations (SQLite normal): the same load delivered to a plain endpoint, then through a fifoEndpoint"
      echo "destination (batchSize 100, maxWaitSecs 0: a batch leaves as soon as the last one was answered) to the same"
      echo "receiver, which counts every event of a batch and checks that positions only grow:"
    elif [[ $TRANSFORM_ONLY == 1 ]]; then
      echo "Transformations (SQLite normal): the same load without and then with this transformation on the endpoint,"
      echo "run in QuickJS (a warm context per endpoint on each transformation worker thread):"
      echo "\`$TRANSFORM_CODE\`"
    else
      echo "Filters and schemas (SQLite normal): the same load of $((EXTRA_FIELDS + 3))-field payloads plain, then with this payload"
      echo "filter on the endpoint, then with a schema of all $((EXTRA_FIELDS + 3)) fields (types, bounds, a pattern) enforced on publish:"
      echo "\`$FILTER_JSON\`"
    fi
    echo
    echo "| scenario | delivered/s without | with | ratio | delivery p50 ms without / with | added p50 / p99 ms |"
    echo "|---|--:|--:|--:|--:|--:|"
    cat "$VARIANT_RESULTS"
  fi
  if [[ -s $POLL_RESULTS ]]; then
    echo
    echo "Polling (SQLite normal): $MESSAGES messages published to a pollingEndpoint destination by $PUBLISHERS publishers,"
    echo "then read back from its start by one consumer, a page of up to 250 after the other:"
    echo
    echo "| messages read | pages | read s | messages/s |"
    echo "|--:|--:|--:|--:|"
    cat "$POLL_RESULTS"
  fi
  if [[ -s $TRACING_RESULTS ]]; then
    echo
    echo "Traces (SQLite normal): the same load on a fresh hookd with traces off, then on (every span exported):"
    echo
    echo "| scenario | delivered/s off | on | ratio | delivery p50 ms off / on | added p50 / p99 ms | hookd CPU ms per 1,000 messages off / on |"
    echo "|---|--:|--:|--:|--:|--:|--:|"
    cat "$TRACING_RESULTS"
  fi
  if [[ -s $TIMER_RESULTS ]]; then
    echo
    echo "Timers (SQLite): $TIMERS_PENDING pending (an hour away) created by 32 senders, then 50,000 expiring at 5,000/s; lateness is"
    echo "arrival of timer_expired at the receiver minus the deadline. RSS is hookd's with the pending timers stored."
    echo
    echo "| sync | pending | created/s | RSS MiB | expired received | lateness p50 / p99 / max ms | errors |"
    echo "|---|--:|--:|--:|--:|--:|--:|"
    cat "$TIMER_RESULTS"
  fi
  echo
  echo "Commands, in the order run (SQLite on a fresh database in a temp dir):"
  echo
  echo '```'
  printf '%s\n' "${COMMANDS[@]}"
  echo '```'
}
if [[ -n $OUT ]]; then report | tee "$OUT"; else report; fi
