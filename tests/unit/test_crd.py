"""The generated CRD: committed copy up to date, structural, bounded, and its CEL rules
agreeing with the pydantic validators (evaluated here with cel-python; the e2e tier proves
that the real API server compiles and enforces them)."""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import celpy
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sglang_operator.api import parse_spec
from sglang_operator.crd import FILE, build_crd, render_crd, spec_problems

ROOT = Path(__file__).resolve().parents[2]
STRUCTURAL_LIMIT = 262_144


def version() -> dict[str, Any]:
    versions: list[dict[str, Any]] = build_crd()["spec"]["versions"]
    assert len(versions) == 1
    return versions[0]


def schema() -> dict[str, Any]:
    root: dict[str, Any] = version()["schema"]["openAPIV3Schema"]
    return root


def nodes(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node with its path."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from nodes(node["additionalProperties"], f"{path}{{}}")


def test_committed_crd_is_regenerated_output() -> None:
    committed = ROOT / "crds" / "sglangdeployments.sglang-operator.io.yaml"
    assert FILE.path == committed
    assert committed.read_text() == render_crd(), "run `sglang-operator crd` and commit"


def test_crd_is_well_below_the_client_side_apply_limit() -> None:
    """Client-side `kubectl apply` stores the object as compact JSON in an annotation, and
    all annotations together must stay within 256 KiB; a quarter is kept free for growth
    (spec.podTemplate's Kubernetes schema is most of the CRD)."""
    stored = json.dumps(yaml.safe_load(render_crd()), separators=(",", ":"))
    assert len(stored.encode()) < STRUCTURAL_LIMIT * 3 // 4, len(stored)


def test_names_subresources_and_columns() -> None:
    crd = build_crd()
    names = crd["spec"]["names"]
    assert crd["metadata"]["name"] == "sglangdeployments.sglang-operator.io"
    assert names["shortNames"] == ["sgld"]
    assert names["categories"] == ["sglang"]
    v = version()
    assert (v["name"], v["served"], v["storage"]) == ("v1alpha1", True, True)
    assert v["subresources"]["status"] == {}
    assert v["subresources"]["scale"] == {
        "specReplicasPath": ".spec.replicas",
        "statusReplicasPath": ".status.replicas",
        "labelSelectorPath": ".status.selector",
    }
    columns = [c["name"] for c in v["additionalPrinterColumns"]]
    assert columns[:6] == ["Model", "Nodes", "GPUs", "Ready", "Phase", "Age"]
    assert "Throughput" in columns


def test_printer_columns_point_at_fields_of_the_schema() -> None:
    paths = {path for path, _ in nodes(schema())}
    for column in version()["additionalPrinterColumns"]:
        if column["jsonPath"] != ".metadata.creationTimestamp":
            assert column["jsonPath"] in paths, column


def test_schema_is_structural() -> None:
    for path, node in nodes(schema()):
        text = repr(node)
        assert "$ref" not in text and "$defs" not in text, path
        # The scale subresource needs spec.replicas present: its one default.
        assert "default" not in node or path == ".spec.replicas", path
        assert "anyOf" not in node and "oneOf" not in node, path
        assert "title" not in node, path
        if "properties" in node:
            assert "additionalProperties" not in node, path
            assert node.get("type") == "object", path
        if not node.get("x-kubernetes-int-or-string") and path:
            assert "type" in node, path


def test_every_property_is_described() -> None:
    for path, node in nodes(schema()):
        if path and path != ".metadata" and not path.endswith(("[]", "{}")):
            assert node.get("description"), path


def test_spec_strings_lists_and_maps_are_bounded() -> None:
    for path, node in nodes(schema()["properties"]["spec"], ".spec"):
        kind = node.get("type")
        if kind == "string":
            assert "maxLength" in node or "enum" in node, path
        elif kind == "array":
            assert "maxItems" in node, path
        elif kind == "object" and "additionalProperties" in node:
            assert "maxProperties" in node, path


def test_status_keeps_unknown_fields() -> None:
    assert schema()["properties"]["status"]["x-kubernetes-preserve-unknown-fields"] is True


# ---- CEL rules against pydantic ---------------------------------------------------------------

_CEL = celpy.Environment()
_PROGRAMS: dict[str, Any] = {}


def cel_program(rule: str) -> Any:
    if rule not in _PROGRAMS:
        _PROGRAMS[rule] = _CEL.program(_CEL.compile(rule))
    return _PROGRAMS[rule]


def cel_failures(value: Any, node: dict[str, Any]) -> list[str]:
    """Messages of the CEL rules that refuse `value`, evaluated where each rule is declared."""
    failed = []
    for rule in node.get("x-kubernetes-validations", []):
        if not cel_program(rule["rule"]).evaluate({"self": celpy.json_to_cel(value)}):
            failed.append(rule["message"])
    if isinstance(value, dict):
        for key, child in value.items():
            if key in node.get("properties", {}):
                failed += cel_failures(child, node["properties"][key])
            elif isinstance(node.get("additionalProperties"), dict):
                failed += cel_failures(child, node["additionalProperties"])
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            failed += cel_failures(item, node["items"])
    return failed


def pydantic_failures(spec: dict[str, Any]) -> str | None:
    try:
        parse_spec(spec)
    except ValidationError as error:
        return str(error)
    return None


SPEC_SCHEMA = schema()["properties"]["spec"]


def test_every_cel_rule_compiles_and_has_a_message() -> None:
    count = 0
    for path, node in nodes(SPEC_SCHEMA, ".spec"):
        for rule in node.get("x-kubernetes-validations", []):
            _CEL.compile(rule["rule"])
            assert len(rule["message"]) > 20, path
            count += 1
    assert count >= 8


BAD = [
    {"parallelism": {"nodes": 2, "tp": 3}},
    {"parallelism": {"tp": 16}},
    {"parallelism": {"pp": 16}},
    {"parallelism": {"nodes": 2, "tp": 8, "dp": 2}},
    {"parallelism": {"tp": 8, "ep": 3}},
    {"gpu": {"perNode": 4}, "parallelism": {"tp": 8}},
    {"env": [{"name": "MASTER_ADDR", "value": "x"}]},
    {"env": [{"name": "A"}]},
    {"mode": "offline", "benchmark": {"enabled": True}},
    {"benchmark": {"datasetName": "random"}},
    {"offline": {"datasetName": "sharegpt"}},
    {"model": {"path": "m", "cache": {}}},
    {"model": {"path": "m", "cache": {"claimName": "c", "accessMode": "ReadWriteOnce"}}},
    {"model": {"path": "m", "cache": {"claimName": "c", "whenDeleted": "Delete"}}},
    {"healing": {"restartBackoffSeconds": 700}},
    {"healing": {"restartBackoffSeconds": 60, "restartBackoffMaxSeconds": 30}},
]


def test_each_bad_case_is_refused_by_both_cel_and_pydantic() -> None:
    for fields in BAD:
        spec = {"model": {"path": "m"}, **fields}
        assert cel_failures(spec, SPEC_SCHEMA), fields
        assert pydantic_failures(spec), fields


def test_cel_messages_match_the_pydantic_ones() -> None:
    for fields in BAD:
        spec = {"model": {"path": "m"}, **fields}
        pydantic_message = pydantic_failures(spec)
        assert pydantic_message is not None
        assert any(message in pydantic_message for message in cel_failures(spec, SPEC_SCHEMA))


def test_examples_pass_cel() -> None:
    for example in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(example.read_text()):
            assert cel_failures(doc["spec"], SPEC_SCHEMA) == [], example.name


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


@st.composite
def topology_specs(draw: st.DrawFn) -> dict[str, Any]:
    """Specs over the parallelism rules, fields present or absent (CRD has no defaults)."""
    parallelism = {
        key: value
        for key, value in {
            "nodes": draw(optional(st.integers(1, 8))),
            "tp": draw(optional(st.integers(1, 64))),
            "pp": draw(optional(st.integers(1, 8))),
            "dp": draw(optional(st.integers(1, 8))),
            "ep": draw(optional(st.integers(1, 16))),
        }.items()
        if value is not None
    }
    spec: dict[str, Any] = {"model": {"path": "m"}}
    if parallelism or draw(st.booleans()):
        spec["parallelism"] = parallelism
    per_node = draw(optional(st.integers(1, 16)))
    if per_node is not None:
        spec["gpu"] = {"perNode": per_node}
    mode = draw(optional(st.sampled_from(["server", "offline"])))
    if mode:
        spec["mode"] = mode
    enabled = draw(optional(st.booleans()))
    if enabled is not None:
        spec["benchmark"] = {"enabled": enabled}
    return spec


@settings(max_examples=300, deadline=None)
@given(topology_specs())
def test_cel_and_pydantic_agree_on_cross_field_rules(spec: dict[str, Any]) -> None:
    assert bool(cel_failures(spec, SPEC_SCHEMA)) == bool(pydantic_failures(spec)), spec


@pytest.mark.parametrize(
    "policy", [None, "Default", "ClusterFirst", "ClusterFirstWithHostNet", "None"]
)
@pytest.mark.parametrize("nodes", [None, 1, 2])
@pytest.mark.parametrize("host_network", [None, False, True])
def test_cel_and_pydantic_agree_on_the_template_dns_policy(
    policy: str | None, nodes: int | None, host_network: bool | None
) -> None:
    spec: dict[str, Any] = {"model": {"path": "m"}, "podTemplate": {"spec": {}}}
    if policy:
        spec["podTemplate"]["spec"]["dnsPolicy"] = policy
    if policy == "None":
        # Kubernetes' own rule: None needs a nameserver (the operator checks it, the CEL not).
        spec["podTemplate"]["spec"]["dnsConfig"] = {"nameservers": ["10.96.0.10"]}
    if nodes:
        spec["parallelism"] = {"nodes": nodes}
    if host_network is not None:
        spec["network"] = {"hostNetwork": host_network}
    refused = nodes == 2 and (
        policy == "Default" or (policy == "ClusterFirst" and bool(host_network))
    )
    assert bool(cel_failures(spec, SPEC_SCHEMA)) == refused
    assert bool(pydantic_failures(spec)) == refused


def test_examples_pass_the_schema_as_render_checks_it() -> None:
    for example in sorted((ROOT / "examples").glob("*.yaml")):
        for doc in yaml.safe_load_all(example.read_text()):
            assert spec_problems(doc["spec"]) == [], example.name


def test_the_schema_check_names_each_bad_field() -> None:
    spec = {
        "model": {"path": "m", "cache": {"size": ["1Ti"]}},
        "replicas": "2",
        "podTemplate": {
            "spec": {
                "tolerations": [{"key": "a"}, {"key": "a"}],
                "containers": [{"name": "s", "env": [{"name": "A"}, {"name": "A"}]}],
            }
        },
    }
    assert spec_problems(spec) == [
        "spec.model.cache.size: must be an integer or a string",
        "spec.replicas: must be of type integer",
        'spec.podTemplate.spec.containers[0].env[1]: duplicate value {"name": "A"}',
    ]


@pytest.mark.parametrize(
    ("quantity", "valid"),
    [
        ("16Gi", True),
        ("500m", True),
        ("1e3", True),
        (".5", True),
        ("+2", True),
        (8, True),
        ("5Gii", False),
        ("1.2.3", False),
        ("16 Gi", False),
        ("Gi", False),
    ],
)
def test_a_template_quantity_follows_kubernetes_grammar(quantity: Any, valid: bool) -> None:
    """A quantity in the pod template the API server would refuse only when it creates the
    pods is refused at apply (the pattern has Kubernetes' Quantity syntax)."""
    limits = {"memory": quantity}
    spec = {
        "model": {"path": "m"},
        "podTemplate": {"spec": {"containers": [{"name": "s", "resources": {"limits": limits}}]}},
    }
    assert (spec_problems(spec) == []) == valid
