"""docs/testing.md's mutation table and hack/mutation.sh name the same modules and tests."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = (ROOT / "hack" / "mutation.sh").read_text()


def script_modules() -> list[str]:
    match = re.search(r"^ORDER=\(([^)]*)\)", SCRIPT, re.MULTILINE)
    assert match, "hack/mutation.sh has no ORDER=(...) line"
    return match.group(1).split()


def script_map(name: str) -> dict[str, list[str]]:
    """An associative array `declare -A NAME=(...)` of hack/mutation.sh: key -> words."""
    match = re.search(rf"^declare -A {name}=\((.*?)^\)$", SCRIPT, re.MULTILINE | re.DOTALL)
    assert match, f"hack/mutation.sh has no declare -A {name}=(...)"
    return {
        key: words.split()
        for key, words in re.findall(r'^\s+\[(\w+)\]="([^"]*)"', match.group(1), re.MULTILINE)
    }


def script_tests() -> dict[str, list[str]]:
    return script_map("TESTS")


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


def test_every_deselected_test_exists_in_the_modules_tests() -> None:
    # A renamed test would otherwise silently come back into (or stay out of) the run.
    tests = script_tests()
    for module, ids in script_map("DESELECT").items():
        assert module in tests, module
        for node_id in ids:
            file, _, name = node_id.partition("::")
            assert file in tests[module], node_id
            assert re.search(rf"^def {name}\(", (ROOT / file).read_text(), re.MULTILINE), node_id
