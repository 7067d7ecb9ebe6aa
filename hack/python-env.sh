#!/usr/bin/env bash
# Creates (or refreshes) .venv with the package, its test extra, and SGLang's argument parser
# (installed without its GPU dependencies) so tests can check every command line we write.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e '.[test]'
