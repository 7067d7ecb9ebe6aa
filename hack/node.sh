#!/usr/bin/env bash
# A real Kubernetes node (containerd + runc + kubelet, CNI bridge, CoreDNS and kube-proxy on
# the host) joined to a hack/cluster.sh cluster, next to its kwok-simulated fake nodes.
#
#   hack/node.sh deps     install the Debian packages it needs (apt-get; root)
#   hack/node.sh build    build the node binaries and the images once into the cache
#   hack/node.sh up       join the node to the cluster $SGLANG_OPERATOR_CLUSTER (idempotent)
#   hack/node.sh down     remove the node (whichever cluster it serves) and undo everything
#                         it did to this machine (hack/cluster.sh down does it for its node)
#   hack/node.sh status   exit 0 when the node is up and Ready
#   hack/node.sh env      print NODE_NAME, NODE_DIR, the image and the taint, for eval
#
# One real node per machine (its bridge, addresses and ports are fixed): `up` for another
# cluster fails while the node serves a cluster that is still up. The node is called
# real-node-0, labelled and tainted sglang-operator/real-node=true:NoSchedule (only pods that
# tolerate it land there, so kwok-only tests and examples never do), and advertises
# $NODE_GPUS of amd.com/gpu and of nvidia.com/gpu (a status patch; nothing is injected into
# pods). Its images are imported, never pulled: localhost/pause:local and
# localhost/sglang-standin:local (images/sglang-standin/README.md).
#
# Outside $NODE_DIR it changes, and `down` restores: the bridge $BRIDGE; cgroups /kubepods and
# /k8s.io in each cgroup v1 hierarchy; sysctls (the kubelet sets vm.overcommit_memory,
# kernel.panic, kernel.panic_on_oops...; kube-proxy needs net.ipv4.ip_forward); iptables
# chains KUBE-* (kubelet, kube-proxy, and KUBE-NODE-GUARD, which keeps forwarded traffic on
# the bridge) and the nftables tables that iptables-nft created for them; symlinks in
# /var/log/containers.
# Environment: SGLANG_OPERATOR_CACHE, SGLANG_OPERATOR_CLUSTER (as hack/cluster.sh), NODE_GPUS
# (default 16).
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/k8s-build.sh
. "$HERE/lib/k8s-build.sh"
# The control plane's version, read from the one place that pins it.
K8S_VERSION=$(sed -n 's/^K8S_VERSION=//p' "$HERE/cluster.sh")
CNI_VERSION=v1.10.0
COREDNS_VERSION=v1.15.0
DEBIAN_SUITE=bookworm
# nftables: `up` saves the nftables tables that exist and `down` deletes only those it made
# (iptables-nft creates them); Debian installs nft only as a recommendation of iptables.
APT_PACKAGES=(containerd runc iptables nftables conntrack debootstrap gcc libc6-dev openssl curl)

CACHE_ROOT=${SGLANG_OPERATOR_CACHE:-$HOME/.cache/sglang-operator}
NODE_CACHE=$CACHE_ROOT/node-$K8S_VERSION
BIN=$NODE_CACHE/bin
STAMP=$NODE_CACHE/complete
STAMP_TEXT="kubernetes=$K8S_VERSION cni=$CNI_VERSION coredns=$COREDNS_VERSION"
IMAGE_DIR=$CACHE_ROOT/node-images
STANDIN_SRC=$HERE/../images/sglang-standin/python
STANDIN_IMAGE=localhost/sglang-standin:local
PAUSE_IMAGE=localhost/pause:local

NODE_DIR=$CACHE_ROOT/node
NODE_NAME=real-node-0
NODE_LABEL=sglang-operator/real-node
NODE_GPUS=${NODE_GPUS:-16}
BRIDGE=sgo-br0
POD_CIDR=10.244.0.0/24
NODE_IP=10.244.0.1
DNS_READY_PORT=18181
CLUSTER=${SGLANG_OPERATOR_CLUSTER:-sglang-operator}
SOCK=$NODE_DIR/containerd/containerd.sock
SYSCTLS=(vm.overcommit_memory vm.panic_on_oom kernel.panic kernel.panic_on_oops
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward)
DAEMONS=(kube-proxy kubelet coredns containerd)

log() { printf '[node %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "$*"; exit 1; }
kctl() { "$CLUSTER_BIN/kubectl" --kubeconfig "$KUBECONFIG_PATH" --request-timeout=10s "$@"; }
ctrk() { ctr -a "$SOCK" -n k8s.io "$@"; }

# KUBECONFIG_PATH and CLUSTER_BIN of cluster $1, from `hack/cluster.sh env` (the one place
# that knows them).
use_cluster() {
  local line
  CLUSTER=$1
  while read -r line; do
    case $line in
      "export KUBECONFIG="*) eval "KUBECONFIG_PATH=${line#export KUBECONFIG=}" ;;
      "export PATH="*) CLUSTER_BIN=$(eval "printf %s ${line#export PATH=}" | cut -d: -f1) ;;
    esac
  done < <(SGLANG_OPERATOR_CLUSTER=$CLUSTER "$HERE/cluster.sh" env)
}

# shellcheck source=lib/wait.sh
. "$HERE/lib/wait.sh"

# ---- deps and build -------------------------------------------------------------------------

cmd_deps() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" = 0 ] || die "missing Debian packages ${missing[*]}; run as root: hack/node.sh deps"
  log "apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

binaries_complete() {
  [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$STAMP_TEXT" ] || return 1
  local b
  for b in kubelet kube-proxy coredns cni/bridge cni/host-local cni/loopback; do
    [ -x "$BIN/$b" ] || return 1
  done
}

# CoreDNS compiles ~60 plugins (cloud SDKs included) by default; a main package of our own
# registers only the ones hack/node/Corefile.in uses, which builds in a fraction of the time.
build_coredns() {
  local out=$1 work
  work=$(mktemp -d "$NODE_CACHE/work.XXXXXX")
  (
    cd "$work"
    go mod init local/corednsbin 2>/dev/null
    cat >main.go <<'GO'
package main

import (
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/template"
)

func main() { coremain.Run() }
GO
    # `go get` of the imported packages (not `go mod tidy`, which also fetches the test
    # dependencies of every dependency) records the go.sum entries the build needs.
    local packages
    mapfile -t packages < <(sed -n 's/^\t_\? *"\(github.com\/coredns\/coredns\/[^"]*\)"/\1@'"$COREDNS_VERSION"'/p' main.go)
    go get "${packages[@]}"
    nice go build -ldflags="-s -w" -o "$out/coredns" .
  )
  rm -rf "$work"
}

build_binaries() {
  log "building $STAMP_TEXT into $BIN (cold: several minutes)"
  rm -f "$STAMP"
  rm -rf "$NODE_CACHE"/work.* "$NODE_CACHE/bin.partial"
  local out=$NODE_CACHE/bin.partial p=github.com/containernetworking/plugins/plugins v
  mkdir -p "$out/cni"
  # The same settings as hack/cluster.sh, so its Go build cache serves this build too.
  export CGO_ENABLED=0 GOFLAGS="-p=2 -trimpath -buildvcs=false"
  GOBIN=$out/cni nice go install -ldflags="-s -w" \
    "$p/main/bridge@$CNI_VERSION" "$p/ipam/host-local@$CNI_VERSION" "$p/main/loopback@$CNI_VERSION"
  build_coredns "$out"
  k8s_build "$out" "$NODE_CACHE" "$K8S_VERSION" k8s.io/kubernetes/cmd/kubelet \
    k8s.io/kubernetes/cmd/kube-proxy
  v=$("$out/kubelet" --version)
  [ "$v" = "Kubernetes $K8S_VERSION" ] || die "kubelet --version: $v"
  v=$("$out/kube-proxy" --version)
  [ "$v" = "Kubernetes $K8S_VERSION" ] || die "kube-proxy --version: $v"
  v=$("$out/coredns" -version)
  grep -qF "CoreDNS-${COREDNS_VERSION#v}" <<<"$v" || die "coredns -version: $v"
  rm -rf "$BIN"
  mv "$out" "$BIN"
  printf '%s' "$STAMP_TEXT" >"$STAMP"
}

apt_mirror() {
  # deb822 (.sources) or one-line (.list) format; the first Debian archive that is not the
  # security one. Nothing here names a host.
  local m
  m=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -1)
  [ -n "$m" ] || m=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
    awk '{print $2}' | grep -v security | head -1)
  [ -n "$m" ] || die "no Debian mirror in /etc/apt"
  echo "$m"
}

# Images, as docker archives for `ctr images import`: the static pause process, and the
# SGLang stand-in (Debian minbase + python3 + procps from debootstrap, one cached layer, plus
# a layer with the stand-in package, rebuilt whenever its source changes).
build_images() {
  local work base=$IMAGE_DIR/$DEBIAN_SUITE-python3.layer.tar hash
  mkdir -p "$IMAGE_DIR"
  if [ ! -f "$IMAGE_DIR/pause.tar" ]; then
    work=$(mktemp -d)
    gcc -static -Os -s -o "$work/pause" "$HERE/node/pause.c"
    "$HERE/node/mkimage.py" "$IMAGE_DIR/pause.tar" "$PAUSE_IMAGE" --layer "$work" --cmd '["/pause"]' >&2
    rm -rf "$work"
  fi
  if [ ! -f "$base" ]; then
    [ "$(id -u)" = 0 ] || die "debootstrap needs root"
    work=$(mktemp -d)
    log "debootstrap $DEBIAN_SUITE minbase + python3 (about a minute)"
    debootstrap --variant=minbase --include=python3,procps "$DEBIAN_SUITE" "$work/rootfs" \
      "$(apt_mirror)" >"$IMAGE_DIR/debootstrap.log" 2>&1 ||
      { tail -20 "$IMAGE_DIR/debootstrap.log" >&2; rm -rf "$work"; die "debootstrap failed"; }
    rm -rf "$work"/rootfs/usr/share/{doc,man,info,locale} "$work"/rootfs/var/log/*
    tar --numeric-owner --one-file-system -cf "$base.partial" -C "$work/rootfs" \
      --exclude=./dev/* --exclude=./proc/* --exclude=./sys/* --exclude=./var/cache/apt/* \
      --exclude=./var/lib/apt/lists/* --exclude=./debootstrap .
    mv "$base.partial" "$base"
    rm -rf "$work"
  fi
  hash=$(cd "$STANDIN_SRC" && find . -type f ! -path '*/__pycache__/*' -print0 | sort -z |
    xargs -0 sha256sum | cat - "$HERE/node/mkimage.py" "$base" | sha256sum | cut -c1-16)
  if [ "$(cat "$IMAGE_DIR/sglang-standin.hash" 2>/dev/null)" != "$hash" ]; then
    work=$(mktemp -d)
    mkdir -p "$work/usr/local/lib/python3.11/dist-packages"
    cp -r "$STANDIN_SRC/sglang" "$work/usr/local/lib/python3.11/dist-packages/"
    "$HERE/node/mkimage.py" "$IMAGE_DIR/sglang-standin.tar" "$STANDIN_IMAGE" --layer "$base" \
      --layer "$work" --cmd '["python3","-m","sglang.launch_server","--help"]' >&2
    rm -rf "$work"
    echo "$hash" >"$IMAGE_DIR/sglang-standin.hash"
  fi
}

cmd_build() {
  mkdir -p "$NODE_CACHE/locks"
  # One builder at a time (flock); a second caller waits, then finds the cache done.
  (
    flock 9
    if ! binaries_complete; then
      command -v go >/dev/null || die "Go is needed to build the node binaries"
      build_binaries
    fi
    build_images
  ) 9>"$NODE_CACHE/locks/build"
}

# ---- up ------------------------------------------------------------------------------------

alive() { [ -f "$NODE_DIR/$1.pid" ] && kill -0 "$(cat "$NODE_DIR/$1.pid")" 2>/dev/null; }

start_daemon() { # name cmd...: own session and log, pid file, none of our fds
  local name=$1
  shift
  alive "$name" && return 0
  setsid "$@" >"$NODE_DIR/logs/$name.log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$NODE_DIR/$name.pid"
}

stop_daemon() { # name [seconds]
  local name=$1 seconds=${2:-20} pid i
  [ -f "$NODE_DIR/$name.pid" ] || return 0
  pid=$(cat "$NODE_DIR/$name.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < seconds * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$name did not stop on SIGTERM; SIGKILL $pid"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$NODE_DIR/$name.pid"
}

fill() { # template output: substitutes the @VARS@
  sed -e "s|@NODE_DIR@|$NODE_DIR|g" -e "s|@NODE_IP@|$NODE_IP|g" -e "s|@POD_CIDR@|$POD_CIDR|g" \
    -e "s|@BRIDGE@|$BRIDGE|g" -e "s|@RUNC@|$(command -v runc)|g" -e "s|@CNI_BIN@|$BIN/cni|g" \
    -e "s|@READY_PORT@|$DNS_READY_PORT|g" -e "s|@NODE_NAME@|$NODE_NAME|g" \
    -e "s|@SERVICE_CIDR@|$SERVICE_CIDR|g" -e "s|@TAINT_KEY@|$NODE_LABEL|g" "$1" >"$2"
}

# A client certificate signed by the cluster's CA (kwokctl keeps ca.crt/ca.key next to the
# kubeconfig): system:node:<name> in group system:nodes for the kubelet (the API server runs
# the Node and RBAC authorizers), system:kube-proxy (bound to system:node-proxier by the
# bootstrap RBAC), and a read-only identity for CoreDNS.
make_kubeconfig() { # out user groups...
  local out=$1 user=$2 subj="/CN=$2" g server cluster_pki
  shift 2
  for g in "$@"; do subj+="/O=$g"; done
  cluster_pki=$(dirname "$KUBECONFIG_PATH")/pki
  server=$(kctl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
  openssl req -new -newkey rsa:2048 -nodes -keyout "$out.key" -subj "$subj" -out "$out.csr" 2>/dev/null
  openssl x509 -req -in "$out.csr" -CA "$cluster_pki/ca.crt" -CAkey "$cluster_pki/ca.key" \
    -CAcreateserial -CAserial "$NODE_DIR/pki/ca.srl" -days 30 -out "$out.crt" 2>/dev/null
  local k=("$CLUSTER_BIN/kubectl" --kubeconfig "$out" config)
  "${k[@]}" set-cluster local --server="$server" --certificate-authority="$NODE_DIR/pki/ca.crt" \
    --embed-certs >/dev/null
  "${k[@]}" set-credentials "$user" --client-certificate="$out.crt" --client-key="$out.key" \
    --embed-certs >/dev/null
  "${k[@]}" set-context local --cluster=local --user="$user" >/dev/null
  "${k[@]}" use-context local >/dev/null
}

node_ready() {
  [ "$(kctl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

gpus_advertised() {
  [ "$(kctl get node "$NODE_NAME" -o jsonpath='{.status.allocatable.amd\.com/gpu}')" = "$NODE_GPUS" ]
}

cmd_up() {
  [ "$(id -u)" = 0 ] || die "a real node needs root (containerd, mounts, cgroups, a bridge)"
  binaries_complete || die "node binaries not built: hack/node.sh build"
  [ -f "$IMAGE_DIR/sglang-standin.tar" ] || die "images not built: hack/node.sh build"
  use_cluster "$CLUSTER"
  kctl get --raw /readyz >/dev/null 2>&1 || die "cluster $CLUSTER is not up (hack/cluster.sh up)"
  local owner
  owner=$(cat "$NODE_DIR/cluster" 2>/dev/null || true)
  if [ -n "$owner" ] && [ "$owner" != "$CLUSTER" ]; then
    if SGLANG_OPERATOR_CLUSTER=$owner "$HERE/cluster.sh" status >/dev/null 2>&1; then
      die "the real node serves cluster $owner (one per machine): hack/node.sh down there first"
    fi
    log "cluster $owner is gone; removing its node first"
    (down_for "$owner")
    use_cluster "$CLUSTER"
  fi
  grep -q -- '--manage-all-nodes=false' "$(dirname "$KUBECONFIG_PATH")/kwok.yaml" 2>/dev/null ||
    die "kwok in cluster $CLUSTER simulates every node; restart it with this hack/cluster.sh"
  local t0=$SECONDS b free_kib
  # The node's disk-based eviction is off (kubelet.yaml.in): say so when little is left, as
  # that, not the operator, is then why pods fail to start.
  free_kib=$(df -Pk "$(dirname "$NODE_DIR")" | awk 'NR == 2 {print $4}')
  [ "$free_kib" -ge $((5 * 1024 * 1024)) ] ||
    log "warning: only $((free_kib / 1024)) MiB free on the node's disk; containers may fail to start"
  mkdir -p "$NODE_DIR"/{containerd,cni/net.d,cni/ipam,pki,logs,kubelet,pod-logs,volume-plugins,volumes}
  echo "$CLUSTER" >"$NODE_DIR/cluster"
  # What `down` restores: the sysctls (saved once) and the nftables tables that were there.
  [ -f "$NODE_DIR/sysctl.orig" ] || for b in "${SYSCTLS[@]}"; do
    echo "$b=$(sysctl -n "$b")"
  done >"$NODE_DIR/sysctl.orig"
  [ -f "$NODE_DIR/nft-tables.orig" ] || nft list tables >"$NODE_DIR/nft-tables.orig"
  [ -e /var/log/containers ] || touch "$NODE_DIR/made-var-log-containers"

  # A private bridge holds the node IP: the pods, the kubelet's API and CoreDNS sit on it.
  # Pods get no default route, so nothing they send can leave the machine.
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$NODE_IP/${POD_CIDR#*/}" dev "$BRIDGE"
    ip link set "$BRIDGE" up
  fi
  # Besides their subnet, pods get one route: the Service CIDR, via the node (kube-proxy).
  SERVICE_CIDR=$(kctl get servicecidr kubernetes -o jsonpath='{.spec.cidrs[0]}')
  fill "$HERE/node/cni.conflist.in" "$NODE_DIR/cni/net.d/10-sglang-operator.conflist"
  fill "$HERE/node/containerd.toml.in" "$NODE_DIR/containerd/config.toml"
  start_daemon containerd containerd --config "$NODE_DIR/containerd/config.toml"
  wait_for containerd 30 ctrk version
  for b in pause sglang-standin; do ctrk images import "$IMAGE_DIR/$b.tar" >/dev/null; done

  cp "$(dirname "$KUBECONFIG_PATH")/pki/ca.crt" "$NODE_DIR/pki/ca.crt"
  [ -f "$NODE_DIR/pki/kubelet.kubeconfig" ] ||
    make_kubeconfig "$NODE_DIR/pki/kubelet.kubeconfig" "system:node:$NODE_NAME" system:nodes
  [ -f "$NODE_DIR/pki/kube-proxy.kubeconfig" ] ||
    make_kubeconfig "$NODE_DIR/pki/kube-proxy.kubeconfig" system:kube-proxy
  [ -f "$NODE_DIR/pki/coredns.kubeconfig" ] ||
    make_kubeconfig "$NODE_DIR/pki/coredns.kubeconfig" sglang-operator:real-node:coredns
  kctl apply -f - >/dev/null <<EOF
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "sglang-operator:real-node:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "sglang-operator:real-node:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "sglang-operator:real-node:coredns"}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "sglang-operator:real-node:coredns"}]
EOF
  fill "$HERE/node/Corefile.in" "$NODE_DIR/Corefile"
  start_daemon coredns "$BIN/coredns" -conf "$NODE_DIR/Corefile"

  fill "$HERE/node/kubelet.yaml.in" "$NODE_DIR/kubelet.yaml"
  start_daemon kubelet "$BIN/kubelet" --config="$NODE_DIR/kubelet.yaml" \
    --kubeconfig="$NODE_DIR/pki/kubelet.kubeconfig" --root-dir="$NODE_DIR/kubelet" \
    --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --node-labels="$NODE_LABEL=true" --v=2
  wait_for "node $NODE_NAME to be Ready" 180 node_ready
  # Extended resources without a device plugin: the scheduler and the kubelet's admission
  # count them from the node's status, and the kubelet keeps what it does not manage.
  kctl patch node "$NODE_NAME" --subresource=status --type=merge -p \
    "{\"status\":{\"capacity\":{\"amd.com/gpu\":\"$NODE_GPUS\",\"nvidia.com/gpu\":\"$NODE_GPUS\"}}}" >/dev/null
  wait_for "the node's GPUs to be allocatable" 30 gpus_advertised
  wait_for "CoreDNS" 60 curl -fsS "http://127.0.0.1:$DNS_READY_PORT/ready"

  # A ClusterIP packet reaches the node on the bridge and, once DNATed to a pod, is routed
  # back onto it: that needs IPv4 forwarding. The guard chain keeps forwarding to
  # bridge<->bridge, so nothing from a pod is routed off the machine (or in).
  sysctl -q -w net.ipv4.ip_forward=1
  if ! iptables -S KUBE-NODE-GUARD >/dev/null 2>&1; then
    iptables -N KUBE-NODE-GUARD
    iptables -A KUBE-NODE-GUARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
    iptables -A KUBE-NODE-GUARD -i "$BRIDGE" -j DROP
    iptables -A KUBE-NODE-GUARD -o "$BRIDGE" -j DROP
    iptables -I FORWARD 1 -j KUBE-NODE-GUARD
  fi
  fill "$HERE/node/kube-proxy.yaml.in" "$NODE_DIR/kube-proxy.yaml"
  start_daemon kube-proxy "$BIN/kube-proxy" --config="$NODE_DIR/kube-proxy.yaml" --v=2
  wait_for kube-proxy 60 curl -fsS http://127.0.0.1:10256/healthz
  log "node $NODE_NAME is Ready in cluster $CLUSTER ($((SECONDS - t0))s)"
}

# ---- down ----------------------------------------------------------------------------------

# Each iptables table without its KUBE-* chains and the rules that jump to them; a table that
# iptables-nft created for the node (absent before `up`) is deleted whole.
remove_kube_iptables() {
  local family t ipt
  for family in ip ip6; do
    ipt=iptables
    [ $family = ip6 ] && ipt=ip6tables
    for t in filter nat mangle; do
      nft list table "$family" "$t" >/dev/null 2>&1 || continue
      if ! grep -qx "table $family $t" "$NODE_DIR/nft-tables.orig" 2>/dev/null; then
        nft delete table "$family" "$t" || log "could not delete table $family $t"
      elif "$ipt-save" -t "$t" | grep -q -- 'KUBE-'; then
        "$ipt-save" -t "$t" | grep -v -- 'KUBE-' | "$ipt-restore" -T "$t" ||
          log "could not remove the KUBE- chains of $ipt table $t"
      fi
    done
  done
}

node_down() {
  [ -d "$NODE_DIR" ] || return 0
  # Gracefully first, while the kubelet runs: it stops the containers, tears down the pod
  # networks (CNI DEL) and unmounts the volumes itself.
  if [ -n "${KUBECONFIG_PATH:-}" ] && alive kubelet && kctl get --raw /readyz >/dev/null 2>&1; then
    kctl delete pods -A --field-selector "spec.nodeName=$NODE_NAME" --grace-period=5 \
      --timeout=60s --wait=true >/dev/null 2>&1 || log "pods did not all go within 60s"
  fi
  local d id pid m h
  for d in "${DAEMONS[@]}"; do
    [ "$d" = containerd ] && continue
    stop_daemon "$d" 20
  done
  # Whatever the kubelet left: kill the tasks, then the shims serving our socket.
  if alive containerd; then
    for id in $(ctrk tasks ls -q 2>/dev/null); do ctrk tasks kill -s KILL "$id" >/dev/null 2>&1 || true; done
    sleep 1
    for id in $(ctrk tasks ls -q 2>/dev/null); do ctrk tasks delete -f "$id" >/dev/null 2>&1 || true; done
    for id in $(ctrk containers ls -q 2>/dev/null); do ctrk containers delete "$id" >/dev/null 2>&1 || true; done
  fi
  stop_daemon containerd 20
  for pid in $(pgrep -f -- "-address $SOCK" || true); do kill -KILL "$pid" 2>/dev/null || true; done
  # Mounts under the node's directory (overlay rootfs, /dev/shm, netns, volumes), deepest first.
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(
    awk -v d="$NODE_DIR/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r)
  # cgroups made by the kubelet (kubepods) and containerd (k8s.io), deepest first.
  for h in /sys/fs/cgroup/*/; do
    for m in kubepods k8s.io; do
      [ -d "$h$m" ] && find "$h$m" -depth -type d -exec rmdir {} + 2>/dev/null || true
    done
  done
  ip link del "$BRIDGE" 2>/dev/null || true
  remove_kube_iptables
  find /var/log/containers -maxdepth 1 -type l -lname "$NODE_DIR/*" -delete 2>/dev/null || true
  [ ! -f "$NODE_DIR/made-var-log-containers" ] || rmdir /var/log/containers 2>/dev/null || true
  [ ! -f "$NODE_DIR/sysctl.orig" ] || sysctl -q -p "$NODE_DIR/sysctl.orig" ||
    log "could not restore every sysctl"
  if [ -n "${KUBECONFIG_PATH:-}" ] && kctl get --raw /readyz >/dev/null 2>&1; then
    kctl delete node "$NODE_NAME" --ignore-not-found >/dev/null 2>&1 || true
  fi
  rm -rf "$NODE_DIR"
  log "node $NODE_NAME removed; nothing of it is left on this machine"
}

down_for() { # the node, if it serves cluster $1 (any cluster when $1 is empty)
  [ -d "$NODE_DIR" ] || return 0
  local owner
  owner=$(cat "$NODE_DIR/cluster" 2>/dev/null || true)
  [ -z "$1" ] || [ -z "$owner" ] || [ "$owner" = "$1" ] || return 0
  [ -z "$owner" ] || use_cluster "$owner"
  node_down
}

cmd_status() {
  local d
  [ -d "$NODE_DIR" ] || { echo "node $NODE_NAME is down"; return 1; }
  use_cluster "$(cat "$NODE_DIR/cluster")"
  for d in "${DAEMONS[@]}"; do
    alive "$d" || { echo "node $NODE_NAME: $d is not running"; return 1; }
  done
  node_ready || { echo "node $NODE_NAME is not Ready"; return 1; }
  echo "node $NODE_NAME is Ready in cluster $CLUSTER"
}

cmd_env() {
  printf 'NODE_NAME=%q\nNODE_DIR=%q\nNODE_LABEL=%q\nNODE_IMAGE=%q\nNODE_GPUS=%q\n' \
    "$NODE_NAME" "$NODE_DIR" "$NODE_LABEL" "$STANDIN_IMAGE" "$NODE_GPUS"
}

case ${1:-} in
  deps) cmd_deps ;;
  build) cmd_build ;;
  up) cmd_up ;;
  down) down_for "" ;;
  down-for) down_for "${2:?cluster name}" ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) die "usage: $0 deps|build|up|down|status|env" ;;
esac
