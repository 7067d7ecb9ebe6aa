"""The SGLangDeployment CustomResourceDefinition, generated from the pydantic models.

`python -m sglang_operator.crd [PATH]` (or `sglang-operator crd`) writes it; a test
regenerates it and diffs against the committed file in crds/.

pydantic's JSON schema is not a structural CRD schema as it stands. The conversion:
`$ref`s are inlined; `title` and `default` dropped (the operator defaults in pydantic, so
the stored object stays what the user wrote; spec.replicas alone keeps its default, for the
scale subresource); `X | None` becomes X (an absent field is the
API's "unset", and the API server prunes explicit nulls); `str | int` becomes
`x-kubernetes-int-or-string`; `additionalProperties: false` is dropped (the API server
prunes unknown fields, and kubectl's strict field validation reports them);
`propertyNames` is dropped and `patternProperties` becomes `additionalProperties` (CRDs support
neither; map keys are checked by CEL rules);
`const` (a one-value Literal) becomes a one-value `enum`; `x-kubernetes-list-type: atomic`, the
default, is left out; numeric `exclusiveMinimum: n` becomes
OpenAPI v3.0's `minimum: n, exclusiveMinimum: true`.

`spec_problems(spec)` checks a spec against this schema as the API server does at
`kubectl apply` (`sglang-operator render` uses it, so a user sees the error before applying).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft4Validator, ValidationError, validators

from sglang_operator import API_GROUP, API_VERSION, KIND, PLURAL
from sglang_operator.api import SGLangDeploymentSpec, SGLangDeploymentStatus
from sglang_operator.generated import GeneratedFile

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
    if "patternProperties" in node:
        # A dict with a constrained key type: CRDs have no patternProperties; the values keep
        # their schema and the keys are checked by the map's CEL rule.
        (value_schema,) = node.pop("patternProperties").values()
        node["additionalProperties"] = value_schema
    if "const" in node:
        node["enum"] = [node.pop("const")]
    if node.get("x-kubernetes-preserve-unknown-fields"):
        node.pop("additionalProperties", None)
    if node.get("x-kubernetes-list-type") == "atomic":
        # A CRD list is atomic unless said otherwise (apiextensions/v1 JSONSchemaProps:
        # "Defaults to atomic for arrays"): saying it costs the size budget only.
        del node["x-kubernetes-list-type"]
    for bound in ("exclusiveMinimum", "exclusiveMaximum"):
        if isinstance(node.get(bound), int | float) and not isinstance(node[bound], bool):
            node["minimum" if bound == "exclusiveMinimum" else "maximum"] = node[bound]
            node[bound] = True
    return {key: _structural(value) for key, value in node.items()}


def _branches(node: Schema, outer: Schema) -> list[Schema]:
    """The non-null alternatives of an anyOf, nested anyOfs flattened; a nested anyOf's own
    keywords (an int-or-string's pattern, say, inside an Optional) are added to `outer`."""
    found: list[Schema] = []
    for branch in node["anyOf"]:
        if "anyOf" in branch:
            found += _branches(branch, outer)
            outer.update({k: v for k, v in branch.items() if k != "anyOf" and k not in outer})
        elif branch.get("type") != "null":
            found.append(branch)
    return found


def _collapse_any_of(node: Schema) -> Schema:
    outer = {k: v for k, v in node.items() if k != "anyOf"}
    branches = _branches(node, outer)
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


# A column showing a status field is described by that field's description (kubectl explain).
PRINTER_COLUMNS: list[Schema] = [
    {"name": "Model", "type": "string", "jsonPath": ".spec.model.path"},
    {"name": "Nodes", "type": "integer", "jsonPath": ".status.nodes"},
    {"name": "GPUs", "type": "integer", "jsonPath": ".status.gpus"},
    {"name": "Ready", "type": "integer", "jsonPath": ".status.readyReplicas"},
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


def _spec_schema() -> Schema:
    schema = openapi_schema(SGLangDeploymentSpec)
    # The one default the CRD carries: the scale subresource reads spec.replicas, and the API
    # server answers GET and PATCH on /scale (kubectl scale, an HPA) with a 500 when that path
    # is absent. Defaulted on read as well as on write, so objects stored before also get it;
    # like a Deployment's replicas default it is no drift for kubectl or ArgoCD diffs.
    schema["properties"]["replicas"]["default"] = SGLangDeploymentSpec.model_fields[
        "replicas"
    ].default
    return schema


def build_crd() -> Schema:
    """The whole CustomResourceDefinition as a dict."""
    spec_schema = _spec_schema()
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


# ---- checking a spec against the schema, as the API server does ----------------------------


def _int_or_string(
    validator: Any, value: bool, instance: Any, schema: Schema
) -> Iterator[ValidationError]:
    if value and (isinstance(instance, bool) or not isinstance(instance, int | str)):
        yield ValidationError("must be an integer or a string")


def _list_type(
    validator: Any, value: str, instance: Any, schema: Schema
) -> Iterator[ValidationError]:
    """Kubernetes' list types: a `set` holds no item twice, a `map` no two items with the same
    values of its x-kubernetes-list-map-keys."""
    if value not in ("set", "map") or not isinstance(instance, list):
        return
    keys = schema.get("x-kubernetes-list-map-keys", [])
    seen: set[str] = set()
    for index, item in enumerate(instance):
        key = (
            item if value == "set" or not isinstance(item, dict) else {k: item.get(k) for k in keys}
        )
        text = json.dumps(key, sort_keys=True)
        if text in seen:
            yield ValidationError(f"duplicate value {text}", path=[index])
        seen.add(text)


# OpenAPI v3.0's schema object is JSON Schema draft 4 (exclusiveMinimum a boolean), plus the
# Kubernetes extensions that constrain values; the other x-kubernetes-* keywords change how
# objects are stored (pruning, merging), not which are valid. CEL rules are not evaluated here:
# the pydantic validators repeat each one (api.CROSS_FIELD_RULES). (types-jsonschema leaves
# `extend` untyped.)
_StructuralValidator = validators.extend(  # type: ignore[no-untyped-call]
    Draft4Validator,
    {"x-kubernetes-int-or-string": _int_or_string, "x-kubernetes-list-type": _list_type},
)

# Messages in the API server's words, where jsonschema's would print the whole value.
_MESSAGES = {
    "type": "must be of type {}",
    "maxLength": "may not be longer than {} characters",
    "maxItems": "must have at most {} items",
    "maxProperties": "must have at most {} properties",
    "pattern": "should match '{}'",
    "enum": "must be one of {}",
    "minimum": "should be greater than or equal to {}",
    "maximum": "should be less than or equal to {}",
}


def without_nulls(value: Any) -> Any:
    """`value` with every null object field dropped, as the API server prunes them from a
    custom resource before validating (no field of this CRD is nullable), so `revision:`
    left empty in YAML means unset."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


@cache
def _spec_validator() -> Any:
    return _StructuralValidator(openapi_schema(SGLangDeploymentSpec))


def _path(parts: Any) -> str:
    text = "spec"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def spec_problems(spec: Mapping[str, Any]) -> list[str]:
    """What the API server refuses in `spec` by the CRD's schema (types, bounds, patterns,
    required fields, duplicate list items), as `spec.path: message` lines.

    Unknown fields and the CEL rules are left to `api.parse_spec`, which names both."""
    found = []
    for error in _spec_validator().iter_errors(dict(spec)):
        path = list(error.absolute_path)
        if error.validator == "required":
            # As the API server names it: the missing field, not the object that lacks it.
            path += [field for field in error.validator_value if field not in error.instance][:1]
            message = "Required value"
        else:
            template = _MESSAGES.get(str(error.validator))
            message = template.format(error.validator_value) if template else error.message
        found.append(f"{_path(path)}: {message}")
    return found


def render_crd() -> str:
    """The CRD as the committed YAML text."""
    return HEADER + yaml.safe_dump(build_crd(), sort_keys=False, width=100)


FILE = GeneratedFile(f"crds/{CRD_FILE}", render_crd)

if __name__ == "__main__":
    print(FILE.write(Path(sys.argv[1]) if len(sys.argv) > 1 else None))
