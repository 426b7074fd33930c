#!/usr/bin/env bash
# The HTML pages of two builds, side by side: renders a set of routes and states from one seeded
# demo registry with each build and diffs them, then counts the instructions the scan page's
# render function executes in each (callgrind, which counts the same on a busy machine).
#
#   bench/pages.sh BEFORE_BINARY AFTER_BINARY [OUT_DIR] [SCANS]
#
# Build each binary with `cargo build --release` (copy the first aside before building the
# second). Needs curl, python3 and valgrind. The seeded registry is made once by BEFORE_BINARY
# and copied for each build, so both answer from the same records, tokens and receipts; times
# in the pages are blanked before the diff.
set -euo pipefail

before=$(realpath "$1")
after=$(realpath "$2")
out=${3:-/tmp/starmark-pages}
scans=${4:-200}
port=18431
base="http://127.0.0.1:$port"
rm -rf "$out"
mkdir -p "$out/seed"

server=""
stop() {
    if [ -n "$server" ]; then
        kill -INT "$server" 2>/dev/null || true
        wait "$server" 2>/dev/null || true
        server=""
    fi
}
trap stop EXIT

# start BINARY DATA_DIR [WRAPPER...]: serves DATA_DIR's registry in the background.
start() {
    local binary=$1 dir=$2
    shift 2
    STARMARK_LISTEN="127.0.0.1:$port" STARMARK_DATA_DIR="$dir/data" STARMARK_KEYS_DIR="$dir/keys" \
        STARMARK_PUBLIC_URL="$base" "$@" "$binary" demo >"$dir/server.log" 2>&1 &
    server=$!
    for _ in $(seq 1 600); do
        curl -fs "$base/healthz" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "the server did not start: see $dir/server.log" >&2
    exit 1
}

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# The seed: demo certificates, then marks and the states that give each verdict.
start "$before" "$out/seed"
admin=$(cat "$out/seed/data/demo-token")
post() {
    curl -fs -H "Authorization: Bearer $admin" -H 'Content-Type: application/json' -d "$2" "$base$1"
}
token_of() { post "/api/v1/certificates/$1/marks" '{"count": 5}' | json "['first']['token']"; }
valid=$(token_of SM2026ASC000001)
suspended=$(token_of SM2026ASC000004)
mark_revoked=$(token_of SM2026ASC000003)
withdrawn=$(token_of SM2026ASC000002)
until=$(date -u -d '+30 days' +%F)
post /api/v1/certificates/SM2026ASC000004/status \
    "{\"action\": \"suspend\", \"reason\": \"整改 <b>\\\"quoted\\\"</b> & 'single'\", \"until\": \"$until\"}" >/dev/null
post /api/v1/certificates/SM2026ASC000003/marks/1/revoke \
    '{"first": 1, "last": 2, "reason": "stolen <labels> & \"more\""}' >/dev/null
post /api/v1/certificates/SM2026ASC000002/status '{"action": "withdraw", "reason": "holder'"'"'s request"}' >/dev/null
receipt=$(curl -fs -H 'Content-Type: application/json' \
    -d '{"queries": ["SM2026ASC000001", "91350200776049653A", "<q>\"x\" & y", "SM2026NOPE0001"]}' \
    "$base/api/v1/receipts" | json "['id']")
stop

{
    echo "/"
    echo "/search?q=%E7%94%B5%E5%99%A8"
    echo "/search?q=&state=suspended"
    echo "/search?q=&level=five_star"
    echo "/search?q=x&state=sideways"
    echo "/search?q=91350200776049653B"
    echo "/search?q=%3Cb%3E%22%27%26"
    echo "/search?q=nothing-like-this"
    for n in SM2026ASC000001 SM2026ASC000002 SM2026ASC000003 SM2026ASC000004 SM2025ASC000017 \
        SM2024ASC000203 SM2024ASC000311 SM2021ASC000045 SM2026NOPE0001 %3Cscript%3E; do
        echo "/certificates/$n"
    done
    for t in "$valid" "$suspended" "$mark_revoked" "$withdrawn" NOT-A-TOKEN "${valid%?}x" "%22%3E%3Cb%3E"; do
        echo "/v/$t"
    done
    echo "/verify"
    echo "/receipts/$receipt"
    echo "/receipts/$receipt?page=2"
    echo "/receipts/no-such-receipt"
} >"$out/routes"

# Times (RFC 3339 and as written on the pages) are blanked: each run reads the clock.
normalise() {
    sed -E -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+(Z|[+-][0-9]{2}:[0-9]{2})/TIME/g' \
        -e 's/[0-9]{4}年[0-9]{2}月[0-9]{2}日 [0-9:]{8}/TIME/g' \
        -e 's/[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{8} China/TIME China/g'
}

# fetch BINARY NAME: every route in both languages, and the bulk form's answers.
fetch() {
    local binary=$1 name=$2
    cp -r "$out/seed" "$out/$name"
    start "$binary" "$out/$name"
    mkdir -p "$out/$name/pages"
    local i=0
    while read -r route; do
        i=$((i + 1))
        for lang in zh en; do
            curl -s -H "Accept-Language: $lang" -H 'Accept: text/html' "$base$route" | normalise \
                >"$out/$name/pages/$(printf %02d "$i")-$lang.html"
        done
    done <"$out/routes"
    for lang in zh en; do
        curl -s -F "queries=SM2026ASC000001
91350200776049653A
<b>\"bold\"</b> & 'x'
SM2026NOPE0001" -F "lang=$lang" "$base/verify" | normalise >"$out/$name/pages/bulk-$lang.html"
        curl -s -F "queries=" -F "lang=$lang" "$base/verify" | normalise >"$out/$name/pages/bulk-empty-$lang.html"
    done
    stop
}

fetch "$before" before
fetch "$after" after
pages=$(ls "$out/before/pages" | wc -l)
if diff -r "$out/before/pages" "$out/after/pages" >"$out/pages.diff"; then
    echo "pages: all $pages identical ($(wc -l <"$out/routes") routes x 2 languages + bulk answers)"
else
    echo "pages: $(grep -c '^diff' "$out/pages.diff" || true) of $pages differ: $out/pages.diff"
    # The hand-written pages wrote `<!doctype html>` and `'` as `&#39;`; maud writes
    # `<!DOCTYPE html>` and leaves `'` alone (its attributes are always double-quoted).
    mkdir -p "$out/spelled/before" "$out/spelled/after"
    for page in "$out"/before/pages/*; do
        sed -e 's/<!doctype html>/<!DOCTYPE html>/' -e "s/&#39;/'/g" "$page" >"$out/spelled/before/${page##*/}"
        sed -e 's/<!doctype html>/<!DOCTYPE html>/' -e "s/&#39;/'/g" "$out/after/pages/${page##*/}" \
            >"$out/spelled/after/${page##*/}"
    done
    if diff -r "$out/spelled/before" "$out/spelled/after" >"$out/spelled.diff"; then
        echo "pages: all $pages identical but for the doctype's case and '&#39;' against \"'\""
    else
        echo "pages: $(grep -c '^diff' "$out/spelled.diff" || true) differ beyond that: $out/spelled.diff"
    fi
fi

# count BINARY NAME FUNCTION: instructions executed inside FUNCTION (a callgrind glob) over SCANS
# scans of the valid mark (Accept: text/html), per scan.
count() {
    local binary=$1 name=$2 function=$3
    rm -rf "$out/$name-count"
    cp -r "$out/seed" "$out/$name-count"
    start "$binary" "$out/$name-count" valgrind --tool=callgrind --collect-atstart=no \
        "--toggle-collect=$function" --callgrind-out-file="$out/$name.callgrind"
    for _ in $(seq 1 "$scans"); do
        curl -fs -H 'Accept: text/html' "$base/v/$valid" >/dev/null
    done
    stop
    local total
    total=$(grep -E '^(summary|totals):' "$out/$name.callgrind" | head -1 | awk '{print $2}')
    echo "$name: $((total / scans)) instructions a scan in $function ($scans scans)"
}

# The page's render function, then the whole handler of GET /v/{token} (token check, read path,
# verdict, count, render, response), which the compiler inlines into axum's call of a handler of
# four extractors (the only such handler these requests reach).
for function in '*scan::page::render*' '*Handler<(M,T1,T2,T3,T4),S>>::call*'; do
    count "$before" before "$function"
    count "$after" after "$function"
done
