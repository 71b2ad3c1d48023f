#!/usr/bin/env bash
# The import graph of src/: which top-level module imports which (through `crate::` paths,
# test code and comments left out), checked against the layers of docs/architecture.md.
#
#   bench/imports.sh
#
# The reading and the check are tests/layers.rs; this prints the graph it checks.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --quiet --test layers imports_point_down_only -- --nocapture 2>&1 |
  grep -E ' -> |panicked|imports `' || true
