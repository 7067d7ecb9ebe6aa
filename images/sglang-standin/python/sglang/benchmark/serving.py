"""`python3 -m sglang.benchmark.serving`: SGLang's real module, from a mounted environment.

The image holds no real SGLang. When a Python 3.11 site-packages with the real sglang (and
what its benchmark imports) is mounted at REAL_SITE_PACKAGES, this execs the real module
there, with the same arguments; otherwise it fails and says so.
"""

from __future__ import annotations

import os
import sys

REAL_SITE_PACKAGES = "/opt/sglang/site-packages"


def main(argv: list[str]) -> None:
    if not os.path.isfile(os.path.join(REAL_SITE_PACKAGES, "sglang", "benchmark", "serving.py")):
        sys.exit(
            "sglang.benchmark.serving: this stand-in image has no real SGLang; mount a "
            f"site-packages holding sglang at {REAL_SITE_PACKAGES} "
            "(images/sglang-standin/README.md)"
        )
    env = dict(os.environ)
    # PYTHONPATH comes before the image's dist-packages, so the real package wins.
    env["PYTHONPATH"] = REAL_SITE_PACKAGES
    python = sys.executable or "python3"
    os.execve(python, [python, "-m", "sglang.benchmark.serving", *argv], env)


if __name__ == "__main__":
    main(sys.argv[1:])
