"""Hypothesis strategies shared by the property tests."""

from hypothesis import strategies as st

import admission_cases

_label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)

# DNS-1123 subdomains: every name the API server accepts for an SGLangDeployment.
resource_names = (
    st.lists(_label, min_size=1, max_size=6).map(".".join).filter(lambda n: len(n) <= 253)
)


# ---- hostile specs ----------------------------------------------------------------------------
# Each field the API server checks gets values on both sides of its rule: valid ones, near
# misses and garbage (spaces, capitals, non-ASCII and text outside the BMP, signs, suffixes,
# lengths just past a bound), so that the chaos tier can check that whatever admission lets
# through the API server also accepts once the operator renders it.

_tricky_chars = st.sampled_from([*"abcxyz0189", *"ABZ", *"-_./:=@", " ", "é", "\U0001f600", "\t"])
_tricky_text = st.one_of(
    st.text(_tricky_chars, max_size=12),
    st.text(_tricky_chars, min_size=60, max_size=70),
)
_label_values = st.one_of(
    st.from_regex(r"(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?", fullmatch=True),
    _tricky_text,
)
_label_keys = st.one_of(
    st.from_regex(
        r"([a-z0-9]{1,8}(\.[a-z0-9]{1,8}){0,2}/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?",
        fullmatch=True,
    ),
    st.sampled_from(
        ["kubernetes.io/hostname", "a" * 254 + "/x", "x/" + "b" * 64, "/x", "x/", "A.b/c"]
    ),
    _tricky_text,
)
_quantities = st.one_of(
    st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,2})?([KMGTPE]i|[numkMGTPE])?", fullmatch=True),
    st.integers(-5, 10**6),
    st.sampled_from(
        ["0", "-1", "+1", "1e3", "1E", "1Gb", "1 Gi", ".5", "5.", "1K", "1e-9", "1" * 40]
    ),
    _tricky_text,
)
_resource_names = st.sampled_from(
    [
        "cpu",
        "memory",
        "ephemeral-storage",
        "hugepages-2Mi",
        "example.com/fpga",
        "gpus",
        "kubernetes.io/x",
        "requests.cpu",
        "amd.com/gpu",
    ]
)


def _some(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[object]]) -> dict[str, object]:
    """A dict with a random subset of the fields, each drawn from its strategy."""
    return {k: draw(v) for k, v in fields.items() if draw(st.booleans())}


@st.composite
def _tolerations(draw: st.DrawFn) -> dict[str, object]:
    return _some(
        draw,
        {
            "key": _label_keys,
            "operator": st.sampled_from(["Exists", "Equal", "Lt"]),
            "value": _label_values,
            "effect": st.sampled_from(["NoSchedule", "PreferNoSchedule", "NoExecute", "Never"]),
            "tolerationSeconds": st.integers(-10, 10**6),
        },
    )


_field_paths = st.sampled_from(
    [
        "metadata.name",
        "status.podIP",
        "spec.nodeName",
        "spec.containers",
        "metadata.labels['a']",
        "metadata.labels['a b']",
        "metadata.annotations['x/y']",
        "status.podIPs",
    ]
)


@st.composite
def _env(draw: st.DrawFn) -> dict[str, object]:
    name = draw(st.one_of(st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True), _tricky_text))
    sources = {
        "fieldRef": st.fixed_dictionaries({"fieldPath": _field_paths}),
        "secretKeyRef": st.fixed_dictionaries({"name": _label_values, "key": _label_values}),
        "configMapKeyRef": st.fixed_dictionaries({"name": _label_values, "key": _label_values}),
        "resourceFieldRef": st.fixed_dictionaries(
            {
                "resource": st.sampled_from(["limits.cpu", "requests.memory", "limits.gpu"]),
                "divisor": st.sampled_from(["1", "1m", "1Mi", "2"]),
            }
        ),
    }
    if draw(st.booleans()):
        return {"name": name, "value": draw(_tricky_text)}
    return {"name": name, "valueFrom": _some(draw, sources)}


@st.composite
def _requirement(draw: st.DrawFn) -> dict[str, object]:
    return {
        "key": draw(_label_keys),
        "operator": draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"])),
        **({"values": draw(st.lists(_label_values, max_size=2))} if draw(st.booleans()) else {}),
    }


@st.composite
def _affinity(draw: st.DrawFn) -> dict[str, object]:
    term = {"matchExpressions": draw(st.lists(_requirement(), max_size=2))}
    pod_term = _some(
        draw,
        {
            "topologyKey": _label_keys,
            "labelSelector": st.fixed_dictionaries(
                {"matchLabels": st.dictionaries(_label_keys, _label_values, max_size=2)}
            ),
            "matchLabelKeys": st.lists(_label_keys, max_size=2),
            "namespaces": st.lists(_label_values, max_size=2),
        },
    )
    return _some(
        draw,
        {
            "nodeAffinity": st.just(
                {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}}
            ),
            "podAntiAffinity": st.just(
                {
                    "preferredDuringSchedulingIgnoredDuringExecution": [
                        {"weight": draw(st.integers(0, 101)), "podAffinityTerm": pod_term}
                    ]
                }
            ),
        },
    )


_flags = st.sampled_from(
    [
        "--node-rank",
        "--node-rank=1",
        "--node-r",
        "--nnodes=2",
        "--dist-init-addr",
        "--host",
        "--port=1",
        "--tp",
        "--tp-size",
        "--tensor-parallel-size=2",
        "--dp=2",
        "--ep",
        "--model",
        "--api-key",
        "--enable-dp-attention",
        "--nccl-port",
        "5100",
        "--mem-fraction-static=0.8",
        "--log-level",
        "info",
        "--n",
        "--",
        "x",
    ]
)
_mount_paths = st.sampled_from(
    [
        "/data/hf",
        "/dev/shm",
        "/dev/shm/",
        "/dev//shm",
        "/dev",
        "/dev/x",
        "/results",
        "/",
        "/opt/sglang-operator",
        "/root/.cache/huggingface",
        "rel/path",
        "/a/../b",
        "/a/./b",
        "/..x",
    ]
)


def _hostile_fields() -> dict[str, st.SearchStrategy[object]]:
    """Strategies for the spec fields the API server checks, on both sides of each rule."""
    return {
        "podLabels": st.dictionaries(_label_keys, _label_values, max_size=3),
        "podAnnotations": st.dictionaries(
            _label_keys, st.one_of(_tricky_text, st.text(max_size=4000)), max_size=2
        ),
        "nodeSelector": st.dictionaries(_label_keys, _label_values, max_size=2),
        "resources": st.fixed_dictionaries(
            {},
            optional={
                "requests": st.dictionaries(_resource_names, _quantities, max_size=3),
                "limits": st.dictionaries(_resource_names, _quantities, max_size=3),
            },
        ),
        "shmSize": _quantities,
        "tolerations": st.lists(_tolerations(), max_size=2),
        "env": st.lists(_env(), max_size=2, unique_by=lambda e: e["name"]),
        "affinity": _affinity(),
        "server": st.fixed_dictionaries(
            {},
            optional={
                "port": st.integers(1, 65535),
                "extraArgs": st.lists(_flags, max_size=3),
            },
        ),
        "network": st.fixed_dictionaries(
            {},
            optional={"distInitPort": st.one_of(st.integers(1, 65535), st.integers(29990, 30010))},
        ),
        "image": st.one_of(_tricky_text, st.just("lmsysorg/sglang:v0.5.23")),
        "priorityClassName": _label_values,
        "schedulerName": _label_values,
        "imagePullSecrets": st.lists(_label_values, max_size=2),
        "benchmark": st.fixed_dictionaries(
            {"enabled": st.booleans()}, optional={"extraArgs": st.lists(_flags, max_size=2)}
        ),
    }


@st.composite
def hostile_specs(draw: st.DrawFn) -> dict[str, object]:
    """An SGLangDeployment spec with a few fields drawn hostile, on a valid small base."""
    cache = draw(
        st.one_of(
            st.fixed_dictionaries({"size": _quantities}),
            st.fixed_dictionaries({"claimName": _label_values}),
        )
    )
    if draw(st.booleans()):
        cache["mountPath"] = draw(_mount_paths)
    if draw(st.booleans()):
        cache["storageClassName"] = draw(_label_values)
    fields = _hostile_fields()
    spec: dict[str, object] = {
        "model": {"path": "org/model", **({"cache": cache} if draw(st.booleans()) else {})},
        "gpu": {"perNode": 1},
    }
    for name in draw(st.lists(st.sampled_from(sorted(fields)), max_size=4, unique=True)):
        spec[name] = draw(fields[name])
    return spec


# Pod templates whose fault Kubernetes' own validation of the pod finds: admission refuses some
# (names, images, labels), the operator others (duplicate ports, a volume of two types, a bad
# host alias), and the rest (admission_cases.API_SERVER_ONLY) only the API server, when the
# operator applies the StatefulSet (half of the draws, so that a run of bad updates meets
# each kind).
_apply_time_pod_templates = st.sampled_from(admission_cases.API_SERVER_ONLY)
_bad_pod_templates = st.one_of(
    _apply_time_pod_templates,
    st.one_of(
        st.fixed_dictionaries(
            {
                "metadata": st.fixed_dictionaries(
                    {"labels": st.dictionaries(_label_keys, _label_values, min_size=1, max_size=2)}
                )
            }
        ),
        st.integers(1, 65535).map(
            lambda port: {
                "spec": {
                    "containers": [
                        {
                            "name": "sglang",
                            "ports": [{"containerPort": port}, {"containerPort": port}],
                        }
                    ]
                }
            }
        ),
        _tricky_text.map(
            lambda name: {"spec": {"containers": [{"name": name or "x", "image": "i"}]}}
        ),
        st.sampled_from(
            [
                {"spec": {"initContainers": [{"name": "init"}]}},
                {"spec": {"hostname": "Not_A_Host"}},
                {"spec": {"terminationGracePeriodSeconds": -5}},
                {"spec": {"containers": [{"name": "sidecar"}]}},
                {"spec": {"volumes": [{"name": "v"}, {"name": "v", "emptyDir": {}}]}},
                {
                    "spec": {
                        "volumes": [{"name": "two", "emptyDir": {}, "hostPath": {"path": "/x"}}]
                    }
                },
                {
                    "spec": {
                        "volumes": [{"name": "two", "emptyDir": {}, "configMap": {"name": "c"}}]
                    }
                },
                {"spec": {"hostAliases": [{"ip": "not-an-ip", "hostnames": ["a"]}]}},
                {"spec": {"hostAliases": [{"ip": "10.0.0.1", "hostnames": ["Not A Host"]}]}},
            ]
        ),
    ),
)


@st.composite
def hostile_updates(draw: st.DrawFn) -> dict[str, object]:
    """Spec fields to merge into a running deployment's spec (its topology kept): one or two
    hostile fields of `hostile_specs`, or a pod template Kubernetes refuses only when the
    operator applies the StatefulSet."""
    if draw(st.booleans()):
        return {"podTemplate": draw(_bad_pod_templates)}
    fields = _hostile_fields()
    names = draw(st.lists(st.sampled_from(sorted(fields)), min_size=1, max_size=2, unique=True))
    return {name: draw(fields[name]) for name in names}
