#!/usr/bin/env bash
# Where a fresh scan's CPU goes, measured two ways on the data bench/read_path.sh's (d) uses
# (CERTS numbered certificates, one batch of 1,000,000 marks of the first, Redis on, every
# rate-limit class on with a budget no run reaches; requests carry no User-Agent header, as
# wrk's do not).
#
# SCAN_PROFILE_TOOL=callgrind (default): instructions, deterministic, so unaffected by other work
#   on the machine (unlike the wall clock). Starts `starmark serve` under
#   `valgrind --tool=callgrind` with collection off, warms it up (WARMUP fresh scans and /healthz
#   requests: the certificate's first fill, the batch's digest index), then counts, over 50
#   connections (bench/drive.py), COUNT requests of GET /healthz, then COUNT fresh scans
#   GET /v/{token} as JSON, each serial asked once, then COUNT lookups
#   GET /api/v1/certificates/{n} of random certificates (every certificate asked once in the
#   warm-up, so each lookup is a hit of the read index). Prints instructions per request of
#   each, their ratios to /healthz, and the top functions of the scans and of the lookups; the
#   callgrind files stay in OUT.
#   Instructions leave out the kernel (system calls) and memory stalls: see the stat mode.
#   SCAN_PROFILE_GS1=1 (issue 31): the certificate gets a second batch of as many marks, bound to
#   a product (GS1 Digital Link marks); its tokens are warmed up like the first batch's, and after
#   the lookups COUNT fresh scans GET /01/{gtin}/21/{serial}?S=... are counted too, in the same
#   run, with their ratio to the /v/{token} scans.
# SCAN_PROFILE_TOOL=stat: the native server under wrk (2 threads, 50 connections), ROUNDS rounds
#   of SECONDS each of lookups (GET /api/v1/certificates/{n}, random), /healthz and fresh scans
#   (walking TOKENS shuffled serials). For each: requests/s, the server's CPU per request (user
#   and system), system calls, context switches and page faults per request (perf stat), and
#   Redis's EVALSHA calls and CPU per request. COUNT is not used.
#
#   Each window also prints the bytes the server wrote to storage per request (write_bytes of
#   /proc/PID/io: the SQLite file and its WAL, as the kernel accounts them when pages are dirtied)
#   and, from builds that count them, the bytes of tallies the flushes wrote
#   (starmark_scan_bytes_stored_total on /metrics) per request.
#   SCAN_PROFILE_RESCAN=1 (issue 28, (d')): every token is scanned once first (bench/drive.py),
#   the flush is awaited (starmark_scans_stored_total on /metrics), and the scans windows then
#   ask the same tokens again (walking on, wrapping round), so every scan is of a serial that
#   was scanned before. Use it with a batch that the tokens cover, e.g. SCAN_PROFILE_MARKS=200000
#   SCAN_PROFILE_TOKENS=200000 (the tokens are then the whole batch less the warm-up's).
# SCAN_PROFILE_TOOL=fill: cost over time as a fresh batch fills. After a /healthz window, WINDOWS
#   windows of SECONDS each walk on through the batch's shuffled tokens (all of the batch's,
#   unless TOKENS is smaller), without a pause between them, then a second /healthz window. Per
#   window: scans/s, server CPU per scan, bytes written per scan, and how much of the batch has
#   been scanned; once the walk wraps round, scans are of serials scanned before.
#
# Usage: bench/scan_profile.sh [COUNT=20000] [OUT=bench/out/scan-profile]
# Environment: STARMARK_BIN=path (default: builds target/release/starmark)
#              SCAN_PROFILE_TOOL=callgrind|stat|fill SCAN_PROFILE_CERTS=1000 SCAN_PROFILE_WARMUP=2000
#              SCAN_PROFILE_ROUNDS=1 SCAN_PROFILE_SECONDS=10 SCAN_PROFILE_TOKENS=600000 (stat)
#              SCAN_PROFILE_MARKS=1000000 (the batch's size) SCAN_PROFILE_RESCAN=0 (stat)
#              SCAN_PROFILE_WINDOWS=12 SCAN_PROFILE_SECONDS=5 (fill) SCAN_PROFILE_WRK_THREADS=2
#              SCAN_PROFILE_REDIS=1 (0: without Redis) SCAN_PROFILE_GS1=0 (callgrind)
# Needs valgrind, wrk, perf (linux-perf), redis-server, redis-cli, bc, curl and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

count=${1:-20000}
out=${2:-bench/out/scan-profile}
certs=${SCAN_PROFILE_CERTS:-1000}
warmup=${SCAN_PROFILE_WARMUP:-2000}
tool=${SCAN_PROFILE_TOOL:-callgrind}
seconds=${SCAN_PROFILE_SECONDS:-10}
rounds=${SCAN_PROFILE_ROUNDS:-1}
marks=${SCAN_PROFILE_MARKS:-1000000}
rescan=${SCAN_PROFILE_RESCAN:-0}
wrk_threads=${SCAN_PROFILE_WRK_THREADS:-2}
# The stat and fill modes run for a time, not a count: enough fresh tokens for them.
[ "$tool" != stat ] || count=${SCAN_PROFILE_TOKENS:-600000}
if [ "$tool" = fill ]; then
    seconds=${SCAN_PROFILE_SECONDS:-5}
    count=${SCAN_PROFILE_TOKENS:-$marks}
fi
# Tokens cannot outnumber the batch: a count that would leaves the batch less the warm-up.
[ $((warmup + count)) -le "$marks" ] || count=$((marks - warmup))

say() { echo "[$(date -u +%H:%M:%S)] $*"; }
fail() { echo "bench/scan_profile.sh: $*" >&2; exit 1; }
for needed in valgrind callgrind_control callgrind_annotate curl python3 wrk perf redis-cli bc; do
    command -v "$needed" >/dev/null || fail "needs $needed (apt-get install valgrind curl python3 wrk linux-perf redis-tools bc)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/scan-profile.XXXXXX")
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

if [ -n "${STARMARK_BIN:-}" ]; then
    bin=$(realpath "$STARMARK_BIN")
else
    cargo build --release --locked --quiet
    bin=$PWD/target/release/starmark
fi
mkdir -p "$out"
out=$(realpath "$out")
port=$(free_port)
export STARMARK_DATA_DIR=$work/data STARMARK_KEYS_DIR=$work/keys STARMARK_LOG=warn
export STARMARK_LISTEN=127.0.0.1:$port STARMARK_PUBLIC_URL=http://127.0.0.1:$port
export STARMARK_RATE_LIMITS=${STARMARK_RATE_LIMITS:-scans=4000000000/1,lookups=4000000000/1,search=4000000000/1,bulk=4000000000/1,receipts=4000000000/1,receipt_checks=4000000000/1,artwork=4000000000/1,log=4000000000/1}
unset REDIS_URL DATABASE_URL
if [ "${SCAN_PROFILE_REDIS:-1}" != 0 ]; then
    redis_port=$(free_port)
    redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >/dev/null &
    pids+=($!)
    export REDIS_URL=redis://127.0.0.1:$redis_port
fi
"$bin" keygen >/dev/null
python3 bench/make_import_csv.py "$certs" "$work/certs.csv" --numbered
first=$(sed -n 2p "$work/certs.csv" | cut -d, -f1)
"$bin" import "$work/certs.csv" --quiet >/dev/null
reader=$("$bin" token create --role reader 2>/dev/null)
batch=$("$bin" marks order "$first" --count "$marks" 2>/dev/null)
# Serials from a random place in the batch, shuffled, as read_path.sh walks them.
from=1
[ $((marks - warmup - count)) -le 0 ] || from=$((1 + (RANDOM * 32768 + RANDOM) % (marks - warmup - count)))
"$bin" marks urls --batch "$batch" --first "$from" --last "$((from + warmup + count - 1))" |
    sed -E 's#^[A-Za-z]+://[^/]+/[Vv]/#/v/#' | shuf > "$work/scan-paths.txt"
echo /healthz > "$work/health-paths.txt"
gs1=${SCAN_PROFILE_GS1:-0}
if [ "$gs1" = 1 ]; then
    gs1_batch=$("$bin" marks order "$first" --count "$marks" --gtin 6901234567892 --product 'Bench kettle' 2>/dev/null)
    "$bin" marks urls --batch "$gs1_batch" --first "$from" --last "$((from + warmup + count - 1))" |
        sed -E 's#^[A-Za-z]+://[^/]+/#/#' | shuf > "$work/gs1-paths.txt"
    grep -q '^/01/06901234567892/21/[0-9]*?S=' "$work/gs1-paths.txt" || fail "batch $gs1_batch's marks are not GS1 URIs"
fi
say "$certs certificates, batch $batch of $marks marks, $((warmup + count)) tokens; $bin"

wait_up() {
    local i
    for ((i = 0; i < 1200; i++)); do
        curl -sf -o /dev/null "http://127.0.0.1:$port/healthz" && return 0
        kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; fail "server did not start"; }
        sleep 0.5
    done
    fail "server did not start"
}
drive() { python3 bench/drive.py "127.0.0.1:$port" "$@" || fail "requests failed: $*"; }

# --- stat: the native server under wrk, kernel and Redis included ---------------------------------
if [ "$tool" = stat ] || [ "$tool" = fill ]; then
    "$bin" serve > "$work/server.log" 2>&1 &
    server=$!
    pids+=("$server")
    wait_up
    say "warming up: $warmup fresh scans"
    drive "$work/scan-paths.txt" "$warmup" 50 0 >/dev/null
    # The system calls that make up most of a request's: which of them a change adds.
    syscalls=$(printf 'syscalls:sys_enter_%s,' futex epoll_wait read write writev recvfrom sendto pwrite64 fdatasync sched_yield)
    syscalls=${syscalls%,}
    ticks() { awk '{print $14, $15}' "/proc/$server/stat"; }
    written() { sed -n 's/^write_bytes: //p' "/proc/$server/io"; }
    metric() { curl -sf -H "Authorization: Bearer $reader" "http://127.0.0.1:$port/metrics" | sed -n "s/^$1 \([0-9]*\).*/\1/p" || true; }
    stored() { metric starmark_scans_stored_total; }
    # The store's own count of tally bytes its flushes wrote (builds that keep one; else empty).
    tally_bytes() { metric starmark_scan_bytes_stored_total; }
    evalsha() { [ -n "${redis_port:-}" ] || { echo 0; return; }; redis-cli -p "$redis_port" info commandstats | sed -n 's/^cmdstat_evalsha:calls=\([0-9]*\).*/\1/p'; }
    redis_cpu() { [ -n "${redis_port:-}" ] || { echo 0; return; }; redis-cli -p "$redis_port" info cpu | sed -n 's/^used_cpu_\(sys\|user\):\([0-9.]*\).*/\2/p' | paste -sd+ | bc; }
    # Waits until the store holds every scan made (the flush runs every second).
    await_flush() { # SCANS
        local i
        for ((i = 0; i < 600; i++)); do
            [ "$(stored)" -ge "$1" ] 2>/dev/null && return 0
            sleep 0.2
        done
        fail "the store did not get $1 scans"
    }
    window() { # NAME PATHS MODE OFFSET: prints a line, and leaves the request count in $work/requests
        local name=$1 before_ticks before_eval before_redis before_written before_tally
        before_ticks=$(ticks)
        before_written=$(written)
        before_tally=$(tally_bytes)
        before_eval=$(evalsha)
        before_redis=$(redis_cpu)
        perf stat -x, -e raw_syscalls:sys_enter,context-switches,page-faults,$syscalls -p "$server" -o "$work/perf-$name.txt" &
        local perf_pid=$!
        wrk -t "$wrk_threads" -c 50 -d "${seconds}s" --timeout 5s -H 'Accept: application/json' -s bench/read_path.lua \
            "http://127.0.0.1:$port" -- "$2" "$3" "$4" "$wrk_threads" > "$work/wrk-$name.txt" 2>&1 || { cat "$work/wrk-$name.txt" >&2; fail "wrk failed"; }
        kill -INT "$perf_pid"
        wait "$perf_pid" 2>/dev/null || true
        python3 - "$name" "$(grep '^READPATH ' "$work/wrk-$name.txt")" "$before_ticks" "$(ticks)" \
            "$(getconf CLK_TCK)" "$before_eval" "$(evalsha)" "$before_redis" "$(redis_cpu)" "$work/perf-$name.txt" \
            "$before_written" "$(written)" "$work/requests" "${5:-}" "$before_tally" "$(tally_bytes)" <<'PY'
import sys
name, line, t0, t1, hz, e0, e1, r0, r1, perf, w0, w1, requests_file, scanned, b0, b1 = sys.argv[1:]
fields = dict(f.split("=") for f in line.split()[1:])
n = int(fields["requests"])
open(requests_file, "w").write(str(n))
(u0, s0), (u1, s1) = (map(int, t.split()) for t in (t0, t1))
hz = int(hz)
us = lambda ticks: ticks * 1e6 / hz / n
counters = {}
for row in open(perf):
    parts = row.strip().split(",")
    if len(parts) > 2 and parts[0].replace(".", "").isdigit():
        counters[parts[2]] = float(parts[0])
per = lambda key: counters.get(key, float("nan")) / n
errors = sum(int(fields[k]) for k in ("err_connect", "err_read", "err_write", "err_status", "err_timeout"))
print(f"{name}: {n} requests, {float(fields['rps']):,.0f}/s, errors {errors}, wrapped {fields['wrapped']}; server CPU/request "
      f"{us(u1 - u0 + s1 - s0):.2f} us (user {us(u1 - u0):.2f}, system {us(s1 - s0):.2f}); "
      f"bytes written/request {(int(w1) - int(w0)) / n:,.0f}"
      + (f", tally bytes stored/request {(int(b1) - int(b0)) / n:,.1f}" if b0 and b1 else "") + scanned)
print(f"    per request: syscalls {per('raw_syscalls:sys_enter'):.2f}, context switches {per('context-switches'):.3f}, "
      f"page faults {per('page-faults'):.3f}, redis EVALSHA {(int(e1 or 0) - int(e0 or 0)) / n:.4f}, "
      f"redis CPU {(float(r1 or 0) - float(r0 or 0)) * 1e6 / n:.2f} us")
print("    system calls per request: " + ", ".join(
    f"{key.split('sys_enter_')[1]} {value / n:.3f}" for key, value in counters.items() if "sys_enter_" in key))
PY
    }
    tokens=$((warmup + count))
    if [ "$tool" = fill ]; then
        window healthz-before "$work/health-paths.txt" random 0
        offset=$warmup
        for ((w = 1; w <= ${SCAN_PROFILE_WINDOWS:-12}; w++)); do
            # Scanned so far, before this window: the warm-up, then whole walks of the tokens.
            window "fill-$w" "$work/scan-paths.txt" walk "$offset" \
                "; batch scanned before the window $(python3 -c "print(f'{min($offset, $tokens) / $marks:.0%}')")"
            offset=$((offset + $(cat "$work/requests")))
        done
        window healthz-after "$work/health-paths.txt" random 0
        echo "server peak memory (VmHWM): $(awk '/^VmHWM:/ {print $2}' "/proc/$server/status") kB"
        exit 0
    fi
    if [ "$rescan" = 1 ]; then
        say "scanning the other $count tokens once"
        drive "$work/scan-paths.txt" "$count" 50 "$warmup" >/dev/null
        await_flush "$tokens"
        say "every one of the $tokens tokens scanned and stored; scans below are of serials scanned before"
    fi
    tail -n +2 "$work/certs.csv" | cut -d, -f1 | sed 's#^#/api/v1/certificates/#' > "$work/cert-paths.txt"
    offset=$warmup
    [ "$rescan" != 1 ] || offset=0
    for ((round = 1; round <= rounds; round++)); do
        window "lookups-$round" "$work/cert-paths.txt" random 0
        window "healthz-$round" "$work/health-paths.txt" random 0
        # Each round walks on from where the last stopped.
        window "scans-$round" "$work/scan-paths.txt" walk "$offset"
        offset=$((offset + $(cat "$work/requests")))
    done
    echo "server peak memory (VmHWM): $(awk '/^VmHWM:/ {print $2}' "/proc/$server/status") kB"
    exit 0
fi

# --- callgrind: instructions, deterministic ------------------------------------------------------
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/callgrind.%p" \
    "$bin" serve > "$work/server.log" 2>&1 &
server=$!
pids+=("$server")
wait_up
say "warming up: $warmup fresh scans, $warmup /healthz"
drive "$work/scan-paths.txt" "$warmup" 50 0 >/dev/null
[ "$gs1" != 1 ] || drive "$work/gs1-paths.txt" "$warmup" 50 0 >/dev/null
drive "$work/health-paths.txt" "$warmup" 50 >/dev/null
tail -n +2 "$work/certs.csv" | cut -d, -f1 | sed 's#^#/api/v1/certificates/#' > "$work/cert-paths.txt"
say "warming up: every one of $certs certificates once"
drive "$work/cert-paths.txt" "$certs" 50 >/dev/null
python3 - "$work/cert-paths.txt" "$count" > "$work/lookup-paths.txt" <<'PY'
import random, sys
paths = open(sys.argv[1]).read().split()
print("\n".join(random.choice(paths) for _ in range(int(sys.argv[2]))))
PY
rm -f "$out"/callgrind.*
callgrind_control -i on "$server" >/dev/null
say "/healthz: $(drive "$work/health-paths.txt" "$count" 50)"
callgrind_control -d healthz "$server" >/dev/null
say "fresh scans: $(drive "$work/scan-paths.txt" "$count" 50 "$warmup")"
callgrind_control -d scans "$server" >/dev/null
say "lookups: $(drive "$work/lookup-paths.txt" "$count" 50)"
callgrind_control -d lookups "$server" >/dev/null
if [ "$gs1" = 1 ]; then
    say "fresh GS1 scans: $(drive "$work/gs1-paths.txt" "$count" 50 "$warmup")"
    callgrind_control -d gs1 "$server" >/dev/null
fi
callgrind_control -i off "$server" >/dev/null
kill "$server"
wait "$server" 2>/dev/null || true

total() { sed -n 's/^summary: *\([0-9]*\).*/\1/p' "$1"; }
health=$(ls "$out"/callgrind.*.1 2>/dev/null | head -n 1)
scans=$(ls "$out"/callgrind.*.2 2>/dev/null | head -n 1)
lookups=$(ls "$out"/callgrind.*.3 2>/dev/null | head -n 1)
[ -n "$health" ] && [ -n "$scans" ] && [ -n "$lookups" ] || fail "no callgrind dumps in $out"
mv "$health" "$out/healthz.callgrind"
mv "$scans" "$out/scans.callgrind"
mv "$lookups" "$out/lookups.callgrind"
if [ "$gs1" = 1 ]; then
    gs1_dump=$(ls "$out"/callgrind.*.4 2>/dev/null | head -n 1)
    [ -n "$gs1_dump" ] || fail "no GS1 callgrind dump in $out"
    mv "$gs1_dump" "$out/gs1-scans.callgrind"
    python3 - "$(total "$out/healthz.callgrind")" "$(total "$out/scans.callgrind")" "$(total "$out/gs1-scans.callgrind")" "$count" <<'PY'
import sys
health, scans, gs1, count = (int(v) for v in sys.argv[1:])
print(f"instructions per request: fresh GS1 scan {gs1 / count:,.0f} (ratio to /healthz {gs1 / health:.2f}, "
      f"to a fresh /v/ scan {gs1 / scans:.3f}) (COUNT={count})")
PY
fi
python3 - "$(total "$out/healthz.callgrind")" "$(total "$out/scans.callgrind")" "$(total "$out/lookups.callgrind")" "$count" <<'PY'
import sys
health, scans, lookups, count = (int(v) for v in sys.argv[1:])
print(f"instructions per request: /healthz {health / count:,.0f}, fresh scan {scans / count:,.0f} "
      f"(ratio {scans / health:.2f}), lookup {lookups / count:,.0f} (ratio {lookups / health:.2f}) (COUNT={count})")
PY
echo "top functions of the scans, inclusive:"
callgrind_annotate --inclusive=yes "$out/scans.callgrind" 2>/dev/null | sed -n '/^ *Ir/,$p' | sed -n '3,30p'
echo "top functions of the scans, self:"
callgrind_annotate "$out/scans.callgrind" 2>/dev/null | sed -n '/^ *Ir/,$p' | sed -n '3,30p'
echo "top functions of the lookups, inclusive:"
callgrind_annotate --inclusive=yes "$out/lookups.callgrind" 2>/dev/null | sed -n '/^ *Ir/,$p' | sed -n '3,40p'
echo "top functions of the lookups, self:"
callgrind_annotate "$out/lookups.callgrind" 2>/dev/null | sed -n '/^ *Ir/,$p' | sed -n '3,40p'
