"""Golden files: every example in examples/ renders exactly to tests/golden/<example>.yaml.

A change to a builder shows up here as a reviewable diff of the objects. After an
intended change, regenerate with `UPDATE_GOLDEN=1 pytest tests/unit/test_builders_golden.py`
and review the diff before committing.
"""

import os
from pathlib import Path

import pytest
import yaml

from sglang_operator.cli import render_documents

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
GOLDEN = ROOT / "tests" / "golden"


def render(example: Path) -> str:
    objects = render_documents(list(yaml.safe_load_all(example.read_text())), None)
    return yaml.safe_dump_all(objects, sort_keys=False, width=100)


def test_the_five_documented_examples_exist() -> None:
    names = {e.stem for e in EXAMPLES}
    assert {
        "single-node-mi300x",
        "multi-node-2x8-mi300x",
        "nvidia-h100",
        "offline-batch",
        "benchmark",
    } <= names


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.stem)
def test_example_renders_to_its_golden_file(example: Path) -> None:
    golden = GOLDEN / f"{example.stem}.yaml"
    rendered = render(example)
    if os.environ.get("UPDATE_GOLDEN") == "1":
        golden.write_text(rendered)
    assert golden.exists(), f"no golden file; run UPDATE_GOLDEN=1 pytest {__file__}"
    assert rendered == golden.read_text()


def test_no_stale_golden_files() -> None:
    assert {g.stem for g in GOLDEN.glob("*.yaml")} == {e.stem for e in EXAMPLES}
