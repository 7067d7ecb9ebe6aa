"""The SGLangDeployment API: pydantic models for spec and status, and their defaults.

The models are the single source of truth: the CRD schema is generated from them
(`crd.py`), and the operator parses every object through `parse_spec`, which applies the
defaults. The CRD itself carries no defaults, so the stored object stays exactly what the
user applied (no GitOps drift); every cross-field rule exists twice on purpose, as a CEL
rule here (refused at `kubectl apply`) and as a pydantic validator (refused by `render` and
by the operator, which then reports `InvalidSpec`), and tests keep the two in agreement.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal

from kubernetes.utils import parse_quantity
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict

from sglang_operator import naming, podtemplate, ports

# The SGLang release whose argument parser the tests check every generated command line
# against; the default images are pinned to the same release.
SGLANG_VERSION = "0.5.23"
DEFAULT_IMAGE_AMD = f"lmsysorg/sglang:v{SGLANG_VERSION}-rocm700-mi30x"
DEFAULT_IMAGE_NVIDIA = f"lmsysorg/sglang:v{SGLANG_VERSION}"
GPU_RESOURCE = {"amd": "amd.com/gpu", "nvidia": "nvidia.com/gpu"}

DEFAULT_GPUS_PER_NODE = 8
DEFAULT_NODES = 1
DEFAULT_PP = 1
DEFAULT_DP = 1
DEFAULT_PORT = 30000
DEFAULT_DIST_INIT_PORT = 5000
DEFAULT_CLUSTER_DOMAIN = "cluster.local"
DEFAULT_STARTUP_TIMEOUT_SECONDS = 3600
# The default period of the startup and readiness probes.
PROBE_PERIOD_SECONDS = 10
DEFAULT_SHM_SIZE = "32Gi"
DEFAULT_CACHE_MOUNT_PATH = "/root/.cache/huggingface"
DEFAULT_CACHE_ACCESS_MODE = "ReadWriteMany"
# A created weights claim outlives its SGLangDeployment unless told otherwise, as a
# StatefulSet's claims do (persistentVolumeClaimRetentionPolicy.whenDeleted: Retain): the
# weights can take hours to download, and `kubectl delete` is a common restart reflex.
DEFAULT_CACHE_WHEN_DELETED = "Retain"
IpFamily = Literal["IPv4", "IPv6", "DualStack"]
DEFAULT_IP_FAMILY: IpFamily = "IPv4"
SHM_MOUNT_PATH = "/dev/shm"
# The SGLang container's name, in the pods and in spec.podTemplate.spec.containers.
SGLANG_CONTAINER = "sglang"
# Pod volumes the operator defines (/dev/shm, the weights cache), by name.
SHM_VOLUME = "dshm"
WEIGHTS_VOLUME = "weights"
# Names of the ports the operator may declare on the SGLang container (see
# builders.listen_ports); a template may not declare ports of these names.
OPERATOR_PORT_NAMES = (
    "http",
    "dist",
    "nccl",
    "pd-bootstrap",
    "grpc",
    "gated-launch",
    "zmq-0",
    "zmq-1",
    "zmq-2",
    "zmq-3",
    "zmq-4",
    "zmq-5",
)
# Labels and annotations the operator sets on its pods: the selectors of its Services and
# StatefulSets, the rank (pod index, completion index) and the revision hash.
OPERATOR_LABELS = (
    naming.NAME_LABEL,
    naming.INSTANCE_LABEL,
    naming.COMPONENT_LABEL,
    naming.MANAGED_BY_LABEL,
    naming.GROUP_LABEL,
    naming.POD_INDEX_LABEL,
)
OPERATOR_ANNOTATIONS = (
    naming.POD_SPEC_HASH_ANNOTATION,
    naming.JOB_COMPLETION_INDEX_ANNOTATION,
)
# Pod fields only the operator sets: the rank's DNS name and the controllers' restart rules.
OPERATOR_POD_FIELDS = ("restartPolicy", "hostname", "subdomain")

# Tuning presets for AMD GPUs from the seed's run.sh, applied as env defaults (spec.env
# overrides each). All are read by the ROCm runtime or RCCL, not by SGLang:
# HSA_FORCE_FINE_GRAIN_PCIE (ROCr: fine-grained PCIe memory, needed for RCCL peer access
# over PCIe), HSA_ENABLE_SDMA (ROCr: 0 = copies by compute kernels instead of SDMA engines),
# GPU_MAX_HW_QUEUES (HIP: hardware queues per device), NCCL_DEBUG (RCCL log level).
# The seed's NCCL_MIN_NCHANNELS=16 is left out on purpose: the official ROCm image already
# sets 112, and 16 would lower RCCL's channel count.
ROCM_PRESET_ENV: dict[str, str] = {
    "HSA_FORCE_FINE_GRAIN_PCIE": "1",
    "HSA_ENABLE_SDMA": "0",
    "GPU_MAX_HW_QUEUES": "2",
    "NCCL_DEBUG": "WARN",
}

# The seed's environment contract, set by the operator on every SGLang pod (so an existing
# run.sh works as a custom command), plus the variable the API key flag expands. A user's
# env entry must not redefine them: the rank wiring depends on them.
RESERVED_ENV = (
    "NNODES",
    "NPROC_PER_NODE",
    "NODE_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "SGLANG_EXECUTION_MODE",
    "SGLANG_API_KEY",
)

# Bounds that keep the CRD's CEL cost estimates small and the stored objects sane.
MAX_NAME = 253
MAX_SHORT = 63
MAX_PATH = 1024
MAX_ARG = 4096
MAX_LIST = 64
MAX_MAP = 64

# A Kubernetes resource quantity ("16Gi", "500m", "8"), the regular expression of
# k8s.io/apimachinery's resource.Quantity.
QUANTITY_RE = r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
DNS_SUBDOMAIN_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
ENV_NAME_RE = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
# A Linux interface name (IFNAMSIZ 16 with its NUL; no '/', ':' or whitespace), as Gloo takes
# it, and NCCL_SOCKET_IFNAME's syntax: an optional ^ (exclude) and = (exact match) before a
# comma-separated list of names or name prefixes.
IFNAMSIZ = 16
IFNAME_RE = r"^[A-Za-z0-9_][-A-Za-z0-9_.@]{0,14}$"
NCCL_IFNAME_RE = r"^\^?=?[A-Za-z0-9_][-A-Za-z0-9_.@]*(,[A-Za-z0-9_][-A-Za-z0-9_.@]*)*$"

# The JSON schema fragment that marks a free-form value as int-or-string in the CRD.
INT_OR_STRING: JsonDict = {"x-kubernetes-int-or-string": True}
# The fragment for objects whose inner schema is Kubernetes' own (affinity, valueFrom):
# validated by the API server when the operator writes the pods, not duplicated here.
FREE_FORM: JsonDict = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}

Quantity = Annotated[str | int, Field(json_schema_extra=INT_OR_STRING)]
Arg = Annotated[str, Field(max_length=MAX_ARG)]
LabelKey = Annotated[str, Field(min_length=1, max_length=MAX_NAME + 1 + MAX_SHORT)]


class _Model(BaseModel):
    """Base of every spec model: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
    )

    def wire(self) -> dict[str, Any]:
        """The object as it appears on the wire: camelCase, unset fields left out."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def _check_quantity(value: str | int | None) -> str | int | None:
    if isinstance(value, str) and not re.match(QUANTITY_RE, value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (such as 16Gi, 500m, 8)")
    return value


class SecretKeyRef(_Model):
    """A key of a Secret in the deployment's namespace; the operator never reads it."""

    name: str = Field(
        max_length=MAX_NAME,
        pattern=DNS_SUBDOMAIN_RE,
        description="Name of the Secret, in the same namespace as the SGLangDeployment.",
    )
    key: str = Field(
        max_length=MAX_NAME,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="Key inside the Secret whose value is used.",
    )


class WeightsCacheSpec(_Model):
    """Where model weights are cached, shared by every pod of the deployment."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.claimName) != has(self.size)",
                    "message": "set exactly one of claimName (an existing PVC) or "
                    "size (a PVC the operator creates)",
                },
                {
                    "rule": "!has(self.claimName) || (!has(self.storageClassName) && "
                    "!has(self.accessMode) && !has(self.whenDeleted))",
                    "message": "storageClassName, accessMode and whenDeleted apply only to "
                    "a PVC the operator creates (size), not to an existing claimName",
                },
            ]
        }
    )

    claim_name: str | None = Field(
        default=None,
        max_length=MAX_NAME,
        pattern=DNS_SUBDOMAIN_RE,
        description="Use this existing PersistentVolumeClaim for the cache.",
    )
    size: Quantity | None = Field(
        default=None,
        description="Create a PersistentVolumeClaim of this size (such as 500Gi) for the cache.",
    )
    storage_class_name: str | None = Field(
        default=None,
        max_length=MAX_NAME,
        description="StorageClass of the created claim; the cluster default when unset.",
    )
    access_mode: Literal["ReadWriteMany", "ReadWriteOnce", "ReadOnlyMany"] | None = Field(
        default=None,
        description="Access mode of the created claim. Default ReadWriteMany, so pods on "
        "several nodes share it.",
    )
    mount_path: str | None = Field(
        default=None,
        max_length=MAX_PATH,
        pattern=r"^/",
        description="Where the cache is mounted; HF_HOME points there. "
        f"Default {DEFAULT_CACHE_MOUNT_PATH}.",
    )
    when_deleted: Literal["Retain", "Delete"] | None = Field(
        default=None,
        description="What happens to the created claim when the SGLangDeployment is "
        "deleted, as a StatefulSet's persistentVolumeClaimRetentionPolicy.whenDeleted: "
        "Retain keeps it (no owner reference; a deployment of the same name in the "
        "namespace reuses it), Delete lets the garbage collector remove it with the "
        f"deployment. Default {DEFAULT_CACHE_WHEN_DELETED}.",
    )

    _size_is_quantity = field_validator("size")(_check_quantity)

    @model_validator(mode="after")
    def _one_source(self) -> WeightsCacheSpec:
        if (self.claim_name is None) == (self.size is None):
            raise ValueError(
                "set exactly one of claimName (an existing PVC) or size "
                "(a PVC the operator creates)"
            )
        if self.claim_name is not None and (
            self.storage_class_name is not None
            or self.access_mode is not None
            or self.when_deleted is not None
        ):
            raise ValueError(
                "storageClassName, accessMode and whenDeleted apply only to a PVC the "
                "operator creates (size), not to an existing claimName"
            )
        return self

    @property
    def effective_mount_path(self) -> str:
        return self.mount_path or DEFAULT_CACHE_MOUNT_PATH

    @property
    def effective_access_mode(self) -> str:
        return self.access_mode or DEFAULT_CACHE_ACCESS_MODE

    @property
    def effective_when_deleted(self) -> str:
        return self.when_deleted or DEFAULT_CACHE_WHEN_DELETED


class ModelSpec(_Model):
    """The model to serve."""

    path: str = Field(
        min_length=1,
        max_length=MAX_PATH,
        description="Hugging Face model id (org/name) or a path inside the container.",
    )
    revision: str | None = Field(
        default=None,
        max_length=MAX_SHORT * 4,
        description="Model revision: a branch, tag or commit id on the Hugging Face hub.",
    )
    served_model_name: str | None = Field(
        default=None,
        max_length=MAX_NAME,
        pattern=r"^[^:]+$",
        description="Name the OpenAI-compatible API reports; no ':' (SGLang reserves it "
        "for LoRA adapters). Default: the model path.",
    )
    trust_remote_code: bool = Field(
        default=False,
        description="Allow the model repository's own Python code to run (--trust-remote-code).",
    )
    cache: WeightsCacheSpec | None = Field(
        default=None,
        description="A persistent weights cache, so restarts do not download again.",
    )
    hf_token_secret: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding a Hugging Face token, given to pods as HF_TOKEN.",
    )


class GpuSpec(_Model):
    """The GPUs each pod gets."""

    vendor: Literal["amd", "nvidia"] = Field(
        default="amd",
        description="GPU vendor: amd (ROCm) or nvidia (CUDA). Picks the default image, "
        "the GPU resource name and the ROCm presets.",
    )
    per_node: int = Field(
        default=DEFAULT_GPUS_PER_NODE,
        ge=1,
        le=16,
        description="GPUs per pod; one pod runs per node. Default 8.",
    )
    resource_name: str | None = Field(
        default=None,
        max_length=MAX_NAME,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[-a-zA-Z0-9_.]+$",
        description="Extended resource to request, overriding amd.com/gpu or nvidia.com/gpu.",
    )

    @property
    def effective_resource_name(self) -> str:
        return self.resource_name or GPU_RESOURCE[self.vendor]


class ParallelismSpec(_Model):
    """How one model copy is split over nodes and GPUs (SGLang's parallel sizes)."""

    nodes: int = Field(
        default=DEFAULT_NODES,
        ge=1,
        le=64,
        description="Pods (nodes) per model copy. Default 1.",
    )
    tp: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="Tensor parallel size (--tp-size). Default: every GPU of the copy, "
        "nodes * gpu.perNode / (pp * dp).",
    )
    pp: int = Field(default=DEFAULT_PP, ge=1, le=64, description="Pipeline parallel size.")
    dp: int = Field(
        default=DEFAULT_DP,
        ge=1,
        le=16,
        description="Data parallel replicas inside one pod (--dp-size); only with nodes 1.",
    )
    ep: int | None = Field(
        default=None,
        ge=1,
        le=1024,
        description="Expert parallel size for MoE models (--ep-size); must divide tp.",
    )


class NetworkSpec(_Model):
    """Networking between the pods of a multi-node model copy."""

    dist_init_port: int = Field(
        default=DEFAULT_DIST_INIT_PORT,
        ge=1,
        le=65535,
        description="Port of rank 0's rendezvous (--dist-init-addr). Default 5000.",
    )
    host_network: bool = Field(
        default=False,
        description="Run pods in the node's network namespace, for RDMA fabrics that need "
        "it; dnsPolicy is then ClusterFirstWithHostNet unless podTemplate.spec.dnsPolicy "
        "says otherwise.",
    )
    nccl_socket_ifname: str | None = Field(
        default=None,
        max_length=MAX_SHORT,
        pattern=NCCL_IFNAME_RE,
        description="NCCL_SOCKET_IFNAME for NCCL/RCCL's bootstrap and socket traffic, in "
        "NCCL's syntax: interface name prefixes, comma-separated, ^ to exclude, = for exact "
        "names (eth0, ib, ^lo,docker, =eth0). Never copied to Gloo (see glooSocketIfname).",
    )
    gloo_socket_ifname: str | None = Field(
        default=None,
        max_length=IFNAMSIZ - 1,
        pattern=IFNAME_RE,
        description="GLOO_SOCKET_IFNAME: the one interface torch.distributed's Gloo groups "
        "use, an exact name such as eth0 (no NCCL ^, = or comma syntax). When unset on a "
        "multi-node copy, each pod derives it at start from its route to rank 0.",
    )
    ip_family: IpFamily = Field(
        default=DEFAULT_IP_FAMILY,
        description="IP family of the pod network. IPv4: SGLang binds 0.0.0.0; IPv6 and "
        "DualStack: it binds :: (a dual-stack socket, so IPv4 also answers) and the probes "
        "check ::1 (IPv6) or 127.0.0.1 (DualStack). Default IPv4.",
    )
    rdma_resource_name: str | None = Field(
        default=None,
        max_length=MAX_NAME,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[-a-zA-Z0-9_.]+$",
        description="Extended resource of RDMA devices to request per pod "
        "(such as rdma/hca_shared_devices_a).",
    )
    rdma_count: int = Field(
        default=1,
        ge=1,
        le=64,
        description="How many rdmaResourceName devices each pod requests. Default 1.",
    )
    cluster_domain: str = Field(
        default=DEFAULT_CLUSTER_DOMAIN,
        max_length=MAX_NAME,
        pattern=DNS_SUBDOMAIN_RE,
        description="The cluster's DNS domain, in rank 0's name (--dist-init-addr, "
        f"MASTER_ADDR) and status.endpoint. Default {DEFAULT_CLUSTER_DOMAIN}.",
    )


class StartupProbeOverride(_Model):
    """Changes to one of the operator's probes; each unset field keeps the default."""

    path: str | None = Field(
        default=None,
        max_length=MAX_PATH,
        pattern=r"^/[-A-Za-z0-9_./?=&%~]*$",
        description="HTTP path rank 0 is checked on, such as /health_generate (a real "
        "generation) or /ready. Ranks >= 1 run SGLang's dummy health server and are always "
        "checked on /ping. With an API key the check sends it.",
    )
    period_seconds: int | None = Field(
        default=None, ge=1, le=3600, description="How often to probe (periodSeconds)."
    )
    timeout_seconds: int | None = Field(
        default=None, ge=1, le=3600, description="Seconds before one probe times out."
    )
    initial_delay_seconds: int | None = Field(
        default=None, ge=0, le=86400, description="Seconds before the first probe."
    )


class ProbeOverride(StartupProbeOverride):
    """Changes to one of the operator's probes; each unset field keeps the default."""

    failure_threshold: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="Consecutive failures that count as failed (failureThreshold).",
    )


class ProbesSpec(_Model):
    """Health checking of the SGLang pods."""

    startup_timeout_seconds: int = Field(
        default=DEFAULT_STARTUP_TIMEOUT_SECONDS,
        ge=60,
        le=86400,
        description="How long a pod may take to download, load and warm up the model "
        "before it counts as failed (after startup.initialDelaySeconds): the startup "
        "probe's failureThreshold is this over its periodSeconds. Default "
        f"{DEFAULT_STARTUP_TIMEOUT_SECONDS}; raise it for very large checkpoints.",
    )
    startup: StartupProbeOverride = Field(
        default_factory=StartupProbeOverride,
        description="The startup probe (default: /ping every 10s, timeout 5s; the HTTP port "
        "accepting connections when an API key is set).",
    )
    readiness: ProbeOverride = Field(
        default_factory=ProbeOverride,
        description="The readiness probe (default: /ready on rank 0 every 10s, timeout "
        "10s, 3 failures).",
    )
    liveness: ProbeOverride = Field(
        default_factory=ProbeOverride,
        description="The liveness probe (default: /ping every 30s, timeout 30s, 5 "
        "failures; the HTTP port accepting connections when an API key is set).",
    )


class RocmSpec(_Model):
    """AMD ROCm tuning."""

    presets: bool = Field(
        default=True,
        description="Set the ROCm/RCCL tuning variables (HSA_FORCE_FINE_GRAIN_PCIE=1, "
        "HSA_ENABLE_SDMA=0, GPU_MAX_HW_QUEUES=2, NCCL_DEBUG=WARN) on AMD pods; "
        "spec.env overrides each.",
    )


class ServerSpec(_Model):
    """SGLang server options."""

    port: int = Field(
        default=DEFAULT_PORT,
        ge=1,
        le=65535,
        description="HTTP port of the OpenAI-compatible API. Default 30000.",
    )
    mem_fraction_static: float | None = Field(
        default=None,
        gt=0,
        lt=1,
        description="Fraction of GPU memory for weights and KV cache (--mem-fraction-static).",
    )
    context_length: int | None = Field(
        default=None,
        ge=1,
        description="Maximum context length (--context-length); default from the model.",
    )
    attention_backend: str | None = Field(
        default=None,
        max_length=MAX_SHORT,
        pattern=r"^[a-z0-9_-]+$",
        description="Attention kernel backend (--attention-backend), such as aiter, "
        "triton, fa3, flashinfer; SGLang chooses when unset.",
    )
    disable_radix_cache: bool = Field(
        default=False,
        description="Turn off prefix (radix) caching (--disable-radix-cache).",
    )
    enable_metrics: bool = Field(
        default=True,
        description="Serve Prometheus metrics on /metrics (--enable-metrics). Default true.",
    )
    api_key_secret: SecretKeyRef | None = Field(
        default=None,
        description="Secret key holding the API key clients must send (--api-key).",
    )
    extra_args: list[Arg] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="More sglang.launch_server arguments, passed verbatim after the "
        "operator's own (Kubernetes $(VAR) expansion applies).",
    )


class WorkloadSpec(_Model):
    """The prompts a benchmark or an offline run sends (SGLang's benchmark dataset flags)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.datasetName) || self.datasetName == 'random-ids' "
                    "|| has(self.datasetPath)",
                    "message": "datasetName random and sharegpt need datasetPath (a ShareGPT "
                    "JSON file in the container); random-ids needs nothing",
                }
            ]
        }
    )

    dataset_name: Literal["random-ids", "random", "sharegpt"] = Field(
        default="random-ids",
        description="Prompt source: random-ids (random token ids, needs no download), "
        "random or sharegpt (both read datasetPath). Default random-ids.",
    )
    dataset_path: str | None = Field(
        default=None,
        max_length=MAX_PATH,
        description="Path of the dataset file inside the container (on the cache volume, "
        "for instance).",
    )
    num_prompts: int = Field(
        default=1000, ge=1, le=1_000_000, description="Number of prompts. Default 1000."
    )
    random_input_len: int = Field(
        default=1024, ge=1, le=1_048_576, description="Input tokens per prompt. Default 1024."
    )
    random_output_len: int = Field(
        default=1024, ge=1, le=1_048_576, description="Output tokens per prompt. Default 1024."
    )
    random_range_ratio: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Lengths are drawn from [len * ratio, len]; 1 means fixed lengths. Default 0.",
    )
    extra_args: list[Arg] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="More arguments for the benchmark command, passed verbatim, last.",
    )

    @model_validator(mode="after")
    def _dataset_path_when_needed(self) -> WorkloadSpec:
        if self.dataset_name != "random-ids" and self.dataset_path is None:
            raise ValueError(
                "datasetName random and sharegpt need datasetPath (a ShareGPT JSON file in "
                "the container); random-ids needs nothing"
            )
        return self


class BenchmarkSpec(WorkloadSpec):
    """A serving benchmark (sglang.benchmark.serving) run as a Job once the server is Ready."""

    enabled: bool = Field(
        default=False, description="Run the benchmark after the deployment becomes Ready."
    )
    backend: Literal["sglang", "sglang-oai", "sglang-oai-chat"] = Field(
        default="sglang-oai",
        description="API the benchmark calls: sglang (native /generate), sglang-oai "
        "(/v1/completions) or sglang-oai-chat (/v1/chat/completions). Default sglang-oai.",
    )
    request_rate: float | None = Field(
        default=None,
        gt=0,
        description="Requests per second; unset sends all requests at once (infinite rate).",
    )
    max_concurrency: int | None = Field(
        default=None, ge=1, le=100_000, description="Cap on requests in flight."
    )
    warmup_requests: int = Field(
        default=1, ge=0, le=10_000, description="Requests sent before measuring. Default 1."
    )


class OfflineSpec(WorkloadSpec):
    """The batch run of mode offline (sglang.benchmark.offline_throughput, in-process engine)."""


class EnvVar(_Model):
    """An environment variable of the SGLang container (Kubernetes EnvVar shape)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.value) != has(self.valueFrom)",
                    "message": "set exactly one of value or valueFrom",
                }
            ]
        }
    )

    name: str = Field(max_length=MAX_NAME, pattern=ENV_NAME_RE, description="Variable name.")
    value: str | None = Field(
        default=None, max_length=32768, description="Value ($(VAR) references expand)."
    )
    value_from: dict[str, Any] | None = Field(
        default=None,
        json_schema_extra=FREE_FORM,
        description="Kubernetes EnvVarSource: secretKeyRef, configMapKeyRef, fieldRef or "
        "resourceFieldRef.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> EnvVar:
        if (self.value is None) == (self.value_from is None):
            raise ValueError("set exactly one of value or valueFrom")
        return self


class Toleration(_Model):
    """A Kubernetes toleration."""

    key: str | None = Field(default=None, max_length=MAX_NAME * 2, description="Taint key.")
    operator: Literal["Exists", "Equal"] | None = Field(
        default=None, description="Exists or Equal (default Equal)."
    )
    value: str | None = Field(default=None, max_length=MAX_SHORT, description="Taint value.")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = Field(
        default=None, description="Taint effect to tolerate; all when unset."
    )
    toleration_seconds: int | None = Field(
        default=None, description="How long a NoExecute taint is tolerated."
    )


class ResourcesSpec(_Model):
    """CPU and memory of the SGLang container; the GPUs come from spec.gpu."""

    requests: dict[str, Quantity] = Field(
        default_factory=dict,
        max_length=16,
        description="Requested resources, such as cpu: 32, memory: 256Gi.",
    )
    limits: dict[str, Quantity] = Field(
        default_factory=dict,
        max_length=16,
        description="Resource limits. GPU and RDMA limits are set by the operator.",
    )

    @field_validator("requests", "limits")
    @classmethod
    def _quantities(cls, value: dict[str, str | int]) -> dict[str, str | int]:
        for quantity in value.values():
            _check_quantity(quantity)
        return value


class _Rule:
    """A cross-field rule: one CEL expression for the CRD, one Python check, one message."""

    def __init__(
        self, cel: str, message: str, check: Callable[[SGLangDeploymentSpec], bool]
    ) -> None:
        self.cel = cel
        self.message = message
        self._check = check

    def check(self, spec: SGLangDeploymentSpec) -> str | None:
        return None if self._check(spec) else self.message


def _cel_or(path: str, default: str) -> str:
    """CEL for "self.<path>, or `default` (CEL text) when unset": the CRD has no defaults."""
    parts = path.split(".")
    guards = " && ".join("has(self." + ".".join(parts[: i + 1]) + ")" for i in range(len(parts)))
    return f"({guards} ? self.{path} : {default})"


_NODES = _cel_or("parallelism.nodes", str(DEFAULT_NODES))
_PER_NODE = _cel_or("gpu.perNode", str(DEFAULT_GPUS_PER_NODE))
_PP = _cel_or("parallelism.pp", str(DEFAULT_PP))
_DP = _cel_or("parallelism.dp", str(DEFAULT_DP))
_TP = _cel_or("parallelism.tp", f"{_NODES} * {_PER_NODE} / ({_PP} * {_DP})")
_MODE = _cel_or("mode", "'server'")


def _cel_list(names: tuple[str, ...]) -> str:
    return "[" + ", ".join(repr(n) for n in names) + "]"


# CEL over spec.podTemplate (the CRD has no defaults: each level may be absent).
_PT_SPEC = "has(self.podTemplate) && has(self.podTemplate.spec)"


def _cel_template_spec(condition: str) -> str:
    """CEL: `condition` (over `t`, the template's pod spec) holds, or there is none.

    `t` is spelled out as its full path: a variable bound to it (`[x].all(t, ...)`) would
    lose the schema's size bounds in the API server's cost estimate."""
    spelled = re.sub(r"\bt\.", "self.podTemplate.spec.", condition)
    return f"!({_PT_SPEC}) || ({spelled})"


def _cel_sglang(condition: str) -> str:
    """CEL: `condition` holds for the template's sglang container `c`, if any."""
    return _cel_template_spec(
        f"!has(t.containers) || t.containers.all(c, c.name != '{SGLANG_CONTAINER}' || "
        f"({condition}))"
    )


def _template_pod(s: SGLangDeploymentSpec) -> dict[str, Any]:
    pod: dict[str, Any] = (s.pod_template or {}).get("spec") or {}
    return pod


def _template_meta(s: SGLangDeploymentSpec, key: str) -> dict[str, Any]:
    meta: dict[str, Any] = ((s.pod_template or {}).get("metadata") or {}).get(key) or {}
    return meta


def template_container(s: SGLangDeploymentSpec) -> dict[str, Any]:
    """The template's entry for the SGLang container ({} when it has none)."""
    for container in _template_pod(s).get("containers") or []:
        if container.get("name") == SGLANG_CONTAINER:
            return dict(container)
    return {}


def _template_ports(s: SGLangDeploymentSpec) -> list[dict[str, Any]]:
    return [
        port
        for container in _template_pod(s).get("containers") or []
        for port in container.get("ports") or []
    ]


_CACHE_PATH = _cel_or("model.cache.mountPath", repr(DEFAULT_CACHE_MOUNT_PATH))
_PORT = _cel_or("server.port", str(DEFAULT_PORT))
_DIST_PORT = _cel_or("network.distInitPort", str(DEFAULT_DIST_INIT_PORT))
_HOST_NETWORK = _cel_or("network.hostNetwork", "false")

TEMPLATE_RULES: tuple[_Rule, ...] = (
    _Rule(
        # Map lookups, not a walk over the keys: keys have no length bound for the cost
        # estimate.
        cel="!has(self.podTemplate) || !has(self.podTemplate.metadata) || "
        "!has(self.podTemplate.metadata.labels) || "
        f"!{_cel_list(OPERATOR_LABELS)}.exists(k, k in self.podTemplate.metadata.labels)",
        message="podTemplate.metadata.labels: "
        + ", ".join(OPERATOR_LABELS)
        + " are set by the operator (its selectors and the rank use them)",
        check=lambda s: not set(_template_meta(s, "labels")) & set(OPERATOR_LABELS),
    ),
    _Rule(
        cel="!has(self.podTemplate) || !has(self.podTemplate.metadata) || "
        "!has(self.podTemplate.metadata.annotations) || "
        f"!{_cel_list(OPERATOR_ANNOTATIONS)}.exists(k, k in self.podTemplate.metadata.annotations)",
        message="podTemplate.metadata.annotations: "
        + ", ".join(OPERATOR_ANNOTATIONS)
        + " are set by the operator and its controllers",
        check=lambda s: not set(_template_meta(s, "annotations")) & set(OPERATOR_ANNOTATIONS),
    ),
    _Rule(
        cel=_cel_template_spec("!has(t.hostNetwork)"),
        message="podTemplate.spec.hostNetwork: set spec.network.hostNetwork instead (the "
        "operator then also sets dnsPolicy ClusterFirstWithHostNet and declares SGLang's ports)",
        check=lambda s: "hostNetwork" not in _template_pod(s),
    ),
    _Rule(
        # Kubernetes' kubelet resolves a hostNetwork pod's ClusterFirst like Default: with
        # the node's resolver, which knows no Service names.
        cel=_cel_template_spec(
            f"!has(t.dnsPolicy) || {_NODES} == 1 || !(t.dnsPolicy == 'Default' || "
            f"(t.dnsPolicy == 'ClusterFirst' && {_HOST_NETWORK}))"
        ),
        message="podTemplate.spec.dnsPolicy: with parallelism.nodes > 1 ranks resolve rank 0's "
        "Service name, which Default cannot, nor ClusterFirst under network.hostNetwork; use "
        "ClusterFirstWithHostNet, ClusterFirst without hostNetwork, or None with a dnsConfig",
        check=lambda s: (
            s.parallelism.nodes == 1
            or _template_pod(s).get("dnsPolicy")
            not in ("Default", "ClusterFirst" if s.network.host_network else "Default")
        ),
    ),
    _Rule(
        cel=_cel_template_spec(" && ".join(f"!has(t.{f})" for f in OPERATOR_POD_FIELDS)),
        message="podTemplate.spec: "
        + ", ".join(OPERATOR_POD_FIELDS)
        + " are set by the operator (its controllers' restart rules and the ranks' DNS names)",
        check=lambda s: not set(_template_pod(s)) & set(OPERATOR_POD_FIELDS),
    ),
    _Rule(
        cel=_cel_sglang("!has(c.command) && !has(c.args)"),
        message=f"podTemplate.spec.containers[{SGLANG_CONTAINER}]: command and args are the "
        "operator's (the rank wiring); add SGLang flags with spec.server.extraArgs",
        check=lambda s: not {"command", "args"} & set(template_container(s)),
    ),
    _Rule(
        cel=_cel_sglang(f"!has(c.env) || c.env.all(e, !(e.name in {_cel_list(RESERVED_ENV)}))"),
        message=f"podTemplate.spec.containers[{SGLANG_CONTAINER}].env: "
        + ", ".join(RESERVED_ENV)
        + " are set by the operator (rank wiring and API key) and cannot be redefined",
        check=lambda s: (
            not any(e.get("name") in RESERVED_ENV for e in template_container(s).get("env") or [])
        ),
    ),
    _Rule(
        cel=_cel_sglang("!has(c.startupProbe) && !has(c.readinessProbe) && !has(c.livenessProbe)"),
        message=f"podTemplate.spec.containers[{SGLANG_CONTAINER}]: startupProbe, readinessProbe "
        "and livenessProbe are set through spec.probes",
        check=lambda s: (
            not {"startupProbe", "readinessProbe", "livenessProbe"} & set(template_container(s))
        ),
    ),
    _Rule(
        cel=_cel_sglang(
            f"!has(c.volumeMounts) || c.volumeMounts.all(m, m.mountPath != '{SHM_MOUNT_PATH}' "
            f"&& (!has(self.model.cache) || m.mountPath != {_CACHE_PATH}))"
        ),
        message=f"podTemplate.spec.containers[{SGLANG_CONTAINER}].volumeMounts: "
        f"{SHM_MOUNT_PATH} (spec.shmSize) and the weights cache's mountPath (spec.model.cache) "
        "are mounted by the operator",
        check=lambda s: (
            not any(
                m.get("mountPath") == SHM_MOUNT_PATH
                or (
                    s.model.cache is not None
                    and m.get("mountPath") == s.model.cache.effective_mount_path
                )
                for m in template_container(s).get("volumeMounts") or []
            )
        ),
    ),
    _Rule(
        cel=_cel_template_spec(
            f"!has(t.volumes) || t.volumes.all(v, v.name != '{SHM_VOLUME}' && "
            f"v.name != '{WEIGHTS_VOLUME}')"
        ),
        message=f"podTemplate.spec.volumes: {SHM_VOLUME} and {WEIGHTS_VOLUME} are the "
        "operator's volumes (spec.shmSize, spec.model.cache); give yours other names",
        check=lambda s: (
            not any(
                v.get("name") in (SHM_VOLUME, WEIGHTS_VOLUME)
                for v in _template_pod(s).get("volumes") or []
            )
        ),
    ),
    _Rule(
        cel=_cel_template_spec(
            f"!has(t.initContainers) || t.initContainers.all(c, c.name != '{SGLANG_CONTAINER}')"
        ),
        message=f"podTemplate.spec.initContainers: the name {SGLANG_CONTAINER} is the SGLang "
        "container's",
        check=lambda s: (
            not any(
                c.get("name") == SGLANG_CONTAINER
                for c in _template_pod(s).get("initContainers") or []
            )
        ),
    ),
    _Rule(
        cel=_cel_template_spec(
            "!has(t.containers) || t.containers.all(c, !has(c.ports) || c.ports.all(p, "
            f"p.containerPort != {_PORT} && p.containerPort != {_DIST_PORT} && "
            f"(!has(p.name) || !(p.name in {_cel_list(OPERATOR_PORT_NAMES)}))))"
        ),
        message="podTemplate.spec.containers[].ports: server.port, network.distInitPort and "
        "the port names " + ", ".join(OPERATOR_PORT_NAMES) + " are the operator's",
        check=lambda s: (
            not any(
                p.get("containerPort") in (s.server.port, s.network.dist_init_port)
                or p.get("name") in OPERATOR_PORT_NAMES
                for p in _template_ports(s)
            )
        ),
    ),
)

CROSS_FIELD_RULES: tuple[_Rule, ...] = (
    _Rule(
        cel=f"{_TP} >= 1 && {_TP} * {_PP} * {_DP} <= {_NODES} * {_PER_NODE}",
        message="parallelism: tp * pp * dp must fit in the copy's GPUs "
        "(parallelism.nodes * gpu.perNode)",
        check=lambda s: s.tp >= 1 and s.tp * s.parallelism.pp * s.parallelism.dp <= s.gpus_per_copy,
    ),
    _Rule(
        cel=f"({_TP} * {_PP}) % {_NODES} == 0",
        message="parallelism: tp * pp must be a multiple of parallelism.nodes "
        "(SGLang spreads its ranks evenly over the nodes)",
        check=lambda s: (s.tp * s.parallelism.pp) % s.parallelism.nodes == 0,
    ),
    _Rule(
        cel=f"{_DP} == 1 || {_NODES} == 1",
        message="parallelism: dp > 1 needs nodes 1 (SGLang refuses multi-node data "
        "parallelism; use extraArgs --attn-dp-size for attention DP across nodes)",
        check=lambda s: s.parallelism.dp == 1 or s.parallelism.nodes == 1,
    ),
    _Rule(
        cel=f"!has(self.parallelism) || !has(self.parallelism.ep) || "
        f"{_TP} % self.parallelism.ep == 0",
        message="parallelism: ep must divide tp",
        check=lambda s: s.parallelism.ep is None or s.tp % s.parallelism.ep == 0,
    ),
    _Rule(
        cel="!has(self.env) || self.env.all(e, !(e.name in "
        + "["
        + ", ".join(repr(n) for n in RESERVED_ENV)
        + "]))",
        message="env: "
        + ", ".join(RESERVED_ENV)
        + " are set by the operator (rank wiring and API key) and cannot be redefined",
        check=lambda s: not any(e.name in RESERVED_ENV for e in s.env),
    ),
    _Rule(
        cel=f"{_MODE} == 'server' || !has(self.benchmark) || !has(self.benchmark.enabled) "
        "|| !self.benchmark.enabled",
        message="benchmark: a serving benchmark needs mode server; mode offline runs "
        "spec.offline instead",
        check=lambda s: s.mode == "server" or not s.benchmark.enabled,
    ),
    *TEMPLATE_RULES,
)


def _pod_template_schema(schema: JsonDict) -> None:
    """spec.podTemplate's CRD schema: Kubernetes' own, trimmed (see podtemplate.py)."""
    schema.clear()
    schema.update(podtemplate.schema())


class SGLangDeploymentSpec(_Model):
    """Desired state of an SGLangDeployment: a model served by SGLang on GPU pods."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": r.cel, "message": r.message} for r in CROSS_FIELD_RULES
            ]
        }
    )

    model: ModelSpec = Field(description="The model to serve.")
    image: str | None = Field(
        default=None,
        max_length=MAX_PATH,
        description="SGLang container image. Default: "
        f"{DEFAULT_IMAGE_AMD} for amd, {DEFAULT_IMAGE_NVIDIA} for nvidia.",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", description="Image pull policy. Default IfNotPresent."
    )
    image_pull_secrets: list[Annotated[str, Field(max_length=MAX_NAME)]] = Field(
        default_factory=list,
        max_length=16,
        description="Names of Secrets to pull the image with.",
    )
    gpu: GpuSpec = Field(default_factory=GpuSpec, description="GPUs per pod.")
    parallelism: ParallelismSpec = Field(
        default_factory=ParallelismSpec, description="How one model copy spreads over GPUs."
    )
    replicas: int = Field(
        default=1,
        ge=0,
        le=256,
        description="Independent model copies, each a group of parallelism.nodes pods. "
        "Default 1. Set it explicitly to use kubectl scale or an autoscaler.",
    )
    mode: Literal["server", "offline"] = Field(
        default="server",
        description="server: a long-running OpenAI-compatible endpoint; offline: one batch "
        "run (spec.offline) as an Indexed Job that then completes.",
    )
    server: ServerSpec = Field(default_factory=ServerSpec, description="Server options.")
    env: list[EnvVar] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Extra environment variables; they override the operator's defaults "
        "(ROCm presets included) but may not redefine " + ", ".join(RESERVED_ENV) + ".",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
        },
    )
    resources: ResourcesSpec = Field(
        default_factory=ResourcesSpec, description="CPU and memory of the SGLang container."
    )
    shm_size: Quantity = Field(
        default=DEFAULT_SHM_SIZE,
        description=f"Size of /dev/shm (a memory emptyDir; NCCL/RCCL need GiBs). "
        f"Default {DEFAULT_SHM_SIZE}.",
    )
    node_selector: dict[str, Annotated[str, Field(max_length=MAX_SHORT)]] = Field(
        default_factory=dict, max_length=MAX_MAP, description="Node selector of the pods."
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, max_length=MAX_LIST, description="Tolerations of the pods."
    )
    affinity: dict[str, Any] | None = Field(
        default=None,
        json_schema_extra=FREE_FORM,
        description="Kubernetes Affinity of the pods (nodeAffinity, podAntiAffinity, ...).",
    )
    priority_class_name: str | None = Field(
        default=None, max_length=MAX_NAME, description="PriorityClass of the pods."
    )
    scheduler_name: str | None = Field(
        default=None,
        max_length=MAX_NAME,
        description="Scheduler of the pods, such as a gang scheduler.",
    )
    pod_annotations: dict[LabelKey, Annotated[str, Field(max_length=MAX_ARG)]] = Field(
        default_factory=dict, max_length=MAX_MAP, description="Extra annotations of the pods."
    )
    pod_labels: dict[LabelKey, Annotated[str, Field(max_length=MAX_SHORT)]] = Field(
        default_factory=dict,
        max_length=MAX_MAP,
        description="Extra labels of the pods; the operator's own labels win on conflict.",
    )
    network: NetworkSpec = Field(
        default_factory=NetworkSpec, description="Networking of multi-node groups."
    )
    probes: ProbesSpec = Field(default_factory=ProbesSpec, description="Health checking.")
    pod_template: dict[str, Any] | None = Field(
        default=None,
        json_schema_extra=_pod_template_schema,
        description="A partial pod template merged over the SGLang pods (server and offline; "
        "not the benchmark Job).",
    )
    rocm: RocmSpec = Field(default_factory=RocmSpec, description="AMD ROCm tuning.")
    benchmark: BenchmarkSpec = Field(
        default_factory=BenchmarkSpec,
        description="A serving benchmark run once the server is Ready (mode server).",
    )
    offline: OfflineSpec = Field(
        default_factory=OfflineSpec,
        description="The batch workload of mode offline; ignored in mode server. "
        "sglang.benchmark.offline_throughput has no random-ids dataset: it runs random "
        "prompts and, for them and its warm-up, reads ShareGPT from datasetPath or downloads "
        "it through the Hugging Face hub; air-gapped clusters set datasetPath.",
    )

    _shm_is_quantity = field_validator("shm_size")(_check_quantity)

    @field_validator("pod_template")
    @classmethod
    def _template_shape(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """The shapes the checks below read (the CRD schema checks the rest at apply)."""
        if value is None:
            return None
        for key in ("metadata", "spec"):
            if not isinstance(value.get(key, {}), dict):
                raise ValueError(f"podTemplate.{key} must be an object")
        pod = value.get("spec") or {}
        for key in ("containers", "initContainers", "volumes"):
            items = pod.get(key, [])
            if not isinstance(items, list) or not all(
                isinstance(i, dict) and isinstance(i.get("name"), str) for i in items
            ):
                raise ValueError(f"podTemplate.spec.{key} must be a list of objects with a name")
        for container in pod.get("containers", []):
            for key in ("env", "ports", "volumeMounts"):
                items = container.get(key, [])
                if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
                    raise ValueError(
                        f"podTemplate.spec.containers[].{key} must be a list of objects"
                    )
        return value

    @property
    def effective_image(self) -> str:
        if self.image:
            return self.image
        return DEFAULT_IMAGE_AMD if self.gpu.vendor == "amd" else DEFAULT_IMAGE_NVIDIA

    @property
    def tp(self) -> int:
        """Tensor parallel size, defaulted to every GPU of a copy left by pp and dp."""
        if self.parallelism.tp is not None:
            return self.parallelism.tp
        p = self.parallelism
        return p.nodes * self.gpu.per_node // (p.pp * p.dp)

    @property
    def gpus_per_copy(self) -> int:
        return self.parallelism.nodes * self.gpu.per_node

    @property
    def total_gpus(self) -> int:
        """GPUs requested by all copies (status.gpus)."""
        return self.replicas * self.gpus_per_copy

    @model_validator(mode="after")
    def _cross_field_rules(self) -> SGLangDeploymentSpec:
        for rule in CROSS_FIELD_RULES:
            message = rule.check(self)
            if message:
                raise ValueError(message)
        for check in OPERATOR_CHECKS:
            message = check(self)
            if message:
                raise ValueError(message)
        return self


# ---- checks only the operator can make (InvalidSpec; also run by `sglang-operator render`) ----


def _check_template_fields(s: SGLangDeploymentSpec) -> str | None:
    """Fields the template's schema does not know (the API server prunes them silently when
    a client skips strict field validation)."""
    unknown = podtemplate.unknown_fields(s.pod_template or {})
    if unknown:
        return "podTemplate: unknown fields " + ", ".join(unknown[:5])
    return None


def _check_template_resources(s: SGLangDeploymentSpec) -> str | None:
    resources = template_container(s).get("resources") or {}
    owned = {s.gpu.effective_resource_name}
    if s.network.rdma_resource_name:
        owned.add(s.network.rdma_resource_name)
    for kind in ("requests", "limits"):
        clash = sorted(owned & set(resources.get(kind) or {}))
        if clash:
            return (
                f"podTemplate.spec.containers[{SGLANG_CONTAINER}].resources.{kind}: "
                + ", ".join(clash)
                + " are set by the operator (spec.gpu, spec.network.rdmaResourceName)"
            )
    return None


def memory_limit(s: SGLangDeploymentSpec) -> str | int | None:
    """The SGLang container's memory limit: the template's, else spec.resources'."""
    limits = (template_container(s).get("resources") or {}).get("limits") or {}
    value: str | int | None = limits.get("memory", s.resources.limits.get("memory"))
    return value


def _check_shm(s: SGLangDeploymentSpec) -> str | None:
    """A memory-backed /dev/shm is charged to the container's memory limit (and the kubelet
    caps its size there): one as large as the limit leaves the process no memory."""
    limit = memory_limit(s)
    if limit is None:
        return None
    # kubernetes.utils.parse_quantity: the Kubernetes client's parser (Decimal, in units).
    shm = parse_quantity(s.shm_size)  # type: ignore[no-untyped-call]
    if shm >= parse_quantity(limit):  # type: ignore[no-untyped-call]
        return (
            f"shmSize: {s.shm_size} leaves nothing of the SGLang container's memory limit "
            f"({limit}): a memory-backed /dev/shm counts against it; lower shmSize or raise "
            "the limit"
        )
    return None


def _check_template_ports(s: SGLangDeploymentSpec) -> str | None:
    sglang = ports.listen_ports(
        s.server.extra_args,
        port=s.server.port,
        dist_init_port=s.network.dist_init_port,
        nodes=s.parallelism.nodes,
    )
    for declared in _template_ports(s):
        for name, number in sglang:
            if declared.get("containerPort") == number:
                return (
                    f"podTemplate.spec.containers[].ports: {number} is SGLang's {name} port "
                    "(declared by the operator)"
                )
    return None


OPERATOR_CHECKS: tuple[Callable[[SGLangDeploymentSpec], str | None], ...] = (
    _check_template_fields,
    _check_template_resources,
    _check_template_ports,
    _check_shm,
)


# ---- status -------------------------------------------------------------------------------


class _Status(BaseModel):
    """Base of the status models: camelCase; unknown fields kept, never refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    def wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


Phase = Literal["Pending", "Initializing", "Ready", "Degraded", "Failed", "Succeeded"]
# What each phase means (docs/reference.md is generated from it; a test keeps it complete).
PHASE_MEANING: dict[str, str] = {
    "Pending": "Objects are created; no SGLang pod runs yet (scheduling, image pull).",
    "Initializing": "Pods run and the model loads; not every copy serves yet.",
    "Ready": "Every copy serves (also between the steps of a rollout: see Progressing).",
    "Degraded": "Something needs attention; the Degraded condition's reason and message say "
    "what. Copies that serve keep serving.",
    "Failed": "Nothing serves and the operator cannot go on: an invalid spec with nothing "
    "running, or a failed offline run.",
    "Succeeded": "mode offline: every offline run completed.",
}


class Condition(_Status):
    """A metav1.Condition."""

    type: str = Field(max_length=316, description="Condition type, such as Ready.")
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(
        default="", max_length=1024, description="CamelCase reason of the last transition."
    )
    message: str = Field(default="", max_length=32768, description="Human-readable detail.")
    last_transition_time: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="When the status last changed (RFC 3339).",
    )
    observed_generation: int | None = Field(
        default=None, ge=0, description="The .metadata.generation the condition is about."
    )


class BenchmarkResult(_Status):
    """Results of the last serving benchmark (sglang.benchmark.serving's JSON line)."""

    request_throughput: float | None = Field(default=None, description="Requests per second.")
    output_throughput: float | None = Field(default=None, description="Output tokens per second.")
    median_ttft_ms: float | None = Field(default=None, description="Median time to first token.")
    p99_ttft_ms: float | None = Field(default=None, description="p99 time to first token.")
    median_itl_ms: float | None = Field(default=None, description="Median inter-token latency.")
    p99_itl_ms: float | None = Field(default=None, description="p99 inter-token latency.")
    completed: int | None = Field(default=None, description="Requests that completed.")
    failed: int | None = Field(default=None, description="Requests that failed.")
    completed_at: str | None = Field(
        default=None,
        json_schema_extra={"format": "date-time"},
        description="When the benchmark finished (RFC 3339).",
    )
    generation: int | None = Field(
        default=None, description="The .metadata.generation the benchmark ran against."
    )
    results_config_map: str | None = Field(
        default=None, description="ConfigMap holding the full JSON results."
    )


class GroupStatus(_Status):
    """One replica group as the operator last saw it, and what it must remember about it."""

    index: int = Field(ge=0, description="Group index: pods <name>-<index>-<rank>.")
    ready: bool = Field(default=False, description="All pods run and rank 0 is Ready.")
    members: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list,
        max_length=256,
        description="UIDs of the pods of the group's current incarnation, recorded once all "
        "ran; a member that disappears means the group must restart together.",
    )
    restarts: list[Annotated[str, Field(max_length=32)]] = Field(
        default_factory=list,
        max_length=32,
        description="When the operator restarted the group, within the restart budget's "
        "window (RFC 3339).",
    )


class SGLangDeploymentStatus(_Status):
    """Observed state of an SGLangDeployment, written by the operator."""

    observed_generation: int | None = Field(
        default=None, description="The .metadata.generation this status describes."
    )
    phase: Phase | None = Field(
        default=None,
        description="Pending, Initializing, Ready, Degraded, Failed or Succeeded (offline).",
    )
    conditions: list[Condition] = Field(
        default_factory=list,
        max_length=32,
        description="Ready, Progressing, Degraded, and more (metav1.Condition).",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["type"],
        },
    )
    replicas: int | None = Field(default=None, description="Model copies that exist.")
    nodes: int | None = Field(
        default=None, description="Pods (nodes) per model copy, after defaulting."
    )
    gpus: int | None = Field(
        default=None, description="GPUs requested by all model copies (replicas * nodes * perNode)."
    )
    ready_replicas: int | None = Field(default=None, description="Model copies that serve.")
    endpoint: str | None = Field(
        default=None, description="In-cluster URL of the OpenAI-compatible API."
    )
    selector: str | None = Field(
        default=None, description="Label selector of the server pods (scale subresource)."
    )
    message: str | None = Field(
        default=None, description="Why the deployment is in its phase, for humans."
    )
    benchmark: BenchmarkResult | None = Field(
        default=None, description="Results of the last benchmark."
    )
    groups: list[GroupStatus] = Field(
        default_factory=list,
        max_length=256,
        description="Per replica group: readiness, members and recent restarts.",
    )


# ---- parsing --------------------------------------------------------------------------------


def parse_spec(spec: Mapping[str, Any]) -> SGLangDeploymentSpec:
    """Validate and default a spec as found in the object; raises pydantic's ValidationError."""
    return SGLangDeploymentSpec.model_validate(dict(spec))


def format_validation_error(error: ValidationError) -> str:
    """One line per problem, `spec.path.to.field: message`, for status messages and the CLI."""
    lines = []
    for item in error.errors():
        location = ".".join(str(part) for part in ("spec", *item["loc"]))
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"{location}: {message}")
    return "; ".join(lines)
