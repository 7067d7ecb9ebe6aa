#!/usr/bin/env bash
# LeaderWorkerSet, the benchmark's peer (not part of the product): builds its controller and
# copies its CRDs and webhook manifests from the Go module proxy into the cache, once.
#
#   hack/bench/lws.sh build    build when not cached (a no-op when cached); print the directory
#
# The directory holds lws-manager, crds/*.yaml and webhooks.yaml (the module's
# config/webhook/manifests.yaml). Environment: SGLANG_OPERATOR_CACHE (default
# ~/.cache/sglang-operator), LWS_VERSION (default v0.9.0, the newest the proxy serves whole).
set -euo pipefail

LWS_VERSION=${LWS_VERSION:-v0.9.0}
CACHE_ROOT=${SGLANG_OPERATOR_CACHE:-$HOME/.cache/sglang-operator}
OUT=$CACHE_ROOT/lws-$LWS_VERSION
STAMP=$OUT/complete

log() { printf '[lws] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

cached() { [ -f "$STAMP" ] && [ -x "$OUT/lws-manager" ]; }

build() {
  local work src
  log "building sigs.k8s.io/lws@$LWS_VERSION into $OUT (cold: a few minutes)"
  rm -rf "$OUT.partial"
  mkdir -p "$OUT.partial/crds"
  work=$(mktemp -d)
  (
    cd "$work"
    go mod init local/lwsbin 2>/dev/null || die "go mod init failed (go: $(command -v go))"
    # The command package, not just the module: records go.sum entries for all it imports.
    go get "sigs.k8s.io/lws/cmd@$LWS_VERSION"
    # Two cores are shared with other work: cap parallelism and lower priority.
    CGO_ENABLED=0 GOFLAGS="-p=2 -trimpath -buildvcs=false" nice go build \
      -ldflags="-s -w -X sigs.k8s.io/lws/pkg/version.GitVersion=$LWS_VERSION" \
      -o "$OUT.partial/lws-manager" sigs.k8s.io/lws/cmd
    "$OUT.partial/lws-manager" --version | grep -qF "$LWS_VERSION" || die "lws-manager --version"
    src=$(go list -m -f '{{.Dir}}' "sigs.k8s.io/lws")
    cp "$src"/config/crd/bases/*.yaml "$OUT.partial/crds/"
    cp "$src/config/webhook/manifests.yaml" "$OUT.partial/webhooks.yaml"
    chmod -R u+w "$OUT.partial"
  )
  rm -rf "$work" "$OUT"
  mv "$OUT.partial" "$OUT"
  # Written last: only a complete build is ever taken as cached.
  printf '%s' "$LWS_VERSION" >"$STAMP"
}

case ${1:-} in
  build)
    if ! cached; then
      command -v go >/dev/null || die "Go is needed to build LeaderWorkerSet"
      mkdir -p "$CACHE_ROOT/locks"
      # One builder at a time; a second caller waits, then finds the cache done.
      (
        flock 9
        if ! cached; then
          build
        fi
      ) 9>"$CACHE_ROOT/locks/lws-$LWS_VERSION"
    fi
    echo "$OUT"
    ;;
  *) die "usage: $0 build" ;;
esac
