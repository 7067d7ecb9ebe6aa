"""A user scrapes the operator's /metrics after it served a deployment and finds
controller-runtime's reconcile, work queue and API request counters moving."""

from typing import Any

from conftest import Cluster
from operator_process import OperatorProcess
from story import apply, manifest, wait_ready

from sglang_operator.metrics import CONTROLLER


def total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str) -> float:
    return sum(value for (sample, _), value in samples.items() if sample == name)


def test_metrics_count_reconciles_queue_adds_and_api_requests(
    cluster: Cluster, namespace: str, operator_log_on_failure: OperatorProcess, kube: Any
) -> None:
    operator = operator_log_on_failure
    before = operator.metrics()
    apply(cluster, namespace, manifest("scraped", nodes=1, per_node=1))
    wait_ready(cluster, namespace, "scraped")
    after = operator.metrics()

    success = (
        "controller_runtime_reconcile_total",
        frozenset({("controller", CONTROLLER), ("result", "success")}),
    )
    reconciles = total(after, "controller_runtime_reconcile_total")
    assert reconciles > total(before, "controller_runtime_reconcile_total")
    assert (
        after.get(success, 0)
        + after.get(
            (success[0], frozenset({("controller", CONTROLLER), ("result", "requeue_after")})), 0
        )
        > 0
    )
    assert total(after, "controller_runtime_reconcile_time_seconds_count") >= reconciles
    assert total(after, "workqueue_adds_total") > total(before, "workqueue_adds_total")
    requests = {
        dict(labels)["method"]: value
        for (name, labels), value in after.items()
        if name == "rest_client_requests_total" and dict(labels)["code"].startswith("2")
    }
    # The deployment's children were written: at least one successful write request.
    assert requests.get("PATCH", 0) + requests.get("POST", 0) > 0
    assert total(after, "rest_client_requests_total") > total(before, "rest_client_requests_total")
