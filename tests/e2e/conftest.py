"""Fixtures for the e2e tier: a real control plane on loopback, started by hack/cluster.sh.

The cluster is etcd, kube-apiserver (RBAC and admission on), kube-controller-manager and
kube-scheduler, all real, plus kwok simulating the kubelets of five fake nodes
(hack/cluster/nodes.yaml): `amd-mi300x-0` and `amd-mi300x-1` (`amd.com/gpu: 8`,
`rdma/hca_shared_devices_a`, label `amd.com/gpu.product-name`), `nvidia-h100-0` and
`nvidia-h100-1` (`nvidia.com/gpu: 8`, `rdma/rdma_shared_device_a`, label
`nvidia.com/gpu.product`) and `cpu-0` (no GPU). No containers run: no logs, exec, probes or
real pod IPs, and PVCs stay Pending (there is no storage provisioner).

What kwok does to pods (kwokctl's default "fast" stages, none delayed):

- pod-ready: a pod bound to a fake node, still `Pending` and not Ready, becomes `Running`
  with Initialized, Ready and ContainersReady all True at once, every container `ready`,
  `running`, `restartCount: 0`, and fake `podIP`/`hostIP`. Readiness is immediate: probes are
  ignored, so a pod cannot be made slow to become Ready by its spec.
- pod-complete: a `Running` pod owned by a Job becomes `Succeeded` at once (containers
  terminated, exit code 0, reason Completed). So every Job finishes successfully by itself.
- pod-delete: a pod with a deletionTimestamp is removed at once (finalizers permitting).
- Nothing else: kwok only acts on pods that match one of those selectors. A test may patch
  a Running pod's status (`patch_namespaced_pod_status`), e.g. set a container `terminated`
  with a `message`, raise `restartCount`, set Ready False or the phase to `Failed`, and kwok
  leaves it as patched (test_control_plane.py proves it; checked by hand for 45 s too).
  Controllers still react as in a real cluster: a StatefulSet replaces a `Failed` pod with a
  new one (new UID, Ready again at once). Patching a pod back to `Pending` does not make kwok
  ready it again (its pod-ready patch is refused: the pod already has a pod IP); patch Ready
  True yourself instead. A Job's pod cannot be made to fail: pod-complete wins the race.

Unscheduled pods stay Pending with `PodScheduled=False, reason=Unschedulable` as usual.

Which cluster: if the cluster named by SGLANG_OPERATOR_CLUSTER (default `sglang-operator`) is
already up, the session uses it and leaves it running. Otherwise it starts its own, named
`<that name>-pytest-<pid>` so concurrent sessions never share or stop each other's cluster,
and stops it at the end (a later session removes one left by a killed run).

Every test under tests/e2e is marked `e2e`. When one fails, the report gets the cluster's
events and the tail of each component's log.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from operator_process import OperatorProcess

from sglang_operator import chartgen

REPO = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPT = REPO / "hack" / "cluster.sh"
E2E_DIR = Path(__file__).resolve().parent
DEFAULT_CLUSTER = "sglang-operator"


@dataclasses.dataclass(frozen=True)
class Cluster:
    """A running local cluster: where its kubeconfig and binaries are, and how to call them."""

    name: str
    kubeconfig: Path
    bin_dir: Path

    def env(self) -> dict[str, str]:
        """Environment for a subprocess that should talk to this cluster (kubectl, helm)."""
        return {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "PATH": f"{self.bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            "SGLANG_OPERATOR_CLUSTER": self.name,
        }

    def run(
        self, *argv: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        """Runs a command (e.g. `helm`) against the cluster; output captured as text."""
        result = subprocess.run(
            argv,
            input=input,
            env=self.env(),
            text=True,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{shlex.join(argv)} exited {result.returncode}\n"
                f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
            )
        return result

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return self.run(
            str(self.bin_dir / "kubectl"), *args, input=input, check=check, timeout=timeout
        )

    def wait_crd_established(self, name: str, timeout: float = 60) -> None:
        """Waits until the CRD `name` is Established. `kubectl wait` fails at once while the
        new CRD has no status.conditions yet (a large schema takes the API server a moment),
        so it is retried."""
        wait_until(
            lambda: (
                self.kubectl(
                    "wait",
                    "--for=condition=Established",
                    f"crd/{name}",
                    "--timeout=5s",
                    check=False,
                ).returncode
                == 0
            ),
            timeout=timeout,
            what=f"CRD {name} to be Established",
        )

    @contextlib.contextmanager
    def chart_release(self, namespace: str, *options: str) -> Iterator[str]:
        """Installs the chart as a new Helm release in `namespace`, with helm's `options`;
        yields the ServiceAccount its operator Deployment runs as; uninstalls it after."""
        release = f"sgo-{uuid.uuid4().hex[:6]}"
        self.run(
            "helm",
            "install",
            release,
            str(chartgen.CHART_DIR),
            "-n",
            namespace,
            *options,
            "--timeout",
            "2m",
        )
        try:
            deployment = json.loads(
                self.kubectl(
                    "get",
                    "deployment",
                    "-n",
                    namespace,
                    "-l",
                    f"app.kubernetes.io/instance={release}",
                    "-o",
                    "json",
                ).stdout
            )["items"][0]
            yield deployment["spec"]["template"]["spec"]["serviceAccountName"]
        finally:
            self.run("helm", "uninstall", release, "-n", namespace, "--wait", check=False)

    def logs(self, lines: int = 100) -> str:
        """The last `lines` lines of each control plane component's log."""
        return _script("logs", str(lines), cluster=self.name).stdout


def _script(*args: str, cluster: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    # No timeout: `up` includes the one-time build when the cache is empty (many minutes).
    result = subprocess.run(
        [str(CLUSTER_SCRIPT), *args],
        env={**os.environ, "SGLANG_OPERATOR_CLUSTER": cluster},
        text=True,
        capture_output=True,
        check=False,
    )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"hack/cluster.sh {shlex.join(args)} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return result


def _describe(name: str) -> Cluster:
    """Reads the cluster's paths from `hack/cluster.sh env`, the one place that knows them."""
    exports: dict[str, str] = {}
    for line in _script("env", cluster=name).stdout.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export":
            key, _, value = words[1].partition("=")
            exports[key] = value
    return Cluster(
        name=name,
        kubeconfig=Path(exports["KUBECONFIG"]),
        bin_dir=Path(exports["PATH"].split(os.pathsep)[0]),
    )


def _remove_abandoned_sessions(base: str, clusters_dir: Path) -> None:
    """Stops clusters whose pytest session was killed before its teardown ran."""
    if not clusters_dir.is_dir():
        return
    pattern = re.compile(rf"{re.escape(base)}-pytest-(\d+)")
    for entry in clusters_dir.iterdir():
        match = pattern.fullmatch(entry.name)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            _script("down", cluster=entry.name)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    base = os.environ.get("SGLANG_OPERATOR_CLUSTER", DEFAULT_CLUSTER)
    if _script("status", cluster=base, check=False).returncode == 0:
        yield _describe(base)
        return
    name = f"{base}-pytest-{os.getpid()}"
    described = _describe(name)
    _remove_abandoned_sessions(base, described.kubeconfig.parent.parent)
    _script("up", cluster=name)
    try:
        yield described
    finally:
        _script("down", cluster=name)


@pytest.fixture(scope="session")
def kube(cluster: Cluster) -> Iterator[Any]:
    """A `kubernetes.client.ApiClient` configured for the cluster."""
    api = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    yield api
    api.close()


def wait_until(
    predicate: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.5
) -> Any:
    """Polls `predicate` until it returns something truthy and returns that; fails after
    `timeout` seconds naming `what` was awaited. Timeouts bound a wait, they are not asserted."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@pytest.fixture(name="wait_until")
def wait_until_fixture() -> Callable[..., Any]:
    """The polling helper, for tests: `wait_until(lambda: ..., timeout=60, what="...")`."""
    return wait_until


def _namespace_name(test_name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")
    return f"e2e-{slug[:46].rstrip('-')}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def namespace(request: pytest.FixtureRequest, kube: Any) -> Iterator[str]:
    """A fresh namespace for one test, ready for pods; deleted afterwards, its pods gone."""
    core = client.CoreV1Api(kube)
    name = _namespace_name(request.node.name)
    core.create_namespace({"metadata": {"name": name, "labels": {"sglang-operator.io/e2e": "1"}}})

    def default_service_account() -> bool:
        # Pods are refused until the controller-manager has created this account.
        try:
            core.read_namespaced_service_account("default", name)
        except ApiException as err:
            if err.status == 404:
                return False
            raise
        return True

    wait_until(default_service_account, timeout=60, what=f"ServiceAccount default in {name}")
    yield name
    core.delete_namespace(name)
    # The namespace controller waits 5 s before it starts deleting; a Terminating namespace
    # admits no new pods, so removing them now is final. Waiting for them (not for the
    # namespace) frees the fake GPUs they held before the next test schedules.
    core.delete_collection_namespaced_pod(name, grace_period_seconds=0)
    wait_until(
        lambda: not core.list_namespaced_pod(name).items,
        timeout=120,
        what=f"the pods of namespace {name} to be deleted",
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    funcargs = getattr(item, "funcargs", {})
    running = funcargs.get("cluster")
    if report.failed and report.when in ("setup", "call") and isinstance(running, Cluster):
        events = running.kubectl(
            "get", "events", "--all-namespaces", "--sort-by=.lastTimestamp", check=False
        )
        report.sections.append(("cluster events", events.stdout + events.stderr))
        report.sections.append(("cluster component logs", running.logs()))
    return report


# ---- the operator under test ----------------------------------------------------------------

CRD = REPO / "crds" / "sglangdeployments.sglang-operator.io.yaml"


@pytest.fixture(scope="session")
def crd(cluster: Cluster) -> None:
    """The generated CRD, installed as a user would (server-side apply)."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD))
    cluster.wait_crd_established("sglangdeployments.sglang-operator.io")


@pytest.fixture(scope="session")
def operator(
    cluster: Cluster, crd: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    """One operator process for the session, watching all namespaces (tests may restart it)."""
    proc = OperatorProcess(cluster.kubeconfig, tmp_path_factory.mktemp("op") / "operator.log")
    proc.start()
    yield proc
    proc.stop()


@pytest.fixture
def without_operator(operator: OperatorProcess) -> Iterator[None]:
    """The session's operator stopped for the test (it would act on the test's objects, e.g.
    overwrite a status the test writes itself), started again afterwards."""
    operator.stop()
    try:
        yield
    finally:
        operator.start()


@pytest.fixture
def operator_log_on_failure(operator: OperatorProcess) -> Iterator[OperatorProcess]:
    """The operator, with the tail of its log printed (shown by pytest only on failure)."""
    yield operator
    print("---- operator log (tail) ----\n" + operator.tail())
