"""The README's and the user guide's shell blocks, run as written against the local cluster,
in document order, as a new user would follow them (tests/doc_blocks.py says which blocks
cannot run here and why). The operator under test serves what they apply; kwok's pods run
no container, so blocks that talk to a model are marked and skipped."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import Cluster

from doc_blocks import DOCS, REPO, Block, blocks

INSTALL_NAMESPACE = "sglang-operator"


def _kubeconfig_in(cluster: Cluster, namespace: str, directory: Path) -> Path:
    """A copy of the cluster's kubeconfig whose context defaults to `namespace`, so blocks
    that name no namespace land in the test's own."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    current = config["current-context"]
    for context in config["contexts"]:
        if context["name"] == current:
            context["context"]["namespace"] = namespace
    path = directory / "kubeconfig.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _run(block: Block, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block.script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def _remove_installs(cluster: Cluster) -> None:
    """What the install blocks created, except the CRD (the session's other tests use it)."""
    cluster.run("helm", "uninstall", "sglang-operator", "-n", INSTALL_NAMESPACE, check=False)
    for doc in yaml.safe_load_all((REPO / "dist" / "install.yaml").read_text()):
        if not doc or doc["kind"] in ("CustomResourceDefinition", "Namespace"):
            continue
        ns = doc["metadata"].get("namespace")
        cluster.kubectl(
            "delete",
            doc["kind"],
            doc["metadata"]["name"],
            *(["-n", ns] if ns else []),
            "--ignore-not-found",
            check=False,
        )
    cluster.kubectl("delete", "namespace", INSTALL_NAMESPACE, "--ignore-not-found", check=False)
    cluster.kubectl(
        "wait", "--for=delete", f"namespace/{INSTALL_NAMESPACE}", "--timeout=120s", check=False
    )


@pytest.mark.usefixtures("operator_log_on_failure")
@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_shell_blocks_run_as_written(
    cluster: Cluster, namespace: str, tmp_path: Path, path: Path
) -> None:
    env = {
        **cluster.env(),
        "KUBECONFIG": str(_kubeconfig_in(cluster, namespace, tmp_path)),
        # The README's local-cluster block starts and stops a cluster: its own, not ours.
        "SGLANG_OPERATOR_CLUSTER": f"docs-{os.getpid()}",
    }
    runnable = [b for b in blocks(path) if b.skip is None]
    assert runnable
    _remove_installs(cluster)
    try:
        for block in runnable:
            result = _run(block, env)
            assert result.returncode == 0, (
                f"{block.id} exited {result.returncode}\n{block.script}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
            if block.output_contains:
                assert block.output_contains in result.stdout, f"{block.id}:\n{result.stdout}"
    finally:
        _remove_installs(cluster)
        subprocess.run(
            [str(REPO / "hack" / "cluster.sh"), "down"], env=env, capture_output=True, check=False
        )
