"""`python -m sglang_operator` is the `sglang-operator` console script."""

import sys

from sglang_operator.cli import main

sys.exit(main())
