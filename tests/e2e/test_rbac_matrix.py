"""What the chart's ServiceAccount may do, asked of the real API server (`kubectl auth can-i
--list`, which is a SelfSubjectRulesReview), equals tests/rbac_matrix.py: no verb the code
does not use, none it needs missing, cluster-wide and namespaced, and nothing at all outside
the watched namespaces in namespaced mode."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Cluster
from kubernetes import client

from rbac_matrix import (
    KOPF_CRD_RULE,
    KOPF_NAMESPACE_RULE,
    LEASE_RULES,
    NODE_RULE,
    OPERATOR_RULES,
    Matrix,
)

# Granted to every authenticated user by the API server's bootstrap roles.
_EVERYONE = {
    ("authorization.k8s.io", "selfsubjectaccessreviews"),
    ("authorization.k8s.io", "selfsubjectrulesreviews"),
    ("authentication.k8s.io", "selfsubjectreviews"),
}


def _key(resource: str) -> tuple[str, str]:
    """`statefulsets.apps` -> (apps, statefulsets); `pods/log` -> ("", pods/log);
    `sglangdeployments.sglang-operator.io/status` -> (sglang-operator.io,
    sglangdeployments/status)."""
    name, _, sub = resource.partition("/")
    plural, _, group = name.partition(".")
    return group, f"{plural}/{sub}" if sub else plural


def rights(cluster: Cluster, namespace: str, subject: str) -> tuple[Matrix, Matrix]:
    """(rights on any name, rights limited to names) of `subject` in `namespace`, plus
    cluster-scoped rights, bootstrap rights left out."""
    table = cluster.kubectl("auth", "can-i", "--list", f"--as={subject}", "-n", namespace).stdout
    unnamed: Matrix = {}
    named: Matrix = {}
    for line in table.splitlines()[1:]:
        columns = re.split(r"\s{2,}", line.strip())
        if len(columns) != 4:
            continue
        resource, urls, names, verbs = columns
        if urls != "[]" or not resource:
            continue
        key = _key(resource)
        if key in _EVERYONE:
            continue
        target = named if names != "[]" else unnamed
        target.setdefault(key, set()).update(verbs.strip("[]").split())
    return unnamed, named


@pytest.fixture(params=["cluster-wide", "namespaced"])
def chart(
    request: pytest.FixtureRequest, cluster: Cluster, namespace: str
) -> Iterator[tuple[str, bool]]:
    """Installs the chart into the test's namespace (watching only it, when namespaced) and
    yields the ServiceAccount's user name and whether the install is namespaced."""
    scope = [f"--set=watchNamespaces={{{namespace}}}"] if request.param == "namespaced" else []
    # Rights only: no operator pod needed.
    with cluster.chart_release(namespace, *scope, "--set=replicaCount=1") as service_account:
        yield f"system:serviceaccount:{namespace}:{service_account}", request.param == "namespaced"


def test_the_api_server_grants_exactly_what_the_code_uses(
    cluster: Cluster, kube: Any, namespace: str, chart: tuple[str, bool]
) -> None:
    subject, namespaced = chart
    unnamed, named = rights(cluster, namespace, subject)
    expected = {**OPERATOR_RULES, **KOPF_CRD_RULE, **NODE_RULE}
    if namespaced:
        expected.update(KOPF_NAMESPACE_RULE)
    lease = ("coordination.k8s.io", "leases")
    assert unnamed.pop(lease) == {"create"}
    assert named == {lease: LEASE_RULES[lease] - {"create"}}
    assert unnamed == expected

    # Elsewhere: in namespaced mode only the cluster-scoped reads; cluster-wide the same
    # rights as in the watched namespace, and the Lease nowhere else.
    other = f"e2e-rbac-other-{uuid.uuid4().hex[:6]}"
    core = client.CoreV1Api(kube)
    core.create_namespace({"metadata": {"name": other}})
    try:
        unnamed, named = rights(cluster, other, subject)
    finally:
        core.delete_namespace(other)
    assert named == {}
    if namespaced:
        assert unnamed == {**KOPF_CRD_RULE, **KOPF_NAMESPACE_RULE, **NODE_RULE}
    else:
        assert unnamed == {**OPERATOR_RULES, **KOPF_CRD_RULE, **NODE_RULE}
