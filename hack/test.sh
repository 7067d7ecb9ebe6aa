#!/usr/bin/env bash
# The README's test command. Prepares everything the tests need (idempotent: a second run
# reuses the venv and the cached cluster binaries), then lint, types and the whole suite.
# Extra arguments go to pytest, e.g. `hack/test.sh tests/unit -k builders`.
set -euo pipefail
cd "$(dirname "$0")/.."

hack/python-env.sh
hack/cluster.sh build
hack/tools.sh build

# shellcheck source=/dev/null
. .venv/bin/activate
ruff check operator tests hack
ruff format --check operator tests hack
mypy operator/sglang_operator
pytest "$@"
