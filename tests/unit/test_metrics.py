"""The operator's metrics: controller-runtime's names, labels and semantics, and /metrics."""

import socket
import urllib.request

import pytest
from prometheus_client import REGISTRY

from sglang_operator import metrics


def value(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("0", None),
        (":8080", ("", 8080)),
        ("127.0.0.1:9090", ("127.0.0.1", 9090)),
        ("[::1]:8443", ("::1", 8443)),
        ("metrics.local:1", ("metrics.local", 1)),
    ],
)
def test_bind_address_takes_controller_runtimes_forms(
    address: str, expected: tuple[str, int] | None
) -> None:
    assert metrics.parse_bind_address(address) == expected


@pytest.mark.parametrize("address", ["", "8080", ":", ":http", ":0", ":65536", "host:-1"])
def test_bind_address_refuses_what_is_not_an_address(address: str) -> None:
    with pytest.raises(ValueError, match="metrics bind address"):
        metrics.parse_bind_address(address)


@pytest.mark.parametrize(
    ("requeue_after", "result"),
    [(None, "success"), (0, "requeue"), (0.0, "requeue"), (10.0, "requeue_after")],
)
def test_reconcile_result_is_controller_runtimes_label(
    requeue_after: float | None, result: str
) -> None:
    assert metrics.reconcile_result(requeue_after) == result


def test_reconciles_are_counted_by_result_and_timed() -> None:
    controller = "test-counted"
    with metrics.reconciling(controller):
        assert value("controller_runtime_active_workers", controller=controller) == 1
    with metrics.reconciling(controller) as outcome:
        outcome.requeue_after = 30.0
    with pytest.raises(RuntimeError), metrics.reconciling(controller):
        raise RuntimeError("API down")

    for result in ("success", "requeue_after", "error"):
        total = value("controller_runtime_reconcile_total", controller=controller, result=result)
        assert total == 1, result
    assert value("controller_runtime_reconcile_errors_total", controller=controller) == 1
    assert value("controller_runtime_reconcile_time_seconds_count", controller=controller) == 3
    assert value("controller_runtime_active_workers", controller=controller) == 0


def test_queue_counts_adds_depth_and_durations() -> None:
    labels = {"name": "test-queue", "controller": "test-queue"}
    queue = metrics.QueueMetrics("test-queue", "test-queue")
    queue.add(("ns", "a"))
    queue.add(("ns", "b"))
    assert value("workqueue_depth", **labels) == 2
    queue.get(("ns", "a"))
    assert value("workqueue_depth", **labels) == 1
    assert value("workqueue_queue_duration_seconds_count", **labels) == 1
    assert value("workqueue_unfinished_work_seconds", **labels) > 0
    assert value("workqueue_longest_running_processor_seconds", **labels) > 0
    queue.done(("ns", "a"))
    queue.retry()

    assert value("workqueue_adds_total", **labels) == 2
    assert value("workqueue_retries_total", **labels) == 1
    assert value("workqueue_work_duration_seconds_count", **labels) == 1
    assert value("workqueue_unfinished_work_seconds", **labels) == 0
    assert value("workqueue_longest_running_processor_seconds", **labels) == 0


def test_requests_are_counted_by_code_method_and_host() -> None:
    metrics.record_request("PATCH", "test-host:6443", 200)
    metrics.record_request("PATCH", "test-host:6443", 200)
    metrics.record_request("GET", "test-host:6443", None)
    labels = {"method": "PATCH", "host": "test-host:6443"}
    assert value("rest_client_requests_total", code="200", **labels) == 2
    errors = value(
        "rest_client_requests_total", code="<error>", method="GET", host="test-host:6443"
    )
    assert errors == 1


def test_leader_status_follows_the_lease() -> None:
    metrics.set_leader("test-lease", True)
    assert value("leader_election_master_status", name="test-lease") == 1
    metrics.set_leader("test-lease", False)
    assert value("leader_election_master_status", name="test-lease") == 0


def test_metrics_endpoint_serves_controller_runtime_names() -> None:
    port = free_port()
    server = metrics.serve(f"127.0.0.1:{port}")
    assert server is not None
    try:
        metrics.set_max_concurrent_reconciles(4)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
        for name in (
            "controller_runtime_reconcile_total",
            "controller_runtime_reconcile_errors_total",
            "controller_runtime_reconcile_time_seconds_bucket",
            "workqueue_depth",
            "workqueue_adds_total",
            "rest_client_requests_total",
            "process_resident_memory_bytes",
        ):
            assert f"# TYPE {name.removesuffix('_bucket')} " in text, name
        workers = 'controller_runtime_max_concurrent_reconciles{controller="sglangdeployment"}'
        assert f"{workers} 4.0" in text
        assert "_created" not in text
    finally:
        server.shutdown()
        server.server_close()


def test_metrics_disabled_with_zero_and_a_taken_port_is_an_error() -> None:
    assert metrics.serve("0") is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            metrics.serve(f"127.0.0.1:{taken.getsockname()[1]}")
