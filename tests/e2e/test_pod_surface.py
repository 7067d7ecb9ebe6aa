"""The pod surface on the real control plane: each fabric/storage/network example applied as
written (its RDMA resources, node labels, claim and Secret provided) becomes Ready with the
operator, its pod template reaching the pods; a template with a typo or an override of the
operator's wiring is refused at `kubectl apply`, naming the field."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import Cluster
from kubernetes import client
from story import apply, get_sgld, live_pods, manifest, wait_ready

from sglang_operator.cli import UsageError, render_documents
from sglang_operator.crd import spec_problems

pytestmark = pytest.mark.usefixtures("operator_log_on_failure")

REPO = Path(__file__).resolve().parents[2]
POD_SURFACE_EXAMPLES = [
    "mi300x-roce-rdma-plugin",
    "mi300x-roce-privileged",
    "nvidia-infiniband",
    "hostpath-weights",
    "ipv6",
]
Wait = Callable[..., Any]


def _prerequisites(kube: Any, namespace: str, spec: dict[str, Any]) -> Callable[[], None]:
    """What the example's header asks for: its weights claim (bound to a static volume, as
    this cluster has no provisioner) and its token Secret. Returns the clean-up."""
    core = client.CoreV1Api(kube)
    volume = f"pv-{uuid.uuid4().hex[:10]}"
    claim = (spec["model"].get("cache") or {}).get("claimName")
    if claim:
        core.create_persistent_volume(
            {
                "metadata": {"name": volume},
                "spec": {
                    "capacity": {"storage": "1Ti"},
                    "accessModes": ["ReadWriteMany"],
                    "storageClassName": "",
                    "hostPath": {"path": "/data/model-cache"},
                    "claimRef": {"namespace": namespace, "name": claim},
                },
            }
        )
        core.create_namespaced_persistent_volume_claim(
            namespace,
            {
                "metadata": {"name": claim},
                "spec": {
                    "accessModes": ["ReadWriteMany"],
                    "storageClassName": "",
                    "volumeName": volume,
                    "resources": {"requests": {"storage": "1Ti"}},
                },
            },
        )
    token = spec["model"].get("hfTokenSecret")
    if token:
        core.create_namespaced_secret(
            namespace,
            {"metadata": {"name": token["name"]}, "stringData": {token["key"]: "hf_test"}},
        )

    def clean_up() -> None:
        if claim:
            core.delete_persistent_volume(volume)

    return clean_up


@pytest.mark.parametrize("example", POD_SURFACE_EXAMPLES)
def test_example_becomes_ready_with_its_pod_template(
    cluster: Cluster, kube: Any, namespace: str, example: str
) -> None:
    doc = yaml.safe_load((REPO / "examples" / f"{example}.yaml").read_text())
    doc["metadata"].pop("namespace", None)
    name, spec = doc["metadata"]["name"], doc["spec"]
    clean_up = _prerequisites(kube, namespace, spec)
    try:
        apply(cluster, namespace, doc)
        wait_ready(cluster, namespace, name, timeout=180)
        pods = live_pods(kube, namespace, name)
        assert len(pods) == spec.get("parallelism", {}).get("nodes", 1)
        template_pod = spec.get("podTemplate", {}).get("spec", {})
        for pod in pods:
            sglang = next(c for c in pod.spec.containers if c.name == "sglang")
            if template_pod.get("hostIPC"):
                assert pod.spec.host_ipc is True
            assert pod.spec.host_network == spec.get("network", {}).get("hostNetwork", None)
            wanted = template_pod.get("containers", [{}])[0]
            security = wanted.get("securityContext", {})
            for capability in security.get("capabilities", {}).get("add", []):
                assert capability in sglang.security_context.capabilities.add
            if security.get("privileged"):
                assert sglang.security_context.privileged is True
            for volume in template_pod.get("volumes", []):
                assert volume["name"] in {v.name for v in pod.spec.volumes}
            for mount in wanted.get("volumeMounts", []):
                assert mount["mountPath"] in {m.mount_path for m in sglang.volume_mounts}
            rdma = spec.get("network", {}).get("rdmaResourceName")
            if rdma:
                assert sglang.resources.limits[rdma] == "1"
                assert "IPC_LOCK" in sglang.security_context.capabilities.add
            if spec.get("network", {}).get("ipFamily") == "IPv6":
                assert sglang.args[sglang.args.index("--host") + 1] == "::"
        status = get_sgld(kube, namespace, name)["status"]
        assert status["phase"] == "Ready"
    finally:
        clean_up()


def _apply_refused(cluster: Cluster, namespace: str, obj: dict[str, Any]) -> str:
    result = cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", input=yaml.safe_dump(obj), check=False
    )
    assert result.returncode != 0, result.stdout
    return str(result.stderr)


# Each: spec fields that `kubectl apply` must refuse, and what its message must say.
BAD_TEMPLATES: list[tuple[dict[str, Any], str]] = [
    (
        {"spec": {"containers": [{"name": "sglang", "volumeMount": []}]}},
        'unknown field "spec.podTemplate.spec.containers[0].volumeMount"',
    ),
    ({"spec": {"hostIpc": True}}, 'unknown field "spec.podTemplate.spec.hostIpc"'),
    (
        {"spec": {"containers": [{"name": "sglang", "args": ["--port", "1"]}]}},
        "spec.podTemplate.spec.containers: Invalid value: the sglang container's command and args",
    ),
    (
        {
            "spec": {
                "containers": [{"name": "sglang", "env": [{"name": "NODE_RANK", "value": "0"}]}]
            }
        },
        "spec.podTemplate.spec.containers: Invalid value: the sglang container's env: NNODES",
    ),
    (
        {"metadata": {"labels": {"app.kubernetes.io/instance": "other"}}},
        "spec.podTemplate.metadata.labels: Invalid value: app.kubernetes.io/name",
    ),
    (
        {"spec": {"hostNetwork": True}},
        "spec.podTemplate.spec.hostNetwork: Invalid value: set spec.network.hostNetwork",
    ),
    (
        {"spec": {"containers": [{"name": "metrics", "ports": [{"containerPort": 30000}]}]}},
        "spec.podTemplate.spec.containers: Invalid value: ports: server.port",
    ),
    (
        {"spec": {"volumes": [{"name": "dshm", "emptyDir": {}}]}},
        "spec.podTemplate.spec.volumes: Invalid value: dshm and weights are the operator's",
    ),
    ({"spec": {"restartPolicy": "Never"}}, "spec.podTemplate.spec: Invalid value: restartPolicy"),
    ({"spec": {"containers": [{"image": "x"}]}}, "spec.podTemplate.spec.containers[0].name"),
]
BAD_NETWORKS: list[tuple[dict[str, Any], str]] = [
    ({"glooSocketIfname": "^lo"}, "spec.network.glooSocketIfname"),
    ({"glooSocketIfname": "eth0,eth1"}, "spec.network.glooSocketIfname"),
    ({"ncclSocketIfname": "eth0;rm"}, "spec.network.ncclSocketIfname"),
    ({"ipFamily": "IPv5"}, "spec.network.ipFamily"),
]
BAD_SPECS = [
    *(({"podTemplate": template}, message) for template, message in BAD_TEMPLATES),
    *(({"network": network}, message) for network, message in BAD_NETWORKS),
    # Under hostNetwork Kubernetes resolves ClusterFirst with the node's resolver, where rank
    # 0's Service name does not exist: refused, rather than silently replaced.
    (
        {
            "parallelism": {"nodes": 2},
            "network": {"hostNetwork": True},
            "podTemplate": {"spec": {"dnsPolicy": "ClusterFirst"}},
        },
        "spec.podTemplate.spec.dnsPolicy: Invalid value: with parallelism.nodes > 1",
    ),
]


@pytest.mark.parametrize(("fields", "message"), BAD_SPECS)
def test_a_bad_spec_is_refused_at_apply_naming_the_field(
    cluster: Cluster, namespace: str, fields: dict[str, Any], message: str
) -> None:
    obj = manifest("bad-spec", nodes=1, per_node=1)
    obj["spec"].update(fields)
    assert message in _apply_refused(cluster, namespace, obj)


@pytest.mark.parametrize(
    "template",
    [
        {
            "spec": {
                "containers": [{"name": "side", "image": "x", "ports": [{"containerPort": "h"}]}]
            }
        },
        {"spec": {"hostIPC": "yes"}},
        {"spec": {"volumes": [{"name": "v", "emptyDir": {"sizeLimit": "lots"}}]}},
        {"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]}},
        {"spec": {"tolerations": [{"key": "k", "tolerationSeconds": "long"}]}},
    ],
)
def test_render_refuses_what_apply_refuses_naming_the_same_field(
    cluster: Cluster, namespace: str, template: dict[str, Any]
) -> None:
    """`sglang-operator render` checks the pod template's Kubernetes types as the API server
    does: the field it names is the one `kubectl apply` names."""
    obj = manifest("bad-types", nodes=1, per_node=1)
    obj["spec"]["podTemplate"] = template
    problems = spec_problems(obj["spec"])
    assert len(problems) == 1, problems
    field = problems[0].split(": ", 1)[0]
    assert field in _apply_refused(cluster, namespace, obj)


@pytest.mark.parametrize("name", ["Tiny", "tiny_model"])
def test_render_refuses_the_names_apply_refuses(
    cluster: Cluster, namespace: str, name: str
) -> None:
    obj = manifest(name, nodes=1, per_node=1)
    assert "metadata.name" in _apply_refused(cluster, namespace, obj)
    with pytest.raises(UsageError, match=r"metadata\.name: "):
        render_documents([obj], namespace)


def test_render_accepts_the_empty_fields_apply_accepts(cluster: Cluster, namespace: str) -> None:
    """YAML keys left empty are nulls, which the API server prunes: render takes them too."""
    obj = manifest("empty-fields", nodes=1, per_node=1)
    obj["spec"]["env"] = None
    obj["spec"]["model"]["revision"] = None
    obj["spec"]["podTemplate"] = {"spec": {"containers": [{"name": "sglang", "env": None}]}}
    apply(cluster, namespace, obj)
    assert render_documents([obj], namespace)


def test_host_network_pods_reserve_sglangs_ports_and_carry_the_template(
    cluster: Cluster, kube: Any, namespace: str
) -> None:
    """Under hostNetwork the declared ports become host ports (what the scheduler reserves);
    the template's annotation, sidecar and volume reach every pod."""
    obj = manifest("tcp-fallback", nodes=2, per_node=1)
    obj["spec"]["network"] = {"hostNetwork": True, "distInitPort": 5123}
    obj["spec"]["server"] = {"port": 30123}
    obj["spec"]["podTemplate"] = {
        "metadata": {"annotations": {"k8s.v1.cni.cncf.io/networks": "roce-net"}},
        "spec": {
            "containers": [
                {
                    "name": "cache-agent",
                    "image": "busybox",
                    "volumeMounts": [{"name": "scratch", "mountPath": "/scratch"}],
                }
            ],
            "volumes": [{"name": "scratch", "emptyDir": {}}],
        },
    }
    apply(cluster, namespace, obj)
    wait_ready(cluster, namespace, "tcp-fallback")
    for pod in live_pods(kube, namespace, "tcp-fallback"):
        assert [c.name for c in pod.spec.containers] == ["sglang", "cache-agent"]
        assert pod.spec.dns_policy == "ClusterFirstWithHostNet"
        assert pod.metadata.annotations["k8s.v1.cni.cncf.io/networks"] == "roce-net"
        sglang = pod.spec.containers[0]
        assert {(p.name, p.container_port, p.host_port) for p in sglang.ports} == {
            ("http", 30123, 30123),
            ("dist", 5123, 5123),
        }


def test_kubectl_explain_teaches_the_template(
    cluster: Cluster, crd: None, wait_until: Wait
) -> None:
    def explain(field: str) -> str:
        result = cluster.kubectl("explain", f"sgld.{field}", check=False)
        return str(result.stdout) if result.returncode == 0 else ""

    # The API server publishes a new CRD schema some seconds after it is Established.
    out = wait_until(
        lambda: explain("spec.podTemplate.spec.containers"), timeout=60, what="kubectl explain"
    )
    assert "securityContext" in out and "volumeMounts" in out
    assert "ipc namespace" in explain("spec.podTemplate.spec.hostIPC").lower()
