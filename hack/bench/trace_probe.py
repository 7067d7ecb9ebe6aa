"""Runs the operator's command line (`trace_probe.py OUT_FILE run ...` = `sglang-operator run
...`) with the operator's own DEBUG lines (each watch event it acts on and what it enqueued,
each pass's start and end, each API request as it is answered) written to OUT_FILE, one a
line, prefixed with the wall-clock time in seconds since the epoch (microseconds): the
operator's side of a timeline, beside the API server's audit log and the benchmark's own
watch. kopf's lines stay at the level `run` sets. Used by `hack/bench_operator.py --timeline`,
with PYTHONPATH set to the checkout whose operator runs.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

# The operator's code comes from PYTHONPATH (the benchmark sets it: this checkout's, or
# --base's), so that one probe runs either.
from sglang_operator import controller
from sglang_operator.cli import main as operator_main


def main() -> int:
    out = Path(sys.argv[1])
    configure = controller.configure_logging

    def configure_with_trace(level: str = "info", log_format: str = "text") -> None:
        configure(level, log_format)
        handler = logging.FileHandler(out)
        handler.setFormatter(logging.Formatter("%(created).6f %(name)s %(message)s"))
        ours = logging.getLogger("sglang_operator")
        ours.setLevel(logging.DEBUG)
        ours.propagate = False  # the root handlers print INFO and up only, as without it
        ours.addHandler(handler)

    controller.configure_logging = configure_with_trace
    return operator_main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
