"""A user runs a multi-node copy under hostNetwork without RDMA devices: the deployment
serves, and status and a Warning event say that NCCL/RCCL will use TCP sockets."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import Cluster
from story import apply, condition, events, get_sgld, manifest, wait_ready

pytestmark = pytest.mark.usefixtures("operator_log_on_failure")


def test_advice_reaches_status_and_events_and_ready_stays(
    cluster: Cluster, kube: Any, namespace: str, wait_until: Any
) -> None:
    obj = manifest("tcp", nodes=2, per_node=1)
    obj["spec"]["network"] = {"hostNetwork": True}
    apply(cluster, namespace, obj)
    wait_ready(cluster, namespace, "tcp")

    status = get_sgld(kube, namespace, "tcp")["status"]
    advisory = condition({"status": status}, "Advisory")
    assert (advisory["status"], advisory["reason"]) == ("True", "SpecAdvice")
    assert "TCP sockets" in advisory["message"]
    assert condition({"status": status}, "Degraded")["status"] == "False"
    assert status["phase"] == "Ready"
    warnings = wait_until(
        lambda: events(kube, namespace, "SpecAdvice"), timeout=30, what="a SpecAdvice event"
    )
    assert [e.type for e in warnings] == ["Warning"]

    # RDMA devices in the pods: the advice and its condition go, without another event.
    obj["spec"]["network"]["rdmaResourceName"] = "rdma/hca_shared_devices_a"
    apply(cluster, namespace, obj)
    wait_until(
        lambda: all(
            c["type"] != "Advisory"
            for c in get_sgld(kube, namespace, "tcp").get("status", {}).get("conditions", [])
        ),
        timeout=60,
        what="the Advisory condition gone",
    )
    assert len(events(kube, namespace, "SpecAdvice")) == 1
