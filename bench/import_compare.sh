#!/usr/bin/env bash
# Bulk-import cost of a change: runs `starmark import` of the same CSV with two binaries,
# alternately, RUNS times each, each into fresh data and keys directories, and prints every run
# and both medians. Alternating keeps a noisy machine's drift out of the comparison.
#
# Usage: bench/import_compare.sh BASE_BINARY NEW_BINARY [N=100000] [RUNS=5]
# e.g.   git worktree add /tmp/base <commit> && (cd /tmp/base && cargo build --release)
#        bench/import_compare.sh /tmp/base/target/release/starmark target/release/starmark
set -euo pipefail
cd "$(dirname "$0")/.."
base=$1 new=$2 count=${3:-100000} runs=${4:-5}
csv=bench/out/import-$count.csv
mkdir -p bench/out
[ -f "$csv" ] || python3 bench/make_import_csv.py "$count" "$csv"
declare -A times
for run in $(seq 1 "$runs"); do
    for which in base new; do
        bin=${!which}
        work=$(mktemp -d)
        STARMARK_KEYS_DIR="$work/keys" "$bin" keygen >/dev/null
        start=$(date +%s.%N)
        STARMARK_DATA_DIR="$work/data" STARMARK_KEYS_DIR="$work/keys" STARMARK_LOG=warn \
            "$bin" import "$csv" --quiet >/dev/null
        end=$(date +%s.%N)
        t=$(python3 -c "print(round($end - $start, 2))")
        echo "run $run $which: $t s"
        times[$which]+="$t "
        rm -rf "$work"
    done
done
for which in base new; do
    median=$(printf '%s\n' ${times[$which]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "$which median: $median s = $(python3 -c "print(round($count / $median))")/s"
done
