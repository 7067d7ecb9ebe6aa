"""The chart's RBAC is enough for the real operator: installed by Helm, the operator process
runs with nothing but its ServiceAccount's token and serves a deployment end to end, which
then shows no drift against its manifest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from conftest import Cluster
from operator_process import OperatorProcess

CRD = "sglangdeployments.sglang-operator.io"


def token_kubeconfig(cluster: Cluster, namespace: str, service_account: str, path: Path) -> Path:
    """A kubeconfig for the same API server that authenticates as the ServiceAccount."""
    token = cluster.kubectl(
        "create", "token", service_account, "-n", namespace, "--duration=1h"
    ).stdout.strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    server = admin["clusters"][0]["cluster"]
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "local", "cluster": server}],
                "users": [{"name": service_account, "user": {"token": token}}],
                "contexts": [
                    {"name": "sa", "context": {"cluster": "local", "user": service_account}}
                ],
                "current-context": "sa",
            }
        )
    )
    return path


@pytest.fixture(params=["cluster-wide", "namespaced"])
def installed(
    request: pytest.FixtureRequest, cluster: Cluster, namespace: str
) -> Iterator[tuple[str, tuple[str, ...]]]:
    """Installs the chart, cluster-wide (defaults) or watching only the test's namespace, and
    yields its ServiceAccount's name and the namespaces the operator is to watch."""
    watched = (namespace,) if request.param == "namespaced" else ()
    scope = [f"--set=watchNamespaces={{{namespace}}}"] if watched else []
    with cluster.chart_release(namespace, *scope, "--wait") as service_account:
        cluster.wait_crd_established(CRD)
        yield service_account, watched


def test_operator_serves_a_deployment_with_only_the_charts_rights(
    cluster: Cluster,
    namespace: str,
    installed: tuple[str, tuple[str, ...]],
    tmp_path: Path,
) -> None:
    service_account, watched = installed
    kubeconfig = token_kubeconfig(cluster, namespace, service_account, tmp_path / "sa.kubeconfig")
    operator = OperatorProcess(kubeconfig, tmp_path / "operator.log", watched)
    operator.start()
    try:
        manifest = {
            "apiVersion": "sglang-operator.io/v1alpha1",
            "kind": "SGLangDeployment",
            "metadata": {"name": "rbac-check", "namespace": namespace},
            "spec": {
                "model": {"path": "Qwen/Qwen2.5-0.5B-Instruct"},
                "gpu": {"vendor": "amd", "perNode": 1},
                "replicas": 1,
            },
        }
        text = yaml.safe_dump(manifest)
        cluster.kubectl("apply", "-f", "-", input=text)
        cluster.kubectl(
            "wait",
            "-n",
            namespace,
            "--for=condition=Ready",
            "sgld/rbac-check",
            "--timeout=120s",
            timeout=130,
        )
        status = json.loads(
            cluster.kubectl("get", "sgld", "rbac-check", "-n", namespace, "-o", "json").stdout
        )["status"]
        assert status["readyReplicas"] == 1
        assert status["endpoint"]
        # Reconciled and Ready, the object still matches its manifest: nothing for ArgoCD to
        # report as drift (the operator writes status and annotations only).
        diff = cluster.kubectl("diff", "-f", "-", input=text, check=False)
        assert diff.returncode == 0, diff.stdout + diff.stderr
        # Events are written with the ServiceAccount's rights too.
        events = cluster.kubectl(
            "get",
            "events",
            "-n",
            namespace,
            "--field-selector",
            "involvedObject.name=rbac-check",
            "-o",
            "name",
        ).stdout
        assert events.strip()
        log = operator.tail(lines=2000)
        assert "Forbidden" not in log and " 403" not in log, log
    finally:
        operator.stop()
