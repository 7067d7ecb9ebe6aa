#!/usr/bin/env bash
# The README's test command. Prepares everything the tests need (idempotent: a second run
# reuses the venv and the cached cluster binaries), then lint, types and the whole suite.
# Extra arguments go to pytest, e.g. `hack/test.sh tests/unit -k builders`.
set -euo pipefail
cd "$(dirname "$0")/.."

hack/python-env.sh
hack/cluster.sh build
hack/tools.sh build
# The real node's packages and build (the `realnode` e2e stories); it needs root.
if [ "$(id -u)" = 0 ]; then
  hack/node.sh deps
  hack/node.sh build
else
  echo "[test] not root: the realnode stories will fail; hack/test.sh -m 'not realnode' leaves them out" >&2
fi

# shellcheck source=/dev/null
. .venv/bin/activate
ruff check operator tests hack images
ruff format --check operator tests hack images
mypy operator/sglang_operator
pytest "$@"
