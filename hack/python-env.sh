#!/usr/bin/env bash
# Creates (or refreshes) .venv with the package, its test extra, and SGLang's argument parser
# (installed without its GPU dependencies) so tests can check every command line we write.
# With `operator`, only the package and its runtime dependencies (what hack/demo.sh needs).
set -euo pipefail
cd "$(dirname "$0")/.."

[ -x .venv/bin/python ] || python3 -m venv .venv
# `hack/python-env.sh operator` (hack/demo.sh): the operator and its runtime dependencies only.
if [ "${1:-}" = operator ]; then
    .venv/bin/python -c 'import sglang_operator, kopf' 2>/dev/null || .venv/bin/pip install -q -e .
    exit 0
fi
.venv/bin/pip install -q -e '.[test]'

# SGLang's own argument parsers, for tests/sglang_cli.py. sglang goes in with --no-deps: its
# declared dependencies are GPU kernels and serving stacks that its parser modules never import;
# hack/sglang-parser-requirements.txt lists what they do import. That includes torch, and
# PyPI's Linux torch imports (on CPU too) only with the nvidia-* libraries libtorch links
# against: about 3 GB to download, 2 minutes, once. The stamp, keyed on the pins, skips all of
# it when nothing changed.
sglang_version=0.5.23
stamp=.venv/.sglang-parser-stamp
want="sglang==$sglang_version $(sha256sum hack/sglang-parser-requirements.txt | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    .venv/bin/pip install -q -r hack/sglang-parser-requirements.txt
    .venv/bin/pip install -q --no-deps "sglang==$sglang_version"
    .venv/bin/python -W ignore -c 'import sglang.srt.server_args, sglang.benchmark.serving, sglang.benchmark.offline_throughput'
    echo "$want" >"$stamp"
fi
