"""Guards on the repository layout that DESIGN.md fixes."""

import operator as stdlib_operator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_operator_dir_is_not_a_package() -> None:
    # A package named `operator` would shadow the standard library module.
    assert not (ROOT / "operator" / "__init__.py").exists()


def test_stdlib_operator_is_not_shadowed() -> None:
    assert hasattr(stdlib_operator, "itemgetter")
