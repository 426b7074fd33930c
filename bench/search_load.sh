#!/usr/bin/env bash
# Search under mixed load (issue 26, section 1). In one run on this machine:
#   - builds the release binary and bench/search_load.rs, makes a fresh key and SQLite store and
#     imports CERTS numbered certificates (bench/make_import_csv.py --numbered);
#   - for each mode, the in-memory search index (default) and the database's own search
#     (STARMARK_SEARCH_INDEX_MAX=0, as before the index), starts `starmark serve`, waits until
#     the index is built, then drives SECONDS each, open loop (every request timed from when it
#     was due):
#       (a) lookups alone, GET /api/v1/certificates/{random number} at LOOKUPS per second;
#       (b) the same lookups plus searches at 15 per second;
#       (c) the same lookups plus searches at SEARCHES per second;
#   - prints one line per kind and phase: requests, errors, p50, p99 and max in milliseconds,
#     and the server's peak memory (VmHWM) per mode.
#
# Usage: bench/search_load.sh [SECONDS=20]
# Environment: STARMARK_BIN=path        use this binary (and SEARCH_LOAD_BIN for the load tool)
#              SEARCH_LOAD_CERTS=100000 SEARCH_LOAD_LOOKUPS=200 SEARCH_LOAD_SEARCHES=60
#              SEARCH_LOAD_MODES="index store"
# Load goes to loopback addresses only.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${1:-20}
certs=${SEARCH_LOAD_CERTS:-100000}
lookups=${SEARCH_LOAD_LOOKUPS:-200}
searches=${SEARCH_LOAD_SEARCHES:-60}
modes=${SEARCH_LOAD_MODES:-index store}

say() { echo "[$(date -u +%H:%M:%S)] $*"; }
fail() { echo "bench/search_load.sh: $*" >&2; exit 1; }
for cmd in curl python3; do command -v "$cmd" >/dev/null || fail "needs $cmd"; done

work=$(mktemp -d "${TMPDIR:-/tmp}/search-load.XXXXXX")
server=
cleanup() {
    if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

if [ -n "${STARMARK_BIN:-}" ]; then
    bin=$(realpath "$STARMARK_BIN")
    load=$(realpath "${SEARCH_LOAD_BIN:-target/release/examples/search_load}")
else
    say "building the release binary and the load tool"
    cargo build --release --locked --quiet --bin starmark --example search_load
    bin=$PWD/target/release/starmark
    load=$PWD/target/release/examples/search_load
fi
[ -x "$load" ] || fail "no load tool at $load (cargo build --release --example search_load)"

port=$(free_port)
export STARMARK_DATA_DIR=$work/data STARMARK_KEYS_DIR=$work/keys
export STARMARK_LISTEN=127.0.0.1:$port STARMARK_PUBLIC_URL=http://127.0.0.1:$port
export STARMARK_LOG=warn,starmark::registry::search_index=info
# The load comes from one client: budgets no phase reaches, so the rate limits never refuse.
export STARMARK_RATE_LIMITS=${STARMARK_RATE_LIMITS:-lookups=4000000000/1,search=4000000000/1}
unset REDIS_URL DATABASE_URL
"$bin" keygen >/dev/null
python3 bench/make_import_csv.py "$certs" "$work/certs.csv" --numbered
start=$(date +%s.%N)
"$bin" import "$work/certs.csv" --quiet >/dev/null
say "imported $certs certificates in $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s"

for mode in $modes; do
    case $mode in
        index) export STARMARK_SEARCH_INDEX_MAX=$((certs * 2)) ;;
        store) export STARMARK_SEARCH_INDEX_MAX=0 ;;
        *) fail "unknown mode $mode (index or store)" ;;
    esac
    : > "$work/server.log"
    "$bin" serve > "$work/server.log" 2>&1 &
    server=$!
    start=$(date +%s.%N)
    for ((i = 0; i < 3000; i++)); do
        if [ "$mode" = index ]; then
            grep -q "search index built" "$work/server.log" && break
        else
            curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && break
        fi
        kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; fail "server stopped"; }
        sleep 0.1
    done
    ((i < 3000)) || fail "server not ready after 300 s"
    say "mode $mode: serving on 127.0.0.1:$port, ready in $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s"
    # Warm up the lookups' cache and the connections.
    "$load" "http://127.0.0.1:$port" "$certs" 5 "$lookups" 5 >/dev/null
    for rate in 0 15 "$searches"; do
        say "mode $mode: $lookups lookups/s + $rate searches/s for $duration s"
        "$load" "http://127.0.0.1:$port" "$certs" "$duration" "$lookups" "$rate" | sed "s/^/mode=$mode /"
    done
    echo "mode=$mode server peak memory: $(grep VmHWM "/proc/$server/status" | tr -s ' ')"
    kill "$server"
    wait "$server" 2>/dev/null || true
    server=
done
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
