#!/usr/bin/env bash
# The fair race with nginx (issue 28 §1): bench/read_path.sh in its fair mode, where nginx's
# open_file_cache holds the whole docroot, beside the stack's ceiling (bench/ceiling.rs). See
# bench/read_path.sh for what it runs and prints.
#
# Usage: bench/fair_race.sh [SECONDS=5] [RUNS=5]   (environment as for bench/read_path.sh)
#        READ_PATH_GZIP=1 bench/fair_race.sh        every request accepts gzip: nginx with
#        gzip_static and .gz files beside the bodies, we with the gzip form kept beside each answer
export READ_PATH_FAIR=1
# Every answer kept unpacked, as nginx keeps every file open: 15,000 answers take about 60 MB so
# (the server caps it at half of STARMARK_CACHE_MAX_MB; run with STARMARK_CACHE_MAX_MB=512).
export STARMARK_CACHE_UNPACKED_MB=${STARMARK_CACHE_UNPACKED_MB:-128}
exec "$(dirname "$0")/read_path.sh" "$@"
