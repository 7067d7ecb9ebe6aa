#!/usr/bin/env bash
# Regenerates the delivery files nobody edits by hand: the chart's values.yaml,
# values.schema.json and crds/ (a copy of the top-level crds/), argocd/argocd-cm.yaml and
# dist/install.yaml (rendered with the helm that `hack/cluster.sh build` makes).
# `hack/gen-chart.sh --check` only reports stale files (exit 1).
set -euo pipefail
cd "$(dirname "$0")/.."

hack/cluster.sh build
exec .venv/bin/python -m sglang_operator.chartgen "$@"
