# The official AsyncAPI parser (@asyncapi/parser) that tests/asyncapi_render.rs validates the
# `topo render asyncapi` documents with, installed from tests/asyncapi/package-lock.json.
# Sourced by .ci/run from the repository root. Reuses a node_modules installed from the same
# lockfile (a stamp beside it records which); then makes the test required.
asyncapi_dir=tests/asyncapi
asyncapi_stamp="$asyncapi_dir/node_modules/.topo-lockfile"
if [ -d "$asyncapi_dir/node_modules/@asyncapi/parser" ] \
  && cmp -s "$asyncapi_dir/package-lock.json" "$asyncapi_stamp"; then
  log "AsyncAPI parser: reusing tests/asyncapi/node_modules (lockfile unchanged)"
else
  log "AsyncAPI parser: npm ci in tests/asyncapi"
  npm ci --prefix "$asyncapi_dir" --no-audit --no-fund --loglevel=error
  cp "$asyncapi_dir/package-lock.json" "$asyncapi_stamp"
fi
export TOPO_REQUIRE_ASYNCAPI=1
unset asyncapi_dir asyncapi_stamp
