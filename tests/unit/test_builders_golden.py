"""Golden files: every example in examples/ renders exactly to tests/golden/<example>.yaml.

A change to a builder shows up here as a reviewable diff of the objects (the reporter
script's source is replaced by a placeholder). After an
intended change, regenerate with `UPDATE_GOLDEN=1 pytest tests/unit/test_builders_golden.py`
and review the diff before committing.
"""

import os
from pathlib import Path

import pytest
import yaml

from sglang_operator.benchmark import REPORTER_KEY, reporter_source
from sglang_operator.cli import render_documents

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
GOLDEN = ROOT / "tests" / "golden"


REPORTER_PLACEHOLDER = "<the source of sglang_operator/reporter.py>"


def render(example: Path) -> str:
    objects = render_documents(list(yaml.safe_load_all(example.read_text())), None)
    for obj in objects:
        # The reporter script has tests of its own; here only that it is shipped verbatim.
        if obj["kind"] == "ConfigMap" and REPORTER_KEY in obj.get("data", {}):
            assert obj["data"][REPORTER_KEY] == reporter_source()
            obj["data"][REPORTER_KEY] = REPORTER_PLACEHOLDER
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
