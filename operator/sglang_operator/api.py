"""The SGLangDeployment API: pydantic models for spec and status, and their defaults.

The models are the single source of truth: the CRD schema is generated from them
(`crd.py`), and the operator parses every object through `parse_spec`, which applies the
defaults. The CRD itself carries no defaults (but spec.replicas, for the scale
subresource), so the stored object stays what the user applied (no GitOps drift); every
cross-field rule exists twice on purpose, as a CEL rule here (refused at `kubectl apply`)
and as a pydantic validator (refused by `render` and by the operator, which then reports
`InvalidSpec`), and tests keep the two in agreement.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

from kubernetes.utils.quantity import parse_quantity as _parse_quantity
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.config import JsonDict
from pydantic_core import InitErrorDetails, PydanticCustomError

from sglang_operator import naming, podtemplate, podvalidation, ports
from sglang_operator.podvalidation import (
    DNS_SUBDOMAIN_RE,
    MAX_NAME,
    MAX_SHORT,
    PORT_NAME_MESSAGE,
)

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
DEFAULT_RESTART_BUDGET = 5
DEFAULT_RESTART_WINDOW_SECONDS = 1800
DEFAULT_RESTART_BACKOFF_SECONDS = 30
DEFAULT_RESTART_BACKOFF_MAX_SECONDS = 600
DEFAULT_UNREACHABLE_NODE_TIMEOUT_SECONDS = 120
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
    naming.GROUP_SIZE_ENV,
    "NPROC_PER_NODE",
    "NODE_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "SGLANG_EXECUTION_MODE",
    "SGLANG_API_KEY",
)

# Bounds that keep the CRD's CEL cost estimates small and the stored objects sane (with
# MAX_NAME and MAX_SHORT, Kubernetes' name lengths, which podvalidation holds).
MAX_PATH = 1024
# One command-line argument: the owned-flag rule's CEL cost grows with it (x MAX_LIST args).
MAX_ARG = 1024
MAX_LIST = 64
MAX_MAP = 64
MAX_QUANTITY = 32
# The API server refuses an object whose annotations total more than 256 KiB
# (apimachinery's TotalAnnotationSizeLimitB); MAX_MAP keys of MAX_QUALIFIED_NAME and values
# of this length stay below it with room for the operator's own annotations.
MAX_ANNOTATION_VALUE = 3584

# The syntax the API server checks, from k8s.io/apimachinery/pkg/util/validation (a
# qualified name is a label or annotation key: an optional DNS subdomain prefix and "/", then
# a name of at most 63 characters) and api/resource (a Quantity; the sign is left out
# because every quantity here must be non-negative). DNS_SUBDOMAIN_RE is podvalidation's.
DNS_LABEL_RE = r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
_QUALIFIED_NAME_PART = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"
_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
QUALIFIED_NAME_RE = rf"^({_SUBDOMAIN}/)?{_QUALIFIED_NAME_PART}$"
# Annotation keys are checked lower-cased, so their prefix may have capitals.
ANNOTATION_KEY_RE = rf"^({_SUBDOMAIN.replace('a-z0-9', 'A-Za-z0-9')}/)?{_QUALIFIED_NAME_PART}$"
# The prefix of a qualified name is at most 253 characters (the regexes bound the name).
QUALIFIED_NAME_LENGTH_RE = r"^([^/]{1,253}/)?[^/]+$"
MAX_QUALIFIED_NAME = MAX_NAME + 1 + MAX_SHORT
LABEL_VALUE_RE = r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$"
QUANTITY_RE = rf"^\+?{podtemplate.QUANTITY_NUMBER}{podtemplate.QUANTITY_SUFFIX}$"
# Also requires a non-zero digit before the suffix: sizes of volumes must be positive.
POSITIVE_QUANTITY_RE = (
    r"^\+?([0-9]*[1-9][0-9]*(\.[0-9]*)?|[0-9]*\.[0-9]*[1-9][0-9]*)"
    rf"{podtemplate.QUANTITY_SUFFIX}$"
)
# A container resource name: a standard one, or an extended resource with a domain
# (resource names of the kubernetes.io domains other than the standard ones are refused).
RESOURCE_NAME_RE = (
    r"^(cpu|memory|ephemeral-storage|hugepages-[0-9]+([KMGTPE]i|[kMGTPE])?|"
    rf"{_SUBDOMAIN}/{_QUALIFIED_NAME_PART})$"
)
ENV_NAME_RE = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
# A Linux interface name (IFNAMSIZ 16 with its NUL; no '/', ':' or whitespace), as Gloo takes
# it, and NCCL_SOCKET_IFNAME's syntax: an optional ^ (exclude) and = (exact match) before a
# comma-separated list of names or name prefixes.
IFNAMSIZ = 16
IFNAME_RE = r"^[A-Za-z0-9_][-A-Za-z0-9_.@]{0,14}$"
NCCL_IFNAME_RE = r"^\^?=?[A-Za-z0-9_][-A-Za-z0-9_.@]*(,[A-Za-z0-9_][-A-Za-z0-9_.@]*)*$"
# A container image reference, [domain[:port]/]path[:tag][@digest], as the kubelet parses
# every container image and image volume (distribution/reference's ParseNormalizedNamed; one it
# refuses leaves the pod in InvalidImageName, after the API server accepted it). The grammar
# is that library's ReferenceRegexp (regexp.go), written with ASCII classes (Python's and
# Rust's \w match any letter) and with the digests digest.Parse accepts: sha256, sha384 or
# sha512 in lowercase hex of the hash's length. ParseNormalizedNamed's two other refusals, a
# name over 255 characters and a bare 64-digit hexadecimal name, are `_check_image`'s.
_IMAGE_PATH = r"[a-z0-9]+((\.|_{1,2}|-+)[a-z0-9]+)*"
_IMAGE_DOMAIN = r"[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?"
_IMAGE_HOST = rf"(({_IMAGE_DOMAIN}(\.{_IMAGE_DOMAIN})*)|\[[a-fA-F0-9:]+\])(:[0-9]+)?"
IMAGE_REFERENCE_RE = (
    rf"^({_IMAGE_HOST}/)?{_IMAGE_PATH}(/{_IMAGE_PATH})*(:[A-Za-z0-9_][-A-Za-z0-9_.]{{0,127}})?"
    r"(@sha(256:[a-f0-9]{64}|384:[a-f0-9]{96}|512:[a-f0-9]{128}))?$"
)
MAX_IMAGE_NAME = 255
# A normalized absolute path: no empty, "." or ".." segment and no trailing "/", so that two
# mount paths clash exactly when their strings are equal.
MOUNT_PATH_RE = r"^(/([^/.][^/]*|\.[^/.][^/]*|\.\.[^/]+))+$"

# The JSON schema fragment that marks a free-form value as int-or-string in the CRD.
INT_OR_STRING: JsonDict = {"x-kubernetes-int-or-string": True}


PROBLEMS_ERROR = "spec_problems"


def _refuse(problems: list[str]) -> None:
    """Raises every problem (`field: message`, the field below spec as `kubectl apply` names
    it) as one pydantic error of type PROBLEMS_ERROR, which `validation_problems` expands to one
    line each."""
    if problems:
        raise PydanticCustomError(
            PROBLEMS_ERROR, "{joined}", {"joined": "; ".join(problems), "problems": problems}
        )


def _quantity_schema(pattern: str, minimum: int) -> JsonDict:
    # pattern and maxLength apply to the string form, minimum to the integer form.
    return {**INT_OR_STRING, "pattern": pattern, "maxLength": MAX_QUANTITY, "minimum": minimum}


def _check_quantity(value: str | int, *, positive: bool = False) -> str | int:
    sign = "positive" if positive else "non-negative"
    pattern = POSITIVE_QUANTITY_RE if positive else QUANTITY_RE
    if isinstance(value, bool) or (isinstance(value, int) and value < (1 if positive else 0)):
        raise ValueError(f"{value!r} is not a Kubernetes quantity here: it must be {sign}")
    if isinstance(value, str) and (len(value) > MAX_QUANTITY or not re.match(pattern, value)):
        raise ValueError(
            f"{value[:MAX_QUANTITY]!r} is not a Kubernetes quantity here: {sign}, such as "
            f"16Gi, 500m, 8, at most {MAX_QUANTITY} characters"
        )
    return value


def _check_positive_quantity(value: str | int) -> str | int:
    return _check_quantity(value, positive=True)


_IMAGE_MESSAGE = (
    "is not an image reference the kubelet can pull: [registry[:port]/]name[:tag][@digest], "
    "the name in lowercase, its path at most 255 characters, the digest sha256, sha384 or "
    "sha512"
)


def _repository_path(reference: str) -> str:
    """The path of a grammatical reference's repository once ParseNormalizedNamed completed it:
    splitDockerDomain takes a first component with ".", ":" or capitals (or localhost) for a
    registry, which Parse keeps only if it is one; any other name is Docker Hub's, where a name
    of one component gets library/."""
    name = reference.split("@", 1)[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    first, slash, rest = name.partition("/")
    registry = bool(slash) and (
        first == "localhost" or first.lower() != first or any(c in first for c in ".:")
    )
    if not registry:
        path = name
    elif re.fullmatch(_IMAGE_HOST, first):
        path = rest
    else:
        return name
    if (not registry or first in ("docker.io", "index.docker.io")) and "/" not in path:
        path = "library/" + path
    return path


# ParseNormalizedNamed's two refusals beyond the grammar, as CEL on a grammatical reference
# (the regexes count characters; CEL's matches() searches, so each is anchored): a bare
# 64-digit hexadecimal name, and a repository path over 255 characters, in its three forms:
# after a registry (a first component with ".", ":" or capitals, or localhost), a Docker Hub
# name of one component (library/ and 248 characters), and one of several components.
_REGISTRY_RE = r"^([^/@]*[.:A-Z][^/@]*|localhost)/"
# (Conservative: a first component that looks like a registry but is none counts as one here,
# so the rule lets through some names that the operator's check refuses, never the reverse.)
IMAGE_NAME_CEL = (
    f"!self.matches('^[a-f0-9]{{64}}$') && !self.matches('{_REGISTRY_RE}[^:@]{{256}}|"
    r"^((index\\.)?docker\\.io/)?[^:@/]{248,}([:@][^/]*)?$') && "
    "!(self.matches('^[-_a-z0-9]+/') && !self.startsWith('localhost/') && "
    "self.matches('^[^:@]{256}'))"
)
_IMAGE_NAME_MESSAGE = (
    "a bare 64-digit hexadecimal name (an image ID) or a repository path over 255 characters "
    "is no image reference"
)


def image_problem(value: str) -> str | None:
    """Why the kubelet would refuse `value` as an image reference (see IMAGE_REFERENCE_RE), or
    None."""
    if (
        not re.match(IMAGE_REFERENCE_RE, value)
        or len(_repository_path(value)) > MAX_IMAGE_NAME
        or re.fullmatch(r"[a-f0-9]{64}", value)
    ):
        return f"{value[:MAX_SHORT]!r} {_IMAGE_MESSAGE}"
    return None


def _check_image(value: str) -> str:
    problem = image_problem(value)
    if problem:
        raise ValueError(problem)
    return value


def _matches(pattern: str, what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not re.match(pattern, value):
            raise ValueError(f"{value[:MAX_SHORT]!r} is not {what}")
        return value

    return check


_check_qualified_name_length = _matches(
    QUALIFIED_NAME_LENGTH_RE, "a qualified name with a prefix of at most 253 characters"
)


def _map_keys_rule(pattern: str, what: str, *, field: str) -> JsonDict:
    """CEL on a map whose keys are qualified names matching `pattern`: a CRD cannot type map
    keys, so the syntax and the lengths are checked by the rule."""
    return {
        "x-kubernetes-validations": [
            {
                "rule": f"self.all(k, k.size() <= {MAX_QUALIFIED_NAME} && "
                f"k.matches({pattern!r}) && k.matches({QUALIFIED_NAME_LENGTH_RE!r}))",
                "message": f"{field}: every key must be {what} (a name of at most 63 "
                "characters, optionally after a DNS subdomain prefix of at most 253 and '/')",
            }
        ]
    }


# A non-negative Quantity ("16Gi", "500m", 8); PositiveQuantity is above zero.
Quantity = Annotated[
    str | int,
    AfterValidator(_check_quantity),
    Field(json_schema_extra=_quantity_schema(QUANTITY_RE, 0)),
]
PositiveQuantity = Annotated[
    str | int,
    AfterValidator(_check_positive_quantity),
    Field(json_schema_extra=_quantity_schema(POSITIVE_QUANTITY_RE, 1)),
]
Arg = Annotated[str, Field(max_length=MAX_ARG)]
# The pattern is the schema's (the API server checks it at apply); the validator repeats it with
# a readable message and adds the checks a pattern cannot make.
Image = Annotated[
    str,
    Field(
        max_length=MAX_PATH,
        json_schema_extra={
            "pattern": IMAGE_REFERENCE_RE,
            "x-kubernetes-validations": [{"rule": IMAGE_NAME_CEL, "message": _IMAGE_NAME_MESSAGE}],
        },
    ),
    AfterValidator(_check_image),
]
# Field before AfterValidator: pydantic emits a pattern only for constraints on the plain str.
QualifiedName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_QUALIFIED_NAME,
        pattern=QUALIFIED_NAME_RE,
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"self.matches({QUALIFIED_NAME_LENGTH_RE!r})",
                    "message": "a prefix has at most 253 characters",
                }
            ]
        },
    ),
    AfterValidator(_check_qualified_name_length),
]
# A taint key: a qualified name, or empty (with operator Exists: every taint).
TaintKey = Annotated[
    str,
    Field(
        max_length=MAX_QUALIFIED_NAME,
        pattern=f"^({QUALIFIED_NAME_RE.strip('^$')})?$",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": f"self == '' || self.matches({QUALIFIED_NAME_LENGTH_RE!r})",
                    "message": "a prefix has at most 253 characters",
                }
            ]
        },
    ),
    AfterValidator(lambda key: key and _check_qualified_name_length(key)),
]
AnnotationKey = Annotated[
    str,
    Field(min_length=1, max_length=MAX_QUALIFIED_NAME, pattern=ANNOTATION_KEY_RE),
    AfterValidator(_check_qualified_name_length),
]
LabelValue = Annotated[str, Field(max_length=MAX_SHORT, pattern=LABEL_VALUE_RE)]
DnsSubdomain = Annotated[str, Field(min_length=1, max_length=MAX_NAME, pattern=DNS_SUBDOMAIN_RE)]
DnsLabel = Annotated[str, Field(min_length=1, max_length=MAX_SHORT, pattern=DNS_LABEL_RE)]


class _Model(BaseModel):
    """Base of every spec model: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
    )

    def wire(self) -> dict[str, Any]:
        """The object as it appears on the wire: camelCase, unset fields left out (so what the
        user wrote reaches the pod as written, without the empty lists of defaults)."""
        return self.model_dump(by_alias=True, exclude_unset=True, exclude_none=True, mode="json")


# Where the operator mounts volumes itself (/dev/shm in every SGLang pod; the reporter's
# script and results directory in benchmark and offline pods), and the trees a volume must
# not cover: /dev (the GPU device nodes live there), /proc and /sys ("/" itself is refused by
# MOUNT_PATH_RE).
RESERVED_MOUNT_PATHS = ("/dev/shm", "/opt/sglang-operator", "/results")
RESERVED_MOUNT_TREES = ("/dev", "/proc", "/sys")
_RESERVED_MOUNT_MESSAGE = (
    "mountPath: "
    + ", ".join(RESERVED_MOUNT_PATHS)
    + " are mounted by the operator, and nothing may be mounted at or inside "
    + ", ".join(RESERVED_MOUNT_TREES)
)
_RESERVED_MOUNT_CEL = (
    "!(self in ["
    + ", ".join(repr(p) for p in RESERVED_MOUNT_PATHS)
    + "]) && ["
    + ", ".join(repr(t) for t in RESERVED_MOUNT_TREES)
    + "].all(t, self != t && !self.startsWith(t + '/'))"
)


def reserved_mount_path(path: str) -> bool:
    """True for a path the operator mounts itself or that lies in a reserved tree."""
    return path in RESERVED_MOUNT_PATHS or any(
        path == tree or path.startswith(tree + "/") for tree in RESERVED_MOUNT_TREES
    )


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
    size: PositiveQuantity | None = Field(
        default=None,
        description="Create a PersistentVolumeClaim of this size (such as 500Gi) for the cache.",
    )
    storage_class_name: DnsSubdomain | None = Field(
        default=None,
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
        pattern=MOUNT_PATH_RE,
        description="Where the cache is mounted; HF_HOME points there. An absolute path "
        "without empty, '.' or '..' segments, not one the operator mounts itself ("
        + ", ".join(RESERVED_MOUNT_PATHS)
        + ") nor inside "
        + ", ".join(RESERVED_MOUNT_TREES)
        + f". Default {DEFAULT_CACHE_MOUNT_PATH}.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": _RESERVED_MOUNT_CEL, "message": _RESERVED_MOUNT_MESSAGE}
            ]
        },
    )
    when_deleted: Literal["Retain", "Delete"] | None = Field(
        default=None,
        description="What happens to the created claim when the SGLangDeployment is "
        "deleted, as a StatefulSet's persistentVolumeClaimRetentionPolicy.whenDeleted: "
        "Retain keeps it (no owner reference; a deployment of the same name in the "
        "namespace reuses it), Delete lets the garbage collector remove it with the "
        f"deployment. Default {DEFAULT_CACHE_WHEN_DELETED}.",
    )

    @field_validator("mount_path")
    @classmethod
    def _not_reserved(cls, value: str | None) -> str | None:
        if value is not None and reserved_mount_path(value):
            raise ValueError(_RESERVED_MOUNT_MESSAGE)
        return value

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
        description="HTTP path rank 0 is checked on (see spec.probes).",
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


class HealingSpec(_Model):
    """How the operator restarts a replica group when one of its pods fails."""

    restart_budget: int = Field(
        default=DEFAULT_RESTART_BUDGET,
        ge=0,
        le=1000,
        description="Group restarts allowed within restartWindowSeconds; beyond it the group "
        "is left alone (Degraded, GroupRestartBudgetExhausted) until the window slides or "
        f"the spec changes. 0 never restarts. Default {DEFAULT_RESTART_BUDGET}.",
    )
    restart_window_seconds: int = Field(
        default=DEFAULT_RESTART_WINDOW_SECONDS,
        ge=60,
        le=604800,
        description="The sliding window restartBudget counts restarts in. "
        f"Default {DEFAULT_RESTART_WINDOW_SECONDS}.",
    )
    restart_backoff_seconds: int = Field(
        default=DEFAULT_RESTART_BACKOFF_SECONDS,
        ge=0,
        le=86400,
        description="The first restart is immediate; the next waits this long after the "
        "previous one, doubling per restart in the window up to restartBackoffMaxSeconds. "
        f"Default {DEFAULT_RESTART_BACKOFF_SECONDS}.",
    )
    restart_backoff_max_seconds: int = Field(
        default=DEFAULT_RESTART_BACKOFF_MAX_SECONDS,
        ge=0,
        le=86400,
        description="Longest wait between two restarts; at least restartBackoffSeconds. "
        f"Default {DEFAULT_RESTART_BACKOFF_MAX_SECONDS}.",
    )
    unreachable_node_timeout_seconds: int = Field(
        default=DEFAULT_UNREACHABLE_NODE_TIMEOUT_SECONDS,
        ge=0,
        le=86400,
        description="How long a pod on an unreachable node (its Node Ready condition Unknown) "
        "is waited for before the operator force-deletes it so its group is recreated on "
        "healthy nodes; a pod on a deleted Node is force-deleted at once. "
        f"Default {DEFAULT_UNREACHABLE_NODE_TIMEOUT_SECONDS}.",
    )


class RocmSpec(_Model):
    """AMD ROCm tuning."""

    presets: bool = Field(
        default=True,
        description="Set the ROCm/RCCL tuning variables (HSA_FORCE_FINE_GRAIN_PCIE=1, "
        "HSA_ENABLE_SDMA=0, GPU_MAX_HW_QUEUES=2, NCCL_DEBUG=WARN) on AMD pods; "
        "spec.env overrides each.",
    )


def _abbreviations(flag: str) -> str:
    """A regex for `flag` and every abbreviation of it argparse would expand ("--node-r")."""
    body = flag.removeprefix("--")
    nested = ""
    for char in reversed(body[1:]):
        nested = f"({re.escape(char)}{nested})?"
    return re.escape(body[0]) + nested


class OwnedFlags:
    """Command-line flags the operator writes itself, refused in a user's extraArgs.

    argparse (SGLang's parsers keep its default allow_abbrev) takes any unambiguous prefix of
    a flag for the flag, with its value in the next argument or after "=", so every prefix of
    an owned flag is refused too (an ambiguous one would only fail at start), except the
    `allowed` flags: other real flags that happen to be such a prefix (argparse prefers an
    exact match). A single-dash spelling (`-tp 4`) is no owned flag: SGLang's parsers have no
    short option but -h, and argparse matches a single-dash argument only against single-dash
    options, so SGLang refuses it at start as unrecognized. tests/unit/test_api_admission.py
    checks both lists, and generated spellings, against SGLang's parsers.
    """

    def __init__(
        self, field: str, flags: tuple[str, ...], hint: str, allowed: tuple[str, ...] = ()
    ) -> None:
        self.flags = flags
        self.field = field
        self.message = f"{field}: {', '.join(flags)} (and their abbreviations) {hint}"
        owned = "|".join(_abbreviations(f) for f in flags)
        self.regex = rf"^--({owned})(=.*)?$"
        self.allowed = rf"^({'|'.join(re.escape(a) for a in allowed)})(=.*)?$" if allowed else ""

    def refuses(self, arg: str) -> bool:
        return bool(re.match(self.regex, arg)) and not (
            self.allowed and re.match(self.allowed, arg)
        )

    def cel(self) -> str:
        """The rule on one argument (`self`)."""
        exempt = f" || self.matches({self.allowed!r})" if self.allowed else ""
        return f"!self.matches({self.regex!r}){exempt}"

    def schema(self, array: JsonDict) -> None:
        """Puts the rule on the items of `array` (the extraArgs list's schema): the API server
        then names the refused argument, `spec.<field>[index]: Invalid value: "<arg>"`."""
        items = array["items"]
        assert isinstance(items, dict)
        items["x-kubernetes-validations"] = [{"rule": self.cel(), "message": self.message}]

    def check(self, args: list[str]) -> list[str]:
        """`args`, or a refusal naming each owned flag in it (`server.extraArgs[1]: ...`)."""
        hint = self.message.removeprefix(f"{self.field}: ")
        _refuse(
            [
                f"{self.field}[{index}]: {arg[:MAX_SHORT]!r}: {hint}"
                for index, arg in enumerate(args)
                if self.refuses(arg)
            ]
        )
        return args


# The flags of sglang.launch_server (and of offline_throughput, which takes the same server
# flags) that carry the rank wiring, the topology, the endpoint and the API key: set from
# spec fields, they must not be redefined. SGLang's aliases are included.
SERVER_OWNED_FLAGS = (
    "--model-path",
    "--model",
    "--served-model-name",
    "--host",
    "--port",
    "--tp-size",
    "--tensor-parallel-size",
    "--pp-size",
    "--pipeline-parallel-size",
    "--dp-size",
    "--data-parallel-size",
    "--ep-size",
    "--ep",
    "--expert-parallel-size",
    "--nnodes",
    "--node-rank",
    "--dist-init-addr",
    "--nccl-init-addr",
    "--api-key",
)
_SERVER_HINT = (
    "are set by the operator from the spec (model, server.port, parallelism, network, "
    "server.apiKeySecret); set those fields instead"
)
SERVER_FLAGS = OwnedFlags("server.extraArgs", SERVER_OWNED_FLAGS, _SERVER_HINT)
OFFLINE_FLAGS = OwnedFlags(
    "offline.extraArgs",
    (*SERVER_OWNED_FLAGS, "--result-filename"),
    _SERVER_HINT + "; --result-filename is where the operator reads the result",
)
BENCHMARK_FLAGS = OwnedFlags(
    "benchmark.extraArgs",
    ("--base-url", "--host", "--port", "--output-file"),
    "are set by the operator: the benchmark targets the deployment's Service and writes its "
    "result where the operator reads it",
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
        "operator's own (Kubernetes $(VAR) expansion applies). "
        + SERVER_FLAGS.message.removeprefix("server.extraArgs: ")
        + ".",
        json_schema_extra=SERVER_FLAGS.schema,
    )

    @field_validator("extra_args")
    @classmethod
    def _owned_flags(cls, value: list[str]) -> list[str]:
        return SERVER_FLAGS.check(value)


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
    extra_args: list[Arg] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="More sglang.benchmark.serving arguments, passed verbatim, last. "
        + BENCHMARK_FLAGS.message.removeprefix("benchmark.extraArgs: ")
        + ".",
        json_schema_extra=BENCHMARK_FLAGS.schema,
    )

    @field_validator("extra_args")
    @classmethod
    def _owned_flags(cls, value: list[str]) -> list[str]:
        return BENCHMARK_FLAGS.check(value)


class OfflineSpec(WorkloadSpec):
    """The batch run of mode offline (sglang.benchmark.offline_throughput, in-process engine)."""

    extra_args: list[Arg] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="More sglang.benchmark.offline_throughput arguments (its own and "
        "SGLang's server flags), passed verbatim, last. "
        + OFFLINE_FLAGS.message.removeprefix("offline.extraArgs: ")
        + ".",
        json_schema_extra=OFFLINE_FLAGS.schema,
    )

    @field_validator("extra_args")
    @classmethod
    def _owned_flags(cls, value: list[str]) -> list[str]:
        return OFFLINE_FLAGS.check(value)


class ConfigMapKeySelector(_Model):
    """A key of a ConfigMap in the deployment's namespace."""

    name: DnsSubdomain = Field(description="Name of the ConfigMap.")
    key: str = Field(
        max_length=MAX_NAME, pattern=r"^[-._a-zA-Z0-9]+$", description="Key in the ConfigMap."
    )
    optional: bool | None = Field(
        default=None, description="Whether the ConfigMap or its key may be missing."
    )


class SecretKeySelector(_Model):
    """A key of a Secret in the deployment's namespace."""

    name: DnsSubdomain = Field(description="Name of the Secret.")
    key: str = Field(
        max_length=MAX_NAME, pattern=r"^[-._a-zA-Z0-9]+$", description="Key in the Secret."
    )
    optional: bool | None = Field(
        default=None, description="Whether the Secret or its key may be missing."
    )


# The pod fields the downward API can put into an environment variable (Kubernetes'
# validEnvDownwardAPIFieldPathExpressions, plus labels and annotations by key).
_FIELD_PATHS = (
    "metadata.name",
    "metadata.namespace",
    "metadata.uid",
    "spec.nodeName",
    "spec.serviceAccountName",
    "status.hostIP",
    "status.hostIPs",
    "status.podIP",
    "status.podIPs",
)
FIELD_PATH_RE = (
    "^("
    + "|".join(re.escape(f) for f in _FIELD_PATHS)
    + r"|metadata\.(labels|annotations)\['"
    + QUALIFIED_NAME_RE.strip("^$")
    + r"'\])$"
)


class ObjectFieldSelector(_Model):
    """A field of the pod (downward API)."""

    api_version: Literal["v1"] | None = Field(default=None, description="Always v1.")
    field_path: str = Field(
        max_length=MAX_QUALIFIED_NAME + 32,
        pattern=FIELD_PATH_RE,
        description="metadata.name, metadata.namespace, metadata.uid, "
        "metadata.labels['<key>'], metadata.annotations['<key>'], spec.nodeName, "
        "spec.serviceAccountName, status.hostIP(s) or status.podIP(s).",
    )


_CPU_DIVISORS = ("1m", "1")
_BYTE_DIVISORS = tuple(
    "1" + suffix
    for suffix in ("", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei")
)
_DIVISOR_MESSAGE = (
    "divisor: 1m or 1 for cpu; 1, 1k, 1M, ... 1Ki, 1Mi, ... for memory and ephemeral-storage"
)


class ResourceFieldSelector(_Model):
    """A resource request or limit of the container (downward API)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.divisor) || (self.resource.endsWith('.cpu') ? "
                    "self.divisor in ['1m', '1'] : self.divisor != '1m')",
                    "message": _DIVISOR_MESSAGE,
                }
            ]
        }
    )

    container_name: Literal["sglang"] | None = Field(
        default=None, description="The container: only sglang, the one the variable is in."
    )
    resource: Literal[
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
    ] = Field(description="The request or limit to expose.")
    divisor: (
        Literal[
            "1m", "1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei"
        ]
        | None
    ) = Field(
        default=None,
        description="Unit of the value, a quoted string: 1m or 1 for cpu; 1, 1k, ..., 1Ki, "
        "1Mi, ... for memory and ephemeral-storage.",
    )

    @model_validator(mode="after")
    def _divisor(self) -> ResourceFieldSelector:
        if self.divisor is not None:
            allowed = _CPU_DIVISORS if self.resource.endswith(".cpu") else _BYTE_DIVISORS
            if self.divisor not in allowed:
                raise ValueError(_DIVISOR_MESSAGE)
        return self


class EnvVarSource(_Model):
    """Where an environment variable's value comes from (Kubernetes EnvVarSource)."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "(has(self.secretKeyRef) ? 1 : 0) + (has(self.configMapKeyRef) ? 1 : 0)"
                    " + (has(self.fieldRef) ? 1 : 0) + (has(self.resourceFieldRef) ? 1 : 0) == 1",
                    "message": "valueFrom: set exactly one of secretKeyRef, configMapKeyRef, "
                    "fieldRef or resourceFieldRef",
                }
            ]
        }
    )

    secret_key_ref: SecretKeySelector | None = Field(default=None, description="A Secret's key.")
    config_map_key_ref: ConfigMapKeySelector | None = Field(
        default=None, description="A ConfigMap's key."
    )
    field_ref: ObjectFieldSelector | None = Field(default=None, description="A field of the pod.")
    resource_field_ref: ResourceFieldSelector | None = Field(
        default=None, description="A resource of the container."
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> EnvVarSource:
        sources = (
            self.secret_key_ref,
            self.config_map_key_ref,
            self.field_ref,
            self.resource_field_ref,
        )
        if sum(source is not None for source in sources) != 1:
            raise ValueError(
                "valueFrom: set exactly one of secretKeyRef, configMapKeyRef, fieldRef or "
                "resourceFieldRef"
            )
        return self


_RESERVED_ENV_MESSAGE = (
    ", ".join(RESERVED_ENV)
    + " are set by the operator (rank wiring and API key) and cannot be redefined"
)


def _cel_list(names: tuple[str, ...]) -> str:
    return "[" + ", ".join(repr(n) for n in names) + "]"


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

    name: str = Field(
        max_length=MAX_NAME,
        pattern=ENV_NAME_RE,
        description="Variable name.",
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": f"!(self in {_cel_list(RESERVED_ENV)})", "message": _RESERVED_ENV_MESSAGE}
            ]
        },
    )
    value: str | None = Field(
        default=None, max_length=32768, description="Value ($(VAR) references expand)."
    )

    @field_validator("name")
    @classmethod
    def _not_reserved(cls, value: str) -> str:
        if value in RESERVED_ENV:
            raise ValueError(f"{value!r}: {_RESERVED_ENV_MESSAGE}")
        return value

    value_from: EnvVarSource | None = Field(
        default=None,
        description="Kubernetes EnvVarSource: secretKeyRef, configMapKeyRef, fieldRef or "
        "resourceFieldRef.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> EnvVar:
        if (self.value is None) == (self.value_from is None):
            raise ValueError("set exactly one of value or valueFrom")
        return self


_TOLERATION_RULES: tuple[tuple[str, str], ...] = (
    (
        "(has(self.key) && self.key != '') || (has(self.operator) && self.operator == 'Exists')",
        "tolerations: operator must be Exists when key is empty",
    ),
    (
        "!has(self.operator) || self.operator != 'Exists' || !has(self.value) || self.value == ''",
        "tolerations: value must be empty when operator is Exists",
    ),
    (
        "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
        "tolerations: effect must be NoExecute when tolerationSeconds is set",
    ),
)


class Toleration(_Model):
    """A Kubernetes toleration."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {"rule": rule, "message": message} for rule, message in _TOLERATION_RULES
            ]
        }
    )

    key: TaintKey | None = Field(
        default=None, description="Taint key; empty with operator Exists matches every taint."
    )
    operator: Literal["Exists", "Equal", ""] | None = Field(
        default=None, description="Exists or Equal (default Equal)."
    )
    value: LabelValue | None = Field(
        default=None, description="Taint value; empty with operator Exists."
    )
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute", ""] | None = Field(
        default=None, description="Taint effect to tolerate; all when empty."
    )
    toleration_seconds: int | None = Field(
        default=None,
        json_schema_extra={"format": "int64"},
        description="How long a NoExecute taint is tolerated (effect NoExecute only).",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Toleration:
        if not self.key and self.operator != "Exists":
            raise ValueError(_TOLERATION_RULES[0][1])
        if self.operator == "Exists" and self.value:
            raise ValueError(_TOLERATION_RULES[1][1])
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError(_TOLERATION_RULES[2][1])
        return self


ResourceName = Annotated[str, Field(max_length=MAX_QUALIFIED_NAME, pattern=RESOURCE_NAME_RE)]
_RESOURCE_NAMES_RULE: JsonDict = {
    "x-kubernetes-validations": [
        {
            "rule": f"self.all(k, k.matches({RESOURCE_NAME_RE!r}) && "
            "!k.contains('kubernetes.io/') && !k.startsWith('requests.'))",
            "message": "resources: a key is cpu, memory, ephemeral-storage, hugepages-<size> or "
            "an extended resource <domain>/<name> (not in the kubernetes.io domains)",
        }
    ]
}


def parse_quantity(quantity: str | int) -> Decimal:
    """A Kubernetes quantity as an exact number (the kubernetes client's parser)."""
    value: Decimal = _parse_quantity(quantity)  # type: ignore[no-untyped-call]
    return value


def _is_quantity(value: object) -> bool:
    """Whether `value` is a Kubernetes quantity, of either sign (the pod template's syntax)."""
    if isinstance(value, str):
        return len(value) <= MAX_QUANTITY * 2 and bool(re.match(podtemplate.QUANTITY_RE, value))
    return isinstance(value, int) and not isinstance(value, bool)


def _standard_overcommit(name: str) -> bool:
    """Whether a request may be below its limit (cpu, memory, ephemeral-storage)."""
    return name in ("cpu", "memory", "ephemeral-storage")


class ResourcesSpec(_Model):
    """CPU and memory of the SGLang container; the GPUs come from spec.gpu."""

    requests: dict[ResourceName, Quantity] = Field(
        default_factory=dict,
        max_length=16,
        description="Requested resources, such as cpu: 32, memory: 256Gi.",
        json_schema_extra=_RESOURCE_NAMES_RULE,
    )
    limits: dict[ResourceName, Quantity] = Field(
        default_factory=dict,
        max_length=16,
        description="Resource limits. GPU and RDMA limits are set by the operator. A request "
        "must not exceed its limit; hugepages and extended resources need equal requests "
        "and limits.",
        json_schema_extra=_RESOURCE_NAMES_RULE,
    )

    @field_validator("requests", "limits")
    @classmethod
    def _names(cls, value: dict[str, str | int]) -> dict[str, str | int]:
        for name in value:
            if "kubernetes.io/" in name or name.startswith("requests."):
                raise ValueError(
                    f"{name[:MAX_SHORT]!r}: resource names of the kubernetes.io domains are the "
                    "standard ones (cpu, memory, ephemeral-storage, hugepages-<size>)"
                )
        return value

    @model_validator(mode="after")
    def _requests_within_limits(self) -> ResourcesSpec:
        _refuse([f"resources.{line}" for line in resource_problems(self.requests, self.limits)])
        return self


def resource_problems(
    requests: Mapping[str, str | int], limits: Mapping[str, str | int]
) -> list[str]:
    """The comparisons the API server makes on a container's resources (ValidateResource
    Requirements in k8s.io/kubernetes pkg/apis/core/validation), as `requests.<name>: message`
    lines; CEL has no portable quantity arithmetic, so they are the operator's. Values that are
    no quantity are left to the schema."""
    requests = {k: v for k, v in requests.items() if _is_quantity(v)}
    limits = {k: v for k, v in limits.items() if _is_quantity(v)}
    found = [
        f"{kind}.{name}: must be greater than or equal to 0"
        for kind, values in (("requests", requests), ("limits", limits))
        for name, quantity in values.items()
        if parse_quantity(quantity) < 0
    ]
    requests = {k: v for k, v in requests.items() if parse_quantity(v) >= 0}
    limits = {k: v for k, v in limits.items() if parse_quantity(v) >= 0}
    for name in sorted(set(requests) | set(limits)):
        request, limit = requests.get(name), limits.get(name)
        if _standard_overcommit(name):
            if (
                request is not None
                and limit is not None
                and parse_quantity(request) > parse_quantity(limit)
            ):
                found.append(f"requests.{name}: must be less than or equal to its limit ({limit})")
        elif request is not None and (
            limit is None or parse_quantity(request) != parse_quantity(limit)
        ):
            found.append(
                f"requests.{name}: needs an equal limit (hugepages and extended resources "
                "cannot be overcommitted)"
            )
    for kind, values in (("requests", requests), ("limits", limits)):
        for name, quantity in values.items():
            if "/" in name and parse_quantity(quantity) % 1:
                found.append(f"{kind}.{name}: must be a whole number")
            if name.startswith("hugepages-") and parse_quantity(quantity) % parse_quantity(
                name.removeprefix("hugepages-")
            ):
                found.append(f"{kind}.{name}: must be a multiple of the page size")
    if any(n.startswith("hugepages-") for n in (*requests, *limits)) and not (
        {"cpu", "memory"} & {*requests, *limits}
    ):
        found.append("limits: hugepages need a cpu or memory request or limit")
    return found


# ---- affinity (Kubernetes' Affinity, with the checks its API validation makes) ----------------

_SELECTOR_OPERATOR_RULE: dict[str, str] = {
    "rule": "self.operator in ['In', 'NotIn'] ? (has(self.values) && size(self.values) > 0) "
    ": (!has(self.values) || size(self.values) == 0)",
    "message": "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist",
}


def _check_selector_values(operator: str, values: list[str]) -> None:
    if operator in ("In", "NotIn") and not values:
        raise ValueError(_SELECTOR_OPERATOR_RULE["message"])
    if operator in ("Exists", "DoesNotExist") and values:
        raise ValueError(_SELECTOR_OPERATOR_RULE["message"])


class LabelSelectorRequirement(_Model):
    """One expression of a label selector."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [dict(_SELECTOR_OPERATOR_RULE)]}
    )

    key: QualifiedName = Field(description="Label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="In, NotIn, Exists or DoesNotExist."
    )
    values: list[LabelValue] = Field(
        default_factory=list, max_length=MAX_LIST, description="Label values (In, NotIn)."
    )

    @model_validator(mode="after")
    def _values(self) -> LabelSelectorRequirement:
        _check_selector_values(self.operator, self.values)
        return self


class LabelSelector(_Model):
    """A Kubernetes label selector."""

    match_labels: dict[QualifiedName, LabelValue] = Field(
        default_factory=dict,
        max_length=MAX_MAP,
        description="Labels that must all match.",
        json_schema_extra=_map_keys_rule(QUALIFIED_NAME_RE, "a label key", field="matchLabels"),
    )
    match_expressions: list[LabelSelectorRequirement] = Field(
        default_factory=list, max_length=MAX_LIST, description="Expressions that must all hold."
    )


class NodeSelectorRequirement(_Model):
    """One expression over a node's labels."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.operator in ['Gt', 'Lt'] ? (has(self.values) && "
                    "size(self.values) == 1 && self.values[0].matches('^[-+]?[0-9]{1,18}$')) : "
                    + _SELECTOR_OPERATOR_RULE["rule"],
                    "message": _SELECTOR_OPERATOR_RULE["message"]
                    + "; Gt and Lt take exactly one integer",
                }
            ]
        }
    )

    key: QualifiedName = Field(description="Node label key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"] = Field(
        description="In, NotIn, Exists, DoesNotExist, Gt or Lt."
    )
    values: list[Annotated[str, Field(max_length=MAX_SHORT)]] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Values (In, NotIn); one integer (Gt, Lt).",
    )

    @model_validator(mode="after")
    def _values(self) -> NodeSelectorRequirement:
        if self.operator in ("Gt", "Lt"):
            if len(self.values) != 1 or not re.match(r"^[-+]?[0-9]{1,18}$", self.values[0]):
                raise ValueError("Gt and Lt take exactly one integer")
        else:
            _check_selector_values(self.operator, self.values)
        return self


class NodeFieldSelectorRequirement(_Model):
    """An expression over a node's fields: only metadata.name, with In or NotIn and one value."""

    key: Literal["metadata.name"] = Field(description="Only metadata.name.")
    operator: Literal["In", "NotIn"] = Field(description="In or NotIn.")
    values: list[DnsSubdomain] = Field(
        min_length=1, max_length=1, description="Exactly one node name."
    )


class NodeSelectorTerm(_Model):
    """Node requirements that must all hold."""

    match_expressions: list[NodeSelectorRequirement] = Field(
        default_factory=list, max_length=MAX_LIST, description="Over node labels."
    )
    match_fields: list[NodeFieldSelectorRequirement] = Field(
        default_factory=list, max_length=MAX_LIST, description="Over node fields."
    )


class NodeSelector(_Model):
    """Node selector terms, any of which may match."""

    node_selector_terms: list[NodeSelectorTerm] = Field(
        min_length=1, max_length=MAX_LIST, description="Terms, ORed."
    )


class PreferredSchedulingTerm(_Model):
    """A weighted node preference."""

    weight: int = Field(ge=1, le=100, description="Weight, 1 to 100.")
    preference: NodeSelectorTerm = Field(description="The preferred nodes.")


class NodeAffinity(_Model):
    """Node affinity of the pods."""

    required_during_scheduling_ignored_during_execution: NodeSelector | None = Field(
        default=None, description="Nodes the pods must run on."
    )
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] = Field(
        default_factory=list, max_length=MAX_LIST, description="Nodes preferred."
    )


class PodAffinityTerm(_Model):
    """Pods (by labels and namespaces) that a pod must or should be near, by topology key."""

    model_config = ConfigDict(
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "has(self.labelSelector) || ((!has(self.matchLabelKeys) || "
                    "size(self.matchLabelKeys) == 0) && (!has(self.mismatchLabelKeys) || "
                    "size(self.mismatchLabelKeys) == 0))",
                    "message": "matchLabelKeys and mismatchLabelKeys need a labelSelector",
                }
            ]
        }
    )

    label_selector: LabelSelector | None = Field(default=None, description="The pods.")
    namespace_selector: LabelSelector | None = Field(
        default=None, description="Namespaces of the pods, by label."
    )
    namespaces: list[DnsLabel] = Field(
        default_factory=list, max_length=MAX_LIST, description="Namespaces of the pods, by name."
    )
    topology_key: QualifiedName = Field(description='Node label that defines "near".')
    match_label_keys: list[QualifiedName] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Label keys whose values are taken from the incoming pod.",
    )
    mismatch_label_keys: list[QualifiedName] = Field(
        default_factory=list,
        max_length=MAX_LIST,
        description="Label keys whose values must differ from the incoming pod's.",
    )

    @model_validator(mode="after")
    def _label_keys(self) -> PodAffinityTerm:
        if self.label_selector is None and (self.match_label_keys or self.mismatch_label_keys):
            raise ValueError("matchLabelKeys and mismatchLabelKeys need a labelSelector")
        if set(self.match_label_keys) & set(self.mismatch_label_keys):
            raise ValueError("a key cannot be in both matchLabelKeys and mismatchLabelKeys")
        return self


class WeightedPodAffinityTerm(_Model):
    """A weighted pod (anti-)affinity preference."""

    weight: int = Field(ge=1, le=100, description="Weight, 1 to 100.")
    pod_affinity_term: PodAffinityTerm = Field(description="The term.")


class PodAffinity(_Model):
    """Pod affinity or anti-affinity."""

    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] = Field(
        default_factory=list, max_length=MAX_LIST, description="Terms that must hold."
    )
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] = Field(
        default_factory=list, max_length=MAX_LIST, description="Terms preferred."
    )


class Affinity(_Model):
    """Kubernetes Affinity of the pods."""

    node_affinity: NodeAffinity | None = Field(default=None, description="Node affinity.")
    pod_affinity: PodAffinity | None = Field(default=None, description="Pod affinity.")
    pod_anti_affinity: PodAffinity | None = Field(default=None, description="Pod anti-affinity.")


class _Rule:
    """A cross-field rule: one CEL expression for the CRD, one Python check, one message.

    `field` is the path below spec that the refusal names (`kubectl apply` reports
    `spec.<field>: Invalid value: ...: <message>`; the operator `<field>: <message>`)."""

    def __init__(
        self, field: str, cel: str, message: str, check: Callable[[SGLangDeploymentSpec], bool]
    ) -> None:
        self.field = field
        self.cel = cel
        self.message = message
        self._check = check

    def check(self, spec: SGLangDeploymentSpec) -> str | None:
        return None if self._check(spec) else f"{self.field}: {self.message}"

    def validation(self) -> JsonDict:
        """The rule as a CRD `x-kubernetes-validations` entry."""
        return {"rule": self.cel, "fieldPath": f".{self.field}", "message": self.message}


def _cel_or(path: str, default: str, *, positive: bool = False) -> str:
    """CEL for "self.<path>, or `default` (CEL text) when unset": the CRD has no defaults.

    `positive`: a value below 1 also reads as `default`, for a divisor: the schema's minimum
    already refuses it, naming the field, and a rule dividing by it would add a CEL
    "division by zero" error to that refusal."""
    parts = path.split(".")
    guards = " && ".join("has(self." + ".".join(parts[: i + 1]) + ")" for i in range(len(parts)))
    if positive:
        guards += f" && self.{path} > 0"
    return f"({guards} ? self.{path} : {default})"


_NODES = _cel_or("parallelism.nodes", str(DEFAULT_NODES))
_PER_NODE = _cel_or("gpu.perNode", str(DEFAULT_GPUS_PER_NODE))
_PP = _cel_or("parallelism.pp", str(DEFAULT_PP))
_DP = _cel_or("parallelism.dp", str(DEFAULT_DP))
_TP = _cel_or(
    "parallelism.tp",
    f"{_NODES} * {_PER_NODE} / ({_cel_or('parallelism.pp', str(DEFAULT_PP), positive=True)} "
    f"* {_cel_or('parallelism.dp', str(DEFAULT_DP), positive=True)})",
)
_MODE = _cel_or("mode", "'server'")
_PORT = _cel_or("server.port", str(DEFAULT_PORT))
_DIST_PORT = _cel_or("network.distInitPort", str(DEFAULT_DIST_INIT_PORT))
# SGLang binds distInitPort+1 to +6 (distInitPort-7 to -1 near 65535) on rank 0 for attention
# data parallelism (PortArgs.init_new), beside the two ports the pod declares.
PORT_DISTANCE = 7
_BACKOFF = _cel_or("healing.restartBackoffSeconds", str(DEFAULT_RESTART_BACKOFF_SECONDS))
_BACKOFF_MAX = _cel_or("healing.restartBackoffMaxSeconds", str(DEFAULT_RESTART_BACKOFF_MAX_SECONDS))


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
        field="podTemplate.metadata.labels",
        # Map lookups, not a walk over the keys: keys have no length bound for the cost
        # estimate.
        cel="!has(self.podTemplate) || !has(self.podTemplate.metadata) || "
        "!has(self.podTemplate.metadata.labels) || "
        f"!{_cel_list(OPERATOR_LABELS)}.exists(k, k in self.podTemplate.metadata.labels)",
        message=", ".join(OPERATOR_LABELS)
        + " are set by the operator (its selectors and the rank use them)",
        check=lambda s: not set(_template_meta(s, "labels")) & set(OPERATOR_LABELS),
    ),
    _Rule(
        field="podTemplate.metadata.annotations",
        cel="!has(self.podTemplate) || !has(self.podTemplate.metadata) || "
        "!has(self.podTemplate.metadata.annotations) || "
        f"!{_cel_list(OPERATOR_ANNOTATIONS)}.exists(k, k in self.podTemplate.metadata.annotations)",
        message=", ".join(OPERATOR_ANNOTATIONS) + " are set by the operator and its controllers",
        check=lambda s: not set(_template_meta(s, "annotations")) & set(OPERATOR_ANNOTATIONS),
    ),
    _Rule(
        field="podTemplate.spec.hostNetwork",
        cel=_cel_template_spec("!has(t.hostNetwork)"),
        message="set spec.network.hostNetwork instead (the "
        "operator then also sets dnsPolicy ClusterFirstWithHostNet and declares SGLang's ports)",
        check=lambda s: "hostNetwork" not in _template_pod(s),
    ),
    _Rule(
        field="podTemplate.spec.dnsPolicy",
        # Kubernetes' kubelet resolves a hostNetwork pod's ClusterFirst like Default: with
        # the node's resolver, which knows no Service names.
        cel=_cel_template_spec(
            f"!has(t.dnsPolicy) || {_NODES} == 1 || !(t.dnsPolicy == 'Default' || "
            f"(t.dnsPolicy == 'ClusterFirst' && {_HOST_NETWORK}))"
        ),
        message="with parallelism.nodes > 1 ranks resolve rank 0's "
        "Service name, which Default cannot, nor ClusterFirst under network.hostNetwork; use "
        "ClusterFirstWithHostNet, ClusterFirst without hostNetwork, or None with a dnsConfig",
        check=lambda s: (
            s.parallelism.nodes == 1
            or _template_pod(s).get("dnsPolicy")
            not in ("Default", "ClusterFirst" if s.network.host_network else "Default")
        ),
    ),
    _Rule(
        field="podTemplate.spec.activeDeadlineSeconds",
        # Kubernetes' StatefulSet validation forbids it; a Job's pods (mode offline) take it.
        cel=_cel_template_spec(f"!has(t.activeDeadlineSeconds) || {_MODE} == 'offline'"),
        message="a StatefulSet's pods take none (mode offline's Job does)",
        check=lambda s: "activeDeadlineSeconds" not in _template_pod(s) or s.mode == "offline",
    ),
    _Rule(
        field="podTemplate.spec",
        cel=_cel_template_spec(" && ".join(f"!has(t.{f})" for f in OPERATOR_POD_FIELDS)),
        message=", ".join(OPERATOR_POD_FIELDS)
        + " are set by the operator (its controllers' restart rules and the ranks' DNS names)",
        check=lambda s: not set(_template_pod(s)) & set(OPERATOR_POD_FIELDS),
    ),
    _Rule(
        field="podTemplate.spec.containers",
        cel=_cel_sglang("!has(c.command) && !has(c.args)"),
        message=f"the {SGLANG_CONTAINER} container's command and args are the "
        "operator's (the rank wiring); add SGLang flags with spec.server.extraArgs",
        check=lambda s: not {"command", "args"} & set(template_container(s)),
    ),
    _Rule(
        field="podTemplate.spec.containers",
        cel=_cel_sglang(f"!has(c.env) || c.env.all(e, !(e.name in {_cel_list(RESERVED_ENV)}))"),
        message=f"the {SGLANG_CONTAINER} container's env: {_RESERVED_ENV_MESSAGE}",
        check=lambda s: (
            not any(e.get("name") in RESERVED_ENV for e in template_container(s).get("env") or [])
        ),
    ),
    _Rule(
        field="podTemplate.spec.containers",
        cel=_cel_sglang("!has(c.startupProbe) && !has(c.readinessProbe) && !has(c.livenessProbe)"),
        message=f"the {SGLANG_CONTAINER} container's startupProbe, readinessProbe "
        "and livenessProbe are set through spec.probes",
        check=lambda s: (
            not {"startupProbe", "readinessProbe", "livenessProbe"} & set(template_container(s))
        ),
    ),
    _Rule(
        field="podTemplate.spec.containers",
        cel=_cel_sglang(
            f"!has(c.volumeMounts) || c.volumeMounts.all(m, m.mountPath != '{SHM_MOUNT_PATH}' "
            f"&& (!has(self.model.cache) || m.mountPath != {_CACHE_PATH}))"
        ),
        message=f"the {SGLANG_CONTAINER} container's volumeMounts: {SHM_MOUNT_PATH} "
        "(spec.shmSize) and the weights cache's mountPath (spec.model.cache) "
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
        field="podTemplate.spec.volumes",
        cel=_cel_template_spec(
            f"!has(t.volumes) || t.volumes.all(v, v.name != '{SHM_VOLUME}' && "
            f"v.name != '{WEIGHTS_VOLUME}')"
        ),
        message=f"{SHM_VOLUME} and {WEIGHTS_VOLUME} are the "
        "operator's volumes (spec.shmSize, spec.model.cache); give yours other names",
        check=lambda s: (
            not any(
                v.get("name") in (SHM_VOLUME, WEIGHTS_VOLUME)
                for v in _template_pod(s).get("volumes") or []
            )
        ),
    ),
    _Rule(
        field="podTemplate.spec.initContainers",
        cel=_cel_template_spec(
            f"!has(t.initContainers) || t.initContainers.all(c, c.name != '{SGLANG_CONTAINER}')"
        ),
        message=f"the name {SGLANG_CONTAINER} is the SGLang container's",
        check=lambda s: (
            not any(
                c.get("name") == SGLANG_CONTAINER
                for c in _template_pod(s).get("initContainers") or []
            )
        ),
    ),
    _Rule(
        field="podTemplate.spec.containers",
        cel=_cel_template_spec(
            "!has(t.containers) || t.containers.all(c, !has(c.ports) || c.ports.all(p, "
            f"p.containerPort != {_PORT} && p.containerPort != {_DIST_PORT} && "
            f"(!has(p.name) || !(p.name in {_cel_list(OPERATOR_PORT_NAMES)}))))"
        ),
        message="ports: server.port, network.distInitPort and the port names "
        + ", ".join(OPERATOR_PORT_NAMES)
        + " are the operator's",
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
        field="parallelism",
        # Without tp, tp's default (nodes * perNode / (pp * dp)) is at least 1 exactly when
        # pp * dp fits, and then tp * pp * dp always fits: no division needed.
        cel=f"{_cel_or('parallelism.tp', '1')} * {_PP} * {_DP} <= {_NODES} * {_PER_NODE}",
        message="tp * pp * dp must fit in the copy's GPUs (parallelism.nodes * gpu.perNode)",
        check=lambda s: s.tp >= 1 and s.tp * s.parallelism.pp * s.parallelism.dp <= s.gpus_per_copy,
    ),
    _Rule(
        field="parallelism",
        cel=f"({_TP} * {_PP}) % {_cel_or('parallelism.nodes', str(DEFAULT_NODES), positive=True)} "
        "== 0",
        message="tp * pp must be a multiple of parallelism.nodes "
        "(SGLang spreads its ranks evenly over the nodes)",
        check=lambda s: (s.tp * s.parallelism.pp) % s.parallelism.nodes == 0,
    ),
    _Rule(
        field="parallelism",
        cel=f"{_DP} == 1 || {_NODES} == 1",
        message="dp > 1 needs nodes 1 (SGLang refuses multi-node data "
        "parallelism; use extraArgs --attn-dp-size for attention DP across nodes)",
        check=lambda s: s.parallelism.dp == 1 or s.parallelism.nodes == 1,
    ),
    _Rule(
        field="parallelism",
        cel=f"!has(self.parallelism) || !has(self.parallelism.ep) || self.parallelism.ep < 1 || "
        f"{_TP} % self.parallelism.ep == 0",
        message="ep must divide tp (the experts are split over the tp ranks)",
        check=lambda s: s.parallelism.ep is None or s.tp % s.parallelism.ep == 0,
    ),
    _Rule(
        field="benchmark.enabled",
        cel=f"{_MODE} == 'server' || !has(self.benchmark) || !has(self.benchmark.enabled) "
        "|| !self.benchmark.enabled",
        message="a serving benchmark needs mode server; mode offline runs spec.offline instead",
        check=lambda s: s.mode == "server" or not s.benchmark.enabled,
    ),
    *TEMPLATE_RULES,
    _Rule(
        field="network.distInitPort",
        cel=f"{_PORT} - {_DIST_PORT} > {PORT_DISTANCE} || {_DIST_PORT} - {_PORT} > {PORT_DISTANCE}",
        message=f"server.port and network.distInitPort must be more than {PORT_DISTANCE} apart: "
        "the pod declares both, and SGLang also binds the ports just above distInitPort "
        "(just below it near 65535)",
        check=lambda s: abs(s.server.port - s.network.dist_init_port) > PORT_DISTANCE,
    ),
    _Rule(
        field="healing.restartBackoffMaxSeconds",
        cel=f"{_BACKOFF_MAX} >= {_BACKOFF}",
        message="must be at least restartBackoffSeconds",
        check=lambda s: s.healing.restart_backoff_max_seconds >= s.healing.restart_backoff_seconds,
    ),
)


# The syntax the API server checks in a pod's labels and annotations (as spec.podLabels and
# spec.podAnnotations have it), for spec.podTemplate.metadata: refused at apply rather than
# when the StatefulSet carrying them is written. Annotation values keep the template's
# longer bound.
_TEMPLATE_LABELS = "podTemplate.metadata.labels"
_TEMPLATE_ANNOTATIONS = "podTemplate.metadata.annotations"
_TEMPLATE_META: dict[str, tuple[TypeAdapter[Any], JsonDict]] = {
    "labels": (
        TypeAdapter(dict[QualifiedName, LabelValue]),
        _map_keys_rule(QUALIFIED_NAME_RE, "a label key", field=_TEMPLATE_LABELS),
    ),
    "annotations": (
        TypeAdapter(dict[AnnotationKey, Any]),
        _map_keys_rule(
            ANNOTATION_KEY_RE, "a qualified name ([prefix/]name)", field=_TEMPLATE_ANNOTATIONS
        ),
    ),
}


def _check_port_name(value: str) -> str:
    """IANA_SVC_NAME, as Kubernetes' IsValidPortName checks a container port's name (the
    pattern and length are the schema's)."""
    if not re.search("[a-z]", value) or "--" in value:
        raise ValueError(f"{value[:MAX_SHORT]!r}: {PORT_NAME_MESSAGE}")
    return value


PortName = Annotated[
    str,
    Field(
        max_length=15,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "self.matches('[a-z]') && !self.contains('--')",
                    "message": PORT_NAME_MESSAGE,
                }
            ]
        },
    ),
    AfterValidator(_check_port_name),
]
_DnsPolicy = Literal["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]


class _TemplateField:
    """A field of the pod template's spec that Kubernetes' ValidatePodSpec (k8s.io/kubernetes
    pkg/apis/core/validation) checks beyond the types of its OpenAPI schema: `path` below the
    template's spec ("[]" for each item of a list), `kind` the type that checks it as the API
    server does. `at_apply`: its JSON schema (and `extra`) goes into the CRD, so that `kubectl
    apply` refuses what it refuses; otherwise (the CRD's size budget has no room left) only the
    operator (InvalidSpec) and render do. Either way its validation runs in the operator."""

    def __init__(
        self, path: str, kind: Any, *, at_apply: bool = True, extra: JsonDict | None = None
    ) -> None:
        self.path = tuple(path.replace("[]", ".[]").split("."))
        self.adapter: TypeAdapter[Any] = TypeAdapter(kind)
        self.at_apply = at_apply
        self.extra = extra or {}

    def schema(self, pod: JsonDict) -> None:
        """Puts the check into `pod`, the CRD schema of the template's spec."""
        node: Any = pod
        for part in self.path:
            node = node["items"] if part == "[]" else node["properties"][part]
        node.update(self.adapter.json_schema(), **self.extra)
        if "enum" in node:
            node.pop("maxLength", None)

    def problems(self, pod: Any) -> list[str]:
        found = []
        for where, value in _values_at(pod, self.path, "podTemplate.spec"):
            try:
                self.adapter.validate_python(value)
            except ValidationError as error:
                for item in error.errors():
                    path, prefix = _data_path(value, item["loc"])
                    message = item["msg"].removeprefix("Value error, ")
                    found.append(f"{where}{path.removeprefix('spec')}: {prefix}{message}")
        return found


def _values_at(node: Any, path: tuple[str, ...], where: str) -> list[tuple[str, Any]]:
    """(path, value) of each value at `path` in `node` ("[]": every item of a list)."""
    if not path:
        return [(where, node)]
    head, rest = path[0], path[1:]
    if head == "[]":
        items = node if isinstance(node, list) else []
        return [v for i, item in enumerate(items) for v in _values_at(item, rest, f"{where}[{i}]")]
    if isinstance(node, dict) and head in node and node[head] is not None:
        return _values_at(node[head], rest, f"{where}.{head}")
    return []


# What ValidatePodSpec checks in the fields the template takes free-form (strings, numbers)
# from Kubernetes' OpenAPI. schedulerName is not among them: Kubernetes only defaults it.
TEMPLATE_FIELDS = (
    *(_TemplateField(path, Image) for path in ("containers[].image", "initContainers[].image")),
    _TemplateField("volumes[].image.reference", Image),
    *(_TemplateField(f"{key}[].name", DnsLabel) for key in ("containers", "initContainers")),
    _TemplateField("volumes[].name", DnsLabel),
    _TemplateField("tolerations[]", Toleration),
    *(
        _TemplateField(key, DnsSubdomain)
        for key in ("priorityClassName", "runtimeClassName", "serviceAccountName")
    ),
    _TemplateField("dnsPolicy", _DnsPolicy),
    _TemplateField("preemptionPolicy", Literal["PreemptLowerPriority", "Never"]),
    *(
        _TemplateField(f"{key}[].ports[].{field}", kind)
        for key in ("containers", "initContainers")
        for field, kind in (
            ("containerPort", Annotated[int, Field(ge=1, le=65535)]),
            ("hostPort", Annotated[int, Field(ge=0, le=65535)]),
            ("protocol", Literal["TCP", "UDP", "SCTP"]),
        )
    ),
    *(
        _TemplateField(f"{key}[].ports[].name", PortName)
        for key in ("containers", "initContainers")
    ),
    _TemplateField(
        "nodeSelector",
        dict[QualifiedName, LabelValue],
        extra={"maxProperties": MAX_MAP}
        | _map_keys_rule(QUALIFIED_NAME_RE, "a label key", field="podTemplate.spec.nodeSelector"),
    ),
    _TemplateField("activeDeadlineSeconds", Annotated[int, Field(ge=1, le=2**31 - 1)]),
    # Operator-time: the CRD is full (an empty policy is defaulted before validation).
    *(
        _TemplateField(f"{key}[].{field}", kind, at_apply=False)
        for key in ("containers", "initContainers")
        for field, kind in (
            ("imagePullPolicy", Literal["Always", "IfNotPresent", "Never", ""]),
            ("terminationMessagePolicy", Literal["File", "FallbackToLogsOnError", ""]),
        )
    ),
    *(
        _TemplateField(f"topologySpreadConstraints[].{field}", kind, at_apply=False)
        for field, kind in (
            ("maxSkew", Annotated[int, Field(ge=1)]),
            ("topologyKey", Annotated[str, Field(min_length=1)]),
            ("whenUnsatisfiable", Literal["DoNotSchedule", "ScheduleAnyway"]),
            ("nodeAffinityPolicy", Literal["Honor", "Ignore"]),
            ("nodeTaintsPolicy", Literal["Honor", "Ignore"]),
        )
    ),
    _TemplateField("readinessGates[].conditionType", QualifiedName, at_apply=False),
    _TemplateField("schedulingGates[].name", QualifiedName, at_apply=False),
    _TemplateField("os.name", Literal["linux", "windows"], at_apply=False),
)


def _pod_template_schema(schema: JsonDict) -> None:
    """spec.podTemplate's CRD schema: Kubernetes' own, trimmed (see podtemplate.py), with the
    key (and label value) syntax of `_TEMPLATE_META` and the checks of TEMPLATE_FIELDS."""
    schema.clear()
    schema.update(podtemplate.schema())
    properties: dict[str, Any] = schema["properties"]  # type: ignore[assignment]
    meta: dict[str, JsonDict] = properties["metadata"]["properties"]
    meta["labels"].update(_TEMPLATE_META["labels"][1])
    meta["labels"]["additionalProperties"] = TypeAdapter(LabelValue).json_schema()
    meta["annotations"].update(_TEMPLATE_META["annotations"][1])
    for field in TEMPLATE_FIELDS:
        if field.at_apply:
            field.schema(properties["spec"])
    # Every container but the operator's sglang needs an image.
    pod = properties["spec"]["properties"]
    pod["initContainers"]["items"]["required"] = ["name", "image"]
    pod["containers"]["items"]["x-kubernetes-validations"] = [
        {
            "rule": f"self.name == '{SGLANG_CONTAINER}' || has(self.image)",
            "fieldPath": ".image",
            "message": _IMAGE_REQUIRED,
        }
    ]


def _template_meta_problems(template: dict[str, Any]) -> list[str]:
    """Each label or annotation of the template the API server would refuse (the CRD's rules
    above; the operator also meets specs stored before them)."""
    meta = template.get("metadata") or {}
    problems = []
    for key, (adapter, _) in _TEMPLATE_META.items():
        try:
            adapter.validate_python(meta.get(key) or {})
        except ValidationError as error:
            problems += [
                f"podTemplate.metadata.{key}.{item['loc'][0]}: "
                + item["msg"].removeprefix("Value error, ")
                for item in error.errors()
            ]
    return problems


def _template_shape_problems(template: dict[str, Any]) -> list[str]:
    found = [
        f"podTemplate.{key}: must be of type object"
        for key in ("metadata", "spec")
        if not isinstance(template.get(key, {}), dict)
    ]
    pod = template.get("spec")
    if found or not isinstance(pod, dict):
        return found
    for key in ("containers", "initContainers", "volumes"):
        items = pod.get(key, [])
        if not isinstance(items, list):
            found.append(f"podTemplate.spec.{key}: must be of type array")
            continue
        for index, item in enumerate(items):
            where = f"podTemplate.spec.{key}[{index}]"
            if not isinstance(item, dict):
                found.append(f"{where}: must be of type object")
            elif not isinstance(item.get("name"), str):
                found.append(f"{where}.name: Required value")
            elif key != "volumes":
                for field in ("env", "ports", "volumeMounts"):
                    values = item.get(field, [])
                    if not isinstance(values, list):
                        found.append(f"{where}.{field}: must be of type array")
                        continue
                    found += [
                        f"{where}.{field}[{i}]: must be of type object"
                        for i, value in enumerate(values)
                        if not isinstance(value, dict)
                    ]
    return found


class SGLangDeploymentSpec(_Model):
    """Desired state of an SGLangDeployment: a model served by SGLang on GPU pods."""

    model_config = ConfigDict(
        json_schema_extra={"x-kubernetes-validations": [r.validation() for r in CROSS_FIELD_RULES]}
    )

    model: ModelSpec = Field(description="The model to serve.")
    image: Image | None = Field(
        default=None,
        description="SGLang container image, [registry[:port]/]name[:tag][@digest]. Default: "
        f"{DEFAULT_IMAGE_AMD} for amd, {DEFAULT_IMAGE_NVIDIA} for nvidia.",
    )
    image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", description="Image pull policy. Default IfNotPresent."
    )
    image_pull_secrets: list[DnsSubdomain] = Field(
        default_factory=list,
        max_length=16,
        description="Names of Secrets to pull the image with.",
        # A set: the pod's imagePullSecrets is a list keyed by name, and a duplicate makes the
        # API server's server-side apply of the StatefulSet fail (a 500).
        json_schema_extra={"x-kubernetes-list-type": "set"},
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
        "Default 1. kubectl scale and autoscalers change it through the scale subresource.",
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
    shm_size: PositiveQuantity = Field(
        default=DEFAULT_SHM_SIZE,
        description=f"Size of /dev/shm (a memory emptyDir; NCCL/RCCL need GiBs). "
        f"Default {DEFAULT_SHM_SIZE}.",
    )
    node_selector: dict[QualifiedName, LabelValue] = Field(
        default_factory=dict,
        max_length=MAX_MAP,
        description="Node selector of the pods: node label keys and values.",
        json_schema_extra=_map_keys_rule(QUALIFIED_NAME_RE, "a label key", field="nodeSelector"),
    )
    tolerations: list[Toleration] = Field(
        default_factory=list, max_length=MAX_LIST, description="Tolerations of the pods."
    )
    affinity: Affinity | None = Field(
        default=None,
        description="Kubernetes Affinity of the pods (nodeAffinity, podAffinity, podAntiAffinity).",
    )
    priority_class_name: DnsSubdomain | None = Field(
        default=None, description="PriorityClass of the pods."
    )
    scheduler_name: DnsSubdomain | None = Field(
        default=None, description="Scheduler of the pods, such as a gang scheduler."
    )
    pod_annotations: dict[AnnotationKey, Annotated[str, Field(max_length=MAX_ANNOTATION_VALUE)]] = (
        Field(
            default_factory=dict,
            max_length=MAX_MAP,
            description="Extra annotations of the pods (keys are qualified names).",
            json_schema_extra=_map_keys_rule(
                ANNOTATION_KEY_RE, "a qualified name ([prefix/]name)", field="podAnnotations"
            ),
        )
    )
    pod_labels: dict[QualifiedName, LabelValue] = Field(
        default_factory=dict,
        max_length=MAX_MAP,
        description="Extra labels of the pods (qualified-name keys, values of at most 63 "
        "characters: alphanumerics, '-', '_' and '.', alphanumeric at both ends); the "
        "operator's own labels win on conflict.",
        json_schema_extra=_map_keys_rule(QUALIFIED_NAME_RE, "a label key", field="podLabels"),
    )
    network: NetworkSpec = Field(
        default_factory=NetworkSpec, description="Networking of multi-node groups."
    )
    probes: ProbesSpec = Field(
        default_factory=ProbesSpec,
        description="Health checking. A probe's path is checked on rank 0, such as "
        "/health_generate (a real generation) or /ready; ranks >= 1 run SGLang's dummy health "
        "server and are always checked on /ping. With an API key the check sends it.",
    )
    pod_template: dict[str, Any] | None = Field(
        default=None,
        json_schema_extra=_pod_template_schema,
        description="A partial pod template merged over the SGLang pods (server and offline; "
        "not the benchmark Job).",
    )
    healing: HealingSpec = Field(
        default_factory=HealingSpec, description="Restart of failed replica groups."
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

    @field_validator("image_pull_secrets")
    @classmethod
    def _distinct_pull_secrets(cls, value: list[str]) -> list[str]:
        _refuse(
            [
                f"imagePullSecrets[{index}]: duplicate value {name!r}: each Secret once (a set)"
                for index, name in enumerate(value)
                if name in value[:index]
            ]
        )
        return value

    @field_validator("pod_template")
    @classmethod
    def _template_shape(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        """The shapes the checks below read (the CRD schema checks the rest at apply), each
        named as the API server names it, then TEMPLATE_FIELDS."""
        if value is None:
            return None
        _refuse(_template_shape_problems(value))
        pod = value.get("spec") or {}
        _refuse(
            _template_meta_problems(value)
            + [line for field in TEMPLATE_FIELDS for line in field.problems(pod)]
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
        # Every broken rule at once: a user fixing one per apply would see them one by one.
        found = [m for rule in CROSS_FIELD_RULES if (m := rule.check(self))]
        found += [line for check in OPERATOR_CHECKS for line in check(self)]
        _refuse(found)
        return self


# ---- checks only the operator can make (InvalidSpec; also run by `sglang-operator render`) ----


def _check_template_fields(s: SGLangDeploymentSpec) -> list[str]:
    """Fields the template's schema does not know (the API server prunes them silently when
    a client skips strict field validation)."""
    return [
        f"podTemplate.{path}: unknown field"
        for path in podtemplate.unknown_fields(s.pod_template or {})
    ]


def _check_template_resources(s: SGLangDeploymentSpec) -> list[str]:
    owned = {s.gpu.effective_resource_name}
    if s.network.rdma_resource_name:
        owned.add(s.network.rdma_resource_name)
    found = []
    for path, container in podvalidation.containers(_template_pod(s)):
        resources = container.get("resources") or {}
        requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
        if container.get("name") == SGLANG_CONTAINER:
            found += [
                f"{path}.resources.{kind}.{name}: set by the operator (spec.gpu, "
                "spec.network.rdmaResourceName)"
                for kind, values in (("requests", requests), ("limits", limits))
                for name in sorted(owned & set(values))
            ]
        found += [f"{path}.resources.{line}" for line in resource_problems(requests, limits)]
    return found


def memory_limit(s: SGLangDeploymentSpec) -> str | int | None:
    """The SGLang container's memory limit: the template's, else spec.resources'."""
    limits = (template_container(s).get("resources") or {}).get("limits") or {}
    value: str | int | None = limits.get("memory", s.resources.limits.get("memory"))
    return value


def _check_shm(s: SGLangDeploymentSpec) -> list[str]:
    """A memory-backed /dev/shm is charged to the container's memory limit (and the kubelet
    caps its size there): one as large as the limit leaves the process no memory."""
    limit = memory_limit(s)
    # parse_quantity: the Kubernetes client's parser (Decimal, in units).
    if limit is None or parse_quantity(s.shm_size) < parse_quantity(limit):
        return []
    return [
        f"shmSize: {s.shm_size} leaves nothing of the SGLang container's memory limit "
        f"({limit}): a memory-backed /dev/shm counts against it; lower shmSize or raise "
        "the limit"
    ]


_IMAGE_REQUIRED = "Required value (all but sglang)"


def _check_template_references(s: SGLangDeploymentSpec) -> list[str]:
    """What Kubernetes' pod validation checks across the template's items (the CRD's list
    types check a mount path once per container): a container other than sglang has an image
    (the CRD's rules say so too); a volume mount names a volume of the pod
    (the template's, or the operator's dshm and weights); a container name is used once among
    containers and initContainers; a port (number and protocol) once per container
    (server-side apply cannot even merge a duplicate: a 500)."""
    volumes = {v.get("name") for v in _template_pod(s).get("volumes") or []}
    volumes |= {SHM_VOLUME, *([WEIGHTS_VOLUME] if s.model.cache else [])}
    names = {c.get("name") for c in _template_pod(s).get("containers") or []}
    found = []
    for path, container in podvalidation.containers(_template_pod(s)):
        if "image" not in container and container.get("name") != SGLANG_CONTAINER:
            found.append(f"{path}.image: {_IMAGE_REQUIRED}")
        if path.startswith("podTemplate.spec.initContainers") and container.get("name") in names:
            found.append(f"{path}.name: duplicate value {container.get('name')!r}")
        found += [
            f"{path}.volumeMounts[{index}].name: not found: {mount.get('name')!r} is no volume "
            "of the pod (podTemplate.spec.volumes)"
            for index, mount in enumerate(container.get("volumeMounts") or [])
            if mount.get("name") not in volumes
        ]
        ports: set[tuple[Any, Any]] = set()
        for index, port in enumerate(container.get("ports") or []):
            key = (port.get("containerPort"), port.get("protocol") or "TCP")
            if key in ports:
                found.append(f"{path}.ports[{index}]: duplicate value {key[0]}/{key[1]}")
            ports.add(key)
    return found


def _sglang_ports(s: SGLangDeploymentSpec) -> dict[int, str]:
    """The ports the operator declares on the sglang container: {number: name}."""
    return dict(
        (number, name)
        for name, number in ports.listen_ports(
            s.server.extra_args,
            port=s.server.port,
            dist_init_port=s.network.dist_init_port,
            nodes=s.parallelism.nodes,
        )
    )


def _check_template_ports(s: SGLangDeploymentSpec) -> list[str]:
    sglang = _sglang_ports(s)
    return [
        f"{path}.ports[{index}].containerPort: {port['containerPort']} is SGLang's "
        f"{sglang[port['containerPort']]} port (declared by the operator)"
        for path, container in podvalidation.containers(_template_pod(s))
        if path.startswith("podTemplate.spec.containers")
        for index, port in enumerate(container.get("ports") or [])
        if isinstance(port.get("containerPort"), int) and port["containerPort"] in sglang
    ]


def _check_pod_spec(s: SGLangDeploymentSpec) -> list[str]:
    """What Kubernetes' pod validation (ValidatePodSpec) refuses in the template's pod spec,
    the operator's ports and hostNetwork taken into account (podvalidation)."""
    return podvalidation.problems(
        _template_pod(s),
        host_network=s.network.host_network,
        sglang_ports=_sglang_ports(s),
        sglang_container=SGLANG_CONTAINER,
    )


OPERATOR_CHECKS: tuple[Callable[[SGLangDeploymentSpec], list[str]], ...] = (
    _check_template_fields,
    _check_template_resources,
    _check_template_references,
    _check_template_ports,
    _check_pod_spec,
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
    "Ready": "Every copy serves (also between the steps of a rollout, and while a scale-down "
    "keeps a copy that serves until one that stays does: see Progressing).",
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
    """A replica group as the operator last saw it, and what it remembers of it."""

    index: int = Field(ge=0, description="Group index: pods <name>-<index>-<rank>.")
    ready: bool = Field(default=False, description="All pods run and rank 0 is Ready.")
    members: list[Annotated[str, Field(max_length=64)]] = Field(
        default_factory=list,
        max_length=256,
        description="UIDs of the group's pods, once all ran: one gone restarts the group.",
    )
    restarts: list[Annotated[str, Field(max_length=32)]] = Field(
        default_factory=list,
        max_length=32,
        description="When the group was restarted, within the budget's window (RFC 3339).",
    )
    failed_create: dict[str, Annotated[str, Field(max_length=512)]] = Field(
        default_factory=dict,
        max_length=1,
        description="A template's pod-spec hash: why its pods were refused at creation "
        "(kept until all exist).",
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
    """Validate and default a spec as found in the object.

    Raises pydantic's ValidationError with every problem of the spec, each once
    (`validation_problems` lists them): the fields refused, and the rules and operator checks,
    which pydantic checks only once the fields they read are valid, run again on the spec
    without the refused fields, as the API server evaluates its CEL rules beside its schema."""
    raw = dict(spec)
    try:
        return SGLangDeploymentSpec.model_validate(raw)
    except ValidationError as error:
        problems = _every_problem(raw, error)
    raise ValidationError.from_exception_data(
        SGLangDeploymentSpec.__name__,
        [
            InitErrorDetails(
                type=PydanticCustomError(
                    PROBLEMS_ERROR,
                    "{joined}",
                    {"joined": "; ".join(problems), "problems": problems},
                ),
                loc=(),
                input=raw,
            )
        ],
    )


# Passes of `_every_problem`: the fields, then the rules of the nested models (resources,
# tolerations, ...) that refused fields hid, then the spec's own rules and operator checks.
_PASSES = 4
# pydantic's location parts that name a type it tried, not a field (shmSize.str).
_TAG_RE = r"^(str|int|float|bool|[a-z-]+\[.*\])$"
# spec.model.path is the one required field outside a list (a missing one inside a list drops
# its item): a stand-in lets the rules run without it.
_MODEL_PATH_STAND_IN = "model"
# pydantic's words where kubectl has its own.
_KUBECTL_WORDS = {
    "Field required": "Required value",
    "Extra inputs are not permitted": "unknown field",
}


def _every_problem(raw: dict[str, Any], error: ValidationError) -> list[str]:
    """Each problem of `raw` once, `field: message` with the field below spec; `error` is the
    first parse's.

    Each pass drops the values the previous parse refused and parses again, so that a rule
    that a refused field kept from running still runs; a later problem that names a dropped
    field is left out (it would be about the default standing in, not what the user wrote)."""
    pruned = copy.deepcopy(raw)
    found: list[str] = []
    dropped: set[str] = set()
    for _ in range(_PASSES):
        found += [
            line
            for line in _error_lines(pruned, error)
            if line not in found and not any(_about(line, field) for field in dropped)
        ]
        dropped |= _drop(pruned, [item["loc"] for item in error.errors()])
        model = pruned.get("model")
        if not isinstance(model, dict) or "path" not in model:
            kept = model if isinstance(model, dict) else {}
            pruned["model"] = {**kept, "path": _MODEL_PATH_STAND_IN}
            dropped.add("model")
        try:
            SGLangDeploymentSpec.model_validate(pruned)
        except ValidationError as again:
            error = again
        else:
            break
    return found


def _about(line: str, field: str) -> bool:
    """Whether a problem line is about `field` (a dotted path below spec, list indexes left
    out): the line's field and `field` overlap, or its message names `field`'s path or, for
    a camelCase name (perNode), its name."""
    named = re.sub(r"\[[^]]*\]", "", line.split(": ", 1)[0])
    leaf = field.rsplit(".", 1)[-1]
    return (
        f"{named}.".startswith(f"{field}.")
        or f"{field}.".startswith(f"{named}.")
        or bool(re.search(rf"\b{re.escape(field)}\b", line))
        or (leaf.lower() != leaf and bool(re.search(rf"\b{re.escape(leaf)}\b", line)))
    )


def _drop(value: dict[str, Any], locations: list[tuple[int | str, ...]]) -> set[str]:
    """Removes from `value` the deepest existing field or item of each location (a location
    may end in a type tag or a missing field: shmSize.str, env.3.name); the dotted paths of
    the fields removed (a list item's: the list's)."""
    targets: dict[int, tuple[Any, set[int | str]]] = {}
    fields: set[str] = set()
    for location in locations:
        parent: Any = None
        key: Any = None
        node: Any = value
        field: list[str] = []
        for part in location:
            if (isinstance(node, dict) and part in node) or (
                isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
            ):
                parent, key = node, part
                field += [part] if isinstance(part, str) else []
                node = parent[key]
            else:
                break
        if key is None:
            # The whole spec: only the rules' own refusals are located there.
            continue
        fields.add(".".join(field))
        targets.setdefault(id(parent), (parent, set()))[1].add(key)
    for parent, keys in targets.values():
        # A list's items last to first, so that the indexes stay right.
        for key in sorted(keys, key=lambda k: k if isinstance(k, int) else -1, reverse=True):
            del parent[key]
    return fields


def _data_path(data: Any, location: Sequence[int | str]) -> tuple[str, str]:
    """A pydantic location as `kubectl apply` names the field (spec.env[0].valueFrom), and a
    prefix for the message: type tags are left out, a missing field is named, and a map key
    that is refused names the map (as the CRD's rule on the keys does) and goes to the message.
    """
    path = "spec"
    node: Any = data
    for index, part in enumerate(location):
        if isinstance(node, list) and isinstance(part, int):
            path += f"[{part}]"
            node = node[part] if 0 <= part < len(node) else None
        elif part == "[key]":
            return path.rsplit(".", 1)[0], f"{location[index - 1]!r}: "
        elif (
            isinstance(part, str)
            and re.match(_TAG_RE, part)
            and not (isinstance(node, dict) and part in node)
        ):
            continue
        else:
            path += f".{part}"
            node = node.get(part) if isinstance(node, dict) else None
    return path, ""


def _error_lines(data: dict[str, Any], error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors():
        if item["type"] == PROBLEMS_ERROR:
            lines += item["ctx"]["problems"]
            continue
        path, prefix = _data_path(data, item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        below = path.removeprefix("spec").removeprefix(".")
        lines.append(f"{below}: {prefix}{_KUBECTL_WORDS.get(message, message)}")
    return lines


def validation_problems(error: ValidationError) -> list[str]:
    """One line per problem of `parse_spec`'s error, `spec.path.to.field: message`."""
    return [f"spec.{line}" for item in error.errors() for line in item["ctx"]["problems"]]


def format_validation_error(error: ValidationError) -> str:
    """Every problem (`validation_problems`) on one line, for status messages."""
    return "; ".join(validation_problems(error))
