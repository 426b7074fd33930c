#!/usr/bin/env bash
# Mark rendering benchmark: one batch of N serials of one certificate, rendered by
# `starmark marks render` as PNG (30 mm, 600 dpi) and as SVG, on one thread (per-core rate) and
# on every core; and, in the same run, the `qrencode` command-line tool making plain PNG QR codes
# of the very same URLs at the same module size (9 px), one process per URL as a shell loop
# would. Prints medians of RUNS runs and the ratios.
#
# Usage: bench/marks.sh [N=1000] [RUNS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
count=${1:-1000}
runs=${2:-3}
command -v qrencode >/dev/null || { [ "$(id -u)" = 0 ] && apt-get install -y -qq qrencode >/dev/null; } || true
command -v qrencode >/dev/null || { echo "bench/marks.sh needs qrencode (apt-get install qrencode)" >&2; exit 1; }
cargo build --release --locked --quiet
bin=$PWD/target/release/starmark

work=$(mktemp -d)
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

time_render() { # format threads -> seconds
    rm -rf "$work/out"
    local start end
    start=$(date +%s.%N)
    $bin marks render --batch "$batch" --out "$work/out" --format "$1" --threads "$2" --quiet >/dev/null
    end=$(date +%s.%N)
    seconds "$start" "$end"
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

declare -a png1 pngall svg1 svgall qr
for run in $(seq 1 "$runs"); do
    png1+=("$(time_render png 1)")
    pngall+=("$(time_render png "$(nproc)")")
    svg1+=("$(time_render svg 1)")
    svgall+=("$(time_render svg "$(nproc)")")
    qr+=("$(time_qrencode)")
    echo "run $run: png 1 thread ${png1[-1]} s, png all ${pngall[-1]} s, svg 1 thread ${svg1[-1]} s, svg all ${svgall[-1]} s, qrencode loop ${qr[-1]} s"
done
m_png1=$(median "${png1[@]}"); m_pngall=$(median "${pngall[@]}")
m_svg1=$(median "${svg1[@]}"); m_svgall=$(median "${svgall[@]}"); m_qr=$(median "${qr[@]}")
python3 - "$count" "$m_png1" "$m_pngall" "$m_svg1" "$m_svgall" "$m_qr" "$(nproc)" <<'PY'
import sys
n, png1, pngall, svg1, svgall, qr, cores = int(sys.argv[1]), *map(float, sys.argv[2:7]), int(sys.argv[7])
print(f"medians for a batch of {n} marks ({cores} cores):")
print(f"  PNG 30 mm 600 dpi, 1 thread : {png1:.3f} s = {n/png1:,.0f} marks/s/core (target >= 500)")
print(f"  PNG, {cores} threads           : {pngall:.3f} s = {n/pngall:,.0f} marks/s")
print(f"  SVG, 1 thread               : {svg1:.3f} s = {n/svg1:,.0f} marks/s/core (target >= 5,000)")
print(f"  SVG, {cores} threads           : {svgall:.3f} s = {n/svgall:,.0f} marks/s")
print(f"  qrencode loop (plain QR PNG): {qr:.3f} s = {n/qr:,.0f} codes/s")
print(f"  ratio qrencode loop / starmark PNG batch: {qr/pngall:.1f}x on {cores} threads, {qr/png1:.1f}x on 1 thread (target >= 2x)")
PY
