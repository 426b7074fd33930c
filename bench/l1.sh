#!/usr/bin/env bash
# Cost of one L1 hit: our AnswerCache, a bare moka cache and a plain RwLock<HashMap>, 100,000
# answers, random keys. See bench/l1_bench.rs.
#
# Usage: bench/l1.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --locked --quiet --example l1_bench
echo "machine: $(nproc) cores, $(uname -m)"
