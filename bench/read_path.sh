#!/usr/bin/env bash
# Read-path benchmark (issue 4, point 7). In one run on this machine:
#   - builds the release binary, makes a fresh key and store, imports CERTS numbered
#     certificates (bench/make_import_csv.py --numbered) and orders, for the first of them, one
#     batch of 1,000,000 marks per run;
#   - serves them with `starmark serve`, copies every GET /api/v1/certificates/{number} answer
#     into a static docroot (bench/read_path_fetch.py) and serves that with nginx;
#   - drives, with the same load generator (wrk, 2 threads, 50 connections, bench/read_path.lua,
#     random keys), SECONDS each and RUNS times in turn:
#       (a) our GET /api/v1/certificates/{n}      (b) nginx, the same paths and bodies
#       (c) our GET /healthz (the ceiling)         (d) our scan landing GET /v/{token} as JSON,
#           each run walking a shuffled list of TOKENS serials of its own 1,000,000-mark batch,
#           so no token is asked twice unless a run asks for more than TOKENS;
#   - prints medians of requests/s, p50 and p99 and of the server's CPU time per request (nginx's
#     workers for b; steadier than requests/s when the machine's speed drifts), the ratios a/b,
#     a/c and d/c, and the server's peak memory (VmHWM) against the issue's targets; cleans up
#     everything it started.
#
# The fair race (issue 28 §1; READ_PATH_FAIR=1, or bench/fair_race.sh): fewer certificates
# (15,000 by default), so that nginx's open_file_cache holds its whole docroot within the
# machine's descriptor limit; wrk with one thread, 5 s runs, 5 runs by default; no marks, no
# scans, no propagation. In turn: (a), (b), (c), (e) the ceiling, bench/ceiling.rs: the same
# server stack on the same store, its lookup route sending one constant body of the answers'
# average length, and (f) the same with one body per certificate, as cold in memory as the
# answers. Prints a/b, the server's CPU per answer over its CPU per /healthz (target <= 1.2)
# and the ceilings' over /healthz's.
# READ_PATH_GZIP=1 (fair race only): every request says `Accept-Encoding: gzip`; nginx serves
# `.gz` files written beside each body (gzip -9 -n, `gzip_static on`), we serve the gzip form
# kept beside each answer, and the ceilings send bodies of the `.gz` files' average length.
#
# Usage: bench/read_path.sh [SECONDS=10] [RUNS=3]
# Environment: STARMARK_BIN=path   use this binary instead of building target/release/starmark
#              CEILING_BIN=path    fair race: the ceiling example (default: builds it)
#              READ_PATH_CERTS=100000 READ_PATH_TOKENS=1000000 READ_PATH_TIMEOUT=1500 (whole run, s)
#              READ_PATH_FAIR=1    the fair race (defaults then: SECONDS=5 RUNS=5 CERTS=15000)
#              READ_PATH_GZIP=1    the fair race with Accept-Encoding: gzip (see above)
# As root it installs wrk and nginx when missing (apt-get; on a machine with systemd, Debian's
# nginx package also starts the system nginx on port 80 - stop it if you do not want it).
# Load goes to loopback addresses only.
set -euo pipefail
cd "$(dirname "$0")/.."

# The whole run is bounded: the script re-runs itself under timeout(1), which on expiry signals
# the script and everything it started; the EXIT trap below then cleans up.
if [ -z "${READ_PATH_BOUNDED:-}" ]; then
    export READ_PATH_BOUNDED=1
    exec timeout -k 15 "${READ_PATH_TIMEOUT:-1500}" "$0" "$@"
fi

fair=${READ_PATH_FAIR:-}
[ "$fair" != 0 ] || fair=
gzip_mode=${READ_PATH_GZIP:-}
[ "$gzip_mode" != 0 ] || gzip_mode=
[ -z "$gzip_mode" ] || [ -n "$fair" ] || fail "READ_PATH_GZIP=1 is a mode of the fair race (READ_PATH_FAIR=1)"
# What every request of the load says besides its path.
wrk_headers=()
[ -z "$gzip_mode" ] || wrk_headers=(-H 'Accept-Encoding: gzip')
if [ -n "$fair" ]; then
    duration=${1:-5}
    runs=${2:-5}
    certs=${READ_PATH_CERTS:-15000}
    threads=1
else
    duration=${1:-10}
    runs=${2:-3}
    certs=${READ_PATH_CERTS:-100000}
    threads=2
fi
marks=1000000
tokens=${READ_PATH_TOKENS:-$marks}
connections=50
cores=$(nproc)
export PATH=$PATH:/usr/sbin:/sbin

say() { echo "[$(date -u +%H:%M:%S)] $*"; }
fail() { echo "bench/read_path.sh: $*" >&2; exit 1; }

# --- tools -------------------------------------------------------------------------------------
apt_updated=
need() { # COMMAND PACKAGE... : install the first package that installs, as root, when missing
    local cmd=$1 pkg
    shift
    command -v "$cmd" >/dev/null && return 0
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        if [ -z "$apt_updated" ]; then
            apt-get update -qq >/dev/null
            apt_updated=1
        fi
        for pkg in "$@"; do
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >/dev/null 2>&1 && break
        done
    fi
    command -v "$cmd" >/dev/null || fail "needs $cmd: run as root, or install it (apt-get install $*)"
}
need wrk wrk
need nginx nginx-light nginx
need curl curl
need shuf coreutils
need pgrep procps
need python3 python3

# --- work directory and cleanup ------------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/read-path.XXXXXX")
pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
wait_for() { # URL SECONDS PID : until URL answers 200, PID still alive
    local i
    for ((i = 0; i < $2 * 10; i++)); do
        curl -sf -o /dev/null "$1" && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# --- binary, keys, certificates, marks -----------------------------------------------------------
if [ -n "${STARMARK_BIN:-}" ]; then
    bin=$(realpath "$STARMARK_BIN")
    say "using $bin"
else
    say "building the release binary"
    cargo build --release --locked --quiet
    bin=$PWD/target/release/starmark
fi
export STARMARK_BIN=$bin # bench/propagation.sh, below, runs the same binary
if [ -n "$fair" ]; then
    if [ -n "${CEILING_BIN:-}" ]; then
        ceiling_bin=$(realpath "$CEILING_BIN")
    else
        say "building the ceiling (bench/ceiling.rs)"
        cargo build --release --locked --quiet --example ceiling
        ceiling_bin=$PWD/target/release/examples/ceiling
    fi
fi
port=$(free_port)
export STARMARK_DATA_DIR=$work/data STARMARK_KEYS_DIR=$work/keys STARMARK_LOG=warn
export STARMARK_LISTEN=127.0.0.1:$port STARMARK_PUBLIC_URL=http://127.0.0.1:$port
# Load from one address must never meet the per-client rate limits, yet the limiter stays on the
# path it measures: every class gets a budget no benchmark reaches, none is switched off.
export STARMARK_RATE_LIMITS=${STARMARK_RATE_LIMITS:-scans=4000000000/1,lookups=4000000000/1,search=4000000000/1,bulk=4000000000/1,receipts=4000000000/1,receipt_checks=4000000000/1,artwork=4000000000/1,log=4000000000/1}
unset REDIS_URL DATABASE_URL
# The two-tier cache runs with Redis (a private server on a free port) unless READ_PATH_REDIS=0.
if [ "${READ_PATH_REDIS:-1}" != 0 ]; then
    command -v redis-server >/dev/null || fail "redis-server is missing (apt-get install redis-server), or set READ_PATH_REDIS=0"
    redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >/dev/null &
    pids+=($!)
    export REDIS_URL=redis://127.0.0.1:$redis_port
    say "redis-server on 127.0.0.1:$redis_port; STARMARK_CACHE_MAX_MB=${STARMARK_CACHE_MAX_MB:-64 (default)}, STARMARK_CACHE_UNPACKED_MB=${STARMARK_CACHE_UNPACKED_MB:-8 (default)}"
fi
"$bin" keygen >/dev/null
python3 bench/make_import_csv.py "$certs" "$work/certs.csv" --numbered
tail -n +2 "$work/certs.csv" | cut -d, -f1 | sed 's#^#/api/v1/certificates/#' > "$work/cert-paths.txt"
first=$(head -n 1 "$work/cert-paths.txt" | sed 's#.*/##')
start=$(date +%s.%N)
"$bin" import "$work/certs.csv" --quiet >/dev/null
say "imported $certs certificates in $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s"

# One batch of 1,000,000 marks per run of (d): at tens of thousands of scans a second, one
# batch's tokens last for about two runs, and a token asked twice is no longer a fresh scan.
ranges=10
per=$((tokens / ranges))
span=$((marks / ranges))
((per >= 1 && per <= span)) || fail "READ_PATH_TOKENS must be between $ranges and $marks"
for ((run = 1; run <= runs; run++)); do
    [ -z "$fair" ] || break
    start=$(date +%s.%N)
    batch=$("$bin" marks order "$first" --count "$marks" 2>/dev/null)
    say "ordered batch $batch of $marks marks in $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s"
    # TOKENS serials in 10 ranges, one at a random place in each tenth of the batch (the whole
    # batch by default), made on every core, then shuffled. The URLs are upper case (QR
    # alphanumeric mode): HTTP://HOST/V/TOKEN becomes /v/TOKEN.
    start=$(date +%s.%N)
    makers=()
    for ((k = 0; k < ranges; k++)); do
        from=$((k * span + 1 + (RANDOM * 32768 + RANDOM) % (span - per + 1)))
        timeout 300 "$bin" marks urls --batch "$batch" --first "$from" --last "$((from + per - 1))" \
            > "$work/urls-$k.txt" &
        makers+=("$!")
        if ((${#makers[@]} == cores || k + 1 == ranges)); then
            for pid in "${makers[@]}"; do wait "$pid" || fail "starmark marks urls failed"; done
            makers=()
        fi
    done
    cat "$work"/urls-*.txt | sed -E 's#^[A-Za-z]+://[^/]+/[Vv]/#/v/#' | shuf > "$work/scan-paths-$run.txt"
    rm -f "$work"/urls-*.txt
    tokens=$(wc -l < "$work/scan-paths-$run.txt")
    say "made $tokens mark URLs in $(python3 -c "print(f'{$(date +%s.%N) - $start:.1f}')") s"
done
echo /healthz > "$work/health-paths.txt"

# --- our server ----------------------------------------------------------------------------------
"$bin" serve > "$work/server.log" 2>&1 &
server=$!
pids+=("$server")
wait_for "http://127.0.0.1:$port/healthz" 60 "$server" || { cat "$work/server.log" >&2; fail "server did not start"; }
say "starmark serve (pid $server) on 127.0.0.1:$port; copying $certs answers into the docroot"
python3 bench/read_path_fetch.py "http://127.0.0.1:$port" "$work/cert-paths.txt" "$work/docroot" 8
body_bytes=$(du -sb --apparent-size "$work/docroot" | cut -f1)
if [ -n "$gzip_mode" ]; then
    need gzip gzip
    # nginx's gzip_static sends FILE.gz as it is to a client that accepts gzip.
    find "$work/docroot" -type f -print0 | xargs -0 -n 1000 gzip -k -9 -n
    gzip_bytes=$(find "$work/docroot" -type f -name '*.gz' -printf '%s\n' | awk '{s += $1} END {print s}')
    say "wrote $certs .gz files beside the bodies: $((gzip_bytes / certs)) B on average against $((body_bytes / certs)) B"
fi

# --- nginx ---------------------------------------------------------------------------------------
nport=$(free_port)
mkdir -p "$work/nginx"
temp_paths=""
for module in proxy fastcgi uwsgi scgi; do
    nginx -V 2>&1 | grep -q -- "--without-http_${module}_module" ||
        temp_paths+="    ${module}_temp_path $work/nginx/${module}_temp;"$'\n'
done
# Each worker keeps the files it serves open (open_file_cache), so the cache must stay below the
# worker's open-files limit, or nginx fails with "Too many open files". The limit is raised to
# CERTS + 4096 where that is allowed (root with CAP_SYS_RESOURCE); elsewhere it stays at the hard
# limit and the cache holds fewer files than the docroot (then most requests open the file).
nofile=$((certs + 4096))
if ! (ulimit -n "$nofile") 2>/dev/null; then
    nofile=$(ulimit -Hn)
    [ "$nofile" != unlimited ] || nofile=$((certs + 4096))
fi
cat > "$work/nginx/nginx.conf" <<EOF
worker_processes $cores;
worker_rlimit_nofile $nofile;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
$([ "$(id -u)" = 0 ] && echo "user root;")
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    open_file_cache max=$((nofile - 2048)) inactive=120s;
    open_file_cache_valid 120s;
$([ -n "$gzip_mode" ] && printf '    gzip_static on;\n    gzip_vary on;')
    types { }
    default_type application/json;
    client_body_temp_path $work/nginx/client_body_temp;
$temp_paths
    server {
        listen 127.0.0.1:$nport;
        root $work/docroot;
    }
}
EOF
nginx -p "$work/nginx/" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" &
nginx_pid=$!
pids+=("$nginx_pid")
wait_for "http://127.0.0.1:$nport/api/v1/certificates/$first" 30 "$nginx_pid" ||
    { cat "$work/nginx/error.log" >&2; fail "nginx did not start"; }
say "nginx $(nginx -v 2>&1 | sed 's#.*/##') (pid $nginx_pid, $cores workers, open_file_cache of $((nofile - 2048)) files) on 127.0.0.1:$nport"

# The same answer from both (byte for byte, or apart from a status assertion re-signed since the
# copy: prepared answers carry one with `produced_at`), and a scan that answers JSON.
sample=$(shuf -n 1 "$work/cert-paths.txt")
curl -sf -o "$work/ours.json" "http://127.0.0.1:$port$sample" || fail "our server did not answer $sample"
curl -sf -o "$work/nginx.json" "http://127.0.0.1:$nport$sample" || fail "nginx did not answer $sample"
same=$(python3 - "$work/ours.json" "$work/nginx.json" <<'PY'
import json, sys
ours, theirs = (open(p, "rb").read() for p in sys.argv[1:3])
if ours == theirs:
    print(f"the same {len(ours)} bytes")
else:
    a, b = json.loads(ours), json.loads(theirs)
    a.pop("status_assertion", None), b.pop("status_assertion", None)
    if a != b:
        sys.exit(f"different answers ({len(ours)} and {len(theirs)} bytes)")
    print(f"the same answer apart from a newer status assertion ({len(ours)} and {len(theirs)} bytes)")
PY
) || fail "our server and nginx answer $sample differently"
if [ -n "$gzip_mode" ]; then
    # Both send gzip when asked, and it decodes (curl --compressed) to the same answer.
    for server_port in "$port" "$nport"; do
        encoding=$(curl -sf -o /dev/null -D - -H 'Accept-Encoding: gzip' "http://127.0.0.1:$server_port$sample" |
            tr -d '\r' | sed -n 's/^[Cc]ontent-[Ee]ncoding: *//p')
        [ "$encoding" = gzip ] || fail "127.0.0.1:$server_port does not send $sample gzipped (Content-Encoding: '$encoding')"
    done
    curl -sf --compressed -o "$work/ours.json" "http://127.0.0.1:$port$sample" || fail "our server did not answer $sample"
    curl -sf --compressed -o "$work/nginx.json" "http://127.0.0.1:$nport$sample" || fail "nginx did not answer $sample"
    cmp -s "$work/ours.json" "$work/nginx.json" || python3 - "$work/ours.json" "$work/nginx.json" <<'PY' || fail "our server and nginx send $sample differently gzipped"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
a.pop("status_assertion", None), b.pop("status_assertion", None)
sys.exit(a != b)
PY
    say "checked $sample gzipped: both send Content-Encoding: gzip, and it decodes to the same answer"
fi
if [ -n "$fair" ]; then
    say "checked $sample: $same from both"
else
    scan=$(curl -sf -H 'Accept: application/json' "http://127.0.0.1:$port$(head -n 1 "$work/scan-paths-1.txt")") ||
        fail "the scan landing did not answer 200"
    say "checked $sample: $same from both; a scan says $(echo "$scan" | python3 -c 'import json, sys; print(json.load(sys.stdin).get("verdict"))')"
fi

# --- load ----------------------------------------------------------------------------------------
results=$work/results.txt
: > "$results"
# CPU time (user + system, in clock ticks) of the given processes, all their threads included.
cpu_ticks() {
    local pid total=0
    for pid in "$@"; do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
ticks_per_second=$(getconf CLK_TCK)
load() { # SCENARIO RUN URL PATHS [MODE OFFSET [wrk options...]]
    local scenario=$1 run=$2 url=$3 paths=$4 mode=${5:-random} offset=${6:-0}
    shift $(($# < 6 ? $# : 6))
    local out=$work/wrk-$scenario-$run.txt
    # The server's own CPU per request says more than requests/s when the machine's speed drifts
    # between runs: nginx's workers for (b), our server for the rest.
    local measured=("$server")
    [ "$scenario" != b ] || mapfile -t measured < <(pgrep -P "$nginx_pid")
    [ "$scenario" != e ] || measured=("$ceiling")
    [ "$scenario" != f ] || measured=("$cold_ceiling")
    local before
    before=$(cpu_ticks "${measured[@]}")
    wrk -t "$threads" -c "$connections" -d "${duration}s" --timeout 5s --latency "$@" \
        -s bench/read_path.lua "$url" -- "$paths" "$mode" "$offset" "$threads" > "$out" 2>&1 ||
        { cat "$out" >&2; fail "wrk failed for $scenario"; }
    local used=$(($(cpu_ticks "${measured[@]}") - before))
    local line
    line=$(grep '^READPATH ' "$out") || { cat "$out" >&2; fail "no result line from wrk for $scenario"; }
    local requests=${line#*requests=}
    requests=${requests%% *}
    line="$line cpu_us=$(python3 -c "print(f'{$used * 1e6 / $ticks_per_second / max($requests, 1):.2f}')")"
    echo "$scenario $run ${line#READPATH }" >> "$results"
    say "run $run $scenario: $(echo "$line" | sed -E 's/.*rps=([0-9.]+) p50_us=([0-9]+) p90_us=[0-9]+ p99_us=([0-9]+).*err_status=([0-9]+) err_timeout=([0-9]+).*/\1 req\/s, p50 \2 us, p99 \3 us, non-2xx \4, timeouts \5/')"
}
# Starts the ceiling with COUNT bodies on a free port: sets ceiling_pid and ceiling_port.
start_ceiling() { # COUNT
    ceiling_port=$(free_port)
    STARMARK_LISTEN=127.0.0.1:$ceiling_port CEILING_BODY_BYTES=$bytes CEILING_BODIES=$1 "$ceiling_bin" \
        > "$work/ceiling-$1.log" 2>&1 &
    ceiling_pid=$!
    pids+=("$ceiling_pid")
    wait_for "http://127.0.0.1:$ceiling_port/healthz" 60 "$ceiling_pid" ||
        { cat "$work/ceiling-$1.log" >&2; fail "the ceiling did not start"; }
    [ "$(curl -sf "http://127.0.0.1:$ceiling_port$sample" | wc -c)" = "$bytes" ] || fail "the ceiling does not send $bytes bytes"
    say "ceiling (pid $ceiling_pid) on 127.0.0.1:$ceiling_port: the same stack, $1 constant $bytes-byte bodies"
}

# The fair race: (a), (b), (c) and the ceilings (e, f) in turn, after a warm-up of each, then the summary.
fair_race() {
    local cached=$((nofile - 2048)) cport fport run warm
    bytes=$((body_bytes / certs))
    # Asked for gzip, the ceilings send what a gzipped answer weighs.
    [ -z "$gzip_mode" ] || bytes=$((gzip_bytes / certs))
    ((cached >= certs)) || say "WARNING: nginx's open_file_cache ($cached) is smaller than the docroot ($certs files): not a fair race"
    start_ceiling 1
    ceiling=$ceiling_pid cport=$ceiling_port
    start_ceiling "$certs"
    cold_ceiling=$ceiling_pid fport=$ceiling_port
    # Every file into each nginx worker's cache, every answer into ours, every connection warm.
    for warm in "$port" "$nport" "$cport" "$fport"; do
        wrk -t "$threads" -c "$connections" -d "${duration}s" "${wrk_headers[@]}" -s bench/read_path.lua \
            "http://127.0.0.1:$warm" -- "$work/cert-paths.txt" > /dev/null 2>&1 || fail "the warm-up of 127.0.0.1:$warm failed"
    done
    say "load: wrk -t $threads -c $connections -d ${duration}s ${wrk_headers[*]}, $runs runs of a, b, c, e, f in turn (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    for ((run = 1; run <= runs; run++)); do
        load a "$run" "http://127.0.0.1:$port" "$work/cert-paths.txt" random 0 "${wrk_headers[@]}"
        load b "$run" "http://127.0.0.1:$nport" "$work/cert-paths.txt" random 0 "${wrk_headers[@]}"
        load c "$run" "http://127.0.0.1:$port" "$work/health-paths.txt" random 0 "${wrk_headers[@]}"
        load e "$run" "http://127.0.0.1:$cport" "$work/cert-paths.txt" random 0 "${wrk_headers[@]}"
        load f "$run" "http://127.0.0.1:$fport" "$work/cert-paths.txt" random 0 "${wrk_headers[@]}"
    done
    kill -0 "$server" || fail "the server died during the runs"
    local machine
    machine="$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)"
    python3 - "$results" "$certs" "$bytes" "$duration" "$runs" "$cached" "$(nginx -v 2>&1 | sed 's#.*/##')" \
        "${machine:-unknown processor}, $cores cores" "$(cut -d' ' -f1-3 /proc/loadavg)" "${gzip_mode:+gzip}" <<'PY'
import statistics
import sys

path, certs, size, duration, runs, cached, nginx, machine, loadavg, gzip = sys.argv[1:]
rows = {}
for line in open(path):
    scenario, run, *fields = line.split()
    rows.setdefault(scenario, []).append({k: float(v) for k, v in (f.split("=") for f in fields)})
med = lambda s, key: statistics.median(r[key] for r in rows[s])
errors = lambda s: sum(r[k] for r in rows[s] for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
names = {
    "a": "(a) starmark GET /api/v1/certificates/{n}",
    "b": "(b) nginx, same bodies, every file cached",
    "c": "(c) starmark GET /healthz",
    "e": "(e) ceiling: same stack, constant body",
    "f": "(f) ceiling, one body per certificate",
}
print()
mode = "Accept-Encoding: gzip, gzipped bodies" if gzip else "bodies"
print(f"fair race: {int(certs):,} certificates ({mode} {int(size):,} B on average), nginx {nginx} with "
      f"open_file_cache max={int(cached):,}; wrk -t1 -c50, {duration} s a run, medians of {runs} runs in turn")
print(f"machine: {machine}; load average at the end {loadavg}")
print(f"{'scenario':46} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'CPU us':>7}  runs (req/s; CPU us)  errors")
for s, name in names.items():
    each = ", ".join(f"{r['rps']:,.0f}" for r in rows[s]) + "; " + ", ".join(f"{r['cpu_us']:.2f}" for r in rows[s])
    print(f"{name:46} {med(s, 'rps'):10,.0f} {med(s, 'p50_us') / 1000:8.2f} {med(s, 'p99_us') / 1000:8.2f}"
          f" {med(s, 'cpu_us'):7.2f}  {each}  {errors(s):.0f}")
failed = [s for s in names if errors(s)]
if failed:
    print(f"WARNING: scenario(s) {', '.join(failed)} had errors: their figures are not valid")
# Ratios of each run's own figures (the runs alternate, the machine's speed drifts), then medians.
ratio = lambda x, y, key: statistics.median(p[key] / q[key] for p, q in zip(rows[x], rows[y]))
a_b, e_b = ratio("a", "b", "rps"), ratio("e", "b", "rps")
a_cpu, e_cpu, f_cpu = ratio("a", "c", "cpu_us"), ratio("e", "c", "cpu_us"), ratio("f", "c", "cpu_us")
a_e, a_f = ratio("a", "e", "cpu_us"), ratio("a", "f", "cpu_us")
print()
print(f"{'measure (median of the runs own ratios)':46} {'value':>7}  {'target':9} result")
for label, value, target, ok in [
    ("a/b (our answers / nginx's cached files)", a_b, ">= 1.0", a_b >= 1.0),
    ("CPU per answer / CPU per /healthz", a_cpu, "<= 1.2", a_cpu <= 1.2),
    ("ceiling: e/b", e_b, "-", None),
    ("ceiling: CPU per constant body / per /healthz", e_cpu, "-", None),
    ("cold ceiling: CPU per body (f) / per /healthz", f_cpu, "-", None),
    ("CPU per answer / per constant body (a/e)", a_e, "-", None),
    ("CPU per answer / per cold body (a/f)", a_f, "-", None),
]:
    verdict = "-" if ok is None else ("invalid (errors)" if failed else ("met" if ok else "NOT met"))
    print(f"{label:46} {value:7.2f}  {target:9} {verdict}")
sys.exit(1 if failed else 0)
PY
}
if [ -n "$fair" ]; then
    fair_race
    exit
fi
say "load: wrk -t $threads -c $connections -d ${duration}s, $runs runs of a, b, c, d in turn"
for ((run = 1; run <= runs; run++)); do
    load a "$run" "http://127.0.0.1:$port" "$work/cert-paths.txt"
    load b "$run" "http://127.0.0.1:$nport" "$work/cert-paths.txt"
    load c "$run" "http://127.0.0.1:$port" "$work/health-paths.txt"
    # The peak so far: every answer loaded and served, no mark scanned yet.
    ((run > 1)) || answers_peak_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$server/status")
    load d "$run" "http://127.0.0.1:$port" "$work/scan-paths-$run.txt" walk 0 -H 'Accept: application/json'
done

# Revocation propagation across 3 instances (target p99 <= 50 ms): bench/propagation.sh starts
# its own Redis and three servers, so it measures the change feed alone, not this load.
say "revocation propagation across 3 instances (bench/propagation.sh 200)"
bench/propagation.sh 200 | tee -a "$work/propagation.txt"

peak_kb=$(awk '/^VmHWM:/ {print $2}' "/proc/$server/status")
rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$server/status")
kill -0 "$server" || fail "the server died during the runs"

# --- summary -------------------------------------------------------------------------------------
# What the ratios depend on besides our code: the processor and its caches (the answers are cold
# memory), and how many of the files nginx keeps open.
machine="$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)"
caches="$(lscpu 2>/dev/null | sed -n 's/^\(L[23]\) cache: *\(.*\)/\1 \2/p' | paste -sd, - | sed 's/,/, /g')"
machine="${machine:-unknown processor}${caches:+ ($caches)}; nginx open_file_cache max=$((nofile - 2048)) for $certs files"
PROPAGATION_FILE="$work/propagation.txt" ANSWERS_PEAK_KB="$answers_peak_kb" python3 - "$results" "$peak_kb" "$rss_kb" "$certs" "$tokens" "$body_bytes" "$duration" "$runs" \
    "$cores" "$(uname -m)" "$(nginx -v 2>&1 | sed 's#.*/##')" "$(wrk -v 2>&1 | head -n 1 | cut -d' ' -f2)" "$machine" <<'PY'
import os
import statistics
import sys

path, peak_kb, rss_kb, certs, tokens, body_bytes, duration, runs, cores, arch, nginx, wrk, machine = sys.argv[1:]
rows = {}
for line in open(path):
    scenario, run, *fields = line.split()
    rows.setdefault(scenario, []).append({k: float(v) for k, v in (f.split("=") for f in fields)})

def med(scenario, key):
    return statistics.median(r[key] for r in rows[scenario])

names = {
    "a": "(a) starmark GET /api/v1/certificates/{n}",
    "b": "(b) nginx, same bodies as static files",
    "c": "(c) starmark GET /healthz",
    "d": "(d) starmark GET /v/{token} (JSON)",
}
print()
print(f"read path: {int(certs):,} certificates (bodies {int(body_bytes) / int(certs):,.0f} B on average), "
      f"{int(tokens):,} mark tokens of a 1,000,000-mark batch per run of (d); wrk {wrk}, 2 threads, 50 connections, "
      f"{duration} s a run, medians of {runs} runs; nginx {nginx}; {cores} cores, {arch}")
print(f"machine: {machine}")
print(f"{'scenario':46} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'CPU us':>7}  runs (req/s)  errors")
for s, name in names.items():
    each = ", ".join(f"{r['rps']:,.0f}" for r in rows[s])
    errors = sum(r["err_connect"] + r["err_read"] + r["err_write"] + r["err_status"] + r["err_timeout"] for r in rows[s])
    # Each run of (d) walks the shuffled tokens of its own batch; only past the last do they repeat.
    reused = s == "d" and any(r["requests"] > int(tokens) for r in rows[s])
    wrapped = " (more requests than fresh tokens: some tokens asked twice)" if reused else ""
    print(f"{name:46} {med(s, 'rps'):10,.0f} {med(s, 'p50_us') / 1000:8.2f} {med(s, 'p99_us') / 1000:8.2f}"
          f" {med(s, 'cpu_us'):7.2f}  {each}  {errors:.0f}{wrapped}")

failed = [s for s in names if any(r["err_connect"] + r["err_read"] + r["err_write"] + r["err_status"]
                                  + r["err_timeout"] for r in rows[s])]
if failed:
    print(f"WARNING: scenario(s) {', '.join(failed)} had errors (non-2xx, timeouts or socket errors): "
          "their figures are not valid")

def verdict(ok, *scenarios):
    if any(s in failed for s in scenarios):
        return "invalid (errors)"
    return "met" if ok else "NOT met"

a, b, c, d = (med(s, "rps") for s in "abcd")
p99 = med("a", "p99_us") / 1000
peak = int(peak_kb) / 1024
print()
print(f"{'measure':42} {'value':>10}  {'target':10} result")
for label, value, target, *check in [
    ("a/b (our answers / nginx files)", f"{a / b:.2f}", ">= 1.25", a / b >= 1.25, "a", "b"),
    ("a/c (our answers / our ceiling)", f"{a / c:.2f}", ">= 0.9", a / c >= 0.9, "a", "c"),
    ("p99 of (a)", f"{p99:.2f} ms", "<= 5 ms", p99 <= 5, "a"),
    ("d/c (scans / our ceiling)", f"{d / c:.2f}", ">= 0.5", d / c >= 0.5, "d", "c"),
    ("server peak memory (VmHWM)", f"{peak:.0f} MiB", "<= 200 MB", peak * 1.048576 <= 200),
]:
    print(f"{label:42} {value:>10}  {target:10} {verdict(*check)}")
# For reference, not a target of its own: the peak over the whole run above includes the scans.
print(f"{'  of it before the first scan (a to c only)':42} {int(os.environ['ANSWERS_PEAK_KB']) / 1024:6.0f} MiB")
import os, re
found = re.search(r"p99 ([0-9.]+) ms", open(os.environ["PROPAGATION_FILE"]).read()) if os.path.exists(os.environ.get("PROPAGATION_FILE", "")) else None
if found:
    p99 = float(found.group(1))
    print(f"{'revocation propagation, 3 instances, p99':42} {p99:7.2f} ms  {'<= 50 ms':10} {'met' if p99 <= 50 else 'NOT met'}")
else:
    print(f"{'revocation propagation, 3 instances, p99':42} {'-':>10}  {'<= 50 ms':10} not measured")
print(f"(server RSS after the runs: {int(rss_kb) / 1024:.0f} MiB)")
sys.exit(1 if failed else 0)
PY
