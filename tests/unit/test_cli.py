"""The sglang-operator console script: render and crd."""

import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

import admission_cases
from sglang_operator.api import parse_spec, validation_problems
from sglang_operator.cli import SUBCOMMANDS, UsageError, main, render_documents
from sglang_operator.crd import render_crd

ROOT = Path(__file__).resolve().parents[2]

MANIFEST = """\
apiVersion: sglang-operator.io/v1alpha1
kind: SGLangDeployment
metadata:
  name: tiny
{namespace}spec:
  model:
    path: Qwen/Qwen2.5-0.5B-Instruct
  gpu:
    perNode: {per_node}
  parallelism:
    tp: {tp}
"""


def manifest(tmp_path: Path, namespace: str = "", per_node: int = 1, tp: int = 1) -> str:
    ns = f"  namespace: {namespace}\n" if namespace else ""
    path = tmp_path / "sgld.yaml"
    path.write_text(MANIFEST.format(namespace=ns, per_node=per_node, tp=tp))
    return str(path)


def rendered(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(capsys.readouterr().out))


def test_console_script_is_declared() -> None:
    scripts = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert scripts["sglang-operator"] == "sglang_operator.cli:main"


def test_render_prints_the_objects_as_a_yaml_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "-f", manifest(tmp_path, namespace="team-a")]) == 0
    objects = rendered(capsys)
    assert [o["kind"] for o in objects] == ["Service", "StatefulSet", "Service"]
    assert {o["metadata"]["namespace"] for o in objects} == {"team-a"}


def test_render_takes_the_namespace_from_the_flag_when_the_manifest_has_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "-f", manifest(tmp_path), "-n", "team-b"]) == 0
    assert {o["metadata"]["namespace"] for o in rendered(capsys)} == {"team-b"}
    assert main(["render", "-f", manifest(tmp_path)]) == 0
    assert {o["metadata"]["namespace"] for o in rendered(capsys)} == {"default"}


def test_render_refuses_conflicting_namespaces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "-f", manifest(tmp_path, namespace="a"), "-n", "b"]) == 1
    assert "does not match -n b" in capsys.readouterr().err


def test_render_exits_non_zero_with_the_validation_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["render", "-f", manifest(tmp_path, per_node=4, tp=8)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "tiny: spec.parallelism: tp * pp * dp must fit" in captured.err


def test_render_lists_every_problem_of_every_document_one_a_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        MANIFEST.format(namespace="  namespace: a\n", per_node=0, tp=1).replace(
            "name: tiny", "name: Tiny"
        )
        + "  replicas: -1\n  podTemplate: {spec: {hostIPC: 'yes'}}\n"
        + "  tolerations: [{key: a b, operator: Exists}]\n"
        # A rule broken beside field errors is listed too (the API server's CEL rules run beside
        # its schema checks), unless it is about a refused field (perNode: 0 here).
        + "  server: {port: 5000, extraArgs: ['--nnodes=2', '--seed', '1', '--po', '1']}\n"
        + "  env: [{name: NODE_RANK, value: '0'}, {name: X, valueFrom: {}}]\n---\n"
        + MANIFEST.format(namespace="", per_node=4, tp=8)
        + "  server: {port: 5000}\n  healing: {restartBackoffSeconds: 700}\n"
        + "---\nkind: ConfigMap\n"
    )
    assert main(["render", "-f", str(path), "-n", "b"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    expected = [
        # As `kubectl apply -f` takes the file, other kinds are passed over, said on stderr.
        "warning: document 3: skipped ConfigMap (not an SGLangDeployment)",
        "error: Tiny: metadata.name: 'Tiny' is not a lowercase RFC 1123 subdomain",
        "error: Tiny: the namespace from the manifest (a) does not match -n b",
        "error: Tiny: spec.gpu.perNode: should be greater than or equal to 1",
        "error: Tiny: spec.replicas: should be greater than or equal to 0",
        "error: Tiny: spec.tolerations[0].key: should match",
        "error: Tiny: spec.podTemplate.spec.hostIPC: must be of type boolean",
        # Every owned flag, each by its index, and each env problem by its item's path.
        "error: Tiny: spec.server.extraArgs[0]: '--nnodes=2': --model-path",
        "error: Tiny: spec.server.extraArgs[3]: '--po': --model-path",
        "error: Tiny: spec.env[0].name: 'NODE_RANK': NNODES",
        "error: Tiny: spec.env[1].valueFrom: valueFrom: set exactly one of",
        "error: Tiny: spec.network.distInitPort: server.port and network.distInitPort must be",
        # Each rule on a line of its own, named as `kubectl apply` names it.
        "error: tiny: spec.parallelism: tp * pp * dp must fit",
        "error: tiny: spec.network.distInitPort: server.port and network.distInitPort must be",
        "error: tiny: spec.healing.restartBackoffMaxSeconds: must be at least",
    ]
    assert len(lines) == len(expected), lines
    assert all(line.startswith(start) for line, start in zip(lines, expected, strict=True)), lines


@pytest.mark.parametrize(
    ("template", "message"),
    [
        (
            "{spec: {containers: [{name: side, image: x, ports: [{containerPort: http}]}]}}",
            "tiny: spec.podTemplate.spec.containers[0].ports[0].containerPort: must be of "
            "type integer",
        ),
        ("{spec: {hostIPC: 'yes'}}", "spec.podTemplate.spec.hostIPC: must be of type boolean"),
        # The missing field itself, as the API server names it (`Required value`), once.
        (
            "{spec: {containers: [{image: x}]}}",
            "spec.podTemplate.spec.containers[0].name: Required",
        ),
        (
            "{spec: {volumes: [{name: v, emptyDir: {sizeLimit: lots}}]}}",
            "spec.podTemplate.spec.volumes[0].emptyDir.sizeLimit: should match",
        ),
        (
            "{spec: {containers: [{name: a, image: x}, {name: a, image: y}]}}",
            'spec.podTemplate.spec.containers[1]: duplicate value {"name": "a"}',
        ),
    ],
)
def test_render_checks_the_pod_templates_kubernetes_types(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], template: str, message: str
) -> None:
    path = Path(manifest(tmp_path))
    path.write_text(path.read_text() + f"  podTemplate: {template}\n")
    assert main(["render", "-f", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err


@pytest.mark.parametrize("name", ["Tiny", "tiny_model", "-tiny", "a" * 254])
def test_render_refuses_a_name_kubernetes_refuses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str
) -> None:
    path = Path(manifest(tmp_path))
    path.write_text(path.read_text().replace("name: tiny", f"name: {name}"))
    assert main(["render", "-f", str(path)]) == 1
    assert "metadata.name: " in capsys.readouterr().err


def test_render_refuses_a_name_of_another_deployments_headless_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(manifest(tmp_path))
    path.write_text(path.read_text().replace("name: tiny", "name: chat-0-hs"))
    assert main(["render", "-f", str(path)]) == 1
    assert "metadata.name: a name ending in -<number>-hs" in capsys.readouterr().err


def test_render_prints_advice_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(manifest(tmp_path, per_node=1, tp=2))
    path.write_text(path.read_text() + "    nodes: 2\n  network: {hostNetwork: true}\n")
    assert main(["render", "-f", str(path)]) == 0
    captured = capsys.readouterr()
    assert "warning: tiny: NCCL/RCCL will use TCP sockets between the 2 nodes" in captured.err
    assert [o["kind"] for o in yaml.safe_load_all(captured.out)] == [
        "Service",
        "StatefulSet",
        "Service",
    ]
    assert main(["render", "-f", manifest(tmp_path)]) == 0
    assert capsys.readouterr().err == ""


def test_render_takes_empty_keys_as_unset(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = Path(manifest(tmp_path))
    path.write_text(path.read_text() + "  env:\n  podTemplate:\n    metadata:\n")
    assert main(["render", "-f", str(path)]) == 0
    assert capsys.readouterr().err == ""


def test_render_passes_over_other_kinds_as_kubectl_apply_takes_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deployment = yaml.safe_load(Path(manifest(tmp_path)).read_text())
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "conf"}}
    path = tmp_path / "app.yaml"
    path.write_text(yaml.safe_dump_all([config_map, deployment]))
    assert main(["render", "-f", str(path)]) == 0
    captured = capsys.readouterr()
    assert [o["kind"] for o in yaml.safe_load_all(captured.out)] == [
        "Service",
        "StatefulSet",
        "Service",
    ]
    assert captured.err == "warning: document 1: skipped ConfigMap conf (not an SGLangDeployment)\n"
    # A List (kubectl get -o yaml's shape) stands for its items; a bad one is named by its
    # place in the list.
    bad = {**deployment, "metadata": {"name": "bad"}, "spec": {"replicas": -1}}
    listed = {"apiVersion": "v1", "kind": "List", "items": [config_map, deployment, bad]}
    path.write_text(yaml.safe_dump(listed))
    assert main(["render", "-f", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "warning: document 1.1: skipped ConfigMap conf (not an SGLangDeployment)"
    assert sorted(err[1:]) == [
        "error: bad: spec.model: Required value",
        "error: bad: spec.replicas: should be greater than or equal to 0",
    ]


def _render_errors(spec: dict[str, Any]) -> list[str]:
    doc = {
        "apiVersion": "sglang-operator.io/v1alpha1",
        "kind": "SGLangDeployment",
        "metadata": {"name": "x"},
        "spec": {"model": {"path": "org/model"}, **spec},
    }
    with pytest.raises(UsageError) as refused:
        render_documents([doc], None)
    return [line.removeprefix("x: ") for line in str(refused.value).splitlines()]


def test_render_names_each_problem_once_at_the_field_kubectl_names() -> None:
    # The schema's "'name' is a required property" on the item and pydantic's "Field required"
    # on the field are one problem: the API server names the field.
    assert _render_errors({"env": [{"name": "A", "value": "1"}, {"value": "2"}]}) == [
        "spec.env[1].name: Required value"
    ]
    # An int-or-string of the wrong type: once, not once per type pydantic tried.
    assert _render_errors({"resources": {"requests": {"cpu": [1]}}}) == [
        "spec.resources.requests.cpu: must be an integer or a string"
    ]


def test_render_lists_the_operators_checks_beside_field_errors() -> None:
    # A refused field beside a rule of the same model (resources), beside an operator check
    # on the pod template, and a field error elsewhere: every one is listed.
    lines = _render_errors(
        {
            "replicas": -1,
            "resources": {"requests": {"cpu": "2", "memory": "lots"}, "limits": {"cpu": "1"}},
            "shmSize": "2Gi",
            "podTemplate": {
                "spec": {
                    "containers": [
                        {"name": "sglang", "resources": {"limits": {"memory": "1Gi"}}},
                        {"name": "side", "image": "x", "ports": [{"containerPort": 5000}]},
                    ]
                }
            },
        }
    )
    assert [line.split(": ", 1)[0] for line in lines] == [
        "spec.replicas",
        "spec.resources.requests.memory",
        "spec.resources.requests.cpu",
        "spec.podTemplate.spec.containers",
        "spec.podTemplate.spec.containers[1].ports[0].containerPort",
        "spec.shmSize",
    ]


def test_the_operator_lists_the_same_problems_as_render() -> None:
    spec = {"resources": {"requests": {"cpu": "2", "memory": "lots"}, "limits": {"cpu": "1"}}}
    with pytest.raises(ValidationError) as refused:
        parse_spec({"model": {"path": "org/model"}, **spec})
    # InvalidSpec's message is this one; render adds the schema's words for refused fields.
    assert validation_problems(refused.value) == [
        "spec.resources.requests.memory: 'lots' is not a Kubernetes quantity here: "
        "non-negative, such as 16Gi, 500m, 8, at most 32 characters",
        "spec.resources.requests.cpu: must be less than or equal to its limit (1)",
    ]
    assert [line.split(": ")[0] for line in _render_errors(spec)] == [
        "spec.resources.requests.memory",
        "spec.resources.requests.cpu",
    ]


def test_render_reads_stdin_through_the_console_entry(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sglang_operator.cli", "render", "-f", "-"],
        input=Path(manifest(tmp_path)).read_text(),
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    assert [o["kind"] for o in yaml.safe_load_all(result.stdout)][1] == "StatefulSet"


def test_crd_prints_or_writes_the_crd(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd", "-"]) == 0
    assert capsys.readouterr().out == render_crd()
    target = tmp_path / "out" / "crd.yaml"
    assert main(["crd", str(target)]) == 0
    assert target.read_text() == render_crd()


def test_subcommands_are_registered_by_name() -> None:
    assert {"render", "crd"} <= set(SUBCOMMANDS)
    with pytest.raises(SystemExit):
        main(["no-such-command"])


@pytest.mark.parametrize(("fields", "api_says", "_"), admission_cases.BAD, ids=repr)
def test_render_names_the_field_the_api_server_names(
    fields: dict[str, Any], api_says: str, _: str
) -> None:
    lines = _render_errors(fields)
    if api_says.startswith("spec."):
        # The path `kubectl apply` prints (spec.env[0].valueFrom), never pydantic's own
        # (spec.env.0.valueFrom).
        assert any(line.startswith(api_says) for line in lines), lines
    assert not any(re.search(r"\.\d+(\.|:)", line.split(": ")[0]) for line in lines), lines
