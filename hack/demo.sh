#!/usr/bin/env bash
# The README's "run it" command: starts the local cluster with a real node beside its kwok
# nodes, installs the CRD, runs the operator in the background and applies an example until
# it is Ready and answers on its endpoint.
#
#   hack/demo.sh [EXAMPLE.yaml]   default: examples/quickstart.yaml
#   eval "$(hack/demo.sh env)"    KUBECONFIG and PATH (kubectl) for the demo cluster
#   hack/demo.sh down             stop the operator, the real node and the cluster
#
# The example runs on the real node (hack/node.sh, as root) in the SGLang stand-in image
# (images/sglang-standin): real pods, probes, DNS and Services, and an OpenAI-compatible
# endpoint that answers, but NO MODEL RUNS. hack/real-node-manifest.py rewrites the example
# for that node (image, node selector; it says what it leaves out). Without root the example
# runs on kwok's fake nodes only: Ready, but nothing answers.
# The operator's log: $STATE/operator.log; it keeps running after this script returns, so
# you can `kubectl scale`, edit or delete the example and watch it react. The demo has a
# cluster of its own (sglang-operator-demo): the tests reuse a running `sglang-operator`
# cluster and run their own operator, which must not meet the demo's. Only the operator's
# own Python dependencies are installed (not the tests' 3 GB SGLang environment).
set -euo pipefail
cd "$(dirname "$0")/.."
export SGLANG_OPERATOR_CLUSTER=${SGLANG_OPERATOR_CLUSTER:-sglang-operator-demo}

# One state directory per cluster name: a second demo (or its `down`) never stops this one's
# operator.
STATE=${SGLANG_OPERATOR_CACHE:-$HOME/.cache/sglang-operator}/demo/$SGLANG_OPERATOR_CLUSTER
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
hack/python-env.sh operator
hack/cluster.sh build
REAL_NODE=0
if [ "$(id -u)" = 0 ]; then
  REAL_NODE=1
  hack/node.sh deps
  hack/node.sh build
else
  echo "[demo] not root: no real node; the example runs on kwok's fake nodes and nothing answers"
fi
hack/cluster.sh up
eval "$(hack/cluster.sh env)"

MANIFEST=$EXAMPLE
if [ "$REAL_NODE" = 1 ]; then
  eval "$(hack/node.sh env)"
  MANIFEST=$STATE/example.yaml
  .venv/bin/python hack/real-node-manifest.py "$EXAMPLE" "$NODE_IMAGE" "$NODE_LABEL" >"$MANIFEST"
  GPUS=$(sed -n 's/^# gpus: //p' "$MANIFEST")
  NODE_GPUS=$((GPUS > 16 ? GPUS : 16)) hack/node.sh up
fi

kubectl apply --server-side -f crds/
# `kubectl wait` fails at once while the new CRD has no status.conditions yet: retry it.
for _ in {1..30}; do
  kubectl wait --for=condition=Established crd/sglangdeployments.sglang-operator.io \
    --timeout=5s 2>/dev/null && break
  sleep 1
done
kubectl wait --for=condition=Established crd/sglangdeployments.sglang-operator.io --timeout=5s

stop_operator
nohup .venv/bin/sglang-operator run --all-namespaces >"$STATE/operator.log" 2>&1 &
echo $! >"$PIDFILE"
echo "[demo] operator running (pid $(cat "$PIDFILE")), log: $STATE/operator.log"

kubectl apply -f "$MANIFEST"
NAME=$(.venv/bin/python -c 'import sys, yaml; print(next(d for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "SGLangDeployment")["metadata"]["name"])' "$MANIFEST")
kubectl wait --for=condition=Ready "sgld/$NAME" --timeout=300s
kubectl get sgld "$NAME"
kubectl get statefulsets,pods,services -l "app.kubernetes.io/instance=$NAME" -o wide

if [ "$REAL_NODE" = 1 ]; then
  # The endpoint answers: through the API server's port-forward to the client Service.
  PORT=$(kubectl get svc "$NAME" -o jsonpath='{.spec.ports[0].port}')
  kubectl port-forward "svc/$NAME" "$PORT" >"$STATE/port-forward.log" 2>&1 &
  FORWARD=$!
  ANSWER=""
  for _ in $(seq 30); do
    ANSWER=$(curl -fsS "localhost:$PORT/v1/models" 2>/dev/null) && break
    sleep 1
  done
  kill "$FORWARD" 2>/dev/null || true
  wait "$FORWARD" 2>/dev/null || true
  [ -n "$ANSWER" ] || { echo "[demo] no answer on svc/$NAME; see $STATE/port-forward.log" >&2; exit 1; }
  echo "[demo] curl localhost:$PORT/v1/models (through kubectl port-forward svc/$NAME $PORT):"
  echo "$ANSWER"
  cat <<MSG

[demo] $NAME is Ready on the real node. The answer above comes from the SGLang stand-in
image: real pods, probes, DNS and Services, SGLang's endpoints and arguments, but no model
runs (images/sglang-standin/README.md). Try:
  eval "\$(hack/demo.sh env)"
  kubectl port-forward svc/$NAME $PORT &  curl --retry 5 --retry-connrefused localhost:$PORT/v1/models
  curl localhost:$PORT/v1/completions -H 'Content-Type: application/json' -d '{"model": "x", "prompt": "hi", "max_tokens": 8}'
  kubectl logs -l app.kubernetes.io/instance=$NAME --prefix   # the rendezvous of the ranks
  kubectl describe sgld $NAME                  # conditions and events
  kubectl delete pod $NAME-0-\$((\$(kubectl get sts $NAME-0 -o jsonpath='{.spec.replicas}') - 1))
                                               # the last rank goes: the whole group restarts
  hack/demo.sh down                            # stop the operator, the node and the cluster
MSG
else
  cat <<MSG

[demo] $NAME is Ready (on kwok's fake nodes: no container runs). Try:
  eval "\$(hack/demo.sh env)"
  kubectl describe sgld $NAME                  # conditions and events
  kubectl scale sgld/$NAME --replicas=2        # a second model copy
  hack/demo.sh down                            # stop the operator and the cluster
MSG
fi
