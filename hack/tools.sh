#!/usr/bin/env bash
# Developer tools built from the Go module proxy, cached beside the control-plane binaries.
#
#   hack/tools.sh build        build every pinned tool once (fast no-op when cached)
#   hack/tools.sh path TOOL    print the tool's path, building it first if needed
#
# Tools: actionlint (lints .github/workflows). Kept apart from hack/cluster.sh's stamp so a
# new tool never invalidates the control plane's cache.
set -euo pipefail

ACTIONLINT_VERSION=v1.7.12

CACHE_ROOT=${SGLANG_OPERATOR_CACHE:-$HOME/.cache/sglang-operator}
TOOLS=$CACHE_ROOT/tools

log() { printf '[tools] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# The binary of a tool at its pinned version; built into a directory named by the version,
# renamed into place only when complete, so an interrupted build is never taken as cached.
tool_path() {
  local name=$1 module version dir
  case $name in
    actionlint) module=github.com/rhysd/actionlint/cmd/actionlint version=$ACTIONLINT_VERSION ;;
    *) die "unknown tool: $name" ;;
  esac
  dir=$TOOLS/$name-$version
  if [ ! -x "$dir/$name" ]; then
    command -v go >/dev/null || die "Go is needed to build $name"
    mkdir -p "$TOOLS"
    local work
    work=$(mktemp -d "$TOOLS/.build.XXXXXX")
    log "building $name $version"
    CGO_ENABLED=0 GOBIN=$work nice go install -trimpath -ldflags="-s -w" "$module@$version"
    rm -rf "$dir"
    mv "$work" "$dir"
  fi
  printf '%s\n' "$dir/$name"
}

case ${1:-} in
  build) tool_path actionlint >/dev/null ;;
  path) [ $# -eq 2 ] || die "usage: $0 path TOOL"; tool_path "$2" ;;
  *) die "usage: $0 build|path TOOL" ;;
esac
