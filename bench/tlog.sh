#!/usr/bin/env bash
# Transparency-log benchmark: proof times at 1,000,000 leaves, checkpoint signing, and append
# throughput through the registry (SQLite, synchronous=FULL). See bench/tlog_bench.rs.
# The bulk import rate with the log on is measured by bench/import.sh.
#
# Usage: bench/tlog.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release --locked --quiet --example tlog_bench
echo "machine: $(nproc) cores, $(uname -m)"
