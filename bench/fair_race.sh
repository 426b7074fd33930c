#!/usr/bin/env bash
# The fair race with nginx (issue 28 §1): bench/read_path.sh in its fair mode, where nginx's
# open_file_cache holds the whole docroot, beside the stack's ceiling (bench/ceiling.rs). See
# bench/read_path.sh for what it runs and prints.
#
# Usage: bench/fair_race.sh [SECONDS=5] [RUNS=5]   (environment as for bench/read_path.sh)
export READ_PATH_FAIR=1
exec "$(dirname "$0")/read_path.sh" "$@"
