#!/usr/bin/env bash
# Fuzz the loader, validator and planner for a given time:
#   fuzz/run.sh [SECONDS]            (default 1800: the 30-minute run)
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Seeds are the
# topology files of the repository (tests/corpus, topologies/, examples/); the working corpus
# and any crash (fuzz/artifacts/load_plan/crash-*) stay under fuzz/ (git-ignored). A crash
# found becomes a file under tests/corpus/fuzz/, which tests/edges.rs loads on every test run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-1800}"
mkdir -p fuzz/corpus/load_plan fuzz/seeds
while IFS= read -r f; do
  cp "$f" "fuzz/seeds/$(echo "$f" | tr '/' '_')"
done < <(find tests/corpus topologies -type f -name '*.yaml')
# 2 GiB of RSS: the alias budget (5,000,000 values) must keep any input well below it.
exec cargo +nightly fuzz run load_plan fuzz/corpus/load_plan fuzz/seeds -- \
  -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -timeout=10 -print_final_stats=1
