#!/usr/bin/env bash
# Bulk-issue benchmark: `starmark import` of N certificates into a fresh store, RUNS times; prints
# each run and the median rate of each backend. Each certificate is validated, signed and stored
# with its event and its log leaf.
#
# IMPORT_BACKENDS names the stores, in the order each run imports into them: `sqlite` (the
# embedded file, the default) and `postgres` (a fresh database per run on IMPORT_POSTGRES, dropped
# after). With both (`IMPORT_BACKENDS="sqlite postgres"`), every run imports into each in turn,
# so that the two are measured in one sitting under the same load.
#
# Usage: bench/import.sh [N=100000] [RUNS=3]
# Environment: STARMARK_BIN=path   use this binary instead of building target/release/starmark
#              (to compare two builds in one sitting)
#              IMPORT_BACKENDS="sqlite"   or "postgres", or "sqlite postgres"
#              IMPORT_POSTGRES=postgres://root@127.0.0.1:5432/postgres   the server (needs psql)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-100000}
runs=${2:-3}
backends=${IMPORT_BACKENDS:-sqlite}
server=${IMPORT_POSTGRES:-postgres://root@127.0.0.1:5432/postgres}
for backend in $backends; do
    case $backend in
        sqlite) ;;
        postgres) command -v psql >/dev/null || { echo "bench/import.sh: postgres needs psql (apt-get install postgresql-client)" >&2; exit 1; } ;;
        *) echo "bench/import.sh: unknown backend '$backend' (sqlite, postgres)" >&2; exit 1 ;;
    esac
done
if [ -n "${STARMARK_BIN:-}" ]; then
    bin=$(realpath "$STARMARK_BIN")
else
    cargo build --release --locked --quiet
    bin=$PWD/target/release/starmark
fi
out=bench/out
mkdir -p "$out"
csv="$out/import-$count.csv"
[ -f "$csv" ] || python3 bench/make_import_csv.py "$count" "$csv"

# `server` with its database replaced by $1.
database_url() { python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$server" "$1"; }

database=""
cleanup() { [ -z "$database" ] || psql -q "$server" -c "DROP DATABASE IF EXISTS \"$database\" WITH (FORCE)" >/dev/null 2>&1 || true; }
trap cleanup EXIT

declare -A rates
for run in $(seq 1 "$runs"); do
    for backend in $backends; do
        work=$(mktemp -d)
        STARMARK_KEYS_DIR="$work/keys" "$bin" keygen >/dev/null
        url=""
        if [ "$backend" = postgres ]; then
            database="starmark_bench_import_$$_$run"
            psql -q "$server" -c "CREATE DATABASE \"$database\"" >/dev/null
            url=$(database_url "$database")
        fi
        start=$(date +%s.%N)
        DATABASE_URL=$url STARMARK_DATA_DIR="$work/data" STARMARK_KEYS_DIR="$work/keys" STARMARK_LOG=warn \
            "$bin" import "$csv" --quiet >/dev/null
        end=$(date +%s.%N)
        rate=$(python3 -c "print(round($count / ($end - $start)))")
        echo "run $run, $backend: $count certificates in $(python3 -c "print(round($end - $start, 2))") s = $rate/s (wall clock, process start to exit)"
        rates[$backend]="${rates[$backend]:-} $rate"
        cleanup
        database=""
        rm -rf "$work"
    done
done
for backend in $backends; do
    median=$(printf '%s\n' ${rates[$backend]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "median, $backend: $median certificates/s (target >= 10000/s); machine: $(nproc) cores, $(uname -m), load $(cut -d' ' -f1-3 /proc/loadavg)"
done
