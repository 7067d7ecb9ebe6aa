"""The operator's Prometheus metrics, under controller-runtime's names where they mean the same.

A Go operator built on controller-runtime exposes its reconciles, its work queue and its API
requests under fixed names (sigs.k8s.io/controller-runtime pkg/internal/controller/metrics,
pkg/metrics/workqueue.go, pkg/metrics/client_go_adapter.go); dashboards and alerts are written
against those names, so this operator uses them too, with the same labels, help texts and
buckets:

- `controller_runtime_reconcile_total{controller,result}`, result one of `success`, `error`,
  `requeue`, `requeue_after`; `controller_runtime_reconcile_errors_total{controller}`;
  `controller_runtime_reconcile_time_seconds{controller}` (histogram);
  `controller_runtime_active_workers{controller}`,
  `controller_runtime_max_concurrent_reconciles{controller}`;
- `workqueue_depth`, `workqueue_adds_total`, `workqueue_retries_total`,
  `workqueue_queue_duration_seconds`, `workqueue_work_duration_seconds` (histograms),
  `workqueue_unfinished_work_seconds`, `workqueue_longest_running_processor_seconds`, each
  labelled `{name,controller}` (client-go's workqueue semantics: an add of a key that is
  already waiting is not counted);
- `rest_client_requests_total{code,method,host}`: every request the reconciles make to the
  API server (kube.Kube; kopf's own list and watch streams are not counted), `code` the HTTP
  status or `<error>` when no response came (client-go's value);
- `leader_election_master_status{name}`: 1 while this replica leads, 0 otherwise
  (client-go's leader election metric).

prometheus_client's default registry also carries `process_cpu_seconds_total`,
`process_resident_memory_bytes` and the Python GC figures, as controller-runtime's registry
carries the process and Go runtime collectors.
"""

from __future__ import annotations

import errno
import threading
import time
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Literal
from wsgiref.simple_server import WSGIServer

import prometheus_client
from prometheus_client import Counter, Gauge, Histogram

# controller-runtime names a controller after its kind, lower case.
CONTROLLER = "sglangdeployment"

ReconcileResult = Literal["success", "error", "requeue", "requeue_after"]

# controller-runtime has no `_created` series; without this, every counter and histogram
# would get one beside it.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

# controller-runtime's buckets for reconcile time (seconds).
_RECONCILE_BUCKETS = (
    *(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5),
    *(0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0),
    *(6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0),
)
# client-go's workqueue buckets: prometheus.ExponentialBuckets(10e-9, 10, 12), 10 ns to 1000 s.
_QUEUE_BUCKETS = tuple(1e-8 * 10**i for i in range(12))

RECONCILE_TOTAL = Counter(
    "controller_runtime_reconcile_total",
    "Total number of reconciliations per controller",
    ["controller", "result"],
)
RECONCILE_ERRORS = Counter(
    "controller_runtime_reconcile_errors_total",
    "Total number of reconciliation errors per controller",
    ["controller"],
)
RECONCILE_TIME = Histogram(
    "controller_runtime_reconcile_time_seconds",
    "Length of time per reconciliation per controller",
    ["controller"],
    buckets=_RECONCILE_BUCKETS,
)
MAX_CONCURRENT_RECONCILES = Gauge(
    "controller_runtime_max_concurrent_reconciles",
    "Maximum number of concurrent reconciles per controller",
    ["controller"],
)
ACTIVE_WORKERS = Gauge(
    "controller_runtime_active_workers",
    "Number of currently used workers per controller",
    ["controller"],
)
QUEUE_DEPTH = Gauge(
    "workqueue_depth", "Current depth of workqueue by workqueue", ["name", "controller"]
)
QUEUE_ADDS = Counter(
    "workqueue_adds_total", "Total number of adds handled by workqueue", ["name", "controller"]
)
QUEUE_RETRIES = Counter(
    "workqueue_retries_total",
    "Total number of retries handled by workqueue",
    ["name", "controller"],
)
QUEUE_DURATION = Histogram(
    "workqueue_queue_duration_seconds",
    "How long in seconds an item stays in workqueue before being requested",
    ["name", "controller"],
    buckets=_QUEUE_BUCKETS,
)
WORK_DURATION = Histogram(
    "workqueue_work_duration_seconds",
    "How long in seconds processing an item from workqueue takes.",
    ["name", "controller"],
    buckets=_QUEUE_BUCKETS,
)
UNFINISHED_WORK = Gauge(
    "workqueue_unfinished_work_seconds",
    "How many seconds of work has been done that is in progress and hasn't been observed by "
    "work_duration. Large values indicate stuck threads. One can deduce the number of stuck "
    "threads by observing the rate at which this increases.",
    ["name", "controller"],
)
LONGEST_RUNNING = Gauge(
    "workqueue_longest_running_processor_seconds",
    "How many seconds has the longest running processor for workqueue been running.",
    ["name", "controller"],
)
REST_CLIENT_REQUESTS = Counter(
    "rest_client_requests_total",
    "Number of HTTP requests, partitioned by status code, method, and host.",
    ["code", "method", "host"],
)
LEADER = Gauge(
    "leader_election_master_status",
    "Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 "
    "indicates master. 'name' is the string used to identify the lease. Please make sure to "
    "group by name.",
    ["name"],
)


class QueueMetrics:
    """client-go's workqueue metrics for one queue: call `add` when a key is newly queued
    (not when it was already waiting), `get` when a worker takes it, `done` when the worker
    is finished with it, and `retry` for each delayed re-add. Thread-safe."""

    def __init__(self, name: str, controller: str = CONTROLLER) -> None:
        self._depth = QUEUE_DEPTH.labels(name, controller)
        self._adds = QUEUE_ADDS.labels(name, controller)
        self._retries = QUEUE_RETRIES.labels(name, controller)
        self._latency = QUEUE_DURATION.labels(name, controller)
        self._work = WORK_DURATION.labels(name, controller)
        self._lock = threading.Lock()
        self._added: dict[Hashable, float] = {}
        self._processing: dict[Hashable, float] = {}
        # Computed at scrape time from the keys in progress, as client-go updates them.
        UNFINISHED_WORK.labels(name, controller).set_function(self._unfinished_seconds)
        LONGEST_RUNNING.labels(name, controller).set_function(self._longest_running_seconds)

    def add(self, key: Hashable) -> None:
        with self._lock:
            self._adds.inc()
            self._depth.inc()
            self._added.setdefault(key, time.monotonic())

    def get(self, key: Hashable) -> None:
        now = time.monotonic()
        with self._lock:
            self._depth.dec()
            added = self._added.pop(key, None)
            if added is not None:
                self._latency.observe(now - added)
            self._processing[key] = now

    def done(self, key: Hashable) -> None:
        with self._lock:
            started = self._processing.pop(key, None)
            if started is not None:
                self._work.observe(time.monotonic() - started)

    def retry(self) -> None:
        self._retries.inc()

    def _unfinished_seconds(self) -> float:
        now = time.monotonic()
        with self._lock:
            return sum(now - started for started in self._processing.values())

    def _longest_running_seconds(self) -> float:
        now = time.monotonic()
        with self._lock:
            return max((now - started for started in self._processing.values()), default=0.0)


def reconcile_result(requeue_after: float | None) -> ReconcileResult:
    """controller-runtime's result label for a reconcile that returned without error:
    `requeue_after` when it asked to run again after a delay, `requeue` when at once
    (a delay of 0), `success` when it asked for nothing."""
    if requeue_after is None:
        return "success"
    return "requeue_after" if requeue_after > 0 else "requeue"


def set_max_concurrent_reconciles(workers: int, controller: str = CONTROLLER) -> None:
    MAX_CONCURRENT_RECONCILES.labels(controller).set(workers)


class ReconcileOutcome:
    """What a reconcile returned: seconds until it wants to run again, or None."""

    requeue_after: float | None = None


@contextmanager
def reconciling(controller: str = CONTROLLER) -> Iterator[ReconcileOutcome]:
    """Times one reconcile and counts it as a busy worker meanwhile. The body sets
    `outcome.requeue_after` to what the reconcile returned; an exception escaping the body
    counts as `error` (and is re-raised)."""
    outcome = ReconcileOutcome()
    ACTIVE_WORKERS.labels(controller).inc()
    start = time.monotonic()
    result: ReconcileResult = "error"
    try:
        yield outcome
        result = reconcile_result(outcome.requeue_after)
    finally:
        RECONCILE_TIME.labels(controller).observe(time.monotonic() - start)
        ACTIVE_WORKERS.labels(controller).dec()
        RECONCILE_TOTAL.labels(controller, result).inc()
        if result == "error":
            RECONCILE_ERRORS.labels(controller).inc()


def record_request(method: str, host: str, code: int | None) -> None:
    """Counts one API request; `code` None when no HTTP response came (connection refused,
    timeout), which client-go records as `<error>`."""
    REST_CLIENT_REQUESTS.labels("<error>" if code is None else str(code), method, host).inc()


def set_leader(lease: str, leading: bool) -> None:
    """Records whether this replica holds the leader lease named `lease`."""
    LEADER.labels(lease).set(1 if leading else 0)


def parse_bind_address(address: str) -> tuple[str, int] | None:
    """controller-runtime's `--metrics-bind-address`: `host:port`, `:port` (every interface),
    `[v6addr]:port`, or `0` to serve no metrics (returns None). Raises ValueError otherwise."""
    if address == "0":
        return None
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(
            f"metrics bind address {address!r}: expected HOST:PORT, :PORT or 0 (disabled)"
        )
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port_text)


def serve(address: str) -> WSGIServer | None:
    """Serves /metrics on `address` (see parse_bind_address) from a daemon thread; None when
    disabled. An empty host listens on every interface, IPv6 and IPv4 where the node has
    IPv6, IPv4 only otherwise. Raises OSError when the address cannot be bound."""
    bind = parse_bind_address(address)
    if bind is None:
        return None
    host, port = bind
    if host:
        server, _ = prometheus_client.start_http_server(port, host)
        return server
    try:
        # A dual-stack socket: Linux accepts IPv4 on "::" unless bindv6only is set.
        server, _ = prometheus_client.start_http_server(port, "::")
    except OSError as exc:
        if exc.errno not in (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL):
            raise
        server, _ = prometheus_client.start_http_server(port, "0.0.0.0")
    return server
