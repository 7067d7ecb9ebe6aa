"""The GitHub Actions workflows: actionlint (with shellcheck on their scripts) accepts them,
CI runs the README's test command, and a release publishes what the chart and the docs name."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from sglang_operator import chartgen

ROOT = chartgen.ROOT
WORKFLOWS = ROOT / ".github" / "workflows"


def workflow(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    return loaded


def steps(flow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in flow["jobs"].values() for step in job["steps"]]


def test_workflows_pass_actionlint() -> None:
    actionlint = subprocess.run(
        [str(ROOT / "hack" / "tools.sh"), "path", "actionlint"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # shellcheck from the venv, so actionlint also checks every `run:` script.
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(
        [actionlint, "-color=false"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert {p.name for p in WORKFLOWS.glob("*.yaml")} >= {"ci.yaml", "release.yaml"}


def test_ci_runs_the_readme_test_command_on_pull_requests() -> None:
    ci = workflow("ci.yaml")
    # PyYAML reads the key `on` as True.
    assert "pull_request" in ci[True]
    assert any(step.get("run") == ".ci/run" for step in steps(ci))
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("exec hack/test.sh")


def test_release_publishes_the_images_and_chart_of_the_tag() -> None:
    release = workflow("release.yaml")
    assert release[True]["push"]["tags"] == ["v*"]
    text = (WORKFLOWS / "release.yaml").read_text()
    pushes = [
        s["with"] for s in steps(release) if s.get("uses", "").startswith("docker/build-push")
    ]
    files = {p.get("file", f"{p['context']}/Dockerfile") for p in pushes}
    assert files == {"images/operator/Dockerfile", "images/sglang-rocm/Dockerfile"}
    assert all(p["push"] is True for p in pushes)
    assert (
        'helm push "dist/chart/sglang-operator-$VERSION.tgz" "oci://ghcr.io/$OWNER/charts"' in text
    )
    # The operator image lands where the chart looks for it (for the owner sglang-operator).
    operator_tags = next(p["tags"] for p in pushes if p.get("file") == "images/operator/Dockerfile")
    image = chartgen.OPERATOR_IMAGE_REPOSITORY.rsplit("/", 1)[1]
    assert operator_tags.startswith("ghcr.io/${{ needs.version.outputs.owner }}/" + image + ":")
