"""spec.podTemplate: the committed schema is Kubernetes' own (regenerated from the Go module
cache), the merge has strategic-merge meaning, the operator's wiring survives any template,
and what a user adds (sidecars, volumes, capabilities, pod fields) reaches the StatefulSet."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sglang_operator import naming, podtemplate
from sglang_operator.api import (
    OPERATOR_LABELS,
    OPERATOR_PORT_NAMES,
    RESERVED_ENV,
    SGLangDeploymentSpec,
    format_validation_error,
    parse_spec,
)
from sglang_operator.benchmark import offline_job
from sglang_operator.builders import statefulset

ROOT = Path(__file__).resolve().parents[2]
NS = "llm"


def test_committed_schema_is_generated_from_the_kubernetes_openapi() -> None:
    committed = podtemplate.SCHEMA_FILE.read_text()
    assert committed == podtemplate.render(), "run `sglang-operator pod-template-schema`"


def test_kubernetes_version_is_the_one_the_control_plane_runs() -> None:
    cluster = (ROOT / "hack" / "cluster.sh").read_text()
    pinned = re.search(r"^K8S_VERSION=(\S+)$", cluster, re.MULTILINE)
    assert pinned and pinned.group(1) == podtemplate.K8S_VERSION


def test_schema_knows_the_pod_spec_and_container_fields() -> None:
    spec = podtemplate.schema()["properties"]["spec"]["properties"]
    assert {"containers", "initContainers", "volumes", "hostIPC", "runtimeClassName"} <= set(spec)
    assert "ephemeralContainers" not in spec
    container = spec["containers"]["items"]["properties"]
    assert {"securityContext", "volumeMounts", "env", "resources"} <= set(container)
    assert container["securityContext"]["properties"]["capabilities"]["properties"]["add"]
    assert podtemplate.merge_keys()["spec.containers"] == {"strategy": "merge", "key": "name"}
    assert podtemplate.merge_keys()["spec.volumes"]["strategy"] == "merge,retainKeys"


def test_unknown_fields_are_named() -> None:
    template = {
        "spec": {
            "containers": [{"name": "sglang", "volumeMount": []}],
            "hostIpc": True,
            "nodeSelector": {"any/key": "v"},
        }
    }
    assert podtemplate.unknown_fields(template) == [
        "spec.containers[0].volumeMount",
        "spec.hostIpc",
    ]


# ---- the merge itself ----------------------------------------------------------------------


BASE = {
    "metadata": {"labels": {"a": "1"}, "annotations": {}},
    "spec": {
        "containers": [
            {
                "name": "sglang",
                "image": "img",
                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
                "securityContext": {"capabilities": {"add": ["IPC_LOCK"]}},
            }
        ],
        "volumes": [{"name": "cache", "emptyDir": {}}],
        "tolerations": [{"key": "gpu", "operator": "Exists"}],
        "nodeSelector": {"pool": "gpu"},
    },
}


def test_merge_by_key_appends_new_items_and_merges_same_ones() -> None:
    patch = {
        "metadata": {"labels": {"b": "2"}},
        "spec": {
            "containers": [
                {
                    "name": "sglang",
                    "env": [{"name": "B", "value": "3"}, {"name": "C", "value": "4"}],
                    "volumeMounts": [{"name": "kernels", "mountPath": "/opt/kernels"}],
                    "securityContext": {"capabilities": {"add": ["SYS_PTRACE"]}},
                },
                {"name": "cache-agent", "image": "agent"},
            ],
            "volumes": [{"name": "cache", "hostPath": {"path": "/data"}}],
            "tolerations": [{"key": "rdma", "operator": "Exists"}],
            "nodeSelector": {"zone": "a"},
            "hostIPC": True,
        },
    }
    merged = podtemplate.merge(BASE, patch)
    assert merged["metadata"]["labels"] == {"a": "1", "b": "2"}
    sglang, agent = merged["spec"]["containers"]
    assert agent == {"name": "cache-agent", "image": "agent"}
    assert sglang["image"] == "img"
    assert sglang["env"] == [
        {"name": "A", "value": "1"},
        {"name": "B", "value": "3"},
        {"name": "C", "value": "4"},
    ]
    assert [m["mountPath"] for m in sglang["volumeMounts"]] == ["/dev/shm", "/opt/kernels"]
    # Atomic lists gain the template's items instead of losing the operator's.
    assert sglang["securityContext"]["capabilities"]["add"] == ["IPC_LOCK", "SYS_PTRACE"]
    assert merged["spec"]["tolerations"] == [
        {"key": "gpu", "operator": "Exists"},
        {"key": "rdma", "operator": "Exists"},
    ]
    # retainKeys: the volume's source is replaced, not mixed with the old one.
    assert merged["spec"]["volumes"] == [{"name": "cache", "hostPath": {"path": "/data"}}]
    assert merged["spec"]["nodeSelector"] == {"pool": "gpu", "zone": "a"}
    assert merged["spec"]["hostIPC"] is True
    assert BASE["spec"]["containers"][0]["env"][1] == {"name": "B", "value": "2"}, "base intact"


def test_duplicate_atomic_items_are_not_repeated() -> None:
    merged = podtemplate.merge(BASE, {"spec": {"tolerations": BASE["spec"]["tolerations"]}})
    assert merged["spec"]["tolerations"] == BASE["spec"]["tolerations"]


# ---- through the API and the builders ---------------------------------------------------------


def spec_with(template: dict[str, Any], **fields: Any) -> SGLangDeploymentSpec:
    return parse_spec({"model": {"path": "org/m"}, "podTemplate": template, **fields})


def refusal(template: dict[str, Any], **fields: Any) -> str:
    with pytest.raises(ValidationError) as error:
        spec_with(template, **fields)
    return format_validation_error(error.value)


def pod_of(spec: SGLangDeploymentSpec) -> dict[str, Any]:
    template: dict[str, Any] = statefulset(spec, "llama", NS, 0)["spec"]["template"]
    return template


def sglang_of(pod: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = next(c for c in pod["spec"]["containers"] if c["name"] == "sglang")
    return container


@pytest.mark.parametrize(
    ("template", "field"),
    [
        ({"metadata": {"labels": {naming.GROUP_LABEL: "9"}}}, "podTemplate.metadata.labels"),
        (
            {"metadata": {"annotations": {naming.POD_SPEC_HASH_ANNOTATION: "x"}}},
            "podTemplate.metadata.annotations",
        ),
        ({"spec": {"hostNetwork": True}}, "podTemplate.spec.hostNetwork"),
        ({"spec": {"restartPolicy": "Never"}}, "restartPolicy"),
        ({"spec": {"subdomain": "x"}}, "subdomain"),
        ({"spec": {"containers": [{"name": "sglang", "command": ["sh"]}]}}, "command and args"),
        (
            {"spec": {"containers": [{"name": "sglang", "args": ["--port", "1"]}]}},
            "command and args",
        ),
        (
            {
                "spec": {
                    "containers": [{"name": "sglang", "env": [{"name": "NODE_RANK", "value": "0"}]}]
                }
            },
            "podTemplate.spec.containers: the sglang container's env",
        ),
        (
            {"spec": {"containers": [{"name": "sglang", "readinessProbe": {"exec": {}}}]}},
            "spec.probes",
        ),
        (
            {
                "spec": {
                    "containers": [
                        {"name": "sglang", "volumeMounts": [{"name": "x", "mountPath": "/dev/shm"}]}
                    ]
                }
            },
            "volumeMounts",
        ),
        ({"spec": {"volumes": [{"name": "dshm", "emptyDir": {}}]}}, "podTemplate.spec.volumes"),
        ({"spec": {"initContainers": [{"name": "sglang"}]}}, "podTemplate.spec.initContainers"),
        (
            {"spec": {"containers": [{"name": "side", "ports": [{"containerPort": 30000}]}]}},
            "ports",
        ),
        (
            {
                "spec": {
                    "containers": [
                        {"name": "side", "ports": [{"name": "dist", "containerPort": 1}]}
                    ]
                }
            },
            "ports",
        ),
        (
            {
                "spec": {
                    "containers": [{"name": "sglang", "resources": {"limits": {"amd.com/gpu": 4}}}]
                }
            },
            "resources.limits",
        ),
        ({"spec": {"containers": [{"name": "sglang", "volumeMount": []}]}}, "unknown field"),
    ],
)
def test_a_template_that_would_break_the_wiring_is_refused_naming_the_field(
    template: dict[str, Any], field: str
) -> None:
    assert field in refusal(template)


def test_a_template_port_on_a_port_sglang_derives_is_refused() -> None:
    message = refusal(
        {"spec": {"containers": [{"name": "side", "ports": [{"containerPort": 8998}]}]}},
        server={"extraArgs": ["--disaggregation-mode", "prefill"]},
    )
    assert "8998 is SGLang's pd-bootstrap port" in message


def test_shm_as_large_as_the_memory_limit_is_refused() -> None:
    message = refusal({}, shmSize="64Gi", resources={"limits": {"memory": "64Gi"}})
    assert message.startswith("spec.shmSize: 64Gi leaves nothing")
    template = {
        "spec": {"containers": [{"name": "sglang", "resources": {"limits": {"memory": "16Gi"}}}]}
    }
    assert "shmSize" in refusal(template)  # the default 32Gi over the template's limit
    assert spec_with({}, shmSize="16Gi", resources={"limits": {"memory": "64Gi"}})


@pytest.mark.parametrize(
    ("policy", "host_network"), [("Default", False), ("Default", True), ("ClusterFirst", True)]
)
def test_a_dns_policy_that_cannot_find_rank_0_is_refused_naming_the_field(
    policy: str, host_network: bool
) -> None:
    message = refusal(
        {"spec": {"dnsPolicy": policy}},
        parallelism={"nodes": 2},
        network={"hostNetwork": host_network},
    )
    assert "podTemplate.spec.dnsPolicy: with parallelism.nodes > 1" in message


@pytest.mark.parametrize(
    ("template", "nodes", "host_network", "expected"),
    [
        # Under hostNetwork the operator picks the policy that resolves Service names...
        ({}, 2, True, "ClusterFirstWithHostNet"),
        # ...but a user's explicit choice stands as written, never silently replaced.
        (
            {"dnsPolicy": "None", "dnsConfig": {"nameservers": ["10.96.0.10"]}},
            2,
            True,
            "None",
        ),
        ({"dnsPolicy": "ClusterFirst"}, 2, False, "ClusterFirst"),
        # One node has no rank 0 to look up: any policy works.
        ({"dnsPolicy": "Default"}, 1, True, "Default"),
        ({"dnsPolicy": "ClusterFirst"}, 1, True, "ClusterFirst"),
        ({}, 2, False, None),
    ],
)
def test_the_users_dns_policy_is_kept_as_written(
    template: dict[str, Any], nodes: int, host_network: bool, expected: str | None
) -> None:
    spec = spec_with(
        {"spec": template}, parallelism={"nodes": nodes}, network={"hostNetwork": host_network}
    )
    pod = pod_of(spec)["spec"]
    assert pod.get("dnsPolicy") == expected
    assert pod.get("dnsConfig") == template.get("dnsConfig")


def test_template_wins_over_conveniences_and_the_operator_over_both() -> None:
    spec = spec_with(
        {
            "metadata": {"labels": {"team": "b", "fabric": "roce"}},
            "spec": {
                "nodeSelector": {"pool": "mi300x"},
                "containers": [{"name": "sglang", "image": "mine:1"}],
            },
        },
        podLabels={"team": "a"},
        nodeSelector={"pool": "default", "zone": "z"},
        image="theirs:1",
    )
    pod = pod_of(spec)
    assert pod["metadata"]["labels"]["team"] == "b"
    assert pod["metadata"]["labels"]["fabric"] == "roce"
    assert pod["spec"]["nodeSelector"] == {"pool": "mi300x", "zone": "z"}
    assert sglang_of(pod)["image"] == "mine:1"


def test_the_offline_job_gets_the_template_and_keeps_its_restart_policy() -> None:
    spec = spec_with(
        {"spec": {"hostIPC": True, "containers": [{"name": "sidecar", "image": "s"}]}},
        mode="offline",
    )
    pod = offline_job(spec, "llama", NS, 0, 1)["spec"]["template"]
    assert pod["spec"]["hostIPC"] is True
    assert pod["spec"]["restartPolicy"] == "Never"
    assert [c["name"] for c in pod["spec"]["containers"]] == ["sglang", "sidecar"]


# ---- properties -----------------------------------------------------------------------------

_names = st.from_regex(r"[a-z]([a-z0-9-]{0,9}[a-z0-9])?", fullmatch=True)
_values = st.text("abcxyz019/-_.:$()", max_size=12)


@st.composite
def hostile_templates(draw: st.DrawFn) -> dict[str, Any]:
    """Templates that try to change everything the operator owns (and more)."""
    sglang: dict[str, Any] = {"name": "sglang"}
    if draw(st.booleans()):
        sglang["command"] = draw(st.lists(_values, max_size=3))
    if draw(st.booleans()):
        sglang["args"] = draw(st.lists(_values, max_size=3))
    sglang["env"] = [
        {"name": n, "value": draw(_values)}
        for n in draw(
            st.lists(st.sampled_from([*RESERVED_ENV, "HF_HOME", "X"]), max_size=4, unique=True)
        )
    ]
    sglang["ports"] = [
        {"name": n, "containerPort": draw(st.sampled_from([30000, 5000, 8998, 9000]))}
        for n in draw(
            st.lists(st.sampled_from([*OPERATOR_PORT_NAMES, "metrics"]), max_size=3, unique=True)
        )
    ]
    sglang["volumeMounts"] = [
        {"name": draw(st.sampled_from(["dshm", "weights", "x"])), "mountPath": p}
        for p in draw(
            st.lists(
                st.sampled_from(["/dev/shm", "/root/.cache/huggingface", "/x"]),
                max_size=2,
                unique=True,
            )
        )
    ]
    if draw(st.booleans()):
        sglang["readinessProbe"] = {"exec": {"command": ["true"]}}
    sglang["resources"] = {"limits": {"amd.com/gpu": draw(st.integers(0, 16))}}
    pod: dict[str, Any] = {
        "containers": [sglang],
        "volumes": [
            {"name": n, "hostPath": {"path": "/h"}}
            for n in draw(
                st.lists(st.sampled_from(["dshm", "weights", "y"]), max_size=3, unique=True)
            )
        ],
    }
    for field, value in (
        ("hostNetwork", draw(st.booleans())),
        ("restartPolicy", "Never"),
        ("subdomain", "evil"),
        ("hostname", "evil"),
    ):
        if draw(st.booleans()):
            pod[field] = value
    labels = {
        k: draw(_names)
        for k in draw(st.lists(st.sampled_from([*OPERATOR_LABELS, "x"]), max_size=4, unique=True))
    }
    return {"metadata": {"labels": labels}, "spec": pod}


@st.composite
def base_specs(draw: st.DrawFn) -> SGLangDeploymentSpec:
    raw: dict[str, Any] = {
        "model": {"path": "org/m"},
        "parallelism": {"nodes": draw(st.sampled_from([1, 2]))},
        "network": {"hostNetwork": draw(st.booleans())},
    }
    if draw(st.booleans()):
        raw["model"]["cache"] = {"size": "1Ti"}
    if draw(st.booleans()):
        raw["network"]["rdmaResourceName"] = "rdma/hca"
    return parse_spec(raw)


def wiring(pod: dict[str, Any], spec: SGLangDeploymentSpec) -> dict[str, Any]:
    container = sglang_of(pod)
    own_paths = {m["mountPath"] for m in sglang_of(pod_of(spec))["volumeMounts"]}
    return {
        "labels": {k: pod["metadata"]["labels"].get(k) for k in OPERATOR_LABELS},
        "pod": {
            k: pod["spec"].get(k) for k in ("restartPolicy", "hostNetwork", "subdomain", "hostname")
        },
        "volumes": [v for v in pod["spec"]["volumes"] if v["name"] in ("dshm", "weights")],
        "command": container["command"],
        "args": container["args"],
        "probes": [container.get(p) for p in ("startupProbe", "readinessProbe", "livenessProbe")],
        "env": [e for e in container["env"] if e["name"] in RESERVED_ENV],
        "ports": container["ports"][: len(sglang_of(pod_of(spec))["ports"])],
        "mounts": [m for m in container["volumeMounts"] if m["mountPath"] in own_paths],
        "gpus": container["resources"]["limits"][spec.gpu.effective_resource_name],
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base_specs(), hostile_templates())
def test_operator_wiring_survives_any_template(
    spec: SGLangDeploymentSpec, template: dict[str, Any]
) -> None:
    expected = wiring(pod_of(spec), spec)
    hostile = spec.model_copy()
    hostile.pod_template = template  # past validation: the builders alone must hold
    pod = pod_of(hostile)
    assert wiring(pod, spec) == expected
    names = [p["name"] for p in sglang_of(pod)["ports"]]
    numbers = [p["containerPort"] for p in sglang_of(pod)["ports"]]
    assert len(set(names)) == len(names) and len(set(numbers)) == len(numbers)
    mount_paths = [m["mountPath"] for m in sglang_of(pod)["volumeMounts"]]
    assert len(set(mount_paths)) == len(mount_paths)


@st.composite
def user_additions(draw: st.DrawFn) -> dict[str, Any]:
    """Valid templates: sidecars, volumes and mounts, capabilities, pod-level fields."""
    sidecars = [
        {
            "name": f"side-{n}",
            "image": "busybox",
            "volumeMounts": [{"name": f"vol-{n}", "mountPath": f"/side/{n}"}],
        }
        for n in draw(st.lists(_names, max_size=3, unique=True))
    ]
    volumes = [{"name": f"vol-{c['name'][5:]}", "emptyDir": {}} for c in sidecars]
    extra = draw(st.lists(_names, max_size=3, unique=True))
    volumes += [{"name": f"user-{n}", "hostPath": {"path": f"/data/{n}"}} for n in extra]
    sglang = {
        "name": "sglang",
        "volumeMounts": [
            {"name": f"user-{n}", "mountPath": f"/mnt/{n}", "readOnly": True} for n in extra
        ],
        "securityContext": {
            "capabilities": {
                "add": draw(
                    st.lists(
                        st.sampled_from(["SYS_PTRACE", "IPC_LOCK", "SYS_ADMIN"]),
                        min_size=1,
                        unique=True,
                    )
                )
            },
            "seccompProfile": {"type": "Unconfined"},
        },
        "env": [{"name": "NCCL_IB_HCA", "value": draw(_values)}],
    }
    pod: dict[str, Any] = {"containers": [sglang, *sidecars], "volumes": volumes}
    if draw(st.booleans()):
        pod["hostIPC"] = True
    if draw(st.booleans()):
        pod["runtimeClassName"] = draw(_names)
    if draw(st.booleans()):
        pod["serviceAccountName"] = draw(_names)
    if draw(st.booleans()):
        pod["tolerations"] = [{"key": draw(_names), "operator": "Exists"}]
    if draw(st.booleans()):
        pod["dnsPolicy"] = "None"
        pod["dnsConfig"] = {"nameservers": ["10.96.0.10"], "searches": [draw(_names)]}
    return {"metadata": {"annotations": {"k8s.v1.cni.cncf.io/networks": draw(_names)}}, "spec": pod}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base_specs(), user_additions())
def test_what_a_user_adds_reaches_the_statefulset(
    base: SGLangDeploymentSpec, template: dict[str, Any]
) -> None:
    raw = base.wire()
    raw["podTemplate"] = template
    spec = parse_spec(raw)
    pod = pod_of(spec)
    containers = {c["name"]: c for c in pod["spec"]["containers"]}
    for wanted in template["spec"]["containers"][1:]:
        assert containers[wanted["name"]] == wanted
    sglang = containers["sglang"]
    for capability in template["spec"]["containers"][0]["securityContext"]["capabilities"]["add"]:
        assert capability in sglang["securityContext"]["capabilities"]["add"]
    assert sglang["securityContext"]["seccompProfile"] == {"type": "Unconfined"}
    for mount in template["spec"]["containers"][0]["volumeMounts"]:
        assert mount in sglang["volumeMounts"]
    for volume in template["spec"]["volumes"]:
        assert volume in pod["spec"]["volumes"]
    assert {
        "name": "NCCL_IB_HCA",
        "value": template["spec"]["containers"][0]["env"][0]["value"],
    } in sglang["env"]
    for field in ("hostIPC", "runtimeClassName", "serviceAccountName", "dnsPolicy", "dnsConfig"):
        if field in template["spec"]:
            assert pod["spec"][field] == template["spec"][field]
    for toleration in template["spec"].get("tolerations", []):
        assert toleration in pod["spec"]["tolerations"]
    assert pod["metadata"]["annotations"]["k8s.v1.cni.cncf.io/networks"]
    assert copy.deepcopy(template) == template
