"""The operator's stories on running containers: a real kubelet node (hack/node.sh) beside the
kwok nodes, running the SGLang stand-in image (images/sglang-standin: SGLang's command line,
rendezvous, endpoints and watchdog; no model). Probes, DNS, kube-proxy, restarts, OOM kills,
termination messages and logs are the kubelet's own; the serving benchmark is SGLang's real
sglang.benchmark.serving, from this environment's site-packages mounted into the pod.

Marked `realnode`: they need root and the node's build (hack/test.sh does both);
`-m "not realnode"` leaves them out.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import Cluster
from kubernetes import client
from realnode import RealNode, SGLangVolume, manifest, real_node
from story import apply, condition, get_sgld, live_pods, wait_ready

from sglang_operator.benchmark import BENCHMARK_CONTAINER
from sglang_operator.builders import CONTAINER_NAME
from sglang_operator.naming import (
    POD_INDEX_LABEL,
    benchmark_job_name,
    benchmark_results_configmap_name,
    client_service_name,
)

pytestmark = [pytest.mark.realnode, pytest.mark.usefixtures("operator_log_on_failure")]

Wait = Callable[..., Any]
API_KEY = "real-node-key"
# Real containers start in seconds, but two cores are shared with the control plane, the
# operator and pytest: generous bounds, never asserted.
READY_TIMEOUT = 240


@pytest.fixture(scope="module")
def node(cluster: Cluster) -> Iterator[RealNode]:
    yield from real_node(cluster)


def by_rank(kube: Any, namespace: str, name: str) -> dict[int, Any]:
    return {
        int(p.metadata.labels[POD_INDEX_LABEL]): p
        for p in live_pods(kube, namespace, name)
        if POD_INDEX_LABEL in p.metadata.labels
    }


def container_id(pod: Any, container: str = CONTAINER_NAME) -> str:
    status = next(cs for cs in pod.status.container_statuses if cs.name == container)
    return str(status.container_id).removeprefix("containerd://")


def exec_python(cluster: Cluster, namespace: str, pod: str, code: str, *args: str) -> str:
    """Runs `python3 -c code args...` in the pod's container (sys.argv[1:] are the args)."""
    return cluster.kubectl("exec", "-n", namespace, pod, "--", "python3", "-c", code, *args).stdout


def diagnosed(kube: Any, namespace: str, name: str, reason: str) -> Any:
    """The Degraded condition or an event giving `reason`, once the operator says it."""
    degraded = condition(get_sgld(kube, namespace, name), "Degraded")
    if degraded.get("reason") == reason:
        return degraded.get("message") or reason
    items = client.CoreV1Api(kube).list_namespaced_event(namespace).items
    return next((e.message for e in items if e.reason == reason), None)


# A client inside the cluster: rank 1's container, through DNS and the client Service.
CLIENT = """
import json, sys, urllib.error, urllib.request as u
url, key = sys.argv[1], sys.argv[2]
def call(path, key):
    req = u.Request(url + path, headers={"Authorization": "Bearer " + key} if key else {})
    try:
        with u.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None
out = {"models": call("/v1/models", key), "anonymous": call("/v1/models", ""),
       "health": call("/health", ""),
       "ranks": [call("/server_info", key)[1]["node_rank"] for _ in range(12)]}
print(json.dumps(out))
"""


def test_group_forms_serves_only_rank0_and_restarts_whole(
    cluster: Cluster, kube: Any, namespace: str, node: RealNode, wait_until: Wait
) -> None:
    core = client.CoreV1Api(kube)
    core.create_namespaced_secret(
        namespace, {"metadata": {"name": "api"}, "stringData": {"key": API_KEY}}
    )
    obj = manifest("duo", node, nodes=2)
    obj["spec"]["server"] = {"apiKeySecret": {"name": "api", "key": "key"}}
    apply(cluster, namespace, obj)
    wait_ready(cluster, namespace, "duo", timeout=READY_TIMEOUT)

    # The deployment is Ready once rank 0 is; rank 1's readiness probe may answer a moment
    # later (seen in CI on a loaded machine), so wait for every container to be ready.
    pods = wait_until(
        lambda: (
            (found := by_rank(kube, namespace, "duo"))
            and all(cs.ready for p in found.values() for cs in p.status.container_statuses or [])
            and found
        ),
        timeout=60,
        what="every container of the group ready",
    )
    assert sorted(pods) == [0, 1]
    assert {p.spec.node_name for p in pods.values()} == {node.name}
    for pod in pods.values():
        assert pod.status.pod_ip.startswith("10.244.")
        assert all(cs.restart_count == 0 for cs in pod.status.container_statuses)
    # The rendezvous happened over DNS and TCP: rank 1 resolved rank 0's name to its pod IP.
    rank1_log = cluster.kubectl("logs", "-n", namespace, pods[1].metadata.name).stdout
    assert f"is {pods[0].status.pod_ip}; connecting to rank 0" in rank1_log
    rank0_log = cluster.kubectl("logs", "-n", namespace, pods[0].metadata.name).stdout
    assert f"rank 1 joined from {pods[1].status.pod_ip}" in rank0_log

    # The client Service (a ClusterIP, through kube-proxy) reaches rank 0 and only rank 0;
    # the API key is SGLang's: /v1/models needs it, /health does not.
    url = f"http://{client_service_name('duo')}.{namespace}.svc.cluster.local:30000"
    out = json.loads(exec_python(cluster, namespace, pods[1].metadata.name, CLIENT, url, API_KEY))
    assert out["models"][0] == 200
    assert out["models"][1]["data"][0]["id"] == "Qwen/Qwen2.5-0.5B-Instruct"
    assert out["anonymous"][0] == 401
    assert out["health"][0] == 200
    assert out["ranks"] == [0] * 12
    slices = client.DiscoveryV1Api(kube).list_namespaced_endpoint_slice(
        namespace, label_selector=f"kubernetes.io/service-name={client_service_name('duo')}"
    )
    addresses = [a for s in slices.items for e in s.endpoints or [] for a in e.addresses]
    assert addresses == [pods[0].status.pod_ip]

    # Rank 1's process dies: rank 0 loses its peer and exits too, and the operator restarts
    # the whole group, which forms and goes Ready again.
    before = {p.metadata.uid for p in pods.values()}
    node.kill(container_id(pods[1]))

    def restarted_and_ready() -> bool:
        now = by_rank(kube, namespace, "duo")
        return (
            sorted(now) == [0, 1]
            and before.isdisjoint(p.metadata.uid for p in now.values())
            and all(cs.ready for p in now.values() for cs in p.status.container_statuses or [])
        )

    wait_until(
        restarted_and_ready, timeout=READY_TIMEOUT, what="the whole group replaced and Ready"
    )
    restarts = [
        e for e in core.list_namespaced_event(namespace).items if e.reason == "GroupRestarted"
    ]
    assert restarts
    wait_ready(cluster, namespace, "duo", timeout=READY_TIMEOUT)

    # Deleting the deployment leaves nothing of its pods on the node.
    uids = [p.metadata.uid for p in by_rank(kube, namespace, "duo").values()]
    cluster.kubectl("delete", "-n", namespace, "sgld", "duo", "--wait=true")
    wait_until(
        lambda: (
            not live_pods(kube, namespace, "duo") and not core.list_namespaced_pod(namespace).items
        ),
        timeout=READY_TIMEOUT,
        what="the pods gone",
    )
    wait_until(lambda: not node.containers_of(namespace), timeout=60, what="containers removed")
    wait_until(lambda: not node.leftovers(uids), timeout=60, what="mounts and cgroups removed")


def test_memory_limit_breached_is_diagnosed_oomkilled(
    cluster: Cluster, kube: Any, namespace: str, node: RealNode, wait_until: Wait
) -> None:
    obj = manifest("oom", node, nodes=1)
    obj["spec"]["resources"] = {"limits": {"memory": "96Mi"}}
    obj["spec"]["env"] = [{"name": "SGLANG_STANDIN_LOAD_MEMORY", "value": "512Mi"}]
    apply(cluster, namespace, obj)
    message = wait_until(
        lambda: diagnosed(kube, namespace, "oom", "OOMKilled"),
        timeout=READY_TIMEOUT,
        what="an OOMKilled diagnosis",
    )
    # The operator read it from the pod status the kubelet wrote after the kernel's OOM kill.
    assert "OOMKilled" in message


def test_bad_arguments_are_diagnosed_crash_loop(
    cluster: Cluster, kube: Any, namespace: str, node: RealNode, wait_until: Wait
) -> None:
    obj = manifest("badargs", node, nodes=1)
    obj["spec"]["server"] = {"extraArgs": ["--no-such-flag"]}
    apply(cluster, namespace, obj)
    wait_until(
        lambda: diagnosed(kube, namespace, "badargs", "CrashLoopBackOff"),
        timeout=READY_TIMEOUT,
        what="a CrashLoopBackOff diagnosis",
    )

    # The kubelet kept the crashed container's log: SGLang's own parser message.
    def previous_log() -> str | None:
        for pod in live_pods(kube, namespace, "badargs"):
            done = cluster.kubectl(
                "logs", "-n", namespace, pod.metadata.name, "--previous", check=False
            )
            if done.returncode == 0:
                return done.stdout
        return None

    log = wait_until(previous_log, timeout=60, what="the crashed container's log")
    assert "unrecognized arguments: --no-such-flag" in log


def test_slow_start_is_diagnosed_startup_timeout(
    cluster: Cluster, kube: Any, namespace: str, node: RealNode, wait_until: Wait
) -> None:
    obj = manifest("slow", node, nodes=1)
    obj["spec"]["probes"] = {"startupTimeoutSeconds": 60}
    obj["spec"]["env"] = [{"name": "SGLANG_STANDIN_LOAD_SECONDS", "value": "3600"}]
    apply(cluster, namespace, obj)
    wait_until(
        lambda: diagnosed(kube, namespace, "slow", "StartupTimeout"),
        timeout=READY_TIMEOUT,
        what="a StartupTimeout diagnosis",
    )
    assert get_sgld(kube, namespace, "slow").get("status", {}).get("phase") != "Ready"


def test_benchmark_runs_real_sglang_serving_and_lands_in_status(
    cluster: Cluster, kube: Any, namespace: str, node: RealNode, wait_until: Wait
) -> None:
    with SGLangVolume(cluster, node, namespace) as volume:
        obj = manifest("bench", node, nodes=2)
        obj["spec"]["model"] = {
            "path": f"{volume.cache_spec()['mountPath']}/tokenizer",
            "servedModelName": "tiny",
            "cache": volume.cache_spec(),
        }
        obj["spec"]["benchmark"] = {
            "enabled": True,
            "numPrompts": 12,
            "randomInputLen": 16,
            "randomOutputLen": 8,
            "extraArgs": ["--disable-tqdm"],
        }
        apply(cluster, namespace, obj)
        wait_ready(cluster, namespace, "bench", timeout=READY_TIMEOUT)
        done = wait_until(
            lambda: (
                condition(get_sgld(kube, namespace, "bench"), "Benchmark").get("reason")
                in ("BenchmarkSucceeded", "BenchmarkFailed")
                and get_sgld(kube, namespace, "bench")
            ),
            timeout=600,
            what="the benchmark to finish",
        )
        job_pods = (
            client.CoreV1Api(kube)
            .list_namespaced_pod(
                namespace,
                label_selector=f"batch.kubernetes.io/job-name={benchmark_job_name('bench')}",
            )
            .items
        )
        log = cluster.kubectl(
            "logs",
            "-n",
            namespace,
            job_pods[0].metadata.name,
            "-c",
            BENCHMARK_CONTAINER,
            check=False,
        ).stdout
        assert condition(done, "Benchmark")["reason"] == "BenchmarkSucceeded", log
        bench = done["status"]["benchmark"]
        assert bench["completed"] == 12
        assert bench["failed"] == 0
        assert bench["requestThroughput"] > 0
        assert bench["outputThroughput"] > 0
        results = client.CoreV1Api(kube).read_namespaced_config_map(
            benchmark_results_configmap_name("bench"), namespace
        )
        result = json.loads(results.data["result.json"])
        # SGLang's own benchmark wrote it: its keys, and the server it measured.
        assert result["completed"] == 12
        # Output lengths are drawn from [0, randomOutputLen] (randomRangeRatio 0); the
        # stand-in generates exactly what each request asks for.
        assert 0 < result["total_output_tokens"] <= 12 * 8
        assert result["server_info"]["stand_in"]
        assert results.data["perf.csv"].splitlines()[1].split(",")[0] == "tiny"
        # The real module ran (the log is SGLang's), not a stand-in of it.
        assert "Serving Benchmark Result" in log


def test_offline_run_completes(
    cluster: Cluster, kube: Any, namespace: str, node: RealNode, wait_until: Wait
) -> None:
    with SGLangVolume(cluster, node, namespace) as volume:
        obj = manifest("batch", node, nodes=2)
        obj["spec"]["model"] = {
            "path": f"{volume.cache_spec()['mountPath']}/tokenizer",
            "cache": volume.cache_spec(),
        }
        obj["spec"]["mode"] = "offline"
        obj["spec"]["offline"] = {
            "datasetName": "sharegpt",
            "datasetPath": f"{volume.cache_spec()['mountPath']}/sharegpt.json",
            "numPrompts": 16,
        }
        apply(cluster, namespace, obj)
        sgld = wait_until(
            lambda: (
                (s := get_sgld(kube, namespace, "batch")).get("status", {}).get("phase")
                in ("Succeeded", "Failed")
                and s
            ),
            timeout=READY_TIMEOUT,
            what="the offline run to finish",
        )
        assert sgld["status"]["phase"] == "Succeeded", sgld["status"]
        assert condition(sgld, "Ready")["reason"] == "Completed"
        wait_until(
            lambda: get_sgld(kube, namespace, "batch").get("status", {}).get("benchmark"),
            timeout=60,
            what="the offline result in status",
        )
        result = get_sgld(kube, namespace, "batch")["status"]["benchmark"]
        assert result["requestThroughput"] > 0
        # Every rank ended cleanly: rank 0 with its result, rank 1 on rank 0's shutdown.
        pods = client.CoreV1Api(kube).list_namespaced_pod(namespace).items
        assert sorted(p.status.phase for p in pods) == ["Succeeded", "Succeeded"]


def test_a_group_waiting_for_rank0_dns_stops_at_once_when_deleted(
    cluster: Cluster, kube: Any, namespace: str, node: RealNode, wait_until: Wait
) -> None:
    # A wrong cluster domain: rank 0's name never resolves, so both ranks stay in the
    # launch script's DNS wait, where the shell is the container's PID 1.
    obj = manifest("lost", node, nodes=2)
    obj["spec"]["network"] = {"clusterDomain": "not-this-cluster.example"}
    apply(cluster, namespace, obj)
    wait_until(
        lambda: (
            len(pods := live_pods(kube, namespace, "lost")) == 2
            and all(p.status.phase == "Running" for p in pods)
        ),
        timeout=READY_TIMEOUT,
        what="both ranks running (waiting for DNS)",
    )
    assert not any(
        cs.ready for p in live_pods(kube, namespace, "lost") for cs in p.status.container_statuses
    )
    cluster.kubectl("delete", "-n", namespace, "sgld", "lost", "--wait=false")
    # The pods ask for a 120 s grace period; a shell that heeds SIGTERM is gone long before.
    wait_until(
        lambda: not client.CoreV1Api(kube).list_namespaced_pod(namespace).items,
        timeout=60,
        what="the waiting pods to stop on SIGTERM",
    )
