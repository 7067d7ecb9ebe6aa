"""docs/testing.md's mutation table and hack/mutation.sh name the same modules and tests."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (ROOT / "hack" / "mutation.sh").read_text()


def script_modules() -> list[str]:
    match = re.search(r"^ORDER=\(([^)]*)\)", SCRIPT, re.MULTILINE)
    assert match, "hack/mutation.sh has no ORDER=(...) line"
    return match.group(1).split()


def script_tests() -> dict[str, list[str]]:
    return {
        module: tests.split()
        for module, tests in re.findall(r'^\s+\[(\w+)\]="([^"]*)"', SCRIPT, re.MULTILINE)
    }


def table_modules() -> list[str]:
    doc = (ROOT / "docs" / "testing.md").read_text()
    return re.findall(r"^\| `(\w+)\.py` \|", doc, re.MULTILINE)


def test_the_docs_table_lists_every_module_the_mutation_run_tests() -> None:
    assert script_modules(), "hack/mutation.sh runs no module"
    assert sorted(table_modules()) == sorted(script_modules())


def test_every_mutated_module_and_its_tests_exist() -> None:
    tests = script_tests()
    assert sorted(tests) == sorted(script_modules())
    for module, files in tests.items():
        assert (ROOT / "operator" / "sglang_operator" / f"{module}.py").is_file(), module
        assert files, module
        for file in files:
            assert (ROOT / file).is_file(), file
