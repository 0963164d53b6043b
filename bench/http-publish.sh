#!/usr/bin/env bash
# Durable HTTP publish throughput with wrk: builds rtbroker, starts it on a
# fresh data directory for every scenario, and prints one line per run.
#   bench/http-publish.sh            # all scenarios, 10 s each
#   DURATION=20s bench/http-publish.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
DURATION=${DURATION:-10s}
PORT=${PORT:-18099}
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
go build -o "$work/rtbroker" ./cmd/rtbroker

run() { # name conns script env...
  local name=$1 conns=$2 script=$3
  shift 3
  rm -rf "$work/data"
  "$work/rtbroker" serve --addr "127.0.0.1:$PORT" --data "$work/data" --log-level warn --publish-rate 0 --connect-rate 0 --max-conns-per-ip 0 &
  pid=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
  local out
  out=$(env "$@" wrk -t1 -c"$conns" -d"$DURATION" -s "$script" "http://127.0.0.1:$PORT" | tail -1)
  local commits events
  commits=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^rtbroker_commits_total/ {print $2}')
  events=$(curl -s "http://127.0.0.1:$PORT/metrics" | awk '/^rtbroker_events_published_total/ {print $2}')
  printf '%-34s c=%-4s %s  events/commit: %.0f\n' "$name" "$conns" "$out" "$(echo "$events / $commits" | bc -l)"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

run "1 KB, 1 event/request, 1 room" 256 bench/publish.lua ROOMS=1
run "1 KB, 1 event/request, 64 rooms" 64 bench/publish.lua ROOMS=64
run "1 KB, 1 event/request, 64 rooms" 256 bench/publish.lua ROOMS=64
run "1 KB, 16 events/request, 64 rooms" 64 bench/publish-batch.lua BATCH=16 ROOMS=64
run "1 KB, 16 events/request, 64 rooms" 256 bench/publish-batch.lua BATCH=16 ROOMS=64
