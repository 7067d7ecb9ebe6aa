#!/usr/bin/env bash
# The README's test command. Prepares everything the tests need (idempotent: a second run
# reuses the venv and the cached cluster binaries), then lint, types and the whole suite.
# Extra arguments go to pytest, e.g. `hack/test.sh tests/unit -k builders`.
set -euo pipefail

case ${1:-} in
  -h | --help)
    cat <<'USAGE'
usage: hack/test.sh [PYTEST ARGUMENTS...]

Prepares what the tests need (the venv in .venv, the control-plane binaries, the tools, and
as root the real node's build), then runs ruff, mypy --strict and pytest with the arguments
given (default: the whole suite, unit and e2e). Examples:
  hack/test.sh tests/unit -k builders
  hack/test.sh -m "not chaos"          # leave out the chaos tier
  hack/test.sh -m "not realnode"       # leave out the real-node stories (needed when not root)
USAGE
    exit 0
    ;;
esac
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
