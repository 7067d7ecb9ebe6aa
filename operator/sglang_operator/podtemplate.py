"""spec.podTemplate: its schema (trimmed from Kubernetes' own OpenAPI) and its merge.

The schema. `generate(openapi)` turns Kubernetes' published OpenAPI v3 document of the
core/v1 group (`api/openapi-spec/v3/api__v1_openapi.json` in the k8s.io/kubernetes module of
the version the project targets, K8S_VERSION) into a structural CRD schema of a partial
PodTemplateSpec: `metadata` keeps only labels and annotations (the operator owns the rest),
`spec` is the whole PodSpec except ephemeralContainers (which a pod cannot be created with)
and the volume types whose description says Kubernetes no longer supports them (the in-tree
cephfs, rbd, glusterfs, ... plugins are gone from the kubelet: a pod using one never starts).
To keep the CRD under the 256 KiB that client-side `kubectl apply` can store, descriptions
are cut to their first sentence, and below the first levels to a few words; every string,
list and map gets a bound so the CRD's CEL rules stay inside the API server's cost budget.
The result and Kubernetes' strategic-merge keys are committed as
`pod_template_schema.json`; `sglang-operator pod-template-schema` regenerates it from the Go
module cache (`go mod download k8s.io/kubernetes@K8S_VERSION`) and a test diffs the two.

The merge. `merge(base, patch)` applies a user's template over the operator's with the
meaning of `kubectl patch --type strategic`: objects merge key by key; lists that
Kubernetes merges by a key (containers, initContainers, volumes and imagePullSecrets by
name, a container's env by name, volumeMounts by mountPath, ports by containerPort) merge
item by item, a volume's source replaced as a whole (retainKeys); scalars replace. Lists
that Kubernetes treats as atomic (tolerations, capabilities, topology spread, ...) are
appended to instead, without duplicates, so a template adds to what the top-level
conveniences (tolerations, ...) already put there rather than silently dropping it.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

Obj = dict[str, Any]

# The Kubernetes release whose API the pod template follows: the one the local control plane
# of the tests runs (hack/cluster.sh K8S_VERSION; a unit test keeps the two equal).
K8S_VERSION = "v1.35.4"
OPENAPI_FILE = "api/openapi-spec/v3/api__v1_openapi.json"
SCHEMA_FILE = Path(__file__).with_name("pod_template_schema.json")

_REF_PREFIX = "#/components/schemas/"
_POD_SPEC = "io.k8s.api.core.v1.PodSpec"
_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_QUANTITY = "io.k8s.apimachinery.pkg.api.resource.Quantity"
# The syntax of a Quantity (k8s.io/apimachinery/pkg/api/resource: <sign><number><suffix>, the
# suffix binary, decimal or an exponent), in parts that api.py reuses for its own quantities.
QUANTITY_NUMBER = r"([0-9]+(\.[0-9]*)?|\.[0-9]+)"
QUANTITY_SUFFIX = r"([KMGTPE]i|[numkMGTPE]|[eE][-+]?[0-9]+)?"
QUANTITY_RE = rf"^[+-]?{QUANTITY_NUMBER}{QUANTITY_SUFFIX}$"
_INT_OR_STRING = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
# Pod fields a template cannot carry: ephemeral containers are added to running pods only.
_DROPPED_POD_FIELDS = {"ephemeralContainers"}
# How Kubernetes' OpenAPI marks a field whose implementation is removed ("Deprecated: CephFS is
# deprecated and the in-tree cephfs type is no longer supported.").
_UNSUPPORTED = "is no longer supported"
# Keywords a structural CRD schema accepts, of those Kubernetes' OpenAPI uses (a tuple: the
# output's key order must not depend on hash seeds).
_KEPT = (
    "description",
    "type",
    "format",
    "enum",
    "required",
    "minimum",
    "maximum",
    "x-kubernetes-map-type",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
)
# Descriptions: full first sentence this deep below podTemplate (so `kubectl explain` on
# podTemplate.spec.containers teaches), a few words deeper.
_FULL_DESCRIPTION_DEPTH = 4
_SHORT_DESCRIPTION = 56
_LONG_DESCRIPTION = 240
# Bounds, for CEL cost estimates and sane objects; generous against real pod specs.
MAX_STRING = 65536
MAX_NAME_STRING = 253
MAX_LIST = 256
MAX_CONTAINERS = 32
MAX_MAP = 256
# Fields whose value is a name or a path that a CEL rule compares: tighter bounds keep the
# rules cheap.
_NAME_FIELDS = {"name", "mountPath"}


def _first_sentence(text: str, limit: int) -> str:
    text = " ".join(text.split())
    match = re.search(r"(?<=[a-z0-9)\]`'\"])\. ", text)
    if match:
        text = text[: match.start() + 1]
    if len(text) > limit:
        text = text[: limit - 3].rsplit(" ", 1)[0].rstrip(",;:") + "..."
    return text


def _ref_name(node: Obj) -> str | None:
    if "$ref" in node:
        return str(node["$ref"]).removeprefix(_REF_PREFIX)
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and "$ref" in all_of[0]:
        return str(all_of[0]["$ref"]).removeprefix(_REF_PREFIX)
    return None


class _Generator:
    def __init__(self, schemas: dict[str, Obj]) -> None:
        self.schemas = schemas
        self.merge_keys: dict[str, Obj] = {}

    def node(self, raw: Obj, path: str, depth: int, seen: tuple[str, ...], name: str) -> Obj:
        """The structural schema of one property, its $ref resolved."""
        ref = _ref_name(raw)
        description = raw.get("description", "")
        target = raw
        if ref is not None:
            if ref in (_QUANTITY, _INT_OR_STRING):
                out: Obj = {"x-kubernetes-int-or-string": True}
                if ref == _QUANTITY:
                    out["pattern"] = QUANTITY_RE
                    out["maxLength"] = 64
                else:
                    out["maxLength"] = MAX_NAME_STRING
                self._describe(out, description or self.schemas[ref].get("description", ""), depth)
                return out
            if ref == _OBJECT_META:
                # Metadata inside a pod (a generic ephemeral volume's claim template) may
                # carry only labels and annotations.
                out = _metadata_schema(description or "Labels and annotations.")
                return out
            if ref in seen:
                # A recursive type: no schema below this point (none exists in PodSpec today).
                out = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
                self._describe(out, description, depth)
                return out
            target = self.schemas[ref]
            description = description or target.get("description", "")
            seen = (*seen, ref)
        out = {key: copy.deepcopy(target[key]) for key in _KEPT if key in target}
        strategy = raw.get("x-kubernetes-patch-strategy")
        if strategy:
            self.merge_keys[path] = {
                "strategy": strategy,
                "key": raw.get("x-kubernetes-patch-merge-key"),
            }
        if "properties" in target:
            out["type"] = "object"
            props: Obj = {}
            for key in sorted(target["properties"]):
                if path == "spec" and key in _DROPPED_POD_FIELDS:
                    continue
                if _UNSUPPORTED in target["properties"][key].get("description", ""):
                    continue
                child_path = f"{path}.{key}" if path else key
                props[key] = self.node(target["properties"][key], child_path, depth + 1, seen, key)
            out["properties"] = props
            self._structural_list_map(out)
        kind = out.get("type")
        if kind == "array":
            out["items"] = self.node(target["items"], f"{path}[]", depth + 1, seen, name)
            out["maxItems"] = (
                MAX_CONTAINERS if name in ("containers", "initContainers") else MAX_LIST
            )
        elif kind == "object" and "additionalProperties" in target:
            out["additionalProperties"] = self.node(
                target["additionalProperties"], f"{path}{{}}", depth + 1, seen, name
            )
            out["maxProperties"] = MAX_MAP
        elif kind == "string" and "enum" not in out:
            out["maxLength"] = MAX_NAME_STRING if name in _NAME_FIELDS else MAX_STRING
        self._describe(out, description, depth)
        return out

    @staticmethod
    def _structural_list_map(obj: Obj) -> None:
        """A CRD list-type map needs every key required: otherwise keep the list atomic."""
        for prop in obj["properties"].values():
            if prop.get("x-kubernetes-list-type") != "map":
                continue
            item = prop.get("items", {})
            if not set(prop.get("x-kubernetes-list-map-keys", [])) <= set(item.get("required", [])):
                del prop["x-kubernetes-list-type"]
                del prop["x-kubernetes-list-map-keys"]

    @staticmethod
    def _describe(out: Obj, description: str, depth: int) -> None:
        if description:
            limit = _LONG_DESCRIPTION if depth <= _FULL_DESCRIPTION_DEPTH else _SHORT_DESCRIPTION
            out["description"] = _first_sentence(description, limit)


def _metadata_schema(description: str) -> Obj:
    return {
        "type": "object",
        "description": _first_sentence(description, _LONG_DESCRIPTION),
        "properties": {
            "labels": {
                "type": "object",
                "additionalProperties": {"type": "string", "maxLength": MAX_NAME_STRING},
                "maxProperties": 64,
                "description": "Labels.",
            },
            "annotations": {
                "type": "object",
                "additionalProperties": {"type": "string", "maxLength": MAX_STRING},
                "maxProperties": 64,
                "description": "Annotations.",
            },
        },
    }


def generate(openapi: Obj) -> Obj:
    """The committed document: {"kubernetesVersion", "schema", "mergeKeys"}.

    `schema` is the structural schema of spec.podTemplate; `mergeKeys` maps each list's path
    inside the template (`spec.containers[].env`) to Kubernetes' patch strategy and merge key.
    """
    schemas: dict[str, Obj] = openapi["components"]["schemas"]
    gen = _Generator(schemas)
    labels = {
        "type": "object",
        "additionalProperties": {"type": "string", "maxLength": MAX_NAME_STRING},
        "maxProperties": 64,
        "description": "Labels added to the pods. Keys the operator's selectors use are refused.",
    }
    annotations = {
        "type": "object",
        "additionalProperties": {"type": "string", "maxLength": MAX_STRING},
        "maxProperties": 64,
        "description": "Annotations added to the pods (Multus network attachments, ...).",
    }
    spec = gen.node({"$ref": _REF_PREFIX + _POD_SPEC}, "spec", 1, (), "spec")
    # A partial template: the operator's pod has the containers a PodSpec requires.
    del spec["required"]
    spec["description"] = (
        "Any PodSpec field, merged over the operator's pod spec (strategic merge: containers, "
        "volumes, env by name; the SGLang container is named sglang)."
    )
    schema: Obj = {
        "type": "object",
        "description": "A partial pod template merged over the pods the operator builds: "
        "extra labels and annotations, and any PodSpec field (sidecars, volumes, "
        "securityContext, hostIPC, runtimeClassName, ...). The operator's own wiring (the "
        "sglang container's command, args, rank env and ports, the selector labels) "
        "cannot be overridden.",
        "properties": {
            "metadata": {
                "type": "object",
                "description": "Labels and annotations of the pods.",
                "properties": {"labels": labels, "annotations": annotations},
            },
            "spec": spec,
        },
    }
    return {
        "kubernetesVersion": K8S_VERSION,
        "schema": schema,
        "mergeKeys": dict(sorted(gen.merge_keys.items())),
    }


def openapi_path() -> Path:
    """Where the Go module cache holds K8S_VERSION's OpenAPI document (downloaded if absent).

    Raises subprocess.CalledProcessError without Go or network, FileNotFoundError without go.
    """
    out = subprocess.run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{K8S_VERSION}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return Path(json.loads(out)["Dir"]) / OPENAPI_FILE


def render(openapi: Path | None = None) -> str:
    """The committed file's text, generated from the OpenAPI document at `openapi`."""
    document = json.loads((openapi or openapi_path()).read_text())
    return json.dumps(generate(document), indent=1, sort_keys=False) + "\n"


def write(path: Path | None = None, openapi: Path | None = None) -> Path:
    target = path or SCHEMA_FILE
    target.write_text(render(openapi))
    return target


@cache
def _document() -> Obj:
    document: Obj = json.loads(SCHEMA_FILE.read_text())
    return document


def schema() -> Obj:
    """The structural schema of spec.podTemplate (a fresh copy)."""
    return copy.deepcopy(_document()["schema"])


def merge_keys() -> dict[str, Obj]:
    """Kubernetes' patch strategy and merge key of each list in a pod template, by path."""
    keys: dict[str, Obj] = _document()["mergeKeys"]
    return keys


# ---- the merge -------------------------------------------------------------------------------


def merge(base: Obj, patch: Obj) -> Obj:
    """`patch` (a user's partial pod template) merged over `base`; neither is modified."""
    merged: Obj = _merge_value(copy.deepcopy(base), patch, "")
    return merged


def _merge_value(base: Any, patch: Any, path: str) -> Any:
    if isinstance(base, dict) and isinstance(patch, dict):
        for key, value in patch.items():
            child = f"{path}.{key}" if path else key
            base[key] = (
                _merge_value(base[key], value, child) if key in base else copy.deepcopy(value)
            )
        return base
    if isinstance(base, list) and isinstance(patch, list):
        return _merge_list(base, patch, path)
    return copy.deepcopy(patch)


def _merge_list(base: list[Any], patch: list[Any], path: str) -> list[Any]:
    rule = merge_keys().get(path, {})
    key = rule.get("key")
    if key:
        result = list(base)
        for item in patch:
            index = next(
                (
                    i
                    for i, old in enumerate(result)
                    if isinstance(old, dict) and old.get(key) == item.get(key)
                ),
                None,
            )
            if index is None:
                result.append(copy.deepcopy(item))
                continue
            old = result[index]
            if "retainKeys" in rule.get("strategy", ""):
                old = {k: v for k, v in old.items() if k in item}
            result[index] = _merge_value(old, item, f"{path}[]")
        return result
    result = list(base)
    result += [copy.deepcopy(item) for item in patch if item not in base]
    return result


def unknown_fields(template: Obj) -> list[str]:
    """Paths in `template` that its schema does not define (`spec.containers[0].volumeMount`)."""
    found: list[str] = []
    _unknown(template, schema_root(), "", found)
    return found


@cache
def schema_root() -> Obj:
    root: Obj = _document()["schema"]
    return root


def _unknown(value: Any, node: Obj, path: str, found: list[str]) -> None:
    if isinstance(value, dict):
        if "properties" in node:
            for key, child in value.items():
                here = f"{path}.{key}" if path else key
                if key in node["properties"]:
                    _unknown(child, node["properties"][key], here, found)
                else:
                    found.append(here)
        elif isinstance(node.get("additionalProperties"), dict):
            for key, child in value.items():
                _unknown(child, node["additionalProperties"], f"{path}.{key}", found)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for i, item in enumerate(value):
            _unknown(item, node["items"], f"{path}[{i}]", found)
