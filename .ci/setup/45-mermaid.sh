# The real Mermaid parser (mermaid, in jsdom) that tests/graph_render.rs parses `topo graph
# --format mermaid` and the diff pictures with, installed from tests/graph_mermaid's
# lockfile. Sourced by .ci/run from the repository root. Reuses a node_modules installed from
# the same lockfile (a stamp beside it records which); then makes the test required.
mermaid_dir=tests/graph_mermaid
mermaid_stamp="$mermaid_dir/node_modules/.topo-lockfile"
if [ -d "$mermaid_dir/node_modules/mermaid" ] \
  && cmp -s "$mermaid_dir/package-lock.json" "$mermaid_stamp"; then
  log "Mermaid parser: reusing tests/graph_mermaid/node_modules (lockfile unchanged)"
else
  log "Mermaid parser: npm ci in tests/graph_mermaid"
  npm ci --prefix "$mermaid_dir" --no-audit --no-fund --loglevel=error
  cp "$mermaid_dir/package-lock.json" "$mermaid_stamp"
fi
export TOPO_REQUIRE_MERMAID=1
unset mermaid_dir mermaid_stamp
