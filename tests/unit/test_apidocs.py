"""docs/api.md is generated from the models and kept current."""

from pathlib import Path

from sglang_operator import apidocs

ROOT = Path(__file__).resolve().parents[2]


def test_committed_reference_is_current() -> None:
    committed = (ROOT / "docs" / "api.md").read_text()
    assert committed == apidocs.render(), "run `sglang-operator api-docs` and commit docs/api.md"


def test_reference_covers_every_spec_object_and_rule() -> None:
    text = apidocs.render()
    for section in ("`spec`", "`spec.model`", "`spec.parallelism`", "`spec.benchmark`", "`status`"):
        assert f"### {section}" in text
    assert "tp * pp must be a multiple of parallelism.nodes" in text
    assert "| `path` (required) |" in text
