#!/usr/bin/env bash
# `make run`: local Kafka, topics, one worker, sample subscriptions and articles; then print
# alerts as they arrive. Ctrl-C (or any failure) stops the worker and the broker.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
BIN=.venv/bin
export TOCSIN_BROKER="${TOCSIN_BROKER:-127.0.0.1:${TOCSIN_KAFKA_PORT:-9092}}"
# A local demo on 127.0.0.1: its dashboard is open unless you set a token (then: log in).
if [[ -z "${TOCSIN_API_TOKEN:-}" ]]; then
    export TOCSIN_DASHBOARD_PUBLIC="${TOCSIN_DASHBOARD_PUBLIC:-true}"
fi
# The broker below is formatted afresh, so worker state from an earlier run would not match it.
export TOCSIN_DATA_DIR="${TOCSIN_DATA_DIR:-.tocsin/run-data}"
rm -rf "$TOCSIN_DATA_DIR"
mkdir -p .tocsin
WORKER_LOG=.tocsin/worker.log
worker_pid=""
tail_pid=""

stop_worker() {
    [[ -n "$worker_pid" ]] || return 0
    kill -TERM "$worker_pid" 2>/dev/null || return 0
    for _ in $(seq 40); do kill -0 "$worker_pid" 2>/dev/null || return 0; sleep 0.5; done
    echo "worker ignored SIGTERM for 20 s; killing it" >&2
    kill -KILL "$worker_pid" 2>/dev/null || true
}
cleanup() {
    trap - EXIT
    # A second signal must not cut the cleanup short: make forwards its SIGTERM to this
    # script, so a TERM to the process group arrives twice, and the broker was left running.
    trap '' INT TERM
    echo; echo "stopping worker and broker..."
    [[ -z "$tail_pid" ]] || kill "$tail_pid" 2>/dev/null || true
    stop_worker
    deploy/kafka/kafka.sh down || true
}
trap cleanup EXIT
trap 'exit 0' INT   # Ctrl-C is how the user ends a run: a clean stop, not a failure
trap 'exit 143' TERM

deploy/kafka/kafka.sh up
$BIN/tocsin topics create
# Its own session: Ctrl-C reaches this script, which then stops the worker in order; faust
# would otherwise catch the terminal's SIGINT itself and race the cleanup.
setsid $BIN/tocsin worker >"$WORKER_LOG" 2>&1 &
worker_pid=$!
echo "worker pid $worker_pid, log in $WORKER_LOG, status at http://${TOCSIN_WEB_HOST:-127.0.0.1}:${TOCSIN_WEB_PORT:-6066}/api/status"
echo "dashboard: http://${TOCSIN_WEB_HOST:-127.0.0.1}:${TOCSIN_WEB_PORT:-6066}/  (metrics: /metrics, health: /healthz, /readyz)"
$BIN/tocsin subscriptions load streams/samples/subscriptions.yaml
$BIN/tocsin ingest streams/samples
echo "alerts as they arrive (Ctrl-C to stop):"
$BIN/tocsin alerts tail --from-beginning &
tail_pid=$!
# Leave when the worker dies, so a crash is not mistaken for a quiet stream.
while kill -0 "$worker_pid" 2>/dev/null && kill -0 "$tail_pid" 2>/dev/null; do sleep 1; done
kill "$tail_pid" 2>/dev/null || true
if ! kill -0 "$worker_pid" 2>/dev/null; then
    echo "the worker exited; last lines of $WORKER_LOG:" >&2
    tail -n 30 "$WORKER_LOG" >&2
    exit 1
fi
