#!/usr/bin/env bash
# The README's "run it" command: starts the local cluster, installs the CRD, runs the operator
# in the background and applies an example until it is Ready.
#
#   hack/demo.sh [EXAMPLE.yaml]   default: examples/quickstart.yaml
#   eval "$(hack/demo.sh env)"    KUBECONFIG and PATH (kubectl) for the demo cluster
#   hack/demo.sh down             stop the operator and the cluster
#
# The operator's log: $STATE/operator.log; it keeps running after this script returns, so
# you can `kubectl scale`, edit or delete the example and watch it react. The demo has a
# cluster of its own (sglang-operator-demo): the tests reuse a running `sglang-operator`
# cluster and run their own operator, which must not meet the demo's.
set -euo pipefail
cd "$(dirname "$0")/.."
export SGLANG_OPERATOR_CLUSTER=${SGLANG_OPERATOR_CLUSTER:-sglang-operator-demo}

STATE=${SGLANG_OPERATOR_CACHE:-$HOME/.cache/sglang-operator}/demo
PIDFILE=$STATE/operator.pid
mkdir -p "$STATE"

stop_operator() {
  if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    kill "$(cat "$PIDFILE")"
    echo "[demo] operator stopped"
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  down)
    stop_operator
    hack/cluster.sh down
    exit 0
    ;;
  env)
    exec hack/cluster.sh env
    ;;
esac

EXAMPLE=${1:-examples/quickstart.yaml}
hack/python-env.sh
hack/cluster.sh build
hack/cluster.sh up
eval "$(hack/cluster.sh env)"

kubectl apply --server-side -f crds/
kubectl wait --for=condition=Established crd/sglangdeployments.sglang-operator.io --timeout=60s

stop_operator
nohup .venv/bin/sglang-operator run --all-namespaces >"$STATE/operator.log" 2>&1 &
echo $! >"$PIDFILE"
echo "[demo] operator running (pid $(cat "$PIDFILE")), log: $STATE/operator.log"

kubectl apply -f "$EXAMPLE"
NAME=$(.venv/bin/python -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["metadata"]["name"])' "$EXAMPLE")
kubectl wait --for=condition=Ready "sgld/$NAME" --timeout=300s
kubectl get sgld "$NAME"
kubectl get statefulsets,pods,services -l "app.kubernetes.io/instance=$NAME" -o wide
cat <<MSG

[demo] $NAME is Ready. Try:
  eval "\$(hack/demo.sh env)"
  kubectl describe sgld $NAME                  # conditions and events
  kubectl scale sgld/$NAME --replicas=2        # a second model copy
  kubectl delete pod $NAME-0-1                 # the whole group restarts together
  hack/demo.sh down                            # stop the operator and the cluster
MSG
