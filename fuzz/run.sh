#!/usr/bin/env bash
# Fuzz the loader, validator and planner for a given time:
#   fuzz/run.sh [SECONDS]            (default 1800: the 30-minute run)
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and a C++ compiler (libFuzzer is built from
# source by libfuzzer-sys). The stable toolchain with RUSTC_BOOTSTRAP=1, which lets stable
# rustc take the sanitizer flags cargo-fuzz passes (only for this separate workspace: the
# main build never sees it); FUZZ_TOOLCHAIN=nightly uses a nightly toolchain instead. The
# build is optimized (-O) without debug assertions; FUZZ_BUILD="-a" adds them.
# Seeds are the topology files of the repository (tests/corpus, topologies/); the working
# corpus and any crash (fuzz/artifacts/load_plan/crash-*) stay under fuzz/ (git-ignored). A
# crash found becomes a file under tests/corpus/fuzz/, which tests/edges.rs loads on every
# test run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-1800}"
mkdir -p fuzz/corpus/load_plan fuzz/seeds
while IFS= read -r f; do
  cp "$f" "fuzz/seeds/$(echo "$f" | tr '/' '_')"
done < <(find tests/corpus topologies -type f \( -name '*.yaml' -o -name '*.env' \))
if [ "${FUZZ_TOOLCHAIN:-stable}" = nightly ]; then
  fuzz=(cargo +nightly fuzz)
else
  export RUSTC_BOOTSTRAP=1
  fuzz=(cargo +stable fuzz)
fi
# The fuzz workspace has its own target directory; a CARGO_TARGET_DIR meant for the main
# build would mix the two.
unset CARGO_TARGET_DIR
# 2 GiB of RSS: the alias budget (5,000,000 values) must keep any input well below it.
# -fork=1 keeps fuzzing after a crash (each crash is saved), so one run reports them all.
exec "${fuzz[@]}" run ${FUZZ_BUILD:--O} load_plan fuzz/corpus/load_plan fuzz/seeds -- \
  -max_total_time="$seconds" -rss_limit_mb=2048 -max_len=65536 -timeout=10 \
  -print_final_stats=1 ${FUZZ_FLAGS:-}
