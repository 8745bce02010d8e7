#!/usr/bin/env bash
# Run a command against a fresh local Kafka broker, and stop the broker afterwards whatever
# happens (exit, error, Ctrl-C). The test broker has its own home and port so it never touches
# the one `make run` uses.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
export TOCSIN_KAFKA_HOME="${TOCSIN_KAFKA_HOME:-$root/.kafka/test}"
export TOCSIN_KAFKA_PORT="${TOCSIN_KAFKA_PORT:-9094}"
export TOCSIN_BROKER="127.0.0.1:${TOCSIN_KAFKA_PORT}"
# The jar cache is shared with `make run`; only the run directory differs.
export TOCSIN_KAFKA_LIBS_HOME="${TOCSIN_KAFKA_LIBS_HOME:-$root/.kafka}"

# Signals are ignored during the cleanup: a second INT/TERM (make forwards its own to this
# script) would otherwise end it before the broker is down.
cleanup() {
    trap '' INT TERM
    "$here/kafka/kafka.sh" down || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --while CMD: run CMD (make test: the linters) while the broker starts, and go on only if
# both succeeded; the broker's start-up (a JVM) then costs no wall time of its own.
if [[ "${1:-}" == "--while" ]]; then
    during=$2
    shift 2
    "$here/kafka/kafka.sh" up &
    broker=$!
    status=0
    bash -c "$during" || status=$?
    wait "$broker" || status=$((status ? status : $?))
    ((status == 0)) || exit "$status"
else
    "$here/kafka/kafka.sh" up
fi
"$@"
