"""The docs hold together: every shell block of the README and the user guide either runs
in the doc-command e2e test or says why it cannot; links between the docs resolve."""

import re
from pathlib import Path

import pytest

from doc_blocks import DOCS, REPO, blocks, markers


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_marker_sits_on_a_block_and_every_skip_says_why(path: Path) -> None:
    found = blocks(path)
    assert found
    fences = {b.line - 1 for b in found}
    for line, text in markers(path):
        assert line in fences, f"{path.name}:{line}: a doc-test marker not before a bash block"
        assert re.search(r"doc-test: (skip \(.+\)|output-contains \S)", text), text
    # Most blocks run: a skip is the exception.
    assert sum(1 for b in found if b.skip is None) >= 1


@pytest.mark.parametrize(
    "path", [*DOCS, *sorted((REPO / "docs").glob("*.md"))], ids=lambda p: p.name
)
def test_relative_links_resolve(path: Path) -> None:
    text = path.read_text()
    for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
        assert (path.parent / target).exists(), f"{path.name} links to missing {target}"
