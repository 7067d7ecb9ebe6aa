"""The Dockerfiles and shell scripts pass their linters, and every place that names a version
agrees: the package, the chart, the one-file install, the images, the examples, the docs and
the ArgoCD Applications. (No image is built here: there is no Docker engine.)"""

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from sglang_operator import api, chartgen, cli

ROOT = chartgen.ROOT
BIN = Path(sys.executable).parent
DOCKERFILES = sorted((ROOT / "images").glob("*/Dockerfile"))
SHELL_SCRIPTS = sorted([*(ROOT / "hack").glob("*.sh"), *(ROOT / "images").rglob("*.sh")])
# Text a user reads or applies, where a stale image tag would mislead.
USER_FACING = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").rglob("*.md")),
    *sorted((ROOT / "images").rglob("*.md")),
    *sorted((ROOT / "examples").glob("*.yaml")),
    *sorted((ROOT / "argocd" / "applications").glob("*.yaml")),
    *DOCKERFILES,
    chartgen.INSTALL_YAML,
]

PACKAGE_VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
CHART = yaml.safe_load((chartgen.CHART_DIR / "Chart.yaml").read_text())


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in path.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        pending += line.rstrip("\\").strip() + " "
        if not line.endswith("\\"):
            logical.append(pending.strip())
            pending = ""
    return [(w.split(None, 1)[0].upper(), w.split(None, 1)[1]) for w in logical]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=rel)
def test_dockerfile_passes_hadolint(dockerfile: Path) -> None:
    out = subprocess.run(
        [str(BIN / "hadolint"), str(dockerfile)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("script", SHELL_SCRIPTS, ids=rel)
def test_shell_script_passes_shellcheck(script: Path) -> None:
    out = subprocess.run(
        [str(BIN / "shellcheck"), "--external-sources", str(script)],
        cwd=script.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_there_is_something_to_lint() -> None:
    assert {p.parent.name for p in DOCKERFILES} >= {"operator", "sglang-rocm"}
    assert SHELL_SCRIPTS


def test_chart_version_is_the_package_version() -> None:
    assert CHART["version"] == PACKAGE_VERSION
    assert CHART["appVersion"] == PACKAGE_VERSION


def test_one_file_install_runs_the_chart_app_version() -> None:
    docs = [d for d in yaml.safe_load_all(chartgen.INSTALL_YAML.read_text()) if d]
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"] == f"{chartgen.OPERATOR_IMAGE_REPOSITORY}:{CHART['appVersion']}"


def test_operator_image_runs_the_operator_as_non_root() -> None:
    instructions = dockerfile_instructions(ROOT / "images" / "operator" / "Dockerfile")
    entrypoint = json.loads([args for op, args in instructions if op == "ENTRYPOINT"][-1])
    command = json.loads([args for op, args in instructions if op == "CMD"][-1])
    assert entrypoint == ["sglang-operator", "run"]
    # The default arguments are ones the operator's CLI accepts (argparse exits otherwise).
    parsed = cli.build_parser().parse_args(entrypoint[1:] + command)
    assert parsed.all_namespaces and parsed.liveness
    user = [args for op, args in instructions if op == "USER"][-1]
    assert user.split(":")[0] != "0" and user.split(":")[0].isdigit()
    bases = [args.split()[0] for op, args in instructions if op == "FROM"]
    # Pinned to a patch release, and the same in both stages (the venv is copied across).
    assert len(set(bases)) == 1
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", bases[0])


def test_sglang_rocm_image_builds_on_the_operators_default_amd_image() -> None:
    instructions = dockerfile_instructions(ROOT / "images" / "sglang-rocm" / "Dockerfile")
    args = dict(a.split("=", 1) for op, a in instructions if op == "ARG")
    assert args["SGLANG_BASE"] == api.DEFAULT_IMAGE_AMD
    assert [a for op, a in instructions if op == "FROM"] == ["${SGLANG_BASE}"]


def test_sglang_rocm_image_env_is_the_operators_rocm_presets() -> None:
    instructions = dockerfile_instructions(ROOT / "images" / "sglang-rocm" / "Dockerfile")
    env = dict(pair.split("=", 1) for op, a in instructions if op == "ENV" for pair in a.split())
    assert env == api.ROCM_PRESET_ENV


@pytest.mark.parametrize("path", [p for p in USER_FACING if p.exists()], ids=rel)
def test_image_tags_named_anywhere_agree(path: Path) -> None:
    text = path.read_text()
    for tag in re.findall(r"lmsysorg/sglang:v([0-9][^\s\"'`-]*)", text):
        assert tag == api.SGLANG_VERSION, f"{rel(path)} names SGLang v{tag}"
    operator_image = re.escape(chartgen.OPERATOR_IMAGE_REPOSITORY)
    for tag in re.findall(rf"{operator_image}:([^\s\"'`]+)", text):
        assert tag == CHART["appVersion"], f"{rel(path)} names operator image {tag}"


def test_argocd_applications_follow_main() -> None:
    # main always exists; a release tag exists only once a maintainer pushed it (the docs say
    # how to pin one).
    for path in sorted((ROOT / "argocd" / "applications").glob("*.yaml")):
        app = yaml.safe_load(path.read_text())
        assert app["spec"]["source"]["targetRevision"] == "main", rel(path)
