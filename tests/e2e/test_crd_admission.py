"""The CRD on a real API server: it installs, every example is accepted, every bad case is
refused at apply time with the API's own message, the stored object is what the user wrote,
and the status and scale subresources take what the operator writes."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from pydantic import ValidationError

import admission_cases
import dryrun
from sglang_operator import API_GROUP, API_VERSION, KIND, PLURAL, cli, kubeyaml, podtemplate
from sglang_operator.api import BenchmarkResult, Condition, SGLangDeploymentStatus, parse_spec
from sglang_operator.crd import CRD_NAME, build_crd

# The `cluster` fixture's type lives in tests/e2e/conftest.py, which is not importable as a
# module; Any stands for it here.
Cluster = Any

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "crds" / f"{CRD_NAME}.yaml"
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))

# Bad specs, the field the API server's refusal names and what it says there (the CEL rule's
# message, or the schema's own for single-field bounds).
BAD: list[tuple[dict[str, Any], str, str]] = [
    (
        {"parallelism": {"nodes": 2, "tp": 3}},
        "spec.parallelism",
        "tp * pp must be a multiple of parallelism.nodes",
    ),
    ({"parallelism": {"tp": 16}}, "spec.parallelism", "tp * pp * dp must fit in the copy's GPUs"),
    (
        {"gpu": {"perNode": 4}, "parallelism": {"pp": 8}},
        "spec.parallelism",
        "tp * pp * dp must fit",
    ),
    ({"parallelism": {"nodes": 2, "tp": 8, "dp": 2}}, "spec.parallelism", "dp > 1 needs nodes 1"),
    ({"parallelism": {"tp": 8, "ep": 3}}, "spec.parallelism", "ep must divide tp"),
    # Divisors out of range: the schema names them, and no rule fails to evaluate.
    ({"parallelism": {"nodes": 0}}, "spec.parallelism.nodes", "greater than or equal to 1"),
    ({"parallelism": {"pp": 0}}, "spec.parallelism.pp", "greater than or equal to 1"),
    ({"parallelism": {"dp": 0, "tp": 4}}, "spec.parallelism.dp", "greater than or equal to 1"),
    ({"parallelism": {"ep": 0}}, "spec.parallelism.ep", "greater than or equal to 1"),
    ({"gpu": {"perNode": 0}}, "spec.gpu.perNode", "greater than or equal to 1"),
    ({"env": [{"name": "NODE_RANK", "value": "1"}]}, "spec.env[0].name", "are set by the operator"),
    ({"env": [{"name": "X", "valueFrom": {}}]}, "spec.env[0].valueFrom", "set exactly one of"),
    ({"env": [{"name": "A"}]}, "spec.env[0]", "set exactly one of value or valueFrom"),
    (
        {"mode": "offline", "benchmark": {"enabled": True}},
        "spec.benchmark.enabled",
        "a serving benchmark needs mode server",
    ),
    ({"benchmark": {"datasetName": "sharegpt"}}, "spec.benchmark", "need datasetPath"),
    ({"model": {"path": "m", "cache": {}}}, "spec.model.cache", "set exactly one of claimName"),
    (
        {"model": {"path": "m", "cache": {"claimName": "c", "storageClassName": "s"}}},
        "spec.model.cache",
        "apply only to a PVC the operator creates",
    ),
    (
        {"model": {"path": "m", "servedModelName": "a:b"}},
        "spec.model.servedModelName",
        "should match",
    ),
    ({"gpu": {"vendor": "intel"}}, "spec.gpu.vendor", "Unsupported value"),
    ({"replicas": -1}, "spec.replicas", "greater than or equal to 0"),
    (
        {"healing": {"restartBackoffSeconds": 700}},
        "spec.healing.restartBackoffMaxSeconds",
        "must be at least restartBackoffSeconds",
    ),
    (
        {"healing": {"restartBackoffSeconds": 60, "restartBackoffMaxSeconds": 30}},
        "spec.healing.restartBackoffMaxSeconds",
        "must be at least restartBackoffSeconds",
    ),
    ({"healing": {"restartBudget": -1}}, "spec.healing.restartBudget", "greater than or equal"),
    (
        {"server": {"port": 5000}},
        "spec.network.distInitPort",
        "server.port and network.distInitPort must be more than 7 apart",
    ),
    # An owned flag: the refusal names the argument and its index.
    (
        {"server": {"extraArgs": ["--enable-metrics", "--tp-size", "4"]}},
        'spec.server.extraArgs[1]: Invalid value: "--tp-size"',
        "are set by the operator",
    ),
    (
        {"benchmark": {"extraArgs": ["--base-url=http://x"]}},
        'spec.benchmark.extraArgs[0]: Invalid value: "--base-url=http://x"',
        "are set by the operator",
    ),
    (
        {"podTemplate": {"metadata": {"labels": {"app.kubernetes.io/instance": "x"}}}},
        "spec.podTemplate.metadata.labels",
        "are set by the operator",
    ),
    (
        {"podTemplate": {"spec": {"containers": [{"name": "sglang", "args": ["x"]}]}}},
        "spec.podTemplate.spec.containers",
        "command and args are the operator's",
    ),
    (
        {"podTemplate": {"spec": {"volumes": [{"name": "dshm", "emptyDir": {}}]}}},
        "spec.podTemplate.spec.volumes",
        "are the operator's volumes",
    ),
]


def manifest(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": KIND,
        "metadata": {"name": name},
        "spec": spec,
    }


@pytest.fixture(scope="module")
def crd_installed(cluster: Cluster) -> Iterator[None]:
    # Client-side apply, as a user would: it also proves the CRD fits the annotation limit.
    cluster.kubectl("apply", "-f", str(CRD_FILE))
    cluster.wait_crd_established(CRD_NAME)
    # Left installed: other e2e tests use it, and deleting it deletes their objects.
    yield


def apply(cluster: Cluster, namespace: str, obj: dict[str, Any], *extra: str) -> Any:
    return cluster.kubectl(
        "apply", "-n", namespace, "-f", "-", *extra, input=json.dumps(obj), check=False
    )


def test_the_installed_crd_is_the_generated_one(kube: Any, crd_installed: None) -> None:
    ext = client.ApiextensionsV1Api(kube)
    stored = ext.read_custom_resource_definition(CRD_NAME)
    built = build_crd()
    assert stored.spec.names.short_names == built["spec"]["names"]["shortNames"]
    assert stored.spec.versions[0].subresources.scale.label_selector_path == ".status.selector"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.stem)
def test_every_example_is_accepted(
    cluster: Cluster, crd_installed: None, namespace: str, example: Path
) -> None:
    for doc in yaml.safe_load_all(example.read_text()):
        doc["metadata"].pop("namespace", None)
        result = apply(cluster, namespace, doc, "--dry-run=server")
        assert result.returncode == 0, result.stderr


def test_each_bad_case_is_refused_naming_its_field(
    cluster: Cluster, crd_installed: None, namespace: str
) -> None:
    for index, (fields, field, message) in enumerate(BAD):
        spec = {"model": {"path": "org/model"}, **fields}
        result = apply(cluster, namespace, manifest(f"bad-{index}", spec), "--dry-run=server")
        assert result.returncode != 0, fields
        # Each problem on a line of its own: the field's line carries its message.
        lines = result.stderr.replace(": * ", ":\n* ").splitlines()
        assert any(field + ": " in line and message in line for line in lines), (
            fields,
            result.stderr,
        )
        # Never a CEL rule that failed to evaluate (a division by zero) instead of a refusal.
        assert "evaluating rule" not in result.stderr, (fields, result.stderr)
        # The operator refuses the same spec, and `render` names the same field.
        with pytest.raises(ValidationError):
            parse_spec(spec)
        with pytest.raises(cli.UsageError) as rendered:
            cli.render_documents([manifest(f"bad-{index}", spec)], namespace)
        named = field.split(": ", 1)[0]
        assert f"bad-{index}: {named}: " in str(rendered.value), (fields, str(rendered.value))


def test_stored_object_is_exactly_what_was_applied(
    cluster: Cluster, crd_installed: None, namespace: str
) -> None:
    spec = {"model": {"path": "org/model"}, "replicas": 1}
    assert apply(cluster, namespace, manifest("plain", spec)).returncode == 0
    got = json.loads(cluster.kubectl("get", "-n", namespace, "sgld", "plain", "-o", "json").stdout)
    assert got["spec"] == spec


def test_status_and_scale_subresources_take_what_the_operator_writes(
    cluster: Cluster, kube: Any, crd_installed: None, namespace: str, without_operator: None
) -> None:
    # The test writes the status itself: a running operator would overwrite it.
    spec = {"model": {"path": "m"}, "replicas": 1}
    assert apply(cluster, namespace, manifest("scaled", spec)).returncode == 0
    objects = client.CustomObjectsApi(kube)
    status = SGLangDeploymentStatus(
        observed_generation=1,
        phase="Ready",
        conditions=[
            Condition(
                type="Ready",
                status="True",
                reason="AllGroupsReady",
                message="1/1 ready",
                last_transition_time="2026-01-01T00:00:00Z",
                observed_generation=1,
            )
        ],
        replicas=1,
        ready_replicas=1,
        nodes=1,
        gpus=8,
        endpoint="http://scaled.ns.svc.cluster.local:30000",
        selector="app.kubernetes.io/instance=scaled",
        message="serving",
        benchmark=BenchmarkResult(output_throughput=1234.5, completed=10, failed=0),
    ).wire()
    status["addedByANewerOperator"] = {"kept": True}
    objects.patch_namespaced_custom_object_status(
        API_GROUP, API_VERSION, namespace, PLURAL, "scaled", {"status": status}
    )
    got = objects.get_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL, "scaled")
    assert got["status"] == status

    scale = cluster.kubectl(
        "get", "-n", namespace, "sgld/scaled", "--subresource=scale", "-o", "json"
    )
    assert json.loads(scale.stdout)["status"]["selector"] == "app.kubernetes.io/instance=scaled"
    cluster.kubectl("scale", "-n", namespace, "sgld/scaled", "--replicas=3")
    got = objects.get_namespaced_custom_object(API_GROUP, API_VERSION, namespace, PLURAL, "scaled")
    assert got["spec"]["replicas"] == 3

    table = cluster.kubectl("get", "-n", namespace, "sgld", "-o", "wide").stdout
    header = table.splitlines()[0].split()
    assert header[:7] == ["NAME", "MODEL", "NODES", "GPUS", "READY", "PHASE", "AGE"]
    assert "1234.5" in table


# ---- what the API server would refuse later is refused now -----------------------------------
# One namespace per table (a namespace per case would cost more than the cases).


def test_what_a_child_would_be_refused_for_is_refused_at_apply(
    cluster: Cluster, kube: Any, crd_installed: None, namespace: str
) -> None:
    wrong = []
    for fields, api_says, _ in admission_cases.BAD:
        spec = {"model": {"path": "org/model"}, **fields}
        status, message = dryrun.create_sgld(kube, namespace, "bad", spec)
        # Refused with a message naming the field or the rule, bounded whatever the input.
        if status != 422 or api_says not in message or len(message) > 16384:
            wrong.append((fields, status, message[:500]))
    assert wrong == []
    # And as a user sees it, through kubectl.
    fields, api_says, _ = admission_cases.BAD[0]
    result = apply(cluster, namespace, manifest("bad", {"model": {"path": "m"}, **fields}))
    assert result.returncode != 0 and api_says in result.stderr


def test_near_misses_are_accepted_and_every_child_they_render_too(
    kube: Any, crd_installed: None, namespace: str
) -> None:
    wrong = []
    for fields in admission_cases.GOOD:
        spec = {"model": {"path": "org/model"}, **fields}
        status, message = dryrun.create_sgld(kube, namespace, "near-miss", spec)
        objects = dryrun.children(parse_spec(spec), "near-miss", namespace)
        refused = dryrun.apply_children(kube, objects)
        if status >= 300 or refused:
            wrong.append((fields, status, message[:300], refused))
    assert wrong == []


def _pod_of(sts: dict[str, Any], namespace: str) -> dict[str, Any]:
    """The pod the StatefulSet controller would create first from `sts`."""
    template = sts["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {**template["metadata"], "name": f"{sts['metadata']['name']}-0"}
        | {"namespace": namespace},
        "spec": template["spec"],
    }


def test_the_pods_of_a_valid_host_network_spec_are_created(
    kube: Any, crd_installed: None, namespace: str
) -> None:
    # What makes the pod check below mean something: a valid pod of the same shape passes.
    host_network = [f for f in admission_cases.GOOD if "hostNetwork" in f.get("network", {})]
    assert host_network
    for fields in host_network:
        spec = parse_spec({"model": {"path": "org/model"}, **fields})
        (sts,) = [o for o in dryrun.children(spec, "late", namespace) if o["kind"] == "StatefulSet"]
        assert dryrun.create(kube, _pod_of(sts, namespace)) is None


def test_what_only_the_operator_can_compare_it_refuses_and_the_api_server_would_too(
    kube: Any, crd_installed: None, namespace: str
) -> None:
    wrong = []
    for fields, operator_says in admission_cases.OPERATOR_ONLY:
        spec = {"model": {"path": "org/model"}, **fields}
        # The objects of the spec without the fields the operator refuses (hostNetwork stays).
        valid = {k: v for k, v in spec.items() if k not in ("resources", "affinity", "podTemplate")}
        base = dryrun.children(parse_spec(valid), "late", namespace)
        # Admission cannot compare quantities: it lets the spec through...
        status, message = dryrun.create_sgld(kube, namespace, "late", spec)
        # ...the operator refuses it (InvalidSpec, before anything is written or deleted)...
        try:
            parse_spec(spec)
            operator = "accepted"
        except ValidationError as error:
            operator = str(error)
        # ...and rightly: the API server refuses a StatefulSet that carries it.
        (sts,) = copy.deepcopy([o for o in base if o["kind"] == "StatefulSet"])
        pod = sts["spec"]["template"]["spec"]
        if "resources" in fields:
            pod["containers"][0]["resources"] = fields["resources"]
        if "affinity" in fields:
            pod["affinity"] = fields["affinity"]
        if "podTemplate" in fields:
            sts["spec"]["template"] = podtemplate.merge(
                sts["spec"]["template"], fields["podTemplate"]
            )
        # The StatefulSet is refused, or, for what only a Pod's defaulting brings (the host
        # ports of hostNetwork), each pod it would create.
        later = dryrun.apply_children(kube, [sts]) or dryrun.create(kube, _pod_of(sts, namespace))
        if status >= 300 or operator_says not in operator or not later:
            wrong.append((fields, message[:300], operator[:300], later))
    assert wrong == []


def test_what_the_operator_leaves_to_the_api_server_is_refused_there(
    kube: Any, crd_installed: None, namespace: str
) -> None:
    wrong = []
    for template in admission_cases.API_SERVER_ONLY:
        spec = {"model": {"path": "org/model"}, "podTemplate": template}
        status, message = dryrun.create_sgld(kube, namespace, "left", spec)
        # Admitted and parsed (no InvalidSpec), refused when the StatefulSet is written.
        (sts,) = [
            o
            for o in dryrun.children(parse_spec(spec), "left", namespace)
            if o["kind"] == "StatefulSet"
        ]
        if status >= 300 or not dryrun.apply_children(kube, [sts]):
            wrong.append((template, message[:300]))
    assert wrong == []


def test_kubectl_scale_works_when_replicas_was_never_set(
    cluster: Cluster, kube: Any, crd_installed: None, namespace: str
) -> None:
    assert apply(cluster, namespace, manifest("unscaled", {"model": {"path": "m"}})).returncode == 0
    scale = json.loads(
        cluster.kubectl(
            "get", "-n", namespace, "sgld/unscaled", "--subresource=scale", "-o", "json"
        ).stdout
    )
    # An absent spec.replicas reads as the operator's default, one copy.
    assert scale["spec"]["replicas"] == 1
    cluster.kubectl("scale", "-n", namespace, "sgld/unscaled", "--replicas=2")
    got = client.CustomObjectsApi(kube).get_namespaced_custom_object(
        API_GROUP, API_VERSION, namespace, PLURAL, "unscaled"
    )
    assert got["spec"]["replicas"] == 2


# YAML 1.1's booleans (go.yaml.in/yaml/v2, which kubectl reads with) and near misses.
YAML_FORMS = [
    *("y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "off", "Off", "true"),
    *('"y"', "'Y'", '"yes"', "'on'", '"off"', '"n"', "yES", "nope", "1e3", "0o17", "1:20"),
]


@pytest.mark.parametrize(
    "field", ["  network: {{hostNetwork: {}}}\n", "  podLabels: {{team: {}}}\n"], ids=repr
)
def test_render_reads_each_yaml_scalar_as_kubectl_does(
    cluster: Cluster, crd_installed: None, namespace: str, field: str
) -> None:
    # One document a form, in kubectl's and render's hands: the same ones are refused.
    text = "---\n".join(
        f"apiVersion: {API_GROUP}/{API_VERSION}\nkind: {KIND}\nmetadata: {{name: form-{i}}}\n"
        f"spec:\n  model: {{path: org/model}}\n" + field.format(form)
        for i, form in enumerate(YAML_FORMS)
    )
    result = cluster.kubectl(
        "apply", "-n", namespace, "--dry-run=server", "-f", "-", input=text, check=False
    )
    try:
        cli.render_documents(kubeyaml.load_all(text), namespace)
        render = ""
    except cli.UsageError as error:
        render = str(error)
    refused_by_kubectl = {i for i in range(len(YAML_FORMS)) if f'"form-{i}"' in result.stderr}
    refused_by_render = {i for i in range(len(YAML_FORMS)) if f"form-{i}: " in render}
    assert refused_by_render == refused_by_kubectl, (result.stderr, render)
    # Both halves are exercised: some forms are refused, some accepted.
    assert 0 < len(refused_by_kubectl) < len(YAML_FORMS)
