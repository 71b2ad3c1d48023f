# The real yaml-language-server (the YAML support of VS Code, Neovim and Helix) that
# tests/editor_schema.rs opens `topo init`'s file with, installed from tests/yaml_editor's
# lockfile. Sourced by .ci/run from the repository root (npm_ci_once reuses a node_modules
# installed from the same lockfile); then makes the test required.
npm_ci_once tests/yaml_editor yaml-language-server "yaml-language-server"
export TOPO_REQUIRE_YAML_EDITOR=1
