#!/usr/bin/env bash
# Mark rendering benchmark: one batch of N serials of one certificate, rendered by
# `starmark marks render` as PNG (30 mm, 600 dpi) and as SVG, on one thread (per-core rate) and
# on every core; and, in the same run, the `qrencode` command-line tool making plain PNG QR codes
# of the very same URLs at the same module size (9 px), one process per URL as a shell loop
# would. Prints medians of RUNS runs and the ratios.
#
# Usage: bench/marks.sh [N=1000] [RUNS=3]
# Environment: STARMARK_BIN=path   use this binary instead of building target/release/starmark
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1000}
runs=${2:-3}
command -v qrencode >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq qrencode >/dev/null; } || true
command -v qrencode >/dev/null || { echo "bench/marks.sh needs qrencode (apt-get install qrencode)" >&2; exit 1; }
if [ -n "${STARMARK_BIN:-}" ]; then
    bin=$(realpath "$STARMARK_BIN")
else
    cargo build --release --locked --quiet
    bin=$PWD/target/release/starmark
fi

# Output goes to tmpfs when there is one, so that both programs are measured rendering and
# writing files, not the disk file system allocating thousands of inodes (on ext4 that alone
# took more than half of the time).
work=$(mktemp -d -p "$( [ -d /dev/shm ] && echo /dev/shm || echo /tmp )")
trap 'rm -rf "$work"' EXIT
export STARMARK_DATA_DIR=$work/data STARMARK_KEYS_DIR=$work/keys STARMARK_LOG=warn
# A 30-character host, as the issue's QR size target assumes.
export STARMARK_PUBLIC_URL=https://verify.starmark-example.org.cn
$bin keygen >/dev/null
printf 'number,holder_name,uscc,address,scope,system,commodity,customer\nSM2026ASC000001,厦门海晟电器有限公司,91350200776049653A,厦门市,家用电器的售后服务,38,33,24\n' > "$work/one.csv"
$bin import "$work/one.csv" --quiet >/dev/null
batch=$($bin marks order SM2026ASC000001 --count "$count" 2>/dev/null)
$bin marks urls --batch "$batch" > "$work/urls.txt"

seconds() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$@"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

time_render() { # format threads -> "wall-seconds render-seconds"
    rm -rf "$work/out"
    local start end said
    start=$(date +%s.%N)
    said=$($bin marks render --batch "$batch" --out "$work/out" --format "$1" --threads "$2" --quiet)
    end=$(date +%s.%N)
    # "wrote N png marks to DIR in S s (...)": S counts rendering and writing, not process start.
    echo "$(seconds "$start" "$end") $(echo "$said" | sed -E 's/.* in ([0-9.]+) s .*/\1/')"
}

time_qrencode() {
    rm -rf "$work/qr" && mkdir -p "$work/qr"
    local start end i=0
    start=$(date +%s.%N)
    while read -r url; do
        i=$((i + 1))
        qrencode -l Q -s 9 -m 4 -o "$work/qr/$i.png" "$url"
    done < "$work/urls.txt"
    end=$(date +%s.%N)
    seconds "$start" "$end"
}

declare -a png1 png1r pngall svg1 svg1r svgall qr
for run in $(seq 1 "$runs"); do
    read -r wall inner < <(time_render png 1); png1+=("$wall"); png1r+=("$inner")
    read -r wall inner < <(time_render png "$(nproc)"); pngall+=("$wall")
    read -r wall inner < <(time_render svg 1); svg1+=("$wall"); svg1r+=("$inner")
    read -r wall inner < <(time_render svg "$(nproc)"); svgall+=("$wall")
    qr+=("$(time_qrencode)")
    echo "run $run (wall s): png 1 thread ${png1[-1]} (rendering ${png1r[-1]}), png all ${pngall[-1]}, svg 1 thread ${svg1[-1]} (rendering ${svg1r[-1]}), svg all ${svgall[-1]}, qrencode loop ${qr[-1]}"
done
python3 - "$count" "$(nproc)" "$(median "${png1[@]}")" "$(median "${png1r[@]}")" "$(median "${pngall[@]}")" \
    "$(median "${svg1[@]}")" "$(median "${svg1r[@]}")" "$(median "${svgall[@]}")" "$(median "${qr[@]}")" <<'PY'
import sys
n, cores = int(sys.argv[1]), int(sys.argv[2])
png1, png1r, pngall, svg1, svg1r, svgall, qr = map(float, sys.argv[3:10])
print(f"medians for a batch of {n} marks ({cores} cores); wall = whole command, rendering = without process start:")
print(f"  PNG 30 mm 600 dpi, 1 thread : wall {png1:.3f} s = {n/png1:,.0f}/s; rendering {png1r:.3f} s = {n/png1r:,.0f} marks/s/core (target >= 500)")
print(f"  PNG, {cores} threads          : wall {pngall:.3f} s = {n/pngall:,.0f} marks/s")
print(f"  SVG, 1 thread               : wall {svg1:.3f} s = {n/svg1:,.0f}/s; rendering {svg1r:.3f} s = {n/svg1r:,.0f} marks/s/core (target >= 5,000)")
print(f"  SVG, {cores} threads          : wall {svgall:.3f} s = {n/svgall:,.0f} marks/s")
print(f"  qrencode loop (plain QR PNG, 9 px modules): wall {qr:.3f} s = {n/qr:,.0f} codes/s")
print(f"  ratio qrencode loop / starmark PNG batch (wall, whole commands): {qr/pngall:.1f}x on {cores} threads, {qr/png1:.1f}x on 1 thread (target >= 2x)")
PY
