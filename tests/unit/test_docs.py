"""The docs hold together: every shell block of the README and the user guide either runs
in the doc-command e2e test or says why it cannot; links between the docs resolve."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

from doc_blocks import DOCS, REPO, blocks, markers
from sglang_operator.api import DEFAULT_IMAGE_AMD, DEFAULT_IMAGE_NVIDIA, SGLANG_VERSION


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


def test_the_compatibility_line_names_the_versions_in_the_code() -> None:
    text = (REPO / "docs" / "prerequisites.md").read_text()
    line = text.split("**Compatibility**:", 1)[1].split("\n\n", 1)[0]
    package = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((REPO / "helm" / "sglang-operator" / "Chart.yaml").read_text())
    minimum = re.fullmatch(r">=(\d+\.\d+)\.0-0", chart["kubeVersion"])
    tested = re.search(r"^K8S_VERSION=v(\S+)$", (REPO / "hack" / "cluster.sh").read_text(), re.M)
    assert minimum and tested
    assert f"sglang-operator {package}" in line
    assert f"Kubernetes {minimum.group(1)} or newer (tested on {tested.group(1)})" in line
    assert f"SGLang v{SGLANG_VERSION} images" in line
    assert DEFAULT_IMAGE_AMD in line and DEFAULT_IMAGE_NVIDIA in line
