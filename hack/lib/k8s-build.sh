# shellcheck shell=bash
# Sourced by hack/cluster.sh and hack/node.sh: builds Kubernetes commands from the Go module
# proxy. (No shebang: a library, not a command.)
#
# k8s_build OUT_DIR WORK_PARENT VERSION PACKAGE...   e.g. k8s.io/kubernetes/cmd/kubelet
#
# A wrapper module per build: k8s.io/kubernetes carries replace directives pointing into its
# own repository, which `go install pkg@version` refuses, so the commands are built as
# dependencies of a throwaway module instead. Callers set CGO_ENABLED/GOFLAGS (the same in
# both scripts, so one build cache serves both).
k8s_build() {
  local out=$1 parent=$2 version=$3 work gomod staging minor ldflags m p
  shift 3
  work=$(mktemp -d "$parent/work.XXXXXX")
  staging=v0.${version#v1.}
  minor=$(cut -d. -f2 <<<"$version")
  (
    cd "$work" || exit 1
    go mod init local/k8sbins 2>/dev/null || { echo "go mod init failed (go: $(command -v go))" >&2; exit 1; }
    gomod=$(go mod download -json "k8s.io/kubernetes@$version" | python3 -c \
      'import json, sys; print(json.load(sys.stdin)["GoMod"])')
    # Kubernetes requires its staging modules at v0.0.0 and replaces them with local paths;
    # the published v0.<minor>.<patch> tags are the same code. Derived, not hard-coded, so a
    # new minor's new staging modules are picked up.
    while read -r m; do
      go mod edit -replace="$m=$m@$staging"
    done < <(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" {print $1}' "$gomod")
    # Keep the GODEBUG defaults Kubernetes itself is built with.
    if grep -q '^godebug ' "$gomod"; then
      grep '^godebug ' "$gomod" >>go.mod
    fi
    # Getting the command packages (not just the module) records go.sum entries for
    # everything they import.
    go get "${@/%/@$version}"
    # kwokctl reads `--version` to pick component flags; without these it sees v0.0.0.
    ldflags="-s -w"
    for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
      ldflags+=" -X $p.gitVersion=$version -X $p.gitMajor=1 -X $p.gitMinor=$minor"
      ldflags+=" -X $p.gitTreeState=clean"
    done
    nice go build -ldflags="$ldflags" -o "$out/" "$@"
  )
  rm -rf "$work"
}
