"""docs/reference.md, generated from the code: phases, conditions and their reasons (with what
to do), the restart timing, the names of the objects a deployment becomes, and which SGLang
flag or variable each spec field sets.

Each table is computed from the thing it describes (the `Phase` type, `Reason` and its
advice, the healing constants, the naming functions, the builders' output), so it cannot
drift: a unit test regenerates the file and fails when the committed one differs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from types import UnionType
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from sglang_operator import groups, naming, runs
from sglang_operator.api import (
    PHASE_MEANING,
    Phase,
    SecretKeyRef,
    SGLangDeploymentSpec,
    parse_spec,
)
from sglang_operator.builders import RankSource, container_env, sglang_args
from sglang_operator.conditions import ADVICE, ADVISORY, CONDITION_TYPES, reasons
from sglang_operator.generated import GeneratedFile, table_cell

HEADER = """# Reference: status, names and flags

Generated from the operator's code by `sglang-operator reference-docs`; do not edit by hand.
The spec fields themselves are in [api.md](api.md).
"""

NAME = "name"
EXAMPLE_GROUP = 0


def _seconds(delta: Any) -> str:
    total = int(delta.total_seconds())
    return f"{total // 60} min" if total >= 60 and total % 60 == 0 else f"{total} s"


def _phases() -> list[str]:
    lines = ["## Phases (`status.phase`)", "", "| Phase | Meaning |", "|---|---|"]
    lines += [f"| `{p}` | {table_cell(PHASE_MEANING[p])} |" for p in get_args(Phase)]
    return [*lines, ""]


def _conditions() -> list[str]:
    types = ", ".join(f"`{t}`" for t in CONDITION_TYPES)
    lines = [
        "## Conditions and reasons",
        "",
        f"Condition types: {types}, and two that never change those: `{runs.BENCHMARK}` (only "
        "with `spec.benchmark.enabled` in mode server) and "
        f"`{ADVISORY}` (only while the spec gets advice). Each reason below appears as a "
        "condition's `reason` or an "
        "event's reason, so one word finds both: `kubectl get events "
        "--field-selector reason=REASON`.",
        "",
        "| Reason | What happened | What to do |",
        "|---|---|---|",
    ]
    for reason in reasons():
        advice = ADVICE[reason]
        lines.append(f"| `{reason}` | {table_cell(advice.meaning)} | {table_cell(advice.action)} |")
    return [*lines, ""]


def _restart_timing() -> list[str]:
    waits = [groups.backoff_before(n) for n in range(1, groups.RESTART_BUDGET)]
    schedule = ", ".join(_seconds(w) for w in waits)
    return [
        "## Restart timing",
        "",
        "When a pod of a group fails, restarts or disappears, the operator restarts the whole "
        f"group. The first restart is immediate; the next ones wait {schedule} after the "
        f"previous restart (doubling, at most {_seconds(groups.RESTART_BACKOFF_MAX)}). A "
        f"group restarts at most {groups.RESTART_BUDGET} times within any "
        f"{_seconds(groups.RESTART_WINDOW)} (a sliding window: a restart older than that no "
        "longer counts); past that it is left alone (`GroupRestartBudgetExhausted`) until "
        "the oldest restart leaves the window or a spec change replaces the group.",
        "",
    ]


def _names() -> list[str]:
    rows: list[tuple[str, str, str]] = [
        ("StatefulSet of group i", naming.group_name(NAME, EXAMPLE_GROUP), "one per copy"),
        (
            "pods of group i",
            f"{naming.group_name(NAME, EXAMPLE_GROUP)}-0 ... -<nodes-1>",
            "pod ordinal = rank",
        ),
        (
            "headless Service of group i",
            naming.headless_service_name(NAME, EXAMPLE_GROUP),
            "rendezvous DNS",
        ),
        ("client Service", naming.client_service_name(NAME), "rank 0 of every copy"),
        ("weights PersistentVolumeClaim", naming.weights_pvc_name(NAME), "with cache.size"),
        ("benchmark Job", naming.benchmark_job_name(NAME), "with benchmark.enabled"),
        (
            "benchmark results ConfigMap",
            naming.benchmark_results_configmap_name(NAME),
            "full JSON results",
        ),
        ("reporter ConfigMap", naming.reporter_configmap_name(NAME), "script the runs mount"),
        (
            "offline Indexed Job of group i",
            naming.offline_job_name(NAME, EXAMPLE_GROUP),
            "mode offline",
        ),
        (
            "offline headless Service",
            naming.offline_service_name(NAME, EXAMPLE_GROUP),
            "mode offline",
        ),
        (
            "ControllerRevision of a recorded spec",
            naming.revision_name(NAME, "<record>").rsplit("-", 1)[0] + "-<10-character hash>",
            "the spec StatefulSets were built from (`data`), kept while a StatefulSet records "
            "it or a pod runs what it builds",
        ),
    ]
    rank0 = naming.rank0_fqdn(NAME, EXAMPLE_GROUP, "NAMESPACE", "cluster.local")
    lines = [
        "## Object names",
        "",
        f"For a deployment named `{NAME}`, group i = {EXAMPLE_GROUP}. A name that would not "
        "fit its object's limit (63 characters for Services, PVCs and ConfigMaps, 52 for "
        "StatefulSets and Jobs so pod names and revision labels fit) or is not a DNS label "
        "becomes a truncated prefix plus an 8-character hash of the full name: stable and "
        "distinct. A deployment name ending in `-<number>-hs` is refused (status "
        "`InvalidSpec`, `sglang-operator render` says so too): its client Service would take "
        "the name of another deployment's group headless Service.",
        "",
        "| Object | Name | Note |",
        "|---|---|---|",
    ]
    lines += [f"| {what} | `{name}` | {note} |" for what, name, note in rows]
    lines += [
        "",
        f"Rank 0's DNS name (`--dist-init-addr`, `MASTER_ADDR`): `{rank0}`.",
        "",
        "Labels on every object and pod: "
        + ", ".join(f"`{k}={v}`" for k, v in naming.labels(NAME, naming.COMPONENT_SERVER).items())
        + f"; group objects and pods add `{naming.GROUP_LABEL}=<i>`. Annotations: "
        f"`{naming.POD_SPEC_HASH_ANNOTATION}` (the pod template's revision), "
        f"`{naming.APPLIED_HASH_ANNOTATION}` (on each child: what the operator last applied), "
        f"`{naming.BUILT_FROM_ANNOTATION}` (on each StatefulSet, not its pods: "
        '`{"generation": N, "spec": {...}}`, the spec it was built from, so a group can be '
        "built again on the revision it ran), "
        f"`{naming.RESYNC_ANNOTATION}` (on a StatefulSet: when the operator deleted a pod it "
        "had released, a label of its selector changed by hand; the change has the "
        "StatefulSet controller create that pod again at once) and "
        f"`{naming.RETAINED_FOR_ANNOTATION}` (on a weights claim kept after the deployment "
        "is deleted).",
        "",
    ]
    return lines


@dataclass(frozen=True)
class Sample:
    """One spec change whose effect the flags table shows: `value` at the dotted `path`, over
    a spec that also has `context` (for a field that only counts beside another)."""

    path: str
    value: Any
    context: dict[str, Any] = field(default_factory=dict)


# Every spec field that changes SGLang's command line or its container's environment, with
# an example value; every other field is in OTHER_FIELDS. A test walks the models and fails
# on a field in neither, so a new field cannot be left out of the reference.
FLAG_SAMPLES: list[Sample] = [
    Sample("model.path", "meta-llama/Llama-3.1-8B-Instruct"),
    Sample("model.revision", "main"),
    Sample("model.servedModelName", "qwen"),
    Sample("model.trustRemoteCode", True),
    Sample("model.hfTokenSecret", {"name": "hf-token", "key": "token"}),
    Sample("model.cache.size", "100Gi"),
    Sample("model.cache.claimName", "model-cache"),
    Sample("model.cache.mountPath", "/models", {"model": {"cache": {"size": "100Gi"}}}),
    Sample("gpu.vendor", "nvidia"),
    Sample("gpu.perNode", 4),
    Sample("parallelism.tp", 4),
    Sample("parallelism.pp", 2),
    Sample("parallelism.dp", 2),
    Sample("parallelism.ep", 8),
    Sample("parallelism.nodes", 2),
    Sample("mode", "offline"),
    Sample("network.distInitPort", 6000),
    Sample("network.hostNetwork", True),
    Sample("network.ncclSocketIfname", "^lo,docker"),
    Sample("network.glooSocketIfname", "eth0"),
    Sample("network.ipFamily", "IPv6"),
    Sample("network.clusterDomain", "cluster.example"),
    Sample("server.port", 8000),
    Sample("server.memFractionStatic", 0.8),
    Sample("server.contextLength", 32768),
    Sample("server.attentionBackend", "triton"),
    Sample("server.disableRadixCache", True),
    Sample("server.enableMetrics", False),
    Sample("server.apiKeySecret", {"name": "key", "key": "k"}),
    Sample("server.extraArgs", ["--chunked-prefill-size", "4096"]),
    Sample("env", [{"name": "NCCL_IB_HCA", "value": "mlx5_0"}]),
    Sample("rocm.presets", False),
]

# The fields that change neither, and what they change instead; a path ending in `.*` stands
# for every field below it.
OTHER_FIELDS: dict[str, str] = {
    "model.cache.storageClassName": "the created weights claim",
    "model.cache.accessMode": "the created weights claim",
    "model.cache.whenDeleted": "the created weights claim's owner (kept or deleted with the "
    "deployment)",
    "image": "the SGLang container's image",
    "imagePullPolicy": "the SGLang container",
    "imagePullSecrets": "the pods",
    "gpu.resourceName": "the GPU resource the container requests",
    "replicas": "how many groups (StatefulSets) there are",
    "resources.requests": "the SGLang container's resources",
    "resources.limits": "the SGLang container's resources",
    "shmSize": "the /dev/shm volume",
    "nodeSelector": "the pods' placement",
    "tolerations": "the pods' placement",
    "affinity.*": "the pods' placement",
    "priorityClassName": "the pods' placement",
    "schedulerName": "the pods' placement",
    "podAnnotations": "the pods' metadata",
    "podLabels": "the pods' metadata",
    "podTemplate": "the pods (merged over them)",
    "network.rdmaResourceName": "the RDMA resource the container requests, and IPC_LOCK",
    "network.rdmaCount": "the RDMA resource the container requests",
    "probes.*": "the SGLang container's probes",
    "healing.*": "the operator's group restarts and force-deletion of pods on lost nodes (not "
    "the pods)",
    "benchmark.*": "the benchmark Job",
    "offline.*": "the offline Job's workload (sglang.benchmark.offline_throughput's flags)",
}

# Models whose fields are set together, so the table treats them as one field.
_ATOMIC: tuple[type[BaseModel], ...] = (SecretKeyRef,)


def spec_fields(model: type[BaseModel] = SGLangDeploymentSpec, prefix: str = "") -> list[str]:
    """The dotted wire path of every field of the spec; a nested model (`X` or `X | None`, not
    a list of them) is walked."""
    found: list[str] = []
    for name, info in model.model_fields.items():
        path = prefix + (info.alias or name)
        kinds = get_args(info.annotation) if isinstance(info.annotation, UnionType) else ()
        nested = [
            t
            for t in (*kinds, info.annotation)
            if isinstance(t, type) and issubclass(t, BaseModel) and not issubclass(t, _ATOMIC)
        ]
        found += spec_fields(nested[0], path + ".") if nested else [path]
    return found


def unlisted_fields() -> list[str]:
    """Spec fields neither in FLAG_SAMPLES nor in OTHER_FIELDS (none, or a test fails)."""
    listed = {sample.path for sample in FLAG_SAMPLES} | set(OTHER_FIELDS)
    return [
        path
        for path in spec_fields()
        if path not in listed
        and not any(path.startswith(p.removesuffix("*")) for p in listed if p.endswith(".*"))
    ]


def _nested(path: str, value: Any) -> dict[str, Any]:
    head, _, rest = path.partition(".")
    return {head: _nested(rest, value) if rest else value}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(out[key], value) if isinstance(out.get(key), dict) else value
    return out


def _flags(args: list[str]) -> dict[str, str]:
    """`--flag value` pairs (a bare flag maps to "")."""
    found: dict[str, str] = {}
    for i, arg in enumerate(args):
        if arg.startswith("--"):
            nxt = args[i + 1] if i + 1 < len(args) else ""
            found[arg] = "" if nxt.startswith("--") else nxt
    return found


def _effect(raw: dict[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
    spec = parse_spec(raw)
    host = naming.rank0_fqdn(NAME, 0, "NAMESPACE", spec.network.cluster_domain)
    env = container_env(spec, rank_source=RankSource.POD_INDEX, master_addr=host)
    values = {e["name"]: e.get("value", "(from a Secret)") for e in env}
    return _flags(sglang_args(spec, dist_init_host=host)), values


def _flag_text(flag: str, value: str) -> str:
    return f"`{flag} {value}`" if value else f"`{flag}`"


def _changes(
    before: tuple[dict[str, str], dict[str, str]], after: tuple[dict[str, str], dict[str, str]]
) -> tuple[list[str], list[str]]:
    """The flags and env entries that differ between two builds, as table cells."""
    (old_flags, old_env), (new_flags, new_env) = before, after
    flags = [_flag_text(f, v) for f, v in new_flags.items() if old_flags.get(f) != v]
    flags += [f"no `{f}`" for f in old_flags if f not in new_flags]
    env = [f"`{k}={v}`" for k, v in new_env.items() if old_env.get(k) != v]
    env += [f"no `{k}`" for k in old_env if k not in new_env]
    return flags, env


def _key(cell: str) -> str:
    """The flag or variable a table cell is about: `--tp-size 4` -> --tp-size."""
    return cell.removeprefix("no ").strip("`").split(" ")[0].split("=")[0]


def _context_text(context: dict[str, Any], prefix: str = "") -> list[str]:
    """The dotted paths a sample's context sets."""
    found: list[str] = []
    for key, value in context.items():
        path = prefix + key
        found += _context_text(value, path + ".") if isinstance(value, dict) else [path]
    return found


def _quick_reference() -> list[str]:
    # Each field is shown against a one-pod and a two-pod copy: some (the rendezvous port)
    # only matter with several nodes.
    bases: list[dict[str, Any]] = [
        {"model": {"path": "Qwen/Qwen3-8B"}, "gpu": {"perNode": 8}},
        {"model": {"path": "Qwen/Qwen3-8B"}, "gpu": {"perNode": 8}, "parallelism": {"nodes": 2}},
    ]
    always = _effect(bases[0])[0]
    lines = [
        "## Spec fields to SGLang flags",
        "",
        "What each field changes on `python3 -m sglang.launch_server` and in the SGLang "
        "container's environment, computed by the operator's own builders from a spec with "
        "only that field changed (one AMD pod with 8 GPUs, and two such pods). Always set: "
        + ", ".join(_flag_text(f, v) for f, v in always.items())
        + ".",
        "",
        "| Field | Example | Flags | Environment |",
        "|---|---|---|---|",
    ]
    for sample in FLAG_SAMPLES:
        flags: list[str] = []
        env: list[str] = []
        for base in bases:
            before = _merge(base, sample.context)
            try:
                changes = _changes(
                    _effect(before), _effect(_merge(before, _nested(sample.path, sample.value)))
                )
            except ValidationError:
                continue  # not allowed with this base (dp > 1 needs one node)
            new_flags, new_env = changes
            # The first base's value of a flag or variable wins (the one-pod copy).
            flags += [f for f in new_flags if _key(f) not in {_key(g) for g in flags}]
            env += [e for e in new_env if _key(e) not in {_key(g) for g in env}]
        example = f"`{json.dumps(sample.value)}`"
        if sample.context:
            example += " with " + ", ".join(f"`{p}`" for p in _context_text(sample.context))
        lines.append(
            f"| `{sample.path}` | {example} | {', '.join(flags) or '-'} | {', '.join(env) or '-'} |"
        )
    lines += [
        "",
        "The other fields change neither:",
        "",
        "| Field | Changes |",
        "|---|---|",
    ]
    lines += [f"| `{path}` | {what} |" for path, what in OTHER_FIELDS.items()]
    return [*lines, ""]


SECTIONS: list[Callable[[], list[str]]] = [
    _phases,
    _conditions,
    _restart_timing,
    _names,
    _quick_reference,
]


def render() -> str:
    lines = [HEADER]
    for section in SECTIONS:
        lines += section()
    return "\n".join(lines).rstrip() + "\n"


FILE = GeneratedFile("docs/reference.md", render)
