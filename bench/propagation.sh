#!/usr/bin/env bash
# Revocation propagation across 3 instances sharing one store and one Redis: time from a status
# change's 200 on instance 1 to all three answering the new state, with every instance's cache
# warm before each change. Starts a private redis-server and three `starmark serve` on free
# loopback ports; cleans everything up.
#
# Usage: bench/propagation.sh [ROUNDS=200]
# Environment: STARMARK_BIN=path (default: builds target/release/starmark), as bench/read_path.sh
# passes it on.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-200}
command -v redis-server >/dev/null || { echo "bench/propagation.sh needs redis-server (apt-get install redis-server)" >&2; exit 1; }
if [ -n "${STARMARK_BIN:-}" ]; then
    bin=$(realpath "$STARMARK_BIN")
else
    cargo build --release --locked --quiet
    bin=$PWD/target/release/starmark
fi
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >/dev/null &
pids+=($!)
export STARMARK_DATA_DIR=$work/data STARMARK_KEYS_DIR=$work/keys STARMARK_LOG=warn REDIS_URL=redis://127.0.0.1:$redis_port
# Load from one address must never meet the per-client rate limits, yet the limiter stays on the
# path it measures: every class gets a budget no benchmark reaches, none is switched off.
export STARMARK_RATE_LIMITS=${STARMARK_RATE_LIMITS:-scans=4000000000/1,lookups=4000000000/1,search=4000000000/1,bulk=4000000000/1,receipts=4000000000/1,receipt_checks=4000000000/1,artwork=4000000000/1,log=4000000000/1}
$bin keygen >/dev/null
printf 'number,holder_name,uscc,address,scope,system,commodity,customer\nSM2026ASC000001,厦门海晟电器有限公司,91350200776049653A,厦门市,家用电器的售后服务,38,33,24\n' > "$work/one.csv"
$bin import "$work/one.csv" --quiet >/dev/null
token=$($bin token create --role issuer 2>/dev/null)
bases=()
for _ in 1 2 3; do
    port=$(free_port)
    STARMARK_LISTEN=127.0.0.1:$port $bin serve &
    pids+=($!)
    bases+=("http://127.0.0.1:$port")
done
for base in "${bases[@]}"; do
    for _ in $(seq 1 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.05; done
done
sleep 0.5 # let every change feed subscribe
python3 bench/propagation.py "$token" SM2026ASC000001 "$rounds" "${bases[@]}"
