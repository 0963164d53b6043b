#!/usr/bin/env bash
# Runs rtbroker against the Node Socket.IO peer on every scenario of issue 5
# and writes bench/results/<date>.md; see bench/doc.go and --help.
#   bench/run.sh              # the full suite: 3 repetitions (about 45 min)
#   bench/run.sh --quick      # one repetition at small sizes (a few minutes)
#   bench/run.sh --only fanout,latency --target rtbroker
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -d bench/peer/node_modules/socket.io ]]; then
  (cd bench/peer && npm ci --no-audit --no-fund)
fi
exec go run ./bench "$@"
