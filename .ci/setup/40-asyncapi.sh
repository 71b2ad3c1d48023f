# The official AsyncAPI parser (@asyncapi/parser) that tests/asyncapi_render.rs validates the
# `topo render asyncapi` documents with, installed from tests/asyncapi/package-lock.json.
# Sourced by .ci/run from the repository root (npm_ci_once reuses a node_modules installed
# from the same lockfile); then makes the test required.
npm_ci_once tests/asyncapi @asyncapi/parser "AsyncAPI parser"
export TOPO_REQUIRE_ASYNCAPI=1
