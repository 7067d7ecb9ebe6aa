"""Installing the operator the ways users do, on the local control plane: the Helm chart
(install, upgrade to namespaced mode, uninstall) and dist/install.yaml with plain
`kubectl apply`, client-side and server-side. kwok runs the operator pod (no container
runs), so these prove what the API server accepts: objects, admission, and RBAC as the
operator's ServiceAccount sees it. Also: an applied example stays as applied (no drift for
ArgoCD to see)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml

from rbac_matrix import OPERATOR_RULES
from sglang_operator import chartgen
from sglang_operator.api import SGLangDeploymentSpec

# The `cluster` fixture's type lives in tests/e2e/conftest.py, which is not importable as a
# module; Any stands for it here.
Cluster = Any

CRD = "sglangdeployments.sglang-operator.io"

# What the operator must be able to do wherever it serves (verb, resource[, subresource]):
# every verb of tests/rbac_matrix.py (test_rbac_matrix.py checks there is nothing more).
ALLOWED = [
    (verb, f"{plural}.{group}" if group else plural, *([sub] if sub else []))
    for (group, resource), verbs in sorted(OPERATOR_RULES.items())
    for plural, _, sub in [resource.partition("/")]
    for verb in sorted(verbs)
]
# What it must never be able to do anywhere. (It may create pods: only ever in a server-side
# dry run of a new pod template, which RBAC cannot grant alone; tests/rbac_matrix.py.)
DENIED = [
    ("get", "secrets"),
    ("list", "secrets"),
    ("create", "deployments.apps"),
    ("update", "deployments.apps"),
    ("delete", "sglangdeployments.sglang-operator.io"),
    ("create", "rolebindings.rbac.authorization.k8s.io"),
    ("escalate", "clusterroles.rbac.authorization.k8s.io"),
    ("impersonate", "serviceaccounts"),
    ("*", "*"),
]


# How kubectl reports an object a repeated apply left as it was (server-side apply says the
# same whether or not anything changed).
UNCHANGED = ("unchanged", "serverside-applied")


def can_i(
    cluster: Cluster, service_account: str, verb: str, resource: str, *rest: str, ns: str
) -> bool:
    args = ["auth", "can-i", verb, resource, f"--as={service_account}"]
    if rest:
        args.append(f"--subresource={rest[0]}")
    args += ["--all-namespaces"] if ns == "*" else ["-n", ns]
    # can-i exits 1 for "no": the answer is in stdout either way.
    return cluster.kubectl(*args, check=False).stdout.strip() == "yes"


def cluster_can_i(cluster: Cluster, service_account: str, verb: str, resource: str) -> bool:
    return can_i(cluster, service_account, verb, resource, ns="*")


def operator_pod_running(cluster: Cluster, ns: str, selector: str) -> Callable[[], Any]:
    def check() -> Any:
        out = cluster.kubectl("get", "pods", "-n", ns, "-l", selector, "-o", "json")
        pods = [
            p for p in json.loads(out.stdout)["items"] if not p["metadata"].get("deletionTimestamp")
        ]
        ready = [
            p
            for p in pods
            if p["status"].get("phase") == "Running"
            and any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in p["status"].get("conditions", [])
            )
        ]
        return ready[0] if len(pods) == 1 and ready else None

    return check


@pytest.fixture
def restricted_namespace(cluster: Cluster, namespace: str) -> str:
    # The operator pod must pass the strictest Pod Security profile.
    cluster.kubectl(
        "label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted"
    )
    return namespace


@pytest.fixture
def release(cluster: Cluster, restricted_namespace: str) -> Iterator[str]:
    name = f"sgo-{uuid.uuid4().hex[:6]}"
    yield name
    cluster.run("helm", "uninstall", name, "-n", restricted_namespace, "--wait", check=False)


def test_helm_install_upgrade_uninstall(
    cluster: Cluster, restricted_namespace: str, release: str, wait_until: Any
) -> None:
    ns = restricted_namespace
    chart = str(chartgen.CHART_DIR)
    notes = cluster.run(
        "helm", "install", release, chart, "-n", ns, "--wait", "--timeout", "2m"
    ).stdout
    # NOTES.txt tells the user what to run next.
    assert "every namespace" in notes
    assert "kubectl wait --for=condition=Ready sgld/" in notes
    cluster.wait_crd_established(CRD)

    selector = f"app.kubernetes.io/instance={release}"
    pod = wait_until(
        operator_pod_running(cluster, ns, selector), timeout=120, what="operator pod Running"
    )
    sa_name = pod["spec"]["serviceAccountName"]
    sa = f"system:serviceaccount:{ns}:{sa_name}"
    container = pod["spec"]["containers"][0]
    assert "--all-namespaces" in container["args"]

    # Cluster-wide: everything it needs, in any namespace; nothing it must not have.
    for check in ALLOWED:
        assert can_i(cluster, sa, *check, ns="default"), check
        assert can_i(cluster, sa, *check, ns=ns), check
    assert cluster_can_i(cluster, sa, "list", "customresourcedefinitions.apiextensions.k8s.io")
    for verb, resource in DENIED:
        assert not cluster_can_i(cluster, sa, verb, resource), (verb, resource)
    assert not cluster_can_i(cluster, sa, "list", "namespaces")

    # Upgrade to watching only the release namespace: the rights shrink to it.
    notes = cluster.run(
        "helm", "upgrade", release, chart, "-n", ns, "--set", f"watchNamespaces={{{ns}}}",
        "--wait", "--timeout", "2m",
    ).stdout  # fmt: skip
    assert f"It serves SGLangDeployments in: {ns}." in notes
    assert f"kubectl wait -n {ns} --for=condition=Ready sgld/" in notes

    def upgraded_pod() -> Any:
        found = operator_pod_running(cluster, ns, selector)()
        return found if found and "--namespace" in found["spec"]["containers"][0]["args"] else None

    pod = wait_until(upgraded_pod, timeout=120, what="operator pod with --namespace Running")
    args = pod["spec"]["containers"][0]["args"]
    assert args[args.index("--namespace") + 1] == ns
    for check in ALLOWED:
        assert can_i(cluster, sa, *check, ns=ns), check
        assert not can_i(cluster, sa, *check, ns="default"), check
    assert cluster_can_i(cluster, sa, "watch", "namespaces")
    assert cluster_can_i(cluster, sa, "watch", "customresourcedefinitions.apiextensions.k8s.io")

    cluster.run("helm", "uninstall", release, "-n", ns, "--wait")
    left = cluster.kubectl(
        "get", "clusterroles,clusterrolebindings", "-l", selector, "-o", "name"
    ).stdout
    assert left.strip() == ""
    assert not can_i(cluster, sa, "watch", "sglangdeployments.sglang-operator.io", ns=ns)
    # Helm never deletes a CRD it installed from crds/: users' SGLangDeployments survive.
    cluster.kubectl("get", f"crd/{CRD}")


DEFAULT_REPLICAS = SGLangDeploymentSpec.model_fields["replicas"].default


@pytest.mark.parametrize(
    "example", sorted((chartgen.ROOT / "examples").glob("*.yaml")), ids=lambda p: p.name
)
def test_applied_example_shows_no_drift(cluster: Cluster, namespace: str, example: Any) -> None:
    # What ArgoCD compares: the stored object against the manifest. The CRD carries one
    # default, spec.replicas (the scale subresource needs it; see crd.py), which neither
    # kubectl diff nor ArgoCD counts as drift, as with a Deployment's; the API server adds
    # nothing else to spec (the operator never writes spec).
    crd_file = chartgen.CRD_DIR / f"{CRD}.yaml"
    cluster.kubectl("create", "-f", str(crd_file), check=False)
    cluster.wait_crd_established(CRD)
    manifest = yaml.safe_load(example.read_text())
    manifest["metadata"]["namespace"] = namespace
    text = yaml.safe_dump(manifest)
    cluster.kubectl("apply", "-f", "-", input=text)
    diff = cluster.kubectl("diff", "-f", "-", input=text, check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr
    stored = json.loads(
        cluster.kubectl(
            "get", "sgld", manifest["metadata"]["name"], "-n", namespace, "-o", "json"
        ).stdout
    )
    assert stored["spec"] == {"replicas": DEFAULT_REPLICAS, **manifest["spec"]}


def _install_docs() -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(chartgen.INSTALL_YAML.read_text()) if d]


@pytest.fixture
def install_yaml_cleanup(cluster: Cluster) -> Iterator[None]:
    yield
    # Everything but the CRD: deleting it would delete every SGLangDeployment in the cluster,
    # other tests' included.
    rest = [d for d in _install_docs() if d["kind"] != "CustomResourceDefinition"]
    cluster.kubectl(
        "delete", "--ignore-not-found", "--wait", "--timeout=120s", "-f", "-",
        input=yaml.safe_dump_all(rest),
    )  # fmt: skip


@pytest.mark.parametrize("apply_flags", [[], ["--server-side"]], ids=["client-side", "server-side"])
def test_install_yaml_applies_and_runs(
    cluster: Cluster, apply_flags: list[str], install_yaml_cleanup: None, wait_until: Any
) -> None:
    cluster.kubectl("apply", *apply_flags, "-f", str(chartgen.INSTALL_YAML))
    ns = chartgen.INSTALL_NAMESPACE
    cluster.wait_crd_established(CRD)
    cluster.kubectl(
        "rollout", "status", f"deployment/{chartgen.INSTALL_RELEASE}", "-n", ns, "--timeout=120s"
    )
    selector = f"app.kubernetes.io/instance={chartgen.INSTALL_RELEASE}"
    pod = wait_until(
        operator_pod_running(cluster, ns, selector), timeout=120, what="operator pod Running"
    )
    sa = f"system:serviceaccount:{ns}:{pod['spec']['serviceAccountName']}"
    assert can_i(
        cluster, sa, "patch", "sglangdeployments.sglang-operator.io", "status", ns="default"
    )
    assert not cluster_can_i(cluster, sa, "get", "secrets")
    # Applying again changes nothing: the file is stable under both apply modes.
    again = cluster.kubectl("apply", *apply_flags, "-f", str(chartgen.INSTALL_YAML)).stdout
    changed = [line for line in again.splitlines() if not line.endswith(UNCHANGED)]
    assert changed == []
