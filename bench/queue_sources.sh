#!/usr/bin/env bash
# Throughput of a RabbitMQ queue source (src/inbound/queues.rs, src/engine/sources) beside HTTP ingest, in one run of
# one server: N persistent messages are put in a fresh queue first, then a `rabbitMq` registration is made and timed
# until it has committed all N as inbound events (each forwarded to an application without endpoints, so the figure
# is the engine's intake, not a receiver's); then N GitHub-signed requests, 32 at a time, to a `github`
# registration of the same application. Prints a Markdown table; the figures of record are in BENCHMARKS.md
# ("Queue sources").
#
# Usage: bench/queue_sources.sh [--release] [--messages N] [--postgres]
#   --release     build the test binary with the release profile (the figures that count)
#   --messages N  messages, and requests [20000]
#   --postgres    on this machine's PostgreSQL (HOOKD_TEST_PG) instead of SQLite
# Needs the machine's RabbitMQ (127.0.0.1:5672; HOOKD_TEST_AMQP moves it). The queue it makes is deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=()
while [ $# -gt 0 ]; do
    case "$1" in
        --release) profile=(--release) ;;
        --messages) export HOOKD_BENCH_QUEUE_MESSAGES="$2"; shift ;;
        --postgres) export HOOKD_TEST_STORE=postgres ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
timeout 1800 cargo test "${profile[@]}" --test queue_sources bench_rabbitmq_source_against_http_ingest -- --ignored \
    --nocapture --test-threads 1 | grep -E '^\|'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
