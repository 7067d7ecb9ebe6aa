"""Benchmark: what the operator costs the API server, how fast it converges, its CPU and
memory, beside LeaderWorkerSet (the peer) and a no-controller floor, at N resources.

    .venv/bin/python hack/bench_operator.py --sizes 1,50 --markdown /tmp/bench.md

It starts a local cluster of its own (`<SGLANG_OPERATOR_CLUSTER>-bench`, by hack/cluster.sh)
with the audit policy hack/bench/audit-policy.yaml, and counts API requests from the API
server's audit log, not from what the controllers say of themselves. Each controller runs as
a process under a ServiceAccount of its own (bound to cluster-admin), so the log tells their
requests apart by user; watches and discovery are left out. For every size N and system, in
a fresh namespace, one after the other:

- create: N resources at once. Latency is each one's time from its create request until its
  pods are Ready and its status says Ready; convergence the time until all are.
- rest: requests a minute and CPU over --rest-seconds, once everything has settled.
- update: a pod template change (an env var) in all N; converged when every group runs new
  pods of the new template, Ready, and the status says the rollout is done.
- recovery: the worker pod (rank 1) of every group deleted; converged when the whole group is
  new (no pod UID from before) and Ready.

Requests of a phase are those from its first request until --settle-seconds after it
converged, divided by N. Systems: `ours` (python -m sglang_operator run, cluster-wide, as
the chart runs it); `lws`, LeaderWorkerSet (hack/bench/lws.sh builds it from the Go module
proxy; its webhooks are wired to loopback), a group per object with the operator's pod
template and RecreateGroupOnPodRestart; `floor`, no controller: the benchmark itself creates
the operator's rendered children and, on update and recovery, deletes the group's pods as a
perfect controller would (its own requests are its count).

kwok makes pods Ready at once, so this measures the controllers and the control plane, not
SGLang; a ValidatingAdmissionPolicy (hack/bench/kwok-deletes-by-uid.yaml) keeps it from
deleting, by name, a pod re-created under the name of one it was finishing. Nothing is
asserted: the report is JSON (--json) and a Markdown table (--markdown and stdout). The
cluster is removed at the end unless --keep-cluster.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import importlib.metadata
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import urllib3
import yaml
from kubernetes import client, config

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "operator"))

from sglang_operator import API_GROUP, API_VERSION, PLURAL  # noqa: E402
from sglang_operator.api import parse_spec  # noqa: E402
from sglang_operator.builders import desired_objects  # noqa: E402
from sglang_operator.naming import INSTANCE_LABEL  # noqa: E402

Obj = dict[str, Any]

BENCH_NAMESPACE = "sglang-bench-system"
AUDIT_POLICY = REPO / "hack" / "bench" / "audit-policy.yaml"
# kwok finishes a pod's deletion by name: this has it do so only as a kubelet would (the file).
KWOK_DELETES_BY_UID = REPO / "hack" / "bench" / "kwok-deletes-by-uid.yaml"
LWS_SCRIPT = REPO / "hack" / "bench" / "lws.sh"
HEAP_PROBE = REPO / "hack" / "bench" / "heap_probe.py"
TRACE_PROBE = REPO / "hack" / "bench" / "trace_probe.py"
SERVICE_RANGE = "10.128.0.0/16"
REVISION_ENV = "BENCH_REVISION"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
LWS_API = "leaderworkerset.x-k8s.io/v1"
LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
LWS_WORKER_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/worker-index"
SYSTEMS = ("ours", "lws", "floor")  # the default; also "base" (with --base)
PHASES = ("create", "update", "recovery")

# The report's columns: key, Markdown header. Latencies are medians over the N resources.
COLUMNS = (
    ("n", "N"),
    ("system", "system"),
    ("create_latency_s", "create latency (s)"),
    ("create_convergence_s", "create convergence (s)"),
    ("update_latency_s", "update latency (s)"),
    ("update_convergence_s", "update convergence (s)"),
    ("recovery_latency_s", "recovery latency (s)"),
    ("recovery_convergence_s", "recovery convergence (s)"),
    ("requests_per_create", "requests / create"),
    ("requests_per_update", "requests / update"),
    ("requests_per_recovery", "requests / recovery"),
    ("requests_per_minute_at_rest", "requests / min at rest"),
    ("cpu_seconds_create", "CPU-s create"),
    ("cpu_seconds_per_minute_at_rest", "CPU-s / min at rest"),
    ("peak_rss_create_mib", "peak RSS after create (MiB)"),
    ("peak_rss_mib", "peak RSS (MiB)"),
    ("load_average_mean", "load average, mean"),
    ("load_average_max", "load average, max"),
)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---------------------------------------------------------------- API access


class Api:
    """JSON over HTTP with a kubeconfig's credentials; each call is one request."""

    def __init__(self, kubeconfig: Path, user_agent: str) -> None:
        cfg = client.Configuration()
        config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)  # type: ignore[no-untyped-call]
        cfg.connection_pool_maxsize = 32
        self.host = cfg.host
        self.pool = client.ApiClient(cfg).rest_client.pool_manager
        self.headers = {"Accept": "application/json", "User-Agent": user_agent}
        token = cfg.api_key.get("BearerToken")  # "Bearer <token>", for token kubeconfigs
        if token:
            self.headers["Authorization"] = token

    def url(self, path: str, query: Mapping[str, str] | None = None) -> str:
        return self.host + path + (f"?{urlencode(query)}" if query else "")

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        query: Mapping[str, str] | None = None,
        missing_ok: bool = False,
    ) -> Obj | None:
        headers = dict(self.headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        resp = self.pool.request(
            method,
            self.url(path, query),
            body=data,
            headers=headers,
            timeout=urllib3.Timeout(connect=10, read=120),
        )
        if missing_ok and resp.status in (404, 409):
            return None
        if resp.status >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {resp.status}: {resp.data[:400]!r}")
        result: Obj = json.loads(resp.data or b"{}")
        return result

    def must(self, method: str, path: str, body: Any = None, **options: Any) -> Obj:
        result = self.request(method, path, body, **options)
        assert result is not None
        return result

    def watch(self, path: str, on_event: Callable[[str, Any], None], stop: threading.Event) -> None:
        """List, then watch from that list's resourceVersion, relisting when it expires;
        `on_event("SYNC", items)` after each list, `on_event(type, object)` for each event."""
        while not stop.is_set():
            listing = self.must("GET", path)
            on_event("SYNC", listing["items"])
            version = listing["metadata"]["resourceVersion"]
            while not stop.is_set():
                query = {
                    "watch": "1",
                    "resourceVersion": version,
                    "allowWatchBookmarks": "true",
                    "timeoutSeconds": "20",
                }
                try:
                    version = self._stream(path, query, version, on_event)
                except (urllib3.exceptions.HTTPError, OSError):
                    time.sleep(0.5)
                if version == "":
                    break  # expired: relist

    def _stream(
        self,
        path: str,
        query: Mapping[str, str],
        version: str,
        on_event: Callable[[str, Any], None],
    ) -> str:
        resp = self.pool.request(
            "GET",
            self.url(path, query),
            headers=self.headers,
            preload_content=False,
            timeout=urllib3.Timeout(connect=10, read=60),
        )
        try:
            if resp.status == 410:
                return ""
            buffer = b""
            for chunk in resp.stream(65536):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    event = json.loads(line)
                    if event["type"] == "ERROR":
                        return ""
                    version = event["object"]["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        on_event(event["type"], event["object"])
            return version
        finally:
            resp.release_conn()


def pod_path(namespace: str, name: str = "") -> str:
    return f"/api/v1/namespaces/{namespace}/pods" + (f"/{name}" if name else "")


def collection_path(api_version: str, kind: str, namespace: str) -> str:
    plural = {
        "Service": "services",
        "StatefulSet": "statefulsets",
        "ConfigMap": "configmaps",
        "SGLangDeployment": PLURAL,
        "LeaderWorkerSet": "leaderworkersets",
    }[kind]
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return f"{prefix}/namespaces/{namespace}/{plural}"


def is_ready(pod: Obj) -> bool:
    conditions = pod.get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def describe_pod(pod: Obj) -> str:
    meta = pod["metadata"]
    status = pod.get("status") or {}
    gone = " deleting" if meta.get("deletionTimestamp") else ""
    node = " on " + pod["spec"]["nodeName"] if pod["spec"].get("nodeName") else ""
    ready = " Ready" if is_ready(pod) else ""
    return f"pod {meta['name']} {status.get('phase', '')}{node}{ready}{gone}"


def describe_resource(obj: Obj) -> str:
    status = obj.get("status") or {}
    conditions = " ".join(
        f"{c['type']}={c['status']}" for c in status.get("conditions") or [] if "type" in c
    )
    replicas = (
        f" ready {status.get('readyReplicas', 0)} updated {status.get('updatedReplicas', 0)}"
        if "replicas" in status
        else ""
    )
    return (
        f"{obj['kind']} {obj['metadata']['name']} generation {obj['metadata'].get('generation')}"
        f" observed {status.get('observedGeneration')}{replicas} {conditions}".rstrip()
    )


def revision_of(pod: Obj) -> str | None:
    for env in pod["spec"]["containers"][0].get("env") or []:
        if env["name"] == REVISION_ENV:
            return str(env.get("value"))
    return None


def condition(obj: Obj, kind: str) -> str | None:
    for c in obj.get("status", {}).get("conditions") or []:
        if c["type"] == kind:
            return str(c["status"])
    return None


def observed(obj: Obj) -> bool:
    return bool(obj.get("status", {}).get("observedGeneration") == obj["metadata"]["generation"])


def replicas_ready(obj: Obj) -> bool:
    """A StatefulSet or LeaderWorkerSet that has seen its spec, with every replica Ready and
    of the current revision."""
    status = obj.get("status", {})
    replicas = obj["spec"]["replicas"]
    return (
        observed(obj)
        and status.get("readyReplicas") == replicas
        and status.get("updatedReplicas") == replicas
    )


# ---------------------------------------------------------------- what converged means


@dataclass(frozen=True)
class Expect:
    """A resource has converged when its group runs `size` Ready pods of `revision`, none of
    them in `old_uids`, and its status says so."""

    revision: str
    old_uids: frozenset[str] = frozenset()


@dataclass
class Phase:
    name: str
    expect: dict[str, Expect]
    start: float = 0.0
    end: float = 0.0
    sent: dict[str, float] = field(default_factory=dict)
    done: dict[str, float] = field(default_factory=dict)

    def latencies(self) -> list[float]:
        return [self.done[k] - self.sent[k] for k in self.done if k in self.sent]


class Tracker:
    """Watches the namespace's pods and the system's resources (as the benchmark's own
    user, which the audit policy leaves out) and notes when each resource converges."""

    def __init__(self, system: System, api: Api, namespace: str, size: int) -> None:
        self.system = system
        self.api = api
        self.namespace = namespace
        self.size = size
        self.cond = threading.Condition()
        self.pods: dict[str, dict[str, Obj]] = {}  # owner -> pod name -> pod
        self.resources: dict[str, Obj] = {}  # owner -> the system's object
        self.phase: Phase | None = None
        self.synced: set[str] = set()
        self.stop = threading.Event()
        # (wall time, what the benchmark's watch saw) for --timeline.
        self.trace: list[tuple[float, str]] = []

    def start(self) -> None:
        paths = {"pods": pod_path(self.namespace)}
        if self.system.resource_path:
            paths["resources"] = self.system.resource_path(self.namespace)
        for what, path in paths.items():
            handler = self._on_pod if what == "pods" else self._on_resource
            threading.Thread(
                target=self.api.watch, args=(path, handler, self.stop), daemon=True
            ).start()
        with self.cond:
            self.cond.wait_for(lambda: self.synced == set(paths), timeout=60)

    def _on_pod(self, kind: str, payload: Any) -> None:
        with self.cond:
            if kind == "SYNC":
                self.pods = {}
                for pod in payload:
                    owner = self.system.owner(pod)
                    if owner:
                        self.pods.setdefault(owner, {})[pod["metadata"]["name"]] = pod
                self.synced.add("pods")
                self._check(list(self.pods))
                self.cond.notify_all()
                return
            owner = self.system.owner(payload)
            if not owner:
                return
            self.trace.append((time.time(), f"{kind} {describe_pod(payload)}"))
            group = self.pods.setdefault(owner, {})
            if kind == "DELETED":
                group.pop(payload["metadata"]["name"], None)
            else:
                group[payload["metadata"]["name"]] = payload
            self._check([owner])

    def _on_resource(self, kind: str, payload: Any) -> None:
        with self.cond:
            if kind == "SYNC":
                self.resources = {}
                for obj in payload:
                    owner = self.system.resource_owner(obj)
                    self.resources[owner] = obj
                self.synced.add("resources")
                self._check(list(self.resources))
                self.cond.notify_all()
                return
            owner = self.system.resource_owner(payload)
            self.trace.append((time.time(), f"{kind} {describe_resource(payload)}"))
            if kind == "DELETED":
                self.resources.pop(owner, None)
            else:
                self.resources[owner] = payload
            self._check([owner])
            # Wakes wait_resource as well as wait.
            self.cond.notify_all()

    def _check(self, owners: list[str]) -> None:
        phase = self.phase
        if phase is None:
            return
        now = time.time()
        for owner in owners:
            expect = phase.expect.get(owner)
            if expect is None or owner in phase.done:
                continue
            if self.converged(owner, expect):
                phase.done[owner] = now
                self.cond.notify_all()

    def converged(self, owner: str, expect: Expect) -> bool:
        pods = list(self.pods.get(owner, {}).values())
        if len(pods) != self.size:
            return False
        for pod in pods:
            if pod["metadata"].get("deletionTimestamp") or not is_ready(pod):
                return False
            if pod["metadata"]["uid"] in expect.old_uids or revision_of(pod) != expect.revision:
                return False
        if self.system.resource_path is None:
            return True
        obj = self.resources.get(owner)
        return obj is not None and self.system.status_ready(obj)

    def group(self, owner: str) -> list[Obj]:
        with self.cond:
            return list(self.pods.get(owner, {}).values())

    def wait_group(self, owner: str, ok: Callable[[list[Obj]], bool], timeout: float) -> list[Obj]:
        """The owner's pods once `ok` holds for them (or at the timeout, as they are)."""
        with self.cond:
            self.cond.wait_for(lambda: ok(list(self.pods.get(owner, {}).values())), timeout)
            return list(self.pods.get(owner, {}).values())

    def wait_resource(self, owner: str, ok: Callable[[Obj], bool], timeout: float) -> None:
        with self.cond:
            self.cond.wait_for(
                lambda: (obj := self.resources.get(owner)) is not None and ok(obj), timeout=timeout
            )

    def begin(self, phase: Phase) -> None:
        with self.cond:
            self.phase = phase
            self._check(list(phase.expect))

    def wait(self, phase: Phase, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(phase.done) == len(phase.expect), timeout)


# ---------------------------------------------------------------- the systems


@dataclass
class Context:
    """What every system needs: the cluster, the identities, the spec of one resource."""

    admin: Api
    kubeconfigs: dict[str, Path]
    workdir: Path
    nodes: int
    lws_dir: Path | None = None
    lws_webhook: tuple[int, Path] | None = None  # port, certificate directory
    heap: bool = False  # run ours under hack/bench/heap_probe.py, a census after each phase
    timeline: bool = False  # run ours under hack/bench/trace_probe.py (--timeline)
    base_dir: Path | None = None  # the checkout the system `base` runs (--base)

    def spec(self, revision: str) -> Obj:
        return {
            "model": {"path": "Qwen/Qwen2.5-0.5B-Instruct"},
            "gpu": {"vendor": "amd", "perNode": 1},
            "parallelism": {"nodes": self.nodes},
            "replicas": 1,
            "nodeSelector": {"bench": "true"},
            "env": [{"name": REVISION_ENV, "value": revision}],
        }

    def children(self, name: str, namespace: str, revision: str) -> list[Obj]:
        return desired_objects(parse_spec(self.spec(revision)), name, namespace)


class System:
    """One way of running N multi-node groups; `user` is its ServiceAccount."""

    name = ""
    user = ""
    resource_path: Callable[[str], str] | None = None

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.process: subprocess.Popen[bytes] | None = None

    def owner(self, pod: Obj) -> str | None:
        return (pod["metadata"].get("labels") or {}).get(INSTANCE_LABEL)

    def resource_owner(self, obj: Obj) -> str:
        return str(obj["metadata"]["name"])

    def status_ready(self, obj: Obj) -> bool:
        raise NotImplementedError

    def worker(self, pods: list[Obj]) -> Obj | None:
        return next((p for p in pods if p["metadata"]["labels"].get(POD_INDEX_LABEL) == "1"), None)

    def start(self) -> None:
        """Starts the controller, if any, and waits until it serves."""

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        self.process = None

    def stats(self) -> dict[str, float]:
        """CPU seconds and peak RSS (MiB) of the controller process, from /proc."""
        if self.process is None:
            return {}
        pid = self.process.pid
        status = Path(f"/proc/{pid}/status").read_text()
        peak_kb = next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmHWM"))
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return {
            "peak_rss_mib": peak_kb / 1024,
            "cpu_s": (int(fields[11]) + int(fields[12])) / ticks,
        }

    def census(self, label: str) -> Obj | None:
        """The controller's heap census (hack/bench/heap_probe.py), where it has one."""
        return None

    def trace(self) -> list[tuple[float, str]]:
        """The controller's own timestamped lines (--timeline), where it has them."""
        return []

    def create(self, tracker: Tracker, namespace: str, name: str) -> None:
        raise NotImplementedError

    def update(self, tracker: Tracker, namespace: str, name: str, revision: str) -> None:
        raise NotImplementedError

    def recover(self, tracker: Tracker, namespace: str, name: str, rest: list[Obj]) -> None:
        """After the benchmark deleted the group's worker pod; `rest` the group's other pods."""

    def _spawn(self, argv: list[str], env: Mapping[str, str], ready_url: str) -> None:
        log_path = self.ctx.workdir / f"{self.name}-{time.strftime('%H%M%S')}.log"
        with log_path.open("wb") as out:
            self.process = subprocess.Popen(
                argv,
                env={**os.environ, **env, "KUBECONFIG": str(self.ctx.kubeconfigs[self.name])},
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited early; see {log_path}")
            with contextlib.suppress(OSError), urllib.request.urlopen(ready_url, timeout=2) as resp:
                if resp.status == 200:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} not ready after 120 s; see {log_path}")


class Ours(System):
    name = "ours"
    user = "operator"
    trace_path: Path | None = None

    def trace(self) -> list[tuple[float, str]]:
        """The operator's own DEBUG lines (--timeline): (wall time, text)."""
        if self.trace_path is None or not self.trace_path.exists():
            return []
        lines = []
        for line in self.trace_path.read_text().splitlines():
            at, _, text = line.partition(" ")
            with contextlib.suppress(ValueError):
                lines.append((float(at), text.replace("sglang_operator.", "", 1)))
        return lines

    @functools.cached_property
    def heap_dir(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="heap-", dir=self.ctx.workdir))

    def census(self, label: str) -> Obj | None:
        if not self.ctx.heap or self.process is None:
            return None
        taken = len(list(self.heap_dir.glob("heap-*.json")))
        self.process.send_signal(signal.SIGUSR1)
        path = self.heap_dir / f"heap-{taken + 1}.json"
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                found: Obj = json.loads(path.read_text())
                log(f"ours heap after {label}: {json.dumps(found['caches'])}")
                return found
            time.sleep(0.5)
        return None

    @staticmethod
    def resource_path(namespace: str) -> str:
        return collection_path(f"{API_GROUP}/{API_VERSION}", "SGLangDeployment", namespace)

    def status_ready(self, obj: Obj) -> bool:
        return (
            observed(obj)
            and condition(obj, "Ready") == "True"
            and condition(obj, "Progressing") == "False"
        )

    def start(self) -> None:
        health = free_port()
        if self.ctx.heap:
            argv = [sys.executable, str(HEAP_PROBE), str(self.heap_dir), "run"]
        elif self.ctx.timeline:
            self.trace_path = self.ctx.workdir / f"trace-{time.strftime('%H%M%S')}.log"
            argv = [sys.executable, str(TRACE_PROBE), str(self.trace_path), "run"]
        else:
            argv = [sys.executable, "-m", "sglang_operator", "run"]
        argv += ["--all-namespaces", "--liveness", f"http://127.0.0.1:{health}/healthz"]
        env = {"PYTHONPATH": str(self.checkout() / "operator")}
        self._spawn(argv, env, f"http://127.0.0.1:{health}/healthz")

    def checkout(self) -> Path:
        """Where the operator's code comes from."""
        return REPO

    def create(self, tracker: Tracker, namespace: str, name: str) -> None:
        body = {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "SGLangDeployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": self.ctx.spec("1"),
        }
        self.ctx.admin.must("POST", self.resource_path(namespace), body)

    def update(self, tracker: Tracker, namespace: str, name: str, revision: str) -> None:
        self.ctx.admin.must(
            "PATCH",
            f"{self.resource_path(namespace)}/{name}",
            {"spec": {"env": [{"name": REVISION_ENV, "value": revision}]}},
            content_type="application/merge-patch+json",
        )


class Base(Ours):
    """The operator from another checkout (--base, e.g. main's), beside `ours` in the same
    run, so that a change is compared with what it changes under the same load."""

    name = "base"
    user = "operator-base"

    def checkout(self) -> Path:
        assert self.ctx.base_dir is not None, "--base is required for the system base"
        return self.ctx.base_dir


class Floor(System):
    """No controller: the benchmark writes the children and deletes pods itself, as its
    own user, the way a controller with perfect knowledge would."""

    name = "floor"
    user = "floor"

    @staticmethod
    def resource_path(namespace: str) -> str:
        return f"/apis/apps/v1/namespaces/{namespace}/statefulsets"

    def resource_owner(self, obj: Obj) -> str:
        return str(obj["metadata"]["labels"][INSTANCE_LABEL])

    def status_ready(self, obj: Obj) -> bool:
        return replicas_ready(obj)

    @functools.cached_property
    def api(self) -> Api:
        return Api(self.ctx.kubeconfigs["floor"], "sglang-bench-floor")

    def create(self, tracker: Tracker, namespace: str, name: str) -> None:
        api = self.api
        for obj in self.ctx.children(name, namespace, "1"):
            api.must("POST", collection_path(obj["apiVersion"], obj["kind"], namespace), obj)

    def update(self, tracker: Tracker, namespace: str, name: str, revision: str) -> None:
        api = self.api
        for sts in self.ctx.children(name, namespace, revision):
            if sts["kind"] != "StatefulSet":
                continue
            path = (
                f"{collection_path('apps/v1', 'StatefulSet', namespace)}/{sts['metadata']['name']}"
            )
            # A strategic merge patch changes the one env entry (lists merge by name).
            patch = {"spec": {"template": {"spec": sts["spec"]["template"]["spec"]}}}
            stored = api.must(
                "PATCH", path, patch, content_type="application/strategic-merge-patch+json"
            )
            generation = stored["metadata"]["generation"]
            # Deleting pods before the StatefulSet controller saw the new template would bring
            # them back old: a controller waits for observedGeneration in its watch cache.
            tracker.wait_resource(
                name,
                lambda o, g=generation: o.get("status", {}).get("observedGeneration", 0) >= g,
                timeout=600,
            )
        for pod in tracker.group(name):
            api.request("DELETE", pod_path(namespace, pod["metadata"]["name"]), missing_ok=True)

    def recover(self, tracker: Tracker, namespace: str, name: str, rest: list[Obj]) -> None:
        api = self.api
        for pod in rest:
            api.request("DELETE", pod_path(namespace, pod["metadata"]["name"]), missing_ok=True)


class LeaderWorkerSet(System):
    name = "lws"
    user = "lws"

    @staticmethod
    def resource_path(namespace: str) -> str:
        return collection_path(LWS_API, "LeaderWorkerSet", namespace)

    def owner(self, pod: Obj) -> str | None:
        return (pod["metadata"].get("labels") or {}).get(LWS_NAME_LABEL)

    def worker(self, pods: list[Obj]) -> Obj | None:
        return next(
            (p for p in pods if p["metadata"]["labels"].get(LWS_WORKER_INDEX_LABEL) == "1"), None
        )

    def status_ready(self, obj: Obj) -> bool:
        return replicas_ready(obj) and condition(obj, "Available") == "True"

    def manifest(self, name: str, namespace: str) -> Obj:
        """The operator's pod template for one group, as a LeaderWorkerSet: the rank from
        LWS's worker-index label instead of the StatefulSet ordinal, rank 0's address from
        the LWS_LEADER_ADDRESS LWS injects."""
        sts = next(o for o in self.ctx.children(name, namespace, "1") if o["kind"] == "StatefulSet")
        template = sts["spec"]["template"]
        template["metadata"] = {"labels": {"app.kubernetes.io/name": "sglang"}}
        container = template["spec"]["containers"][0]
        for env in container["env"]:
            if env["name"] == "NODE_RANK":
                env["valueFrom"]["fieldRef"]["fieldPath"] = (
                    f"metadata.labels['{LWS_WORKER_INDEX_LABEL}']"
                )
            if env["name"] == "MASTER_ADDR":
                env["value"] = "$(LWS_LEADER_ADDRESS)"
        args = container["args"]
        at = args.index("--dist-init-addr") + 1
        args[at] = "$(LWS_LEADER_ADDRESS):" + args[at].rsplit(":", 1)[1]
        return {
            "apiVersion": LWS_API,
            "kind": "LeaderWorkerSet",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "replicas": 1,
                "leaderWorkerTemplate": {
                    "size": self.ctx.nodes,
                    "restartPolicy": "RecreateGroupOnPodRestart",
                    "workerTemplate": template,
                },
            },
        }

    def start(self) -> None:
        assert self.ctx.lws_dir and self.ctx.lws_webhook
        port, cert_dir = self.ctx.lws_webhook
        health = free_port()
        cfg = {
            "apiVersion": "config.lws.x-k8s.io/v1alpha1",
            "kind": "Configuration",
            "leaderElection": {"leaderElect": False},
            "internalCertManagement": {"enable": False},
            "webhook": {"host": "127.0.0.1", "port": port, "certDir": str(cert_dir)},
            "metrics": {"bindAddress": "0"},
            "health": {"healthProbeBindAddress": f"127.0.0.1:{health}"},
        }
        path = self.ctx.workdir / "lws-config.yaml"
        path.write_text(yaml.safe_dump(cfg))
        argv = [str(self.ctx.lws_dir / "lws-manager"), "--config", str(path)]
        self._spawn(argv, {}, f"http://127.0.0.1:{health}/readyz")

    def create(self, tracker: Tracker, namespace: str, name: str) -> None:
        self.ctx.admin.must("POST", self.resource_path(namespace), self.manifest(name, namespace))

    def update(self, tracker: Tracker, namespace: str, name: str, revision: str) -> None:
        env = self.manifest(name, namespace)["spec"]["leaderWorkerTemplate"]["workerTemplate"]
        index = [e["name"] for e in env["spec"]["containers"][0]["env"]].index(REVISION_ENV)
        at = f"/spec/leaderWorkerTemplate/workerTemplate/spec/containers/0/env/{index}/value"
        self.ctx.admin.must(
            "PATCH",
            f"{self.resource_path(namespace)}/{name}",
            [{"op": "replace", "path": at, "value": revision}],
            content_type="application/json-patch+json",
        )


SYSTEM_TYPES: dict[str, type[System]] = {
    "ours": Ours,
    "base": Base,
    "lws": LeaderWorkerSet,
    "floor": Floor,
}


# ---------------------------------------------------------------- a trial: one system at one N


@dataclass
class Window:
    system: str
    n: int
    namespace: str  # the trial's
    phase: str  # create, rest, update, recovery
    start: float
    end: float
    sent: float = 0.0  # when the first resource's request was sent (--timeline's zero)


def run_phase(
    tracker: Tracker,
    phase: Phase,
    act: Callable[[str], None],
    *,
    timeout: float,
    settle: float,
) -> None:
    tracker.begin(phase)
    phase.start = time.time()

    def one(name: str) -> None:
        phase.sent[name] = time.time()
        act(name)

    with ThreadPoolExecutor(max_workers=16) as pool:
        for future in [pool.submit(one, name) for name in phase.expect]:
            future.result()
    if not tracker.wait(phase, timeout):
        log(f"{phase.name}: {len(phase.done)}/{len(phase.expect)} converged after {timeout:.0f}s")
    time.sleep(settle)
    phase.end = time.time()


def sample_load(into: list[float], stop: threading.Event) -> None:
    """The machine's 1-minute load average every 5 s until `stop`: how busy the cores shared
    with the control plane and kwok were during a trial."""
    while not stop.wait(5):
        into.append(os.getloadavg()[0])


class Trial:
    """One system at one N in a fresh namespace: create, rest, update, recovery."""

    def __init__(self, ctx: Context, system: System, n: int, args: argparse.Namespace) -> None:
        self.ctx = ctx
        self.system = system
        self.n = n
        self.args = args
        self.namespace = f"bench-{system.name}-{n}-{uuid.uuid4().hex[:5]}"
        # Short names: the pods' instance label is the name itself.
        self.names = [f"m{i}" for i in range(n)]
        self.tracker = Tracker(system, ctx.admin, self.namespace, ctx.nodes)
        self.row: Obj = {"n": n, "system": system.name, "namespace": self.namespace}
        self.windows: list[Window] = []
        # --timeline: source -> [(wall time, text)], read when the trial ends.
        self.traces: dict[str, list[tuple[float, str]]] = {}

    def run(self) -> tuple[Obj, list[Window]]:
        admin = self.ctx.admin
        admin.must("POST", "/api/v1/namespaces", {"metadata": {"name": self.namespace}})
        # Pods are refused until the namespace's default ServiceAccount exists.
        while not admin.request(
            "GET", f"/api/v1/namespaces/{self.namespace}/serviceaccounts/default", missing_ok=True
        ):
            time.sleep(0.2)
        self.tracker.start()
        self.system.start()
        # A controller's start-up lists (its caches filling) are not part of any phase.
        time.sleep(self.args.settle_seconds)
        loads: list[float] = []
        sampling = threading.Event()
        threading.Thread(target=sample_load, args=(loads, sampling), daemon=True).start()
        try:
            cpu_start = self.cpu()
            self.phase("create", Expect("1"), self.create)
            cpu_rest = self.cpu()
            peak_create = self.system.stats().get("peak_rss_mib")
            self.census("create")
            log(f"{self.system.name} N={self.n}: at rest for {self.args.rest_seconds:.0f}s")
            rest_start = time.time()
            time.sleep(self.args.rest_seconds)
            self.windows.append(
                Window(self.system.name, self.n, self.namespace, "rest", rest_start, time.time())
            )
            cpu_rest_end = self.cpu()
            self.phase("update", Expect("2"), self.update)
            groups = {name: self.tracker.group(name) for name in self.names}
            old = {
                name: frozenset(p["metadata"]["uid"] for p in pods) for name, pods in groups.items()
            }
            self.phase(
                "recovery",
                lambda name: Expect("2", old[name]),
                lambda n: self.recover(n, groups[n]),
            )
            stats = self.system.stats()
            self.census("recovery")
            if stats and peak_create is not None:
                self.row["cpu_seconds_create"] = round(cpu_rest - cpu_start, 2)
                per_minute = (cpu_rest_end - cpu_rest) * 60 / self.args.rest_seconds
                self.row["cpu_seconds_per_minute_at_rest"] = round(per_minute, 3)
                self.row["peak_rss_create_mib"] = round(peak_create, 1)
                self.row["peak_rss_mib"] = round(stats["peak_rss_mib"], 1)
        finally:
            sampling.set()
            if loads:
                self.row["load_average_mean"] = round(statistics.mean(loads), 1)
                self.row["load_average_max"] = round(max(loads), 1)
            # Deleted while the controller still runs: LWS's pod webhooks must answer meanwhile.
            admin.request("DELETE", f"/api/v1/namespaces/{self.namespace}", missing_ok=True)
            while admin.request("GET", f"/api/v1/namespaces/{self.namespace}", missing_ok=True):
                time.sleep(1)
            self.system.stop()
            self.tracker.stop.set()
            if self.ctx.timeline:
                self.traces = {"watch": self.tracker.trace, "controller": self.system.trace()}
        return self.row, self.windows

    def cpu(self) -> float:
        return self.system.stats().get("cpu_s", 0.0)

    def create(self, name: str) -> None:
        self.system.create(self.tracker, self.namespace, name)

    def update(self, name: str) -> None:
        self.system.update(self.tracker, self.namespace, name, "2")

    def recover(self, name: str, pods: list[Obj]) -> None:
        worker = self.system.worker(pods)
        if worker is None:
            # The group converged on the update, yet its worker pod was deleted once more
            # since (seen at N=50: a pod recreated from the old revision, deleted again):
            # recovery starts from the worker that replaces it.
            pods = self.tracker.wait_group(
                name, lambda found: self.system.worker(found) is not None, self.args.timeout
            )
            worker = self.system.worker(pods)
            if worker is None:
                raise RuntimeError(f"{self.namespace}/{name}: no worker pod to delete")
        self.ctx.admin.request(
            "DELETE",
            pod_path(self.namespace, worker["metadata"]["name"]),
            {"preconditions": {"uid": worker["metadata"]["uid"]}},
            missing_ok=True,
        )
        rest = [p for p in pods if p is not worker]
        self.system.recover(self.tracker, self.namespace, name, rest)

    def phase(
        self,
        name: str,
        expect: Expect | Callable[[str], Expect],
        act: Callable[[str], None],
    ) -> None:
        log(f"{self.system.name} N={self.n}: {name}")
        expected = {k: expect(k) if callable(expect) else expect for k in self.names}
        phase = Phase(name, expected)
        run_phase(
            self.tracker, phase, act, timeout=self.args.timeout, settle=self.args.settle_seconds
        )
        latencies = phase.latencies()
        self.row[f"{name}_latency_s"] = (
            round(statistics.median(latencies), 3) if latencies else None
        )
        converged = len(phase.done) == len(phase.expect)
        self.row[f"{name}_convergence_s"] = (
            round(max(phase.done.values()) - phase.start, 3) if converged else None
        )
        self.row[f"{name}_converged"] = f"{len(phase.done)}/{len(phase.expect)}"
        self.windows.append(
            Window(
                self.system.name,
                self.n,
                self.namespace,
                name,
                phase.start,
                phase.end,
                sent=min(phase.sent.values(), default=phase.start),
            )
        )

    def census(self, phase: str) -> None:
        """The controller's heap census after `phase` (--heap), into the row. Taken after the
        phase's peak RSS was read: a census costs memory of its own (the garbage collector's
        list of every object, a set of the ids it counted)."""
        census = self.system.census(phase)
        if census is not None:
            self.row.setdefault("heap", {})[phase] = census


# ---------------------------------------------------------------- the audit log


@dataclass(frozen=True)
class Request:
    at: float  # received (requestReceivedTimestamp)
    user: str
    verb: str
    resource: str
    code: int
    done: float = 0.0  # answered (stageTimestamp of ResponseComplete)
    namespace: str = ""
    name: str = ""


def read_audit(log_dir: Path) -> list[Request]:
    """Finished, non-watch resource requests from the API server's audit log files (rotated
    ones too). Discovery and other non-resource URLs carry no objectRef and are left out."""
    requests: list[Request] = []
    for path in sorted(log_dir.glob("audit*.log*")):
        with path.open() as lines:
            for line in lines:
                request = parse_audit_line(line)
                if request:
                    requests.append(request)
    return requests


def parse_audit_line(line: str) -> Request | None:
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None  # a line cut by rotation
    ref = event.get("objectRef")
    if event.get("stage") != "ResponseComplete" or event.get("verb") == "watch" or not ref:
        return None
    resource = ref.get("resource", "")
    if ref.get("subresource"):
        resource += "/" + ref["subresource"]
    at = datetime.fromisoformat(event["requestReceivedTimestamp"]).timestamp()
    code = int(event.get("responseStatus", {}).get("code", 0))
    done = datetime.fromisoformat(event.get("stageTimestamp") or event["requestReceivedTimestamp"])
    return Request(
        at,
        event["user"]["username"],
        event["verb"],
        resource,
        code,
        done.timestamp(),
        ref.get("namespace", ""),
        ref.get("name", ""),
    )


def service_account_user(name: str) -> str:
    return f"system:serviceaccount:{BENCH_NAMESPACE}:{name}"


def count(requests: list[Request], user: str, window: Window) -> list[Request]:
    return [r for r in requests if r.user == user and window.start <= r.at <= window.end]


def add_requests(rows: list[Obj], windows: list[Window], requests: list[Request]) -> None:
    users = {name: service_account_user(t.user) for name, t in SYSTEM_TYPES.items()}
    by_row = {row["namespace"]: row for row in rows}
    for window in windows:
        row = by_row[window.namespace]
        found = count(requests, users[window.system], window)
        if window.phase == "rest":
            minutes = (window.end - window.start) / 60
            row["requests_per_minute_at_rest"] = round(len(found) / minutes, 1)
        else:
            row[f"requests_per_{window.phase}"] = round(len(found) / window.n, 1)
        breakdown = Counter(f"{r.verb} {r.resource}" for r in found)
        row.setdefault("requests_by_phase", {})[window.phase] = dict(breakdown.most_common())


def timelines(
    rows: list[Obj],
    windows: list[Window],
    requests: list[Request],
    traces: Mapping[str, Mapping[str, list[tuple[float, str]]]],
) -> list[str]:
    """--timeline: for each trial and phase, every request of the system in the trial's
    namespace (from the audit log: when the API server received it, and how long it took to
    answer), what the benchmark's watch saw, and the controller's own lines, in time order,
    in seconds from the moment the phase's first request was sent. Meant for N = 1."""
    users = {name: service_account_user(t.user) for name, t in SYSTEM_TYPES.items()}
    load = {row["namespace"]: row.get("load_average_mean") for row in rows}
    out: list[str] = []
    for window in windows:
        if window.phase == "rest":
            continue
        zero = window.sent
        found: list[tuple[float, str]] = [
            (
                r.at,
                f"api      {r.verb} {r.resource} {r.name} {r.code}"
                f" ({(r.done - r.at) * 1000:.1f} ms)",
            )
            for r in count(requests, users[window.system], window)
            if r.namespace == window.namespace
        ]
        for source, lines in traces.get(window.namespace, {}).items():
            found += [
                (at, f"{source:<8} {text}")
                for at, text in lines
                if window.start - 1 <= at <= window.end
            ]
        out.append(
            f"## {window.system} N={window.n} {window.phase} ({window.namespace}, load average "
            f"{load.get(window.namespace)})"
        )
        out += [f"{at - zero:+8.3f}  {text}" for at, text in sorted(found)]
        out.append("")
    return out


# ---------------------------------------------------------------- the cluster and its users


def cluster_env(name: str) -> dict[str, str]:
    env = {**os.environ, "SGLANG_OPERATOR_CLUSTER": name}
    script = f'eval "$({REPO}/hack/cluster.sh env)" && printf "%s\\n%s" "$KUBECONFIG" "$PATH"'
    out = subprocess.run(
        ["bash", "-c", script], env=env, capture_output=True, text=True, check=True
    )
    kubeconfig, path = out.stdout.splitlines()
    return {**env, "KUBECONFIG": kubeconfig, "PATH": path}


def cluster_script(name: str, command: str, **extra: str) -> None:
    env = {**os.environ, "SGLANG_OPERATOR_CLUSTER": name, **extra}
    subprocess.run([str(REPO / "hack" / "cluster.sh"), command], env=env, check=True)


def kubectl(env: Mapping[str, str], *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["kubectl", *args], input=stdin, text=True, capture_output=True, check=True, env=env
    ).stdout


def make_identities(admin: Api, kubeconfig: Path, workdir: Path) -> dict[str, Path]:
    """A ServiceAccount (cluster-admin) and a token kubeconfig for each system's user."""
    admin.request(
        "POST", "/api/v1/namespaces", {"metadata": {"name": BENCH_NAMESPACE}}, missing_ok=True
    )
    base = yaml.safe_load(kubeconfig.read_text())
    context = next(c for c in base["contexts"] if c["name"] == base["current-context"])
    cluster = next(c for c in base["clusters"] if c["name"] == context["context"]["cluster"])
    paths: dict[str, Path] = {}
    for system, kind in SYSTEM_TYPES.items():
        user = kind.user
        admin.request(
            "POST",
            f"/api/v1/namespaces/{BENCH_NAMESPACE}/serviceaccounts",
            {"metadata": {"name": user}},
            missing_ok=True,
        )
        binding = {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": f"sglang-bench-{user}"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"kind": "ServiceAccount", "name": user, "namespace": BENCH_NAMESPACE}],
        }
        admin.request(
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            binding,
            missing_ok=True,
        )
        token = admin.must(
            "POST",
            f"/api/v1/namespaces/{BENCH_NAMESPACE}/serviceaccounts/{user}/token",
            {
                "apiVersion": "authentication.k8s.io/v1",
                "kind": "TokenRequest",
                "spec": {"expirationSeconds": 86400},
            },
        )["status"]["token"]
        path = workdir / f"{user}.kubeconfig"
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [cluster],
                    "users": [{"name": user, "user": {"token": token}}],
                    "contexts": [
                        {"name": user, "context": {"cluster": cluster["name"], "user": user}}
                    ],
                    "current-context": user,
                }
            )
        )
        paths[system] = path
    return paths


def add_nodes(env: Mapping[str, str], pods: int) -> None:
    room = {"cpu": "1000", "memory": "4Ti", "pods": "250", "amd.com/gpu": "250"}
    nodes = [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": f"bench-{i}",
                "annotations": {"kwok.x-k8s.io/node": "fake"},
                "labels": {"type": "kwok", "bench": "true"},
            },
            "status": {"capacity": room, "allocatable": room},
        }
        # Room for the pods of a trial, and for the old ones a rollout briefly keeps.
        for i in range(pods // 200 + 1)
    ]
    kubectl(env, "apply", "-f", "-", stdin=yaml.safe_dump_all(nodes))
    kubectl(env, "wait", "--for=condition=Ready", "node", "-l", "bench=true", "--timeout=120s")


def add_service_range(env: Mapping[str, str]) -> None:
    """A second Service IP range (a ServiceCIDR, GA since Kubernetes 1.33): the cluster's own
    is a /24, 254 ClusterIPs, and every system makes a ClusterIP Service a resource (at
    N = 1,000 the API server refused 3 of 4: "failed to allocate a serviceIP: range is full")."""
    cidr = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "ServiceCIDR",
        "metadata": {"name": "sglang-bench"},
        "spec": {"cidrs": [SERVICE_RANGE]},
    }
    kubectl(env, "apply", "-f", "-", stdin=yaml.safe_dump(cidr))
    kubectl(env, "wait", "--for=condition=Ready", "servicecidr/sglang-bench", "--timeout=60s")


def setup_lws(env: Mapping[str, str], workdir: Path) -> tuple[Path, tuple[int, Path]]:
    """Builds (or finds cached) LWS, installs its CRDs, and registers its webhooks at a
    loopback port with a self-signed certificate (pod webhooks only for LWS's pods)."""
    out = subprocess.run([str(LWS_SCRIPT), "build"], capture_output=True, text=True, check=True)
    lws_dir = Path(out.stdout.strip().splitlines()[-1])
    kubectl(env, "apply", "--server-side", "-f", str(lws_dir / "crds"))
    kubectl(env, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    cert_dir = workdir / "lws-certs"
    cert_dir.mkdir(exist_ok=True)
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(cert_dir / "tls.key"),
            "-out",
            str(cert_dir / "tls.crt"),
        ],
        capture_output=True,
        check=True,
    )
    ca_bundle = base64.b64encode((cert_dir / "tls.crt").read_bytes()).decode()
    port = free_port()
    configs = [d for d in yaml.safe_load_all((lws_dir / "webhooks.yaml").read_text()) if d]
    for cfg in configs:
        cfg["metadata"] = {"name": f"lws-bench-{cfg['kind'].lower()}"}
        for hook in cfg["webhooks"]:
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {"url": f"https://127.0.0.1:{port}{path}", "caBundle": ca_bundle}
            if any("pods" in rule["resources"] for rule in hook["rules"]):
                # As LWS's own kustomize patches do: no other pod goes through them.
                hook["objectSelector"] = {
                    "matchExpressions": [{"key": LWS_NAME_LABEL, "operator": "Exists"}]
                }
    kubectl(env, "apply", "-f", "-", stdin=yaml.safe_dump_all(configs))
    return lws_dir, (port, cert_dir)


# ---------------------------------------------------------------- the report


def versions(lws_dir: Path | None) -> Obj:
    pins = {}
    for line in (REPO / "hack" / "cluster.sh").read_text().splitlines():
        for key in ("K8S_VERSION", "ETCD_VERSION", "KWOK_VERSION"):
            if line.startswith(f"{key}="):
                pins[key.removesuffix("_VERSION").lower()] = line.split("=", 1)[1]
    commit = subprocess.run(
        ["git", "-C", str(REPO), "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        **pins,
        "lws": lws_dir.name.removeprefix("lws-") if lws_dir else None,
        "operator_commit": commit,
        "python": platform.python_version(),
        "kopf": importlib.metadata.version("kopf"),
    }


def machine() -> Obj:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next(
        (x.split(":", 1)[1].strip() for x in cpuinfo.splitlines() if x.startswith("model name")), ""
    )
    mem = next(
        x for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")
    )
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(int(mem.split()[1]) / 2**20, 1),
        "kernel": platform.release(),
        "load_average_at_start": os.getloadavg(),
    }


def markdown(report: Obj) -> str:
    def cell(value: Any) -> str:
        return "n/a" if value is None else str(value)

    lines = [
        "| " + " | ".join(header for _, header in COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in report["rows"]:
        cells = [cell(row.get(key)) for key, _ in COLUMNS]
        for i, (key, _) in enumerate(COLUMNS):
            phase = key.removesuffix("_convergence_s")
            if phase in PHASES and row.get(key) is None and row.get(f"{phase}_converged"):
                cells[i] = f"{row[f'{phase}_converged']} converged"
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "Requests by verb and resource (all N together, per resource):", ""]
    for row in report["rows"]:
        for phase, found in row.get("requests_by_phase", {}).items():
            if phase == "rest" or not found:
                continue
            parts = ", ".join(f"{v} {k}" for k, v in found.items())
            lines.append(f"- N={row['n']} {row['system']} {phase}: {parts}")
    return "\n".join(lines) + "\n"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1,50", help="comma-separated N (default: %(default)s)")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="default: %(default)s")
    parser.add_argument("--nodes", type=int, default=2, help="pods per group (default: 2)")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each N, interleaved")
    parser.add_argument("--rest-seconds", type=float, default=60.0)
    parser.add_argument("--settle-seconds", type=float, default=5.0)
    parser.add_argument("--timeout", type=float, default=1800.0, help="per phase, seconds")
    parser.add_argument("--json", type=Path, help="write the report as JSON here")
    parser.add_argument("--markdown", type=Path, help="write the table here")
    parser.add_argument("--keep-cluster", action="store_true")
    parser.add_argument(
        "--heap",
        action="store_true",
        help="run ours under hack/bench/heap_probe.py: a census of its heap after create and "
        "after recovery (in the JSON report; the census' own memory counts in the peak RSS "
        "after it); SGLANG_HEAP_TRACE=1 adds tracemalloc's top lines (slow)",
    )
    parser.add_argument(
        "--base",
        type=Path,
        help="a checkout of the operator (e.g. a worktree of main) run as the system `base` "
        "beside `ours` (this checkout): a change and what it changes, interleaved in one run",
    )
    parser.add_argument(
        "--timeline",
        type=Path,
        help="write here, per trial and phase, every request of the system (audit log), what "
        "the benchmark's watch saw and the operator's own DEBUG lines (it runs under "
        "hack/bench/trace_probe.py), in time order; meant for N = 1",
    )
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",")]
    args.systems = args.systems.split(",")
    unknown = set(args.systems) - set(SYSTEM_TYPES)
    if unknown:
        parser.error(f"unknown systems: {sorted(unknown)}")
    return args


def main() -> int:
    args = parse_args()
    sizes, systems = args.sizes, args.systems

    cluster = os.environ.get("SGLANG_OPERATOR_CLUSTER", "sglang-operator") + "-bench"
    workdir = Path(tempfile.mkdtemp(prefix="sglang-bench-"))
    log(f"cluster {cluster}, work directory {workdir}")
    # A fresh cluster: the audit policy is set when the API server starts.
    cluster_script(cluster, "down")
    cluster_script(cluster, "up", KWOK_KUBE_AUDIT_POLICY=str(AUDIT_POLICY))
    try:
        env = cluster_env(cluster)
        kubeconfig = Path(env["KUBECONFIG"])
        audit_dir = kubeconfig.parent / "logs"
        admin = Api(kubeconfig, "sglang-bench-observer")
        kubectl(env, "apply", "--server-side", "-f", str(REPO / "crds"))
        kubectl(env, "apply", "--server-side", "-f", str(KWOK_DELETES_BY_UID))
        add_nodes(env, max(sizes) * args.nodes)
        add_service_range(env)
        ctx = Context(admin, make_identities(admin, kubeconfig, workdir), workdir, args.nodes)
        ctx.heap = args.heap
        ctx.timeline = args.timeline is not None
        ctx.base_dir = args.base
        if "lws" in systems:
            ctx.lws_dir, ctx.lws_webhook = setup_lws(env, workdir)
        report: Obj = {
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "started": datetime.now().astimezone().isoformat(timespec="seconds"),
            "machine": machine(),
            "versions": versions(ctx.lws_dir),
        }
        runs: list[Obj] = []
        windows: list[Window] = []
        traces: dict[str, dict[str, list[tuple[float, str]]]] = {}
        for n in sizes:
            for _ in range(args.repeat):
                for name in systems:
                    trial = Trial(ctx, SYSTEM_TYPES[name](ctx), n, args)
                    row, found = trial.run()
                    runs.append(row)
                    windows += found
                    traces[trial.namespace] = trial.traces
        requests = read_audit(audit_dir)
        add_requests(runs, windows, requests)
        if args.timeline:
            lines = timelines(runs, windows, requests, traces)
            args.timeline.write_text("\n".join(lines) + "\n")
        report["runs"] = runs
        report["rows"] = [median_row(runs, n, s) for n in sizes for s in systems]
    finally:
        if not args.keep_cluster:
            cluster_script(cluster, "down")
    text = markdown(report)
    sys.stdout.write(text)
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


def median_row(runs: list[Obj], n: int, system: str) -> Obj:
    """One row per N and system: the median of each number over the repetitions."""
    mine = [r for r in runs if r["n"] == n and r["system"] == system]
    row: Obj = {"n": n, "system": system, "repetitions": len(mine)}
    for key, _ in COLUMNS[2:]:
        values = [r.get(key) for r in mine if r.get(key) is not None]
        row[key] = round(statistics.median(values), 3) if values else None
    for phase in PHASES:
        row[f"{phase}_converged"] = mine[0].get(f"{phase}_converged")
    row["requests_by_phase"] = mine[0].get("requests_by_phase", {})
    return row


if __name__ == "__main__":
    sys.exit(main())
