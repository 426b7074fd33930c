#!/usr/bin/env bash
# Bulk-issue benchmark: `starmark import` of N certificates into a fresh embedded store, RUNS
# times; prints each run and the median rate. Each certificate is validated, signed and stored
# with its event.
#
# Usage: bench/import.sh [N=100000] [RUNS=3]
# Environment: STARMARK_BIN=path   use this binary instead of building target/release/starmark
#              (to compare two builds in one sitting)
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-100000}
runs=${2:-3}
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
rates=()
for run in $(seq 1 "$runs"); do
    work=$(mktemp -d)
    STARMARK_KEYS_DIR="$work/keys" "$bin" keygen >/dev/null
    start=$(date +%s.%N)
    STARMARK_DATA_DIR="$work/data" STARMARK_KEYS_DIR="$work/keys" STARMARK_LOG=warn \
        "$bin" import "$csv" --quiet
    end=$(date +%s.%N)
    rate=$(python3 -c "print(round($count / ($end - $start)))")
    echo "run $run: $count certificates in $(python3 -c "print(round($end - $start, 2))") s = $rate/s (wall clock, process start to exit)"
    rates+=("$rate")
    rm -rf "$work"
done
median=$(printf '%s\n' "${rates[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo "median: $median certificates/s (target >= 10000/s); machine: $(nproc) cores, $(uname -m)"
