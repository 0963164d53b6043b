#!/usr/bin/env bash
# The load tool against a three-node cluster and, in the same run, against
# one node on bbolt: durable ingest and fan-out across nodes. See README,
# "Performance" → "Three nodes against one".
#
# Starts three rtbroker processes with NATS embedded (a JetStream cluster,
# R3) on loopback, data in a temporary directory, and runs rtbench:
#   ingest  1 KB events, one per HTTP request, 32 and 256 connections,
#           the connections spread over the nodes;
#   fanout  --subs WebSocket subscribers of one room spread over the three
#           nodes, published on the first node; the rate steps up until
#           p99 > 250 ms or delivery < 99 %.
# then stops the cluster and runs the same against one rtbroker on bbolt.
# Each rtbench run is bounded (timeout 90 s; its own --duration ≤ 60 s).
# Nothing is pinned: the three nodes and the tool share the machine's cores.
# For each run it prints the CPU of the nodes, of the tool, and of the rest
# of the machine ("other": busy time in /proc/stat minus the nodes' and the
# tool's), in % of one core.
#
#   bench/cluster.sh                  # about 4 minutes
#   SUBS=1000 DURATION=5s bench/cluster.sh
#   OUT=/tmp/cluster bench/cluster.sh # also keep each run's JSON there
#   ONLY=cluster-fanout bench/cluster.sh  # the runs whose names match (a bash regex)
set -euo pipefail
cd "$(dirname "$0")/.."

SUBS=${SUBS:-3000}          # fan-out subscribers, spread over the nodes
DURATION=${DURATION:-10s}   # ingest's measured duration
FANOUT_CAP=${FANOUT_CAP:-50s} # fan-out stepping stops there
BASE=${BASE_PORT:-18100}    # HTTP 18101-18103, NATS client 18111-18113, cluster 18121-18123

work=$(mktemp -d)
out=${OUT:-$work/results}
mkdir -p "$out"
pids=()
stop_nodes() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_nodes; rm -rf "$work"' EXIT

go build -o "$work/rtbroker" ./cmd/rtbroker
go build -o "$work/rtbench" ./cmd/rtbench
common=(--log-level warn --publish-rate 0 --max-conns-per-ip 0 --connect-rate 0)

# jiffies: the machine's busy time (user+nice+system+irq+softirq+steal).
machine_busy() { awk '/^cpu / {print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }
# nodes_cpu: the nodes' CPU time in jiffies (utime+stime).
nodes_cpu() {
  local t=0 p
  for p in "${pids[@]}"; do
    t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}
# children_cpu: what this shell's waited-for children (rtbench and its
# workers) used, in jiffies (cutime+cstime).
children_cpu() { awk '{print $16+$17}' "/proc/$$/stat"; }

wait_ready() { # url...
  local u
  for u in "$@"; do
    for _ in $(seq 900); do
      curl -sf "$u/readyz" >/dev/null && continue 2
      sleep 0.1
    done
    echo "cluster.sh: $u not ready in 90 s" >&2
    exit 1
  done
}

start_cluster() {
  local peers="nats://127.0.0.1:$((BASE + 21)),nats://127.0.0.1:$((BASE + 22)),nats://127.0.0.1:$((BASE + 23))" i
  for i in 1 2 3; do
    "$work/rtbroker" serve --store jetstream --data "$work/node$i" --addr "127.0.0.1:$((BASE + i))" \
      --nats-name "node$i" --cluster-name rtbbench --nats-listen "127.0.0.1:$((BASE + 10 + i))" \
      --cluster-listen "127.0.0.1:$((BASE + 20 + i))" --cluster-peers "$peers" "${common[@]}" 2>"$out/node$i.log" &
    pids+=($!)
  done
  wait_ready "http://127.0.0.1:$((BASE + 1))" "http://127.0.0.1:$((BASE + 2))" "http://127.0.0.1:$((BASE + 3))"
}

start_single() {
  "$work/rtbroker" serve --data "$work/single" --addr "127.0.0.1:$((BASE + 1))" "${common[@]}" 2>"$out/single.log" &
  pids+=($!)
  wait_ready "http://127.0.0.1:$((BASE + 1))"
}

rows=()
# bench NAME RTBENCH-ARGS...: one rtbench run, its JSON in $out/NAME.json.
bench() {
  local name=$1
  shift
  [[ $name =~ ${ONLY:-.} ]] || return 0
  local b0 n0 c0 t0 b1 n1 c1 t1 code=0
  b0=$(machine_busy) n0=$(nodes_cpu) c0=$(children_cpu) t0=$(date +%s%N)
  timeout -k 5 90 "$work/rtbench" "$@" --quiet --json "$out/$name.json" >"$out/$name.txt" 2>&1 || code=$?
  b1=$(machine_busy) n1=$(nodes_cpu) c1=$(children_cpu) t1=$(date +%s%N)
  local el_j=$(( (t1 - t0) / 10000000 )) # elapsed in jiffies (1/100 s)
  local nodes=$(( (n1 - n0) * 100 / el_j )) tool=$(( (c1 - c0) * 100 / el_j ))
  local other=$(( (b1 - b0 - (n1 - n0) - (c1 - c0)) * 100 / el_j ))
  ((other < 0)) && other=0
  if [[ ! -s $out/$name.json ]]; then
    echo "cluster.sh: $name: rtbench exit $code, no result" >&2
    tail -5 "$out/$name.txt" >&2
    rows+=("| $name | failed (exit $code) | | | | |")
    return
  fi
  local fig
  case $name in
  *ingest*)
    fig=$(jq -r '"\(.extra.ingest_events_per_s | floor) events/s | publish p50 \(.latency_ms.p50) / p99 \(.latency_ms.p99) ms | errors \(.publish_errors)"' "$out/$name.json") ;;
  *fanout*)
    fig=$(jq -r '
      ([.extra.steps[]? | select(.p99_ms <= 250 and .delivery >= 0.99)] | max_by(.deliveries_per_s)) as $any |
      "\(.extra.max_deliveries_per_s | floor) deliveries/s at \(.extra.max_rate // 0 | floor) events/s (tool ≤ 80 %) | p50 \(.latency_ms.p50) / p99 \(.latency_ms.p99) ms | best passing step whatever the tool CPU: " +
      (if $any then "\($any.deliveries_per_s | floor)/s at \($any.rate | floor) events/s, p99 \($any.p99_ms) ms" else "none" end) +
      ", missed \(.missed)\(if .missed > 0 then " (\(.extra.missed_clients) clients; by node \(.extra.missed_by_node // {} | tostring); offsets skipped mid-stream \(.extra.missed_mid_stream // "?") by \(.extra.missed_mid_stream_clients // "?") clients)" else "" end), dup \(.duplicated); stop: \(.extra.stop // "failed steps")"' "$out/$name.json") ;;
  esac
  rows+=("| $name | $fig | $nodes / $tool / $other % |")
  echo "cluster.sh: $name: $fig; CPU nodes/tool/other $nodes/$tool/$other % of a core (exit $code)" >&2
}

c1="http://127.0.0.1:$((BASE + 1))"
cluster="$c1,http://127.0.0.1:$((BASE + 2)),http://127.0.0.1:$((BASE + 3))"
fanout_args=(fanout --subs "$SUBS" --rate 10 --step-duration 4s --duration "$FANOUT_CAP" --warmup 1s)
ingest_args=(ingest --size 1024 --warmup 2s --duration "$DURATION")

if [[ cluster-ingest-32,cluster-ingest-256,cluster-fanout =~ ${ONLY:-.} ]]; then
echo "cluster.sh: three nodes, embedded NATS, R3" >&2
start_cluster
bench cluster-ingest-32 "${ingest_args[@]}" --pub-conns 32 --url "$cluster"
bench cluster-ingest-256 "${ingest_args[@]}" --pub-conns 256 --url "$cluster"
bench cluster-fanout "${fanout_args[@]}" --url "$cluster" --pub-url "$c1"
stop_nodes
fi

if [[ single-ingest-32,single-ingest-256,single-fanout =~ ${ONLY:-.} ]]; then
echo "cluster.sh: one node, bbolt" >&2
start_single
bench single-ingest-32 "${ingest_args[@]}" --pub-conns 32 --url "$c1"
bench single-ingest-256 "${ingest_args[@]}" --pub-conns 256 --url "$c1"
bench single-fanout "${fanout_args[@]}" --url "$c1"
stop_nodes
fi

echo
echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); fan-out $SUBS subscribers"
echo
echo "| run | figure | publish / delivery latency | notes | CPU nodes / tool / other (% of one core) |"
echo "| --- | --- | --- | --- | --- |"
printf '%s\n' "${rows[@]}"
