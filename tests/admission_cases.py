"""Specs the API server would refuse once the operator writes them, one or more per kind of
field, each with what the refusal must say. The unit tier checks that pydantic (the operator's
`parse_spec`) refuses each; the e2e tier that the real API server refuses each at apply
time, so a typo never reaches a running deployment. GOOD holds near misses that must pass
both, and whose rendered children the API server must then accept (a server-side dry run).

A case is (fields merged into a minimal spec, text the API server's answer contains, text
pydantic's message contains).
"""

from __future__ import annotations

from typing import Any

Case = tuple[dict[str, Any], str, str]

_OWNED = "are set by the operator"
_LONG_PREFIX = "a" * 254 + "/team"


def _tol(**fields: Any) -> dict[str, Any]:
    return {"tolerations": [fields]}


def _env_from(source: dict[str, Any]) -> dict[str, Any]:
    return {"env": [{"name": "X", "valueFrom": source}]}


def _node_affinity(requirement: dict[str, Any]) -> dict[str, Any]:
    term = {"matchExpressions": [requirement]}
    return {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
            }
        }
    }


def _anti_affinity(term: dict[str, Any]) -> dict[str, Any]:
    return {
        "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    }


def _template_meta(**meta: Any) -> dict[str, Any]:
    return {"podTemplate": {"metadata": meta}}


def _template(**pod: Any) -> dict[str, Any]:
    return {"podTemplate": {"spec": pod}}


def _side_port(**port: Any) -> dict[str, Any]:
    return _template(containers=[{"name": "side", "image": "x", "ports": [port]}])


def _at(path: str) -> tuple[str, str]:
    """(what the API server says, what pydantic says) for a field of the template's spec."""
    return f"spec.podTemplate.spec.{path}", f"podTemplate.spec.{path}"


def _cache(**fields: Any) -> dict[str, Any]:
    return {"model": {"path": "org/model", "cache": {"size": "100Gi", **fields}}}


BAD: list[Case] = [
    ({"imagePullSecrets": ["regcred", "regcred"]}, "spec.imagePullSecrets[1]", "each Secret once"),
    # labels and annotations
    ({"podLabels": {"team": "ml platform"}}, "spec.podLabels.team", "spec.podLabels.team"),
    ({"podLabels": {"team": "ml\U0001f600"}}, "spec.podLabels.team", "spec.podLabels.team"),
    ({"podLabels": {"team": "x" * 64}}, "spec.podLabels.team", "spec.podLabels.team"),
    ({"podLabels": {"team": "-x"}}, "spec.podLabels.team", "spec.podLabels.team"),
    ({"podLabels": {"bad key": "x"}}, "every key must be a label key", "spec.podLabels"),
    ({"podLabels": {"Example.com/team": "x"}}, "every key must be a label key", "spec.podLabels"),
    ({"podLabels": {_LONG_PREFIX: "x"}}, "every key must be a label key", "prefix of at most 253"),
    ({"podLabels": {"a/" + "b" * 64: "x"}}, "every key must be a label key", "spec.podLabels"),
    ({"podAnnotations": {"a b": "x"}}, "every key must be a qualified name", "spec.podAnnotations"),
    ({"podAnnotations": {"a": "x" * 4000}}, "spec.podAnnotations.a", "spec.podAnnotations.a"),
    ({"nodeSelector": {"pool": "gpu pool"}}, "spec.nodeSelector.pool", "spec.nodeSelector.pool"),
    (
        _template_meta(labels={"team": "ml platform"}),
        "spec.podTemplate.metadata.labels.team",
        "podTemplate.metadata.labels.team",
    ),
    (
        _template_meta(labels={"team": "x" * 64}),
        "spec.podTemplate.metadata.labels.team",
        "podTemplate.metadata.labels.team",
    ),
    (
        _template_meta(labels={"bad key": "x"}),
        "podTemplate.metadata.labels: every key must be a label key",
        "podTemplate.metadata.labels.bad key",
    ),
    (
        _template_meta(labels={"Example.com/team": "x"}),
        "podTemplate.metadata.labels: every key must be a label key",
        "podTemplate.metadata.labels.Example.com/team",
    ),
    (
        _template_meta(annotations={"a b": "x"}),
        "podTemplate.metadata.annotations: every key must be a qualified name",
        "podTemplate.metadata.annotations.a b",
    ),
    (
        _template_meta(annotations={_LONG_PREFIX: "x"}),
        "podTemplate.metadata.annotations: every key must be a qualified name",
        "prefix of at most 253",
    ),
    ({"nodeSelector": {"pool/": "x"}}, "every key must be a label key", "spec.nodeSelector"),
    # quantities
    ({"resources": {"requests": {"cpu": "-1"}}}, "spec.resources.requests.cpu", "quantity"),
    ({"resources": {"requests": {"cpu": -1}}}, "spec.resources.requests.cpu", "quantity"),
    ({"resources": {"limits": {"memory": "1 GB"}}}, "spec.resources.limits.memory", "quantity"),
    ({"resources": {"limits": {"memory": "1" * 33}}}, "spec.resources.limits.memory", "quantity"),
    ({"resources": {"limits": {"memory": "1Gb"}}}, "spec.resources.limits.memory", "quantity"),
    ({"resources": {"limits": {"memory": "1K"}}}, "spec.resources.limits.memory", "quantity"),
    (
        {"resources": {"requests": {"gpus": 1}}},
        "resources: a key is cpu",
        "spec.resources.requests",
    ),
    (
        {"resources": {"requests": {"kubernetes.io/gpus": 1}}},
        "resources: a key is cpu",
        "kubernetes.io domains",
    ),
    ({"shmSize": "0"}, "spec.shmSize", "quantity"),
    ({"shmSize": 0}, "spec.shmSize", "quantity"),
    ({"shmSize": "-1Gi"}, "spec.shmSize", "quantity"),
    (_cache(size="0Gi"), "spec.model.cache.size", "quantity"),
    # tolerations
    (
        _tol(operator="Exists", value="x"),
        "value must be empty when operator is Exists",
        "value must be empty",
    ),
    (
        _tol(operator="Equal", value="x"),
        "operator must be Exists when key is empty",
        "operator must be Exists",
    ),
    (_tol(key="k", tolerationSeconds=5), "effect must be NoExecute", "effect must be NoExecute"),
    (_tol(key="k", value="a b"), "spec.tolerations[0].value", "spec.tolerations[0].value"),
    (_tol(key="a b", operator="Exists"), "spec.tolerations[0].key", "spec.tolerations[0].key"),
    (_tol(key="k", operator="Lt"), "spec.tolerations[0].operator", "spec.tolerations[0].operator"),
    (
        _tol(key="k", effect="NoExecutee"),
        "spec.tolerations[0].effect",
        "spec.tolerations[0].effect",
    ),
    # env valueFrom
    (_env_from({}), "set exactly one of secretKeyRef", "set exactly one of secretKeyRef"),
    (
        _env_from(
            {"fieldRef": {"fieldPath": "metadata.name"}, "secretKeyRef": {"name": "s", "key": "k"}}
        ),
        "set exactly one of secretKeyRef",
        "set exactly one of secretKeyRef",
    ),
    (_env_from({"fieldRef": {"fieldPath": "spec.containers"}}), "fieldPath", "fieldPath"),
    (_env_from({"fieldRef": {"fieldPath": "metadata.labels['a b']"}}), "fieldPath", "fieldPath"),
    (
        _env_from({"secretKeyRef": {"name": "Bad_Name", "key": "k"}}),
        "secretKeyRef.name",
        "secretKeyRef.name",
    ),
    (
        _env_from({"configMapKeyRef": {"name": "c", "key": "a/b"}}),
        "configMapKeyRef.key",
        "configMapKeyRef.key",
    ),
    (
        _env_from({"resourceFieldRef": {"resource": "limits.gpu"}}),
        "resourceFieldRef.resource",
        "resourceFieldRef.resource",
    ),
    (
        _env_from({"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1Mi"}}),
        "divisor: 1m or 1 for cpu",
        "divisor: 1m or 1 for cpu",
    ),
    # affinity
    (
        _node_affinity({"key": "zone", "operator": "In"}),
        "values must be non-empty for In",
        "values must be non-empty",
    ),
    (
        _node_affinity({"key": "zone", "operator": "Exists", "values": ["a"]}),
        "values must be non-empty for In",
        "values must be non-empty",
    ),
    (
        _node_affinity({"key": "gen", "operator": "Gt", "values": ["x"]}),
        "Gt and Lt take exactly one integer",
        "Gt and Lt take",
    ),
    (_node_affinity({"key": "a b", "operator": "Exists"}), "key", "key"),
    (_node_affinity({"key": "zone", "operator": "Near", "values": ["a"]}), "operator", "operator"),
    (
        {
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}
                }
            }
        },
        "nodeSelectorTerms",
        "nodeSelectorTerms",
    ),
    (
        {
            "affinity": {
                "nodeAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": 0, "preference": {}}
                    ]
                }
            }
        },
        "weight",
        "weight",
    ),
    (_anti_affinity({"topologyKey": "kubernetes.io/host name"}), "topologyKey", "topologyKey"),
    (_anti_affinity({"labelSelector": {}}), "topologyKey", "topologyKey"),
    (
        _anti_affinity({"topologyKey": "zone", "labelSelector": {"matchLabels": {"app": "a b"}}}),
        "matchLabels.app",
        "matchLabels.app",
    ),
    (
        _anti_affinity({"topologyKey": "zone", "matchLabelKeys": ["app"]}),
        "need a labelSelector",
        "need a labelSelector",
    ),
    (
        {
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchFields": [
                                    {"key": "metadata.labels", "operator": "In", "values": ["n"]}
                                ]
                            }
                        ]
                    }
                }
            }
        },
        "key",
        "key",
    ),
    # ports
    ({"server": {"port": 5000}}, "must be more than 7 apart", "must be more than 7 apart"),
    (
        {"network": {"distInitPort": 30003}},
        "must be more than 7 apart",
        "must be more than 7 apart",
    ),
    (
        {"server": {"port": 6000}, "network": {"distInitPort": 5993}},
        "must be more than 7 apart",
        "more than 7 apart",
    ),
    # mount paths
    (_cache(mountPath="/dev/shm"), "are mounted by the operator", "are mounted by the operator"),
    (_cache(mountPath="/dev/shm/"), "spec.model.cache.mountPath", "spec.model.cache.mountPath"),
    (_cache(mountPath="/dev//shm"), "spec.model.cache.mountPath", "spec.model.cache.mountPath"),
    (_cache(mountPath="/dev/shm/hf"), "are mounted by the operator", "are mounted by the operator"),
    (_cache(mountPath="/dev"), "are mounted by the operator", "are mounted by the operator"),
    (_cache(mountPath="/results"), "are mounted by the operator", "are mounted by the operator"),
    (
        _cache(mountPath="/opt/sglang-operator"),
        "are mounted by the operator",
        "are mounted by the operator",
    ),
    (_cache(mountPath="/"), "spec.model.cache.mountPath", "spec.model.cache.mountPath"),
    (
        _cache(mountPath="/data/../dev/shm"),
        "spec.model.cache.mountPath",
        "spec.model.cache.mountPath",
    ),
    (_cache(mountPath="relative/hf"), "spec.model.cache.mountPath", "spec.model.cache.mountPath"),
    # operator-owned flags
    ({"server": {"extraArgs": ["--node-rank", "1"]}}, _OWNED, _OWNED),
    ({"server": {"extraArgs": ["--node-rank=1"]}}, _OWNED, _OWNED),
    ({"server": {"extraArgs": ["--node-r", "1"]}}, _OWNED, _OWNED),
    ({"server": {"extraArgs": ["--nnodes=2"]}}, _OWNED, _OWNED),
    ({"server": {"extraArgs": ["--dist-init-addr", "h:1"]}}, _OWNED, _OWNED),
    ({"server": {"extraArgs": ["--nccl-init-addr=h:1"]}}, _OWNED, _OWNED),
    ({"server": {"extraArgs": ["--host", "::"]}}, _OWNED, _OWNED),
    ({"server": {"extraArgs": ["--port=8000"]}}, _OWNED, _OWNED),
    ({"server": {"extraArgs": ["--tp-size", "4"]}}, _OWNED, _OWNED),
    ({"server": {"extraArgs": ["--tp", "4"]}}, _OWNED, _OWNED),
    ({"server": {"extraArgs": ["--tensor-parallel-size=4"]}}, _OWNED, _OWNED),
    ({"server": {"extraArgs": ["--dp=2"]}}, _OWNED, _OWNED),
    ({"server": {"extraArgs": ["--ep", "2"]}}, _OWNED, _OWNED),
    ({"server": {"extraArgs": ["--model", "other/model"]}}, _OWNED, _OWNED),
    ({"server": {"extraArgs": ["--api-key", "plain"]}}, _OWNED, _OWNED),
    ({"offline": {"extraArgs": ["--result-filename", "/x"]}}, _OWNED, _OWNED),
    ({"offline": {"extraArgs": ["--node-rank=0"]}}, _OWNED, _OWNED),
    ({"benchmark": {"extraArgs": ["--output-file", "/x"]}}, _OWNED, _OWNED),
    ({"benchmark": {"extraArgs": ["--base-url=http://x"]}}, _OWNED, _OWNED),
    # names and references
    ({"image": " lmsysorg/sglang:latest"}, "spec.image", "spec.image"),
    ({"image": "lmsysorg/sglang :latest"}, "spec.image", "spec.image"),
    ({"image": "\U0001f680"}, "spec.image", "spec.image"),
    ({"image": "lmsysorg/SGLang"}, "spec.image", "spec.image"),
    ({"image": "lmsysorg/sglang:"}, "spec.image", "spec.image"),
    ({"image": "lmsysorg/sglang@sha256:" + "a" * 63}, "spec.image", "spec.image"),
    ({"image": "lmsysorg/sglang@md5:" + "a" * 32}, "spec.image", "spec.image"),
    ({"image": "https://ghcr.io/sglang"}, "spec.image", "spec.image"),
    (
        {"podTemplate": {"spec": {"containers": [{"name": "sglang", "image": "a b"}]}}},
        "spec.podTemplate.spec.containers[0].image",
        "podTemplate.spec.containers[0].image",
    ),
    (
        {"podTemplate": {"spec": {"initContainers": [{"name": "i", "image": "x:-1"}]}}},
        "spec.podTemplate.spec.initContainers[0].image",
        "podTemplate.spec.initContainers[0].image",
    ),
    (
        {"podTemplate": {"spec": {"volumes": [{"name": "w", "image": {"reference": "A"}}]}}},
        "spec.podTemplate.spec.volumes[0].image.reference",
        "podTemplate.spec.volumes[0].image.reference",
    ),
    # ParseNormalizedNamed's refusals beyond the grammar: a bare 64-digit hex name (an image
    # ID) and a repository path over 255 characters (library/ counted on Docker Hub).
    ({"image": "f" * 64}, "spec.image", "spec.image"),
    ({"image": "x/" + "a" * 254}, "spec.image", "spec.image"),
    ({"image": "a" * 248 + ":v1"}, "spec.image", "spec.image"),
    ({"image": "docker.io/" + "a" * 248}, "spec.image", "spec.image"),
    ({"image": "registry.example.com:5000/" + "a" * 256}, "spec.image", "spec.image"),
    (_template(containers=[{"name": "side", "image": "f" * 64}]), *_at("containers[0].image")),
    ({"priorityClassName": "High Priority"}, "spec.priorityClassName", "spec.priorityClassName"),
    ({"schedulerName": "Volcano"}, "spec.schedulerName", "spec.schedulerName"),
    ({"imagePullSecrets": ["Bad_Secret"]}, "spec.imagePullSecrets[0]", "spec.imagePullSecrets[0]"),
    (_cache(storageClassName="Fast SSD"), "spec.model.cache.storageClassName", "storageClassName"),
]

# The pod template's fields that Kubernetes' ValidatePodSpec checks beyond their OpenAPI types.
TEMPLATE_BAD: list[Case] = [
    (
        _template(tolerations=[{"key": "k", "operator": "Sideways"}]),
        *_at("tolerations[0].operator"),
    ),
    (_template(tolerations=[{"key": "a b", "operator": "Exists"}]), *_at("tolerations[0].key")),
    (_template(tolerations=[{"key": "k", "value": "a b"}]), *_at("tolerations[0].value")),
    (_template(tolerations=[{"key": "k", "effect": "NoExecutee"}]), *_at("tolerations[0].effect")),
    (
        _template(tolerations=[{"operator": "Exists", "value": "x"}]),
        "value must be empty when operator is Exists",
        "value must be empty",
    ),
    (
        _template(tolerations=[{"operator": "Equal"}]),
        "operator must be Exists when key is empty",
        "operator must be Exists",
    ),
    (
        _template(tolerations=[{"key": "k", "tolerationSeconds": 5}]),
        "effect must be NoExecute",
        "effect must be NoExecute",
    ),
    (_template(priorityClassName="Has Spaces"), *_at("priorityClassName")),
    (_template(runtimeClassName="Bad_Class"), *_at("runtimeClassName")),
    (_template(serviceAccountName="Bad SA"), *_at("serviceAccountName")),
    (_template(dnsPolicy="Sometimes"), *_at("dnsPolicy")),
    (_template(preemptionPolicy="Always"), *_at("preemptionPolicy")),
    (_template(activeDeadlineSeconds=0), *_at("activeDeadlineSeconds")),
    (
        _template(activeDeadlineSeconds=3600),
        "a StatefulSet's pods take none",
        "a StatefulSet's pods take none",
    ),
    (_template(nodeSelector={"pool": "gpu pool"}), *_at("nodeSelector.pool")),
    (
        _template(nodeSelector={"bad key": "x"}),
        "podTemplate.spec.nodeSelector: every key must be a label key",
        "podTemplate.spec.nodeSelector: 'bad key'",
    ),
    (_template(containers=[{"name": "side"}]), *_at("containers[0].image")),
    (_template(initContainers=[{"name": "init"}]), *_at("initContainers[0].image")),
    (_template(containers=[{"name": "Side Car", "image": "x"}]), *_at("containers[0].name")),
    (_template(initContainers=[{"name": "init_1", "image": "x"}]), *_at("initContainers[0].name")),
    (_template(volumes=[{"name": "Data", "emptyDir": {}}]), *_at("volumes[0].name")),
    (_side_port(containerPort=0), *_at("containers[0].ports[0].containerPort")),
    (_side_port(containerPort=70000), *_at("containers[0].ports[0].containerPort")),
    (_side_port(containerPort=80, hostPort=-1), *_at("containers[0].ports[0].hostPort")),
    (_side_port(containerPort=80, protocol="HTTP"), *_at("containers[0].ports[0].protocol")),
    (_side_port(containerPort=80, name="metrics-port-xyz"), *_at("containers[0].ports[0].name")),
    (_side_port(containerPort=80, name="a--b"), "has a letter and no '--'", "no '--'"),
    (_side_port(containerPort=80, name="8080"), "has a letter and no '--'", "a letter"),
    (
        _template(securityContext={"sysctls": [{"name": "a" * 254, "value": "1"}]}),
        *_at("securityContext.sysctls[0].name"),
    ),
    (
        _template(schedulingGates=[{"name": "example.com/a"}, {"name": "example.com/a"}]),
        *_at("schedulingGates[1]"),
    ),
    (
        _template(
            topologySpreadConstraints=[
                {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},
                {"maxSkew": 2, "topologyKey": "zone", "whenUnsatisfiable": "DoNotSchedule"},
            ]
        ),
        *_at("topologySpreadConstraints[1]"),
    ),
]
BAD += TEMPLATE_BAD

# What only the operator can refuse: the API server compares quantities, which the CRD's CEL
# cannot do portably. Admission lets these through; parse_spec refuses them (InvalidSpec)
# before anything is written or deleted.
OPERATOR_ONLY: list[tuple[dict[str, Any], str]] = [
    ({"resources": {"requests": {"cpu": "2"}, "limits": {"cpu": "1500m"}}}, "less than or equal"),
    (
        {"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}},
        "less than or equal",
    ),
    ({"resources": {"requests": {"example.com/fpga": 1}}}, "needs an equal limit"),
    (
        {"resources": {"requests": {"example.com/fpga": 1}, "limits": {"example.com/fpga": 2}}},
        "needs an equal limit",
    ),
    ({"resources": {"limits": {"example.com/fpga": "500m"}}}, "must be a whole number"),
    (
        {
            "resources": {
                "requests": {"hugepages-2Mi": "3Mi", "memory": "1Gi"},
                "limits": {"hugepages-2Mi": "3Mi"},
            }
        },
        "multiple of the page size",
    ),
    (
        {"resources": {"requests": {"hugepages-2Mi": "2Mi"}, "limits": {"hugepages-2Mi": "2Mi"}}},
        "need a cpu or memory",
    ),
]

# What Kubernetes' pod validation checks in template fields the CRD has no room for.
OPERATOR_ONLY += [
    (
        _template(containers=[{"name": "side", "image": "x", "imagePullPolicy": "Sometimes"}]),
        "podTemplate.spec.containers[0].imagePullPolicy",
    ),
    (
        _template(initContainers=[{"name": "i", "image": "x", "terminationMessagePolicy": "Log"}]),
        "podTemplate.spec.initContainers[0].terminationMessagePolicy",
    ),
    (
        _template(
            topologySpreadConstraints=[
                {"maxSkew": 0, "topologyKey": "zone", "whenUnsatisfiable": "Never"}
            ]
        ),
        "podTemplate.spec.topologySpreadConstraints[0].maxSkew",
    ),
    (
        _template(
            topologySpreadConstraints=[
                {"maxSkew": 1, "topologyKey": "", "whenUnsatisfiable": "Never"}
            ]
        ),
        "podTemplate.spec.topologySpreadConstraints[0].whenUnsatisfiable",
    ),
    (
        _template(readinessGates=[{"conditionType": "bad type"}]),
        "podTemplate.spec.readinessGates[0].conditionType",
    ),
    (_template(schedulingGates=[{"name": "a b"}]), "podTemplate.spec.schedulingGates[0].name"),
    (_template(os={"name": "plan9"}), "podTemplate.spec.os.name"),
]

# The same comparisons on the pod template's containers, and what pod validation checks across
# the template's items (a mount names a volume, a container name once, a port once).
OPERATOR_ONLY += [
    (
        _template(
            containers=[
                {
                    "name": "side",
                    "image": "x",
                    "resources": {"requests": {"cpu": "2"}, "limits": {"cpu": 1}},
                }
            ]
        ),
        "containers[0].resources.requests.cpu: must be less than or equal to its limit",
    ),
    (
        _template(
            containers=[{"name": "side", "image": "x", "resources": {"limits": {"memory": "-1Gi"}}}]
        ),
        "containers[0].resources.limits.memory: must be greater than or equal to 0",
    ),
    (
        _template(
            containers=[
                {
                    "name": "side",
                    "image": "x",
                    "volumeMounts": [{"name": "data", "mountPath": "/d"}],
                }
            ]
        ),
        "containers[0].volumeMounts[0].name: not found",
    ),
    (
        _template(
            containers=[{"name": "side", "image": "x"}],
            initContainers=[{"name": "side", "image": "x"}],
        ),
        "initContainers[0].name: duplicate value",
    ),
    (
        _template(
            containers=[
                {
                    "name": "side",
                    "image": "x",
                    "ports": [{"containerPort": 80}, {"containerPort": 80, "protocol": "TCP"}],
                }
            ]
        ),
        "containers[0].ports[1]: duplicate value 80/TCP",
    ),
]


def _sidecars(*ports: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    """A template with one sidecar per list of ports (side-0, side-1, ...), and `spec`."""
    containers = [
        {"name": f"side-{index}", "image": "x", "ports": list(items)}
        for index, items in enumerate(ports)
    ]
    return {"podTemplate": {"spec": {"containers": containers, **spec}}}


_HOST_NETWORK = {"network": {"hostNetwork": True}}
_PROBE = {"exec": {"command": ["true"]}}
# A valid search domain of 193 characters: eleven of them pass the search list's 2048.
_LONG_SEARCH = ".".join(["a" * 63] * 3) + ".x"

# What ValidatePodSpec checks across the template's items and in its IP, DNS and sysctl fields
# (the API server refuses these when the operator writes the StatefulSet, or, for a hostPort
# that hostNetwork gives every port, when the StatefulSet creates a pod). Each is named at the
# template's path, never at the merged pod's index.
OPERATOR_ONLY += [
    # a port name once per container (validateContainerPorts), in a sidecar and in sglang's
    # ports, which follow the operator's own in the pod
    (
        _sidecars([{"containerPort": 80, "name": "web"}, {"containerPort": 81, "name": "web"}]),
        "containers[0].ports[1].name: Duplicate value: 'web'",
    ),
    (
        _template(
            containers=[
                {
                    "name": "sglang",
                    "ports": [
                        {"containerPort": 9100, "name": "metrics"},
                        {"containerPort": 9101, "name": "metrics"},
                    ],
                }
            ]
        ),
        "containers[0].ports[1].name: Duplicate value: 'metrics'",
    ),
    # a hostPort once in the pod (checkHostPortConflicts), the sglang container's included
    (
        _sidecars(
            [{"containerPort": 80, "hostPort": 8080}], [{"containerPort": 81, "hostPort": 8080}]
        ),
        "containers[1].ports[0].hostPort: Duplicate value: 'TCP//8080'",
    ),
    (
        _template(
            containers=[
                {"name": "sglang", "ports": [{"containerPort": 9100, "hostPort": 9100}]},
                {
                    "name": "side",
                    "image": "x",
                    "ports": [{"containerPort": 9101, "hostPort": 9100}],
                },
            ]
        ),
        "containers[1].ports[0].hostPort: Duplicate value: 'TCP//9100'",
    ),
    (
        _sidecars(
            [{"containerPort": 80, "hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.1"}],
            [{"containerPort": 81, "hostPort": 53, "protocol": "UDP", "hostIP": "10.0.0.1"}],
        ),
        "containers[1].ports[0].hostPort: Duplicate value: 'UDP/10.0.0.1/53'",
    ),
    # hostNetwork: a set hostPort is the containerPort (validatePodHostNetworkDeps), and every
    # port's number is a host port (defaulted when the pod is created)
    (
        {**_HOST_NETWORK, **_sidecars([{"containerPort": 9000, "hostPort": 9001}])},
        "containers[0].ports[0].hostPort: 9001: must match `containerPort`",
    ),
    (
        {**_HOST_NETWORK, **_sidecars([{"containerPort": 9000}], [{"containerPort": 9000}])},
        "containers[1].ports[0].hostPort: Duplicate value: 'TCP//9000'",
    ),
    # probes and lifecycle hooks only on a restartable init container (validateInitContainers)
    *(
        (
            _template(initContainers=[{"name": "init", "image": "x", field: value}]),
            f"initContainers[0].{field}: Forbidden: may not be set for init containers",
        )
        for field, value in (
            ("readinessProbe", _PROBE),
            ("livenessProbe", _PROBE),
            ("startupProbe", _PROBE),
            ("lifecycle", {"postStart": _PROBE}),
        )
    ),
    (
        _template(
            initContainers=[
                {"name": "init", "image": "x", "restartPolicy": "OnFailure", "startupProbe": _PROBE}
            ]
        ),
        "initContainers[0].startupProbe: Forbidden",
    ),
    # dnsConfig (validatePodDNSConfig)
    (
        _template(dnsConfig={"nameservers": ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]}),
        "dnsConfig.nameservers: must not have more than 3 nameservers",
    ),
    (_template(dnsConfig={"nameservers": ["dns.example.com"]}), "dnsConfig.nameservers[0]"),
    (_template(dnsConfig={"nameservers": ["10.0.0.256"]}), "dnsConfig.nameservers[0]"),
    (_template(dnsConfig={"nameservers": ["fe80::1%eth0"]}), "dnsConfig.nameservers[0]"),
    (
        _template(dnsConfig={"searches": [f"s{i}.example.com" for i in range(33)]}),
        "dnsConfig.searches: must not have more than 32 search paths",
    ),
    (
        _template(dnsConfig={"searches": [_LONG_SEARCH] * 11}),
        "dnsConfig.searches: must not have more than 2048 characters",
    ),
    (_template(dnsConfig={"searches": ["Example.com"]}), "dnsConfig.searches[0]"),
    (_template(dnsConfig={"searches": ["a..b"]}), "dnsConfig.searches[0]"),
    (_template(dnsConfig={"options": [{"value": "2"}]}), "dnsConfig.options[0]: Required value"),
    (_template(dnsPolicy="None"), "dnsConfig: Required value"),
    (
        _template(dnsPolicy="None", dnsConfig={"searches": ["example.com"]}),
        "dnsConfig.nameservers: Required value",
    ),
    # hostAliases (ValidateHostAliases)
    (_template(hostAliases=[{"ip": "not-an-ip"}]), "hostAliases[0].ip"),
    (_template(hostAliases=[{"ip": "1.2.3"}]), "hostAliases[0].ip"),
    (
        _template(hostAliases=[{"ip": "10.0.0.1", "hostnames": ["ok.local", "Bad Host"]}]),
        "hostAliases[0].hostnames[1]",
    ),
    # sysctls (validateSysctls, ValidateHostSysctl)
    *(
        (
            _template(securityContext={"sysctls": [{"name": name, "value": "1"}]}),
            "securityContext.sysctls[0].name",
        )
        for name in ("Net.core.somaxconn", "net..core", "net.core.", "-net.core", "net.*")
    ),
    (
        _template(
            securityContext={
                "sysctls": [
                    {"name": "kernel.shm_rmid_forced", "value": "1"},
                    {"name": "kernel.shm_rmid_forced", "value": "0"},
                ]
            }
        ),
        "securityContext.sysctls[1].name: Duplicate value",
    ),
    (
        {
            **_HOST_NETWORK,
            **_template(
                securityContext={"sysctls": [{"name": "net/ipv4/tcp_syncookies", "value": "1"}]}
            ),
        },
        "may not be specified when 'hostNetwork'",
    ),
    (
        _template(
            hostIPC=True,
            securityContext={"sysctls": [{"name": "kernel.shm_rmid_forced", "value": "1"}]},
        ),
        "may not be specified when 'hostIPC'",
    ),
]


def _side(**container: Any) -> dict[str, Any]:
    return _template(containers=[{"name": "side", "image": "x", **container}])


# A probe's and a hook's own fields (validateProbe, validateHandler), environment names
# (ValidateEnv, relaxed since v1.34), a volume's one source (validateVolumeSource) and spread
# constraints (validateTopologySpreadConstraints).
OPERATOR_ONLY += [
    (_side(readinessProbe={}), "containers[0].readinessProbe: Required value"),
    (
        _side(livenessProbe={**_PROBE, "httpGet": {"port": 80}}),
        "containers[0].livenessProbe.httpGet: Forbidden: may not specify more than 1 handler",
    ),
    (_side(livenessProbe={**_PROBE, "successThreshold": 2}), "livenessProbe.successThreshold"),
    (_side(startupProbe={**_PROBE, "successThreshold": 3}), "startupProbe.successThreshold"),
    (_side(startupProbe={"tcpSocket": {"port": 0}}), "containers[0].startupProbe.tcpSocket.port"),
    (
        _side(readinessProbe={"httpGet": {"port": "Metrics_Port"}}),
        "containers[0].readinessProbe.httpGet.port",
    ),
    (_side(readinessProbe={"grpc": {"port": 70000}}), "containers[0].readinessProbe.grpc.port"),
    (_side(readinessProbe={"exec": {}}), "containers[0].readinessProbe.exec.command"),
    (
        _side(readinessProbe={**_PROBE, "terminationGracePeriodSeconds": 10}),
        "must not be set for readinessProbes",
    ),
    (
        _side(livenessProbe={**_PROBE, "terminationGracePeriodSeconds": 0}),
        "livenessProbe.terminationGracePeriodSeconds",
    ),
    (_side(livenessProbe={**_PROBE, "periodSeconds": -1}), "livenessProbe.periodSeconds"),
    (
        _template(
            initContainers=[
                {"name": "proxy", "image": "x", "restartPolicy": "Always", "readinessProbe": {}}
            ]
        ),
        "initContainers[0].readinessProbe: Required value",
    ),
    (
        _template(containers=[{"name": "sglang", "lifecycle": {"preStop": {}}}]),
        "containers[0].lifecycle.preStop: Required value",
    ),
    (
        _side(lifecycle={"postStart": {**_PROBE, "sleep": {"seconds": 1}}}),
        "lifecycle.postStart.sleep: Forbidden",
    ),
    (_side(env=[{"name": "A=B", "value": "1"}]), "containers[0].env[0].name"),
    (_side(env=[{"name": "na\u00efve", "value": "1"}]), "containers[0].env[0].name"),
    (
        _template(
            initContainers=[{"name": "i", "image": "x", "env": [{"name": "", "value": "1"}]}]
        ),
        "initContainers[0].env[0].name",
    ),
    (_side(envFrom=[{"prefix": "P=", "configMapRef": {"name": "c"}}]), "envFrom[0].prefix"),
    (
        _template(volumes=[{"name": "data", "emptyDir": {}, "hostPath": {"path": "/x"}}]),
        "volumes[0].hostPath: Forbidden: may not specify more than 1 volume type",
    ),
    (
        _template(
            topologySpreadConstraints=[
                {
                    "maxSkew": 1,
                    "topologyKey": "zone",
                    "whenUnsatisfiable": "ScheduleAnyway",
                    "minDomains": 2,
                }
            ]
        ),
        "topologySpreadConstraints[0].minDomains: can only use minDomains",
    ),
    (
        _template(
            topologySpreadConstraints=[
                {
                    "maxSkew": 1,
                    "topologyKey": "zone",
                    "whenUnsatisfiable": "DoNotSchedule",
                    "minDomains": 0,
                }
            ]
        ),
        "topologySpreadConstraints[0].minDomains",
    ),
]

# What the operator leaves to the API server (docs/user-guide.md: what is inside a volume
# source, security contexts, ...): admission and the operator let these pod templates
# through, the API server refuses the StatefulSet carrying them (the operator then reports
# ApplyFailed and touches nothing that runs). The chaos tier's bad updates draw from it.
API_SERVER_ONLY: list[dict[str, Any]] = [
    {"spec": {"volumes": [{"name": "h", "hostPath": {"path": ""}}]}},
    {
        "spec": {
            "volumes": [
                {"name": "c", "configMap": {"name": "c", "items": [{"key": "k", "path": "../x"}]}}
            ]
        }
    },
    {"spec": {"securityContext": {"runAsUser": -1}}},
    {
        "spec": {
            "containers": [
                {"name": "sglang", "securityContext": {"seccompProfile": {"type": "Localhost"}}}
            ]
        }
    },
    {
        "spec": {
            "containers": [
                {
                    "name": "side",
                    "image": "x",
                    "volumeMounts": [{"name": "dshm", "mountPath": "/x", "subPath": "/abs"}],
                }
            ]
        }
    },
]

GOOD: list[dict[str, Any]] = [
    {"podLabels": {"example.com/team": "ml-platform", "tier": "", "A_b.c": "Z9"}},
    {"podAnnotations": {"Example.com/Owner": "ml platform \U0001f600", "note": ""}},
    {"nodeSelector": {"node.kubernetes.io/instance-type": "mi300x"}},
    _template_meta(
        labels={"example.com/team": "ml-platform", "tier": "", "A_b.c": "Z9"},
        annotations={
            "Example.com/Owner": "ml platform \U0001f600",
            "k8s.v1.cni.cncf.io/networks": "x" * 4000,
        },
    ),
    {
        # A memory-backed /dev/shm counts against the limit: shmSize stays below it.
        "shmSize": "256Mi",
        "resources": {
            "requests": {
                "cpu": "500m",
                "memory": "1Gi",
                "example.com/fpga": 1,
                "ephemeral-storage": "1e9",
            },
            "limits": {"cpu": 2, "memory": "1.5Gi", "example.com/fpga": "1"},
        },
    },
    {
        "shmSize": "256Mi",
        "resources": {
            "requests": {"hugepages-2Mi": "4Mi", "memory": "1Gi"},
            "limits": {"hugepages-2Mi": "4Mi", "memory": "1Gi"},
        },
    },
    {"shmSize": "64Gi"},
    {"shmSize": 1},
    {"shmSize": ".5Ti"},
    {
        "tolerations": [
            {"operator": "Exists"},
            {"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "k", "value": "v", "effect": "NoExecute", "tolerationSeconds": 30},
        ]
    },
    {
        "env": [
            {
                "name": "POD",
                "valueFrom": {
                    "fieldRef": {"fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}
                },
            },
            {
                "name": "IP",
                "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}},
            },
            {
                "name": "MEM",
                "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}},
            },
            {
                "name": "CPU",
                "valueFrom": {
                    "resourceFieldRef": {
                        "containerName": "sglang",
                        "resource": "requests.cpu",
                        "divisor": "1m",
                    }
                },
            },
            {
                "name": "TOKEN",
                "valueFrom": {"secretKeyRef": {"name": "hf", "key": "token", "optional": True}},
            },
            {"name": "CONF", "valueFrom": {"configMapKeyRef": {"name": "conf", "key": "a.json"}}},
        ]
    },
    {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {
                                    "key": "amd.com/gpu.product-name",
                                    "operator": "In",
                                    "values": ["MI300X"],
                                },
                                {"key": "gen", "operator": "Gt", "values": ["2"]},
                            ],
                            "matchFields": [
                                {"key": "metadata.name", "operator": "NotIn", "values": ["cpu-0"]}
                            ],
                        }
                    ]
                },
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 100,
                        "preference": {"matchExpressions": [{"key": "zone", "operator": "Exists"}]},
                    }
                ],
            },
            "podAntiAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "weight": 1,
                        "podAffinityTerm": {
                            "topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app": "x"}},
                            "namespaceSelector": {},
                            "matchLabelKeys": ["pod-template-hash"],
                        },
                    }
                ]
            },
            "podAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {
                        "topologyKey": "zone",
                        "namespaces": ["default"],
                        "labelSelector": {
                            "matchExpressions": [{"key": "a", "operator": "DoesNotExist"}]
                        },
                    }
                ]
            },
        }
    },
    {"server": {"port": 8000}, "network": {"distInitPort": 8008}},
    {"server": {"port": 65535}, "network": {"distInitPort": 1}},
    {"model": {"path": "org/model", "cache": {"size": "100Gi", "mountPath": "/data/hf.cache/..x"}}},
    {"model": {"path": "org/model", "cache": {"claimName": "weights", "mountPath": "/devices"}}},
    {
        "server": {
            "extraArgs": [
                "--enable-dp-attention",
                "--nccl-port",
                "5100",
                "--mem-fraction-static=0.8",
                "--config",
                "/etc/sglang.yaml",
            ]
        }
    },
    {"benchmark": {"extraArgs": ["--output-details", "--seed", "1"]}},
    {"mode": "offline", "offline": {"extraArgs": ["--seed", "1"]}},
    {"mode": "offline", **_template(activeDeadlineSeconds=86400)},
    {"image": "[fd00::1]:5000/team/sglang:v0.5.23_rc-1@sha512:" + "0" * 128},
    {"image": "Registry.Example.com/team__x/s--g.l_ang"},
    {
        "podTemplate": {
            "spec": {
                "initContainers": [{"name": "fetch", "image": "busybox:1.36"}],
                "volumes": [{"name": "w", "image": {"reference": "localhost/weights:v1"}}],
            }
        }
    },
    # Near the name limits: a path of 255 characters (library/ and 247 on Docker Hub), a hex
    # name that is no image ID, a registry's name beside a long path.
    {"image": "x/" + "a" * 253},
    {"image": "a" * 247 + ":v1"},
    {"image": "docker.io/" + "a" * 247},
    {"image": "f" * 63},
    {"image": "registry.example.com:5000/" + "a" * 255},
    {
        "tolerations": [
            {"key": "k", "operator": "", "value": "v", "effect": ""},
            {"key": "", "operator": "Exists"},
        ]
    },
    _template(
        tolerations=[
            {"operator": "Exists"},
            {"key": "", "operator": "Exists", "effect": ""},
            {"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "k", "value": "v", "effect": "NoExecute", "tolerationSeconds": 30},
            {"key": "k", "operator": "Equal", "value": ""},
        ],
        priorityClassName="system-node-critical",
        runtimeClassName="nvidia",
        serviceAccountName="sglang.reader",
        dnsPolicy="ClusterFirst",
        preemptionPolicy="Never",
        nodeSelector={"node.kubernetes.io/instance-type": "mi300x", "tier": ""},
        containers=[
            {
                "name": "metrics-sidecar",
                "image": "busybox",
                "ports": [
                    {"containerPort": 9090, "name": "metrics", "protocol": "TCP"},
                    {"containerPort": 65535, "hostPort": 0, "name": "p-1", "protocol": "UDP"},
                    {"containerPort": 1, "protocol": "SCTP"},
                ],
            }
        ],
        initContainers=[
            {"name": "fetch-0", "image": "busybox", "imagePullPolicy": "Always"},
            {"name": "fetch-1", "image": "busybox", "terminationMessagePolicy": ""},
        ],
        topologySpreadConstraints=[
            {
                "maxSkew": 1,
                "topologyKey": "zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "nodeTaintsPolicy": "Honor",
            }
        ],
        readinessGates=[{"conditionType": "example.com/ready"}],
        os={"name": "linux"},
        volumes=[{"name": "data-0", "emptyDir": {}}],
    ),
    {
        "image": "registry.example.com:5000/sglang@sha256:" + "a" * 64,
        "priorityClassName": "gpu-high",
        "schedulerName": "volcano",
    },
    {
        "imagePullSecrets": ["regcred"],
        "model": {"path": "org/model", "cache": {"size": "1Ti", "storageClassName": "fast.ssd"}},
    },
    # Near misses of the checks above: a port name per container, a host port per protocol
    # and host IP, init containers one at a time, a sidecar's probes, the API server's own
    # leniency with IPs (leading zeros, IPv4-mapped IPv6), "." and '_' in search domains.
    _template(
        containers=[
            {
                "name": "side-0",
                "image": "x",
                "ports": [
                    {"containerPort": 80, "name": "web", "hostPort": 8080},
                    {"containerPort": 80, "protocol": "UDP", "hostPort": 8080},
                    {"containerPort": 81, "hostPort": 8080, "hostIP": "10.0.0.1"},
                ],
            },
            {"name": "side-1", "image": "x", "ports": [{"containerPort": 82, "name": "web"}]},
        ],
        initContainers=[
            {"name": "init-0", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]},
            {"name": "init-1", "image": "x", "ports": [{"containerPort": 80, "hostPort": 8080}]},
            {
                "name": "proxy",
                "image": "x",
                "restartPolicy": "Always",
                "readinessProbe": _PROBE,
                "startupProbe": _PROBE,
                "lifecycle": {"postStart": _PROBE},
            },
        ],
        dnsPolicy="None",
        dnsConfig={
            "nameservers": ["010.096.0.10", "::ffff:10.96.0.10", "2001:DB8:0:0:0:0:0:00001"],
            "searches": ["svc.cluster.local.", ".", "_tcp.example.com", *[_LONG_SEARCH] * 9],
            "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
        },
        hostAliases=[{"ip": "10.0.0.1", "hostnames": ["weights.local", "a.b"]}],
        securityContext={
            "sysctls": [
                {"name": "net.ipv4.tcp_syncookies", "value": "1"},
                {"name": "kernel/shm_rmid_forced", "value": "1"},
                {"name": "net.ipv4.conf.eth0/100.rp_filter", "value": "1"},
            ]
        },
        schedulingGates=[{"name": "example.com/a"}, {"name": "example.com/b"}],
    ),
    {
        **_HOST_NETWORK,
        **_sidecars([{"containerPort": 9000, "hostPort": 9000}], [{"containerPort": 9001}]),
    },
    # Near misses: one action a probe or hook, ports by number or name, defaulted thresholds,
    # environment names Kubernetes' relaxed rule takes, one source a volume, a spread
    # constraint per key and action.
    _template(
        containers=[
            {
                "name": "side",
                "image": "x",
                "ports": [{"containerPort": 9090, "name": "metrics"}],
                "livenessProbe": {
                    "httpGet": {"path": "/healthz", "port": "metrics"},
                    "successThreshold": 1,
                    "periodSeconds": 0,
                    "terminationGracePeriodSeconds": 5,
                },
                "readinessProbe": {"grpc": {"port": 9090}, "successThreshold": 3},
                "startupProbe": {"tcpSocket": {"port": 9090}, "failureThreshold": 30},
                "lifecycle": {"preStop": {"sleep": {"seconds": 0}}, "postStart": _PROBE},
                "env": [{"name": "my.env-name", "value": "1"}, {"name": "1 a-b", "value": "2"}],
                "envFrom": [{"prefix": "P_", "configMapRef": {"name": "c"}}],
            },
        ],
        initContainers=[
            {"name": "proxy", "image": "x", "restartPolicy": "Always", "livenessProbe": _PROBE}
        ],
        volumes=[
            {"name": "data", "hostPath": {"path": "/data"}},
            # No source: Kubernetes defaults it to an emptyDir (SetDefaults_Volume).
            {"name": "scratch"},
        ],
        topologySpreadConstraints=[
            {
                "maxSkew": 1,
                "topologyKey": "zone",
                "whenUnsatisfiable": "DoNotSchedule",
                "minDomains": 2,
            },
            {"maxSkew": 1, "topologyKey": "zone", "whenUnsatisfiable": "ScheduleAnyway"},
        ],
    ),
]
