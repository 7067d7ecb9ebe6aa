#!/usr/bin/env bash
# Local Kubernetes control plane on loopback for development and the e2e tests.
#
#   hack/cluster.sh build    build the pinned binaries once into the cache (fast no-op when cached)
#   hack/cluster.sh up       start the cluster and its fake nodes (harmless when already up)
#   hack/cluster.sh down     stop it and remove its state; no process is left behind
#   hack/cluster.sh env      print `export KUBECONFIG=... PATH=...` for eval
#   hack/cluster.sh status   say whether the cluster is up (exit 0) or not (exit 1)
#   hack/cluster.sh logs     print the tail of each component's log (for test failure reports)
#
# Everything is built from the Go module proxy (no Docker, no release downloads): etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok/kwokctl and helm.
# Environment: SGLANG_OPERATOR_CACHE (default ~/.cache/sglang-operator),
# SGLANG_OPERATOR_CLUSTER (cluster name, default sglang-operator).
# kwokctl's own KWOK_KUBE_AUDIT_POLICY=<policy file> passes through to `up` of a new cluster:
# the API server then writes its audit log to the cluster's logs/audit.log (the benchmark,
# hack/bench_operator.py, counts requests from it).
set -euo pipefail

K8S_VERSION=v1.35.4
ETCD_VERSION=v3.6.16
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.22.0

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/k8s-build.sh
. "$HERE/lib/k8s-build.sh"
CACHE_ROOT=${SGLANG_OPERATOR_CACHE:-$HOME/.cache/sglang-operator}
CACHE=$CACHE_ROOT/k8s-$K8S_VERSION
BIN=$CACHE/bin
# The stamp names every pinned version, so changing one pin invalidates the whole cache.
STAMP=$CACHE/complete
STAMP_TEXT="kubernetes=$K8S_VERSION etcd=$ETCD_VERSION kwok=$KWOK_VERSION helm=$HELM_VERSION"
BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok kwokctl helm)

DEFAULT_NAME=sglang-operator
NAME=${SGLANG_OPERATOR_CLUSTER:-$DEFAULT_NAME}
# kwokctl keeps each cluster's state (pki, etcd data, logs, pid files, kubeconfig) under its
# workdir; pointing it into our cache keeps ~/.kwok and ~/.kube/config untouched.
export KWOK_WORKDIR=$CACHE_ROOT/kwok
CLUSTER_DIR=$KWOK_WORKDIR/clusters/$NAME
KUBECONFIG_PATH=$CLUSTER_DIR/kubeconfig.yaml
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok-controller)

log() { printf '[cluster] %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

cache_complete() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_TEXT" ] || return 1
  local b
  for b in "${BINARIES[@]}"; do [ -x "$BIN/$b" ] || return 1; done
}

build_kubernetes() {
  k8s_build "$1" "$CACHE" "$K8S_VERSION" k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl
}

build_etcd() {
  local out=$1 work
  work=$(mktemp -d "$CACHE/work.XXXXXX")
  (
    cd "$work"
    go mod init local/etcdbin 2>/dev/null || die "go mod init failed (go: $(command -v go))"
    go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    nice go build -ldflags="-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3
  )
  rm -rf "$work"
}

build_plain() {
  local out=$1
  # kwok's own version is a constant in its source; helm's holds only major.minor unless set.
  GOBIN=$out nice go install -ldflags="-s -w" \
    "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwokctl@$KWOK_VERSION"
  GOBIN=$out nice go install -ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

# Each binary must report the pinned version; a build that does not is never stamped.
verify() {
  local out=$1 v
  v=$("$out/kube-apiserver" --version)
  [ "$v" = "Kubernetes $K8S_VERSION" ] || die "kube-apiserver --version: $v"
  v=$("$out/kube-controller-manager" --version)
  [ "$v" = "Kubernetes $K8S_VERSION" ] || die "kube-controller-manager --version: $v"
  v=$("$out/kube-scheduler" --version)
  [ "$v" = "Kubernetes $K8S_VERSION" ] || die "kube-scheduler --version: $v"
  v=$("$out/kubectl" version --client)
  grep -qF "Client Version: $K8S_VERSION" <<<"$v" || die "kubectl version: $v"
  v=$("$out/etcd" --version)
  grep -qF "etcd Version: ${ETCD_VERSION#v}" <<<"$v" || die "etcd --version: $v"
  v=$("$out/kwokctl" --version)
  grep -qF "$KWOK_VERSION" <<<"$v" || die "kwokctl --version: $v"
  v=$("$out/kwok" --version)
  grep -qF "$KWOK_VERSION" <<<"$v" || die "kwok --version: $v"
  v=$("$out/helm" version --short)
  grep -qF "$HELM_VERSION" <<<"$v" || die "helm version: $v"
}

build_all() {
  log "building $STAMP_TEXT into $CACHE (cold build: many minutes)"
  rm -f "$STAMP"
  rm -rf "$CACHE"/work.* "$CACHE/bin.partial"
  local out=$CACHE/bin.partial
  mkdir -p "$out"
  # Two cores are shared with other work: cap parallelism and lower priority.
  export CGO_ENABLED=0 GOFLAGS="-p=2 -trimpath -buildvcs=false"
  build_etcd "$out"
  build_plain "$out"
  build_kubernetes "$out"
  verify "$out"
  rm -rf "$BIN"
  mv "$out" "$BIN"
  # Written last: only a complete, verified build is ever taken as cached.
  printf '%s' "$STAMP_TEXT" >"$STAMP"
  log "build complete: $BIN"
}

cmd_build() {
  cache_complete && return 0
  command -v go >/dev/null || die "Go is needed to build the control plane binaries"
  mkdir -p "$CACHE/locks"
  # One builder at a time: a second caller (another test run) waits, then finds the cache
  # done. The lock lives only as long as this subshell.
  # (`if`, not `||`: errexit must stay on inside build_all.)
  (
    flock 9
    if ! cache_complete; then
      build_all
    fi
  ) 9>"$CACHE/locks/build"
}

kctl() { "$BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" "$@"; }

# The components kwokctl started that are no longer running, one name a line (none: empty).
dead_components() {
  local c pid
  for c in "${COMPONENTS[@]}"; do
    pid=$(cat "$CLUSTER_DIR/pids/$c.pid" 2>/dev/null) || pid=
    { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; } || echo "$c"
  done
}

components_running() { [ -z "$(dead_components)" ]; }

api_ready() {
  [ -f "$KUBECONFIG_PATH" ] && [ "$(kctl --request-timeout=5s get --raw /readyz 2>/dev/null)" = ok ]
}

# Up means every component runs, not only the API server: a kwok-controller that died leaves
# the API server answering while the fake nodes go NotReady.
cluster_ready() { api_ready && components_running; }

# shellcheck source=lib/wait.sh
. "$HERE/lib/wait.sh"

# Runs "$@" holding this cluster's lock, so concurrent up/down of one cluster never race.
# Commands that start daemons must close fd 8, or the daemons would hold the lock forever.
with_cluster_lock() {
  mkdir -p "$KWOK_WORKDIR/locks"
  (
    flock 8
    "$@"
  ) 8>"$KWOK_WORKDIR/locks/$NAME"
}

cmd_up() {
  cmd_build
  with_cluster_lock up_locked
}

# wait_for, but gives up at once (status 1) when a component of the cluster has exited.
wait_running() {
  local what=$1 seconds=$2 i
  shift 2
  for ((i = 0; i < seconds; i++)); do
    components_running || return 1
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  "$@" || true
  die "timed out after ${seconds}s waiting for $what"
}

# Starts the cluster (a stopped one again) and waits for its fake nodes: status 1 when a
# component exited meanwhile.
start_cluster() {
  local config=$1
  # A cluster some of whose components exited is stopped, to be started whole.
  if [ -d "$CLUSTER_DIR/pids" ] && ! components_running; then
    "$BIN/kwokctl" stop cluster --name "$NAME" >&2 7>&- 8>&- || return 1
  fi
  # An empty --kubeconfig keeps kwokctl from editing the user's ~/.kube/config; the daemons
  # must not inherit the locks (fds 7 and 8).
  "$BIN/kwokctl" --config "$config" create cluster --name "$NAME" --kubeconfig= \
    --wait 2m --quiet-pull >&2 7>&- 8>&- || return 1
  wait_running "the API server" 60 api_ready || return 1
  kctl apply -f "$HERE/cluster/nodes.yaml" >&2 || return 1
  wait_running "fake nodes to be Ready" 120 kctl wait --for=condition=Ready node --all --timeout=1s
}

up_locked() {
  local config=$KWOK_WORKDIR/$NAME.kwokctl.yaml attempt dead
  sed -e "s|@BIN@|$BIN|g" -e "s|@K8S_VERSION@|$K8S_VERSION|g" \
    -e "s|@ETCD_VERSION@|${ETCD_VERSION#v}|g" -e "s|@PKI@|$CLUSTER_DIR/pki|g" \
    "$HERE/cluster/kwokctl.yaml" >"$config"
  # Idempotent: an existing, ready cluster is left as it is; a stopped one is started again.
  # kwokctl picks free ports when it writes a new cluster's config, and its components bind
  # them only later: another cluster created meanwhile can take one first. Creations hold a
  # lock shared by all clusters until their components have bound their ports (the nodes
  # are Ready), and a cluster whose component still lost its port (to anything else) is
  # created anew, with new ports.
  mkdir -p "$KWOK_WORKDIR/locks"
  exec 7>"$KWOK_WORKDIR/locks/ports"
  flock 7
  for attempt in 1 2 3; do
    start_cluster "$config" && break
    dead=$(dead_components | paste -sd, -)
    grep -qs "address already in use" "$CLUSTER_DIR"/logs/*.log ||
      die "cluster $NAME did not start (${dead:-no component} exited); see hack/cluster.sh logs"
    [ "$attempt" -lt 3 ] || die "cluster $NAME lost its ports 3 times; see hack/cluster.sh logs"
    log "cluster $NAME: ${dead:-a component} could not bind its port; creating it anew"
    "$BIN/kwokctl" delete cluster --name "$NAME" >&2
    wait_for "the processes of cluster $NAME to exit" 10 no_cluster_processes
  done
  exec 7>&-
  # The controller-manager creates each namespace's default ServiceAccount; its presence says
  # the controllers run and pods can be admitted.
  wait_for "the default ServiceAccount" 120 kctl -n default get serviceaccount default
  local how="eval \"\$($0 env)\""
  [ "$NAME" = "$DEFAULT_NAME" ] || how="export SGLANG_OPERATOR_CLUSTER=$NAME; $how"
  log "cluster $NAME is up; use it with: $how"
}

no_cluster_processes() { ! pgrep -a -f -- "$CLUSTER_DIR/"; }

cmd_down() {
  with_cluster_lock down_locked
}

down_locked() {
  # A real node joined to this cluster (hack/node.sh) goes first, while the API server runs.
  "$HERE/node.sh" down-for "$NAME"
  if [ -d "$CLUSTER_DIR" ]; then
    "$BIN/kwokctl" delete cluster --name "$NAME" >&2
  fi
  rm -f "$KWOK_WORKDIR/$NAME.kwokctl.yaml"
  # kwokctl SIGKILLs components by pid file and does not wait for them to exit. Anything
  # still naming this cluster's directory in its command line after that escaped it.
  wait_for "the processes of cluster $NAME to exit" 10 no_cluster_processes
  log "cluster $NAME is down"
}

cmd_env() {
  printf 'export KUBECONFIG=%q\n' "$KUBECONFIG_PATH"
  # $PATH stays literal: it is expanded by the shell that evals this line.
  # shellcheck disable=SC2016
  printf 'export PATH=%q:"$PATH"\n' "$BIN"
}

cmd_status() {
  if cache_complete && cluster_ready; then
    echo "cluster $NAME is up (KUBECONFIG=$KUBECONFIG_PATH)"
  else
    echo "cluster $NAME is down"
    return 1
  fi
}

cmd_logs() {
  local lines=${1:-100} c
  for c in "${COMPONENTS[@]}"; do
    [ -f "$CLUSTER_DIR/logs/$c.log" ] || continue
    printf '===== %s (last %s lines) =====\n' "$c" "$lines"
    tail -n "$lines" "$CLUSTER_DIR/logs/$c.log"
  done
}

case ${1:-} in
  build) cmd_build ;;
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_env ;;
  status) cmd_status ;;
  logs) cmd_logs "${2:-100}" ;;
  *) die "usage: $0 build|up|down|env|status|logs [lines]" ;;
esac
