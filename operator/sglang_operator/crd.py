"""The SGLangDeployment CustomResourceDefinition, generated from the pydantic models.

`python -m sglang_operator.crd [PATH]` (or `sglang-operator crd`) writes it; a test
regenerates it and diffs against the committed file in crds/.

pydantic's JSON schema is not a structural CRD schema as it stands. The conversion:
`$ref`s are inlined; `title` and `default` dropped (the operator defaults in pydantic, so
the stored object stays what the user wrote); `X | None` becomes X (an absent field is the
API's "unset", and the API server prunes explicit nulls); `str | int` becomes
`x-kubernetes-int-or-string`; `additionalProperties: false` is dropped (the API server
prunes unknown fields, and kubectl's strict field validation reports them);
`propertyNames` is dropped (CRDs do not support it); numeric `exclusiveMinimum: n` becomes
OpenAPI v3.0's `minimum: n, exclusiveMinimum: true`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from sglang_operator import API_GROUP, API_VERSION, KIND, PLURAL
from sglang_operator.api import SGLangDeploymentSpec, SGLangDeploymentStatus

CRD_NAME = f"{PLURAL}.{API_GROUP}"
CRD_FILE = f"{CRD_NAME}.yaml"
SHORT_NAME = "sgld"
CATEGORY = "sglang"
HEADER = "# Generated from operator/sglang_operator/api.py by `sglang-operator crd`. Do not edit.\n"

Schema = dict[str, Any]

_DROPPED = {"title", "default", "propertyNames"}


def _inline(node: Any, defs: dict[str, Schema]) -> Any:
    """Replace every {"$ref": "#/$defs/X", ...siblings} by X's schema, siblings winning."""
    if isinstance(node, list):
        return [_inline(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target = defs[node["$ref"].rsplit("/", 1)[-1]]
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _inline(merged, defs)
    return {key: _inline(value, defs) for key, value in node.items()}


def _structural(node: Any) -> Any:
    """Rewrite an inlined JSON schema node into a structural CRD schema node."""
    if isinstance(node, list):
        return [_structural(item) for item in node]
    if not isinstance(node, dict):
        return node
    if "anyOf" in node:
        node = _collapse_any_of(node)
    node = {k: v for k, v in node.items() if k not in _DROPPED}
    if node.get("additionalProperties") is False:
        del node["additionalProperties"]
    if node.get("x-kubernetes-preserve-unknown-fields"):
        node.pop("additionalProperties", None)
    for bound in ("exclusiveMinimum", "exclusiveMaximum"):
        if isinstance(node.get(bound), int | float) and not isinstance(node[bound], bool):
            node["minimum" if bound == "exclusiveMinimum" else "maximum"] = node[bound]
            node[bound] = True
    return {key: _structural(value) for key, value in node.items()}


def _branches(node: Schema) -> list[Schema]:
    """The non-null alternatives of an anyOf, nested anyOfs flattened."""
    found: list[Schema] = []
    for branch in node["anyOf"]:
        if "anyOf" in branch:
            found += _branches(branch)
        elif branch.get("type") != "null":
            found.append(branch)
    return found


def _collapse_any_of(node: Schema) -> Schema:
    outer = {k: v for k, v in node.items() if k != "anyOf"}
    branches = _branches(node)
    if {b.get("type") for b in branches} == {"string", "integer"}:
        outer.pop("type", None)
        return {**outer, "x-kubernetes-int-or-string": True}
    if len(branches) != 1:
        raise ValueError(f"no structural form for anyOf {node['anyOf']!r}")
    # The field's own keywords (description, extras) win over the type's.
    return {**branches[0], **outer}


def openapi_schema(model: type[SGLangDeploymentSpec] | type[SGLangDeploymentStatus]) -> Schema:
    """The structural OpenAPI v3 schema of one model."""
    raw = model.model_json_schema(by_alias=True)
    defs = raw.pop("$defs", {})
    schema: Schema = _structural(_inline(raw, defs))
    return schema


def _status_schema() -> Schema:
    schema = openapi_schema(SGLangDeploymentStatus)
    # The operator writes status; fields added by a newer operator must never be refused or
    # pruned by an older CRD, so unknown status fields are kept.
    schema["x-kubernetes-preserve-unknown-fields"] = True
    return schema


PRINTER_COLUMNS: list[Schema] = [
    {"name": "Model", "type": "string", "jsonPath": ".spec.model.path"},
    {
        "name": "Nodes",
        "type": "integer",
        "jsonPath": ".status.nodes",
        "description": "Pods (nodes) per model copy.",
    },
    {
        "name": "GPUs",
        "type": "integer",
        "jsonPath": ".status.gpus",
        "description": "GPUs requested by all copies.",
    },
    {
        "name": "Ready",
        "type": "integer",
        "jsonPath": ".status.readyReplicas",
        "description": "Model copies serving.",
    },
    {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    {
        "name": "Throughput",
        "type": "number",
        "jsonPath": ".status.benchmark.outputThroughput",
        "description": "Output tokens per second of the last benchmark.",
        "priority": 1,
    },
    {
        "name": "Endpoint",
        "type": "string",
        "jsonPath": ".status.endpoint",
        "priority": 1,
    },
]


def build_crd() -> Schema:
    """The whole CustomResourceDefinition as a dict."""
    spec_schema = openapi_schema(SGLangDeploymentSpec)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": CRD_NAME},
        "spec": {
            "group": API_GROUP,
            "scope": "Namespaced",
            "names": {
                "kind": KIND,
                "listKind": f"{KIND}List",
                "plural": PLURAL,
                "singular": KIND.lower(),
                "shortNames": [SHORT_NAME],
                "categories": [CATEGORY],
            },
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {
                        "status": {},
                        "scale": {
                            "specReplicasPath": ".spec.replicas",
                            "statusReplicasPath": ".status.replicas",
                            "labelSelectorPath": ".status.selector",
                        },
                    },
                    "additionalPrinterColumns": PRINTER_COLUMNS,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "description": "SGLangDeployment runs a model with SGLang on GPU "
                            "pods: one or more copies, each a group of nodes.",
                            "required": ["spec"],
                            "properties": {
                                "apiVersion": {
                                    "type": "string",
                                    "description": "API version of this object.",
                                },
                                "kind": {"type": "string", "description": "Kind of this object."},
                                "metadata": {"type": "object"},
                                "spec": spec_schema,
                                "status": _status_schema(),
                            },
                        }
                    },
                }
            ],
        },
    }


def render_crd() -> str:
    """The CRD as the committed YAML text."""
    return HEADER + yaml.safe_dump(build_crd(), sort_keys=False, width=100)


def default_path() -> Path:
    """crds/<name>.yaml of the source checkout."""
    return Path(__file__).resolve().parents[2] / "crds" / CRD_FILE


def write_crd(path: Path | None = None) -> Path:
    """Write the CRD (to crds/ by default) and return the path written."""
    target = path or default_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_crd())
    return target


if __name__ == "__main__":
    print(write_crd(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
