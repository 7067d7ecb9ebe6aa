"""Which quota refusals of the dry run of a new pod hold a rollout back
(plan.quota_exceeded_by_others): the quota admission plugin's own words; and why a
refusal that holds nothing back is ignored (the log says so)."""

from __future__ import annotations

import pytest
from kubernetes.client.exceptions import ApiException

from sglang_operator.plan import quota_exceeded_by_others
from sglang_operator.reconcile import _inconclusive

FORBIDDEN = 'pods "demo-0-x7k2p" is forbidden: '


@pytest.mark.parametrize(
    ("quota", "others"),
    [
        # What runs fills the quota; a rollout frees it first: not held.
        (
            "requested: requests.amd.com/gpu=2, used: requests.amd.com/gpu=2, "
            "limited: requests.amd.com/gpu=2",
            True,
        ),
        ("requested: pods=1, used: pods=1, limited: pods=1", True),
        (
            "requested: limits.memory=1Gi,requests.cpu=500m, used: limits.memory=3Gi,"
            "requests.cpu=1500m, limited: limits.memory=2Gi,requests.cpu=2",
            True,
        ),
        # The pod alone is over the hard limit: it never fits, whatever is freed.
        ("requested: requests.cpu=2, used: requests.cpu=1, limited: requests.cpu=1", False),
        ("requested: requests.cpu=1500m, used: requests.cpu=0, limited: requests.cpu=1", False),
        (
            "requested: limits.memory=3Gi,requests.cpu=500m, used: limits.memory=0,"
            "requests.cpu=0, limited: limits.memory=2Gi,requests.cpu=2",
            False,
        ),
        # A quantity that does not parse decides nothing: not held.
        ("requested: requests.cpu=two, used: requests.cpu=1, limited: requests.cpu=1", True),
    ],
)
def test_an_exceeded_quota_holds_back_only_a_pod_that_never_fits(quota: str, others: bool) -> None:
    assert quota_exceeded_by_others(f"{FORBIDDEN}exceeded quota: q, {quota}") is others


@pytest.mark.parametrize(
    "message",
    [
        FORBIDDEN + "failed quota: q: must specify limits.cpu for: sglang",
        FORBIDDEN + 'violates PodSecurity "restricted:latest": privileged',
        "no PriorityClass with name nope was found",
    ],
)
def test_other_refusals_are_no_quota_exceeded_by_others(message: str) -> None:
    assert not quota_exceeded_by_others(message)


def test_a_dry_run_refusal_that_is_ignored_says_why() -> None:
    quota = FORBIDDEN + "exceeded quota: pods, requested: pods=1, used: pods=2, limited: pods=2"
    assert _inconclusive(ApiException(status=403), quota) == (
        "the quota is exceeded only beside the pods that run, and a rollout frees a "
        "group's pods before re-creating them"
    )
    webhook = 'admission webhook "x.example.com" does not support dry run'
    assert _inconclusive(ApiException(status=400), webhook) == (
        "a webhook on pods does not support dry run"
    )
    rbac = 'User "op" cannot create resource "pods" in API group "" in the namespace "ns"'
    assert _inconclusive(ApiException(status=403), rbac) == (
        "the operator may not create pods (an RBAC that predates the dry run)"
    )
    # A refusal of the pod itself is not ignored.
    assert _inconclusive(ApiException(status=403), FORBIDDEN + "violates PodSecurity") is None
    assert _inconclusive(ApiException(status=422), webhook) is None
