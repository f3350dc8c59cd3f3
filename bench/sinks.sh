#!/usr/bin/env bash
# Throughput of the destination sinks (src/engine/sinks) against a bare client of the same broker, in one run:
# RabbitMQ (persistent, mandatory, publisher confirms per batch), NATS JetStream (acks per batch) and Redis Streams
# (one XADD pipeline per batch), batches of 100 messages of about 256 bytes, one after the other. Prints a Markdown
# table; the figures of record are in BENCHMARKS.md ("Destination sinks").
#
# Usage: bench/sinks.sh [--release] [--messages N]
#   --release     build the test binary with the release profile (slower to build, the figures that count)
#   --messages N  messages per broker and per side [20000]
# Needs the machine's RabbitMQ (127.0.0.1:5672), NATS with JetStream (4222) and Redis (6379); HOOKD_TEST_AMQP,
# HOOKD_TEST_NATS and HOOKD_TEST_REDIS move them. Everything stays on loopback; the queue, stream and keys it
# makes are deleted.
set -euo pipefail
cd "$(dirname "$0")/.."
profile=()
while [ $# -gt 0 ]; do
    case "$1" in
        --release) profile=(--release) ;;
        --messages) export HOOKD_BENCH_SINK_MESSAGES="$2"; shift ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
timeout 1800 cargo test "${profile[@]}" --test sinks bench_sinks_against_bare_clients -- --ignored --nocapture --test-threads 1 \
    | grep -E '^\|'
