"""The API reference (docs/api.md), generated from the CRD schema that the models generate.

One source: the descriptions a user reads here are the ones `kubectl explain` prints, and
the validation rules are the CRD's own CEL messages, so the reference cannot drift from what
the API server enforces (a unit test regenerates and diffs it).
"""

from __future__ import annotations

from typing import Any

from sglang_operator import API_GROUP, API_VERSION, KIND
from sglang_operator.crd import build_crd
from sglang_operator.generated import GeneratedFile, table_cell

Schema = dict[str, Any]

HEADER = f"""# {KIND} API reference

`apiVersion: {API_GROUP}/{API_VERSION}`, `kind: {KIND}` (short name `sgld`, category
`sglang`). Generated from the models by `sglang-operator api-docs`; do not edit by hand.
The same text is what `kubectl explain sgld.spec` prints. The CRD stores no defaults but
`spec.replicas: 1` (for `kubectl scale`): the defaults named below are applied by the operator,
so the stored object stays what you applied.
"""


def _type(schema: Schema) -> str:
    if schema.get("x-kubernetes-int-or-string"):
        return "int or string"
    kind = schema.get("type", "object")
    if kind == "array":
        return f"[]{_type(schema.get('items', {}))}"
    if kind == "object" and "additionalProperties" in schema:
        return f"map[string]{_type(schema['additionalProperties'])}"
    if "enum" in schema:
        return " \\| ".join(f"`{v}`" if v else '`""`' for v in schema["enum"])
    return str(kind)


# Schemas that are Kubernetes' own (see podtemplate.py): `kubectl explain` and the Kubernetes
# API reference describe them field by field; listing them here would only copy that.
KUBERNETES_SCHEMAS = {
    "spec.podTemplate": "https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/"
    "pod-v1/#PodSpec"
}


def _objects(path: str, schema: Schema) -> list[tuple[str, Schema]]:
    """Every object in the schema that has named properties, depth first, with its path."""
    if path in KUBERNETES_SCHEMAS:
        return []
    found = [(path, schema)] if schema.get("properties") else []
    for name, prop in (schema.get("properties") or {}).items():
        child = prop.get("items", prop) if prop.get("type") == "array" else prop
        suffix = "[]" if prop.get("type") == "array" else ""
        found += _objects(f"{path}.{name}{suffix}", child)
    return found


def _rule_line(rule: Schema) -> str:
    """A rule's message, after the field it names when that is not the section's own."""
    field = rule.get("fieldPath", "").removeprefix(".")
    return (f"`{field}`: " if field else "") + table_cell(rule["message"])


def _section(path: str, schema: Schema) -> list[str]:
    lines = [f"### `{path}`", ""]
    if schema.get("description"):
        lines += [table_cell(schema["description"]), ""]
    required = set(schema.get("required") or [])
    lines += ["| Field | Type | Description |", "|---|---|---|"]
    for name, prop in schema["properties"].items():
        mark = " (required)" if name in required else ""
        description = table_cell(prop.get("description", ""))
        reference = KUBERNETES_SCHEMAS.get(f"{path}.{name}")
        if reference:
            description += f" Its fields: `kubectl explain sgld.{path}.{name}`, or {reference}."
        lines.append(f"| `{name}`{mark} | {_type(prop)} | {description} |")
    rules = schema.get("x-kubernetes-validations") or []
    if rules:
        lines += ["", "Rules checked at `kubectl apply`:", ""]
        lines += [f"- {_rule_line(r)}" for r in rules]
    return [*lines, ""]


def render() -> str:
    version = build_crd()["spec"]["versions"][0]
    root = version["schema"]["openAPIV3Schema"]["properties"]
    lines = [HEADER]
    for top in ("spec", "status"):
        lines += [f"## {top}", ""]
        for path, schema in _objects(top, root[top]):
            lines += _section(path, schema)
    columns = version["additionalPrinterColumns"]
    lines += ["## `kubectl get sgld` columns", "", "| Column | From |", "|---|---|"]
    lines += [f"| {c['name']} | `{c['jsonPath']}` |" for c in columns]
    return "\n".join(lines).rstrip() + "\n"


FILE = GeneratedFile("docs/api.md", render)
