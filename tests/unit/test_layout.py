"""Guards on the repository layout that DESIGN.md fixes."""

import operator as stdlib_operator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_operator_dir_is_not_a_package() -> None:
    # A package named `operator` would shadow the standard library module.
    assert not (ROOT / "operator" / "__init__.py").exists()


def test_stdlib_operator_is_not_shadowed() -> None:
    assert hasattr(stdlib_operator, "itemgetter")


def test_no_two_test_modules_share_a_basename() -> None:
    # tests/ has no __init__.py files: pytest's default import mode imports each test module
    # by its basename, so a second `test_x.py` in another directory stops the whole suite's
    # collection (it did once, tests/unit/test_runs.py beside tests/e2e/test_runs.py, seen
    # only when both tiers were collected together, as `hack/test.sh` does).
    seen: dict[str, Path] = {}
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        assert path.name not in seen, f"{path} and {seen[path.name]} share a basename"
        seen[path.name] = path
