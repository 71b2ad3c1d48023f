# The real Mermaid parser (mermaid, in jsdom) that tests/graph_render.rs parses `topo graph
# --format mermaid` and the diff pictures with, installed from tests/graph_mermaid's
# lockfile. Sourced by .ci/run from the repository root (npm_ci_once reuses a node_modules
# installed from the same lockfile); then makes the test required.
npm_ci_once tests/graph_mermaid mermaid "Mermaid parser"
export TOPO_REQUIRE_MERMAID=1
