"""The benchmark's bookkeeping (hack/bench_operator.py) without a cluster: which audit log
lines count as a controller's requests, how they are divided among phases, and the table."""

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "hack" / "bench_operator.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_operator", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_operator"] = module
    spec.loader.exec_module(module)
    return module


def audit_line(
    *,
    user: str = "system:serviceaccount:sglang-bench-system:operator",
    verb: str = "get",
    stage: str = "ResponseComplete",
    at: str = "2026-11-30T06:40:00.500000Z",
    resource: str | None = "statefulsets",
    subresource: str | None = None,
    code: int = 200,
) -> str:
    event = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "stage": stage,
        "verb": verb,
        "user": {"username": user},
        "requestReceivedTimestamp": at,
        "responseStatus": {"code": code},
    }
    if resource:
        event["objectRef"] = {"resource": resource, "namespace": "ns", "apiGroup": "apps"}
        if subresource:
            event["objectRef"]["subresource"] = subresource
    return json.dumps(event)


def test_a_finished_resource_request_counts_with_its_subresource(bench: ModuleType) -> None:
    request = bench.parse_audit_line(
        audit_line(verb="patch", resource="sglangdeployments", subresource="status", code=422)
    )
    assert request.verb == "patch"
    assert request.resource == "sglangdeployments/status"
    assert request.code == 422
    assert request.at == pytest.approx(1796020800.5)


@pytest.mark.parametrize(
    "line",
    [
        audit_line(verb="watch"),
        audit_line(stage="ResponseStarted"),
        audit_line(stage="RequestReceived"),
        audit_line(resource=None),  # discovery: /apis, /api/v1 carry no objectRef
        '{"kind": "Event", "stage": "Respo',  # cut by rotation
    ],
)
def test_watches_discovery_and_unfinished_requests_do_not_count(
    bench: ModuleType, line: str
) -> None:
    assert bench.parse_audit_line(line) is None


def test_requests_are_divided_by_user_phase_and_n(bench: ModuleType) -> None:
    ours = bench.service_account_user("operator")
    lws = bench.service_account_user("lws")
    requests = [
        bench.Request(10.0, ours, "create", "statefulsets", 201),
        bench.Request(11.0, ours, "get", "pods", 200),
        bench.Request(11.5, lws, "get", "pods", 200),  # another system's
        bench.Request(20.0, ours, "get", "pods", 200),  # after the window
        bench.Request(30.0, ours, "list", "pods", 200),
    ]
    rows = [{"n": 2, "system": "ours", "namespace": "a"}]
    windows = [
        bench.Window("ours", 2, "a", "create", 10.0, 12.0),
        bench.Window("ours", 2, "a", "rest", 25.0, 55.0),
    ]
    bench.add_requests(rows, windows, requests)
    (row,) = rows
    assert row["requests_per_create"] == 1.0
    assert row["requests_per_minute_at_rest"] == 2.0
    assert row["requests_by_phase"]["create"] == {"create statefulsets": 1, "get pods": 1}


def test_each_repetition_counts_its_own_requests(bench: ModuleType) -> None:
    ours = bench.service_account_user("operator")
    requests = [
        bench.Request(10.0, ours, "create", "statefulsets", 201),
        bench.Request(20.0, ours, "create", "statefulsets", 201),
        bench.Request(21.0, ours, "get", "pods", 200),
    ]
    rows = [{"n": 1, "system": "ours", "namespace": ns} for ns in ("a", "b")]
    windows = [
        bench.Window("ours", 1, "a", "create", 9.0, 12.0),
        bench.Window("ours", 1, "b", "create", 19.0, 22.0),
    ]
    bench.add_requests(rows, windows, requests)
    assert [row["requests_per_create"] for row in rows] == [1.0, 2.0]


def test_a_timeline_orders_requests_watch_and_controller_lines_from_the_first_send(
    bench: ModuleType,
) -> None:
    ours = bench.service_account_user("operator")
    requests = [
        bench.Request(10.5, ours, "patch", "statefulsets", 200, 10.52, "a", "m0-0"),
        bench.Request(10.1, ours, "patch", "statefulsets", 200, 10.11, "b", "m0-0"),  # not a's
    ]
    windows = [bench.Window("ours", 1, "a", "create", 9.9, 12.0, sent=10.0)]
    traces = {"a": {"watch": [(10.7, "ADDED pod m0-0-0 Pending")], "controller": [(10.3, "x")]}}
    lines = bench.timelines([{"namespace": "a"}], windows, requests, traces)
    assert lines[0].startswith("## ours N=1 create (a,")
    assert [line.split()[:2] for line in lines[1:4]] == [
        ["+0.300", "controller"],
        ["+0.500", "api"],
        ["+0.700", "watch"],
    ]
    assert "(20.0 ms)" in lines[2]


def test_the_table_has_every_column_and_a_row_per_size_and_system(bench: ModuleType) -> None:
    runs = [
        {"n": 1, "system": "ours", "create_latency_s": 0.2, "peak_rss_mib": 80.0},
        {"n": 1, "system": "ours", "create_latency_s": 0.4, "peak_rss_mib": 90.0},
        {"n": 1, "system": "floor", "create_latency_s": 0.1, "peak_rss_mib": None},
    ]
    rows = [bench.median_row(runs, 1, s) for s in ("ours", "floor")]
    assert rows[0]["create_latency_s"] == pytest.approx(0.3)
    assert rows[0]["repetitions"] == 2
    assert rows[1]["peak_rss_mib"] is None
    table = bench.markdown({"rows": rows}).splitlines()
    assert table[0] == "| " + " | ".join(header for _, header in bench.COLUMNS) + " |"
    assert table[2].startswith("| 1 | ours | 0.3 |")
    assert table[3].startswith("| 1 | floor | 0.1 |")
