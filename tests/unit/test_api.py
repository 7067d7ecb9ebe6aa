"""The SGLangDeployment spec: defaults, the wire format, and every cross-field rule."""

from typing import Any

import pytest
from pydantic import ValidationError

from sglang_operator.api import (
    CROSS_FIELD_RULES,
    DEFAULT_IMAGE_AMD,
    DEFAULT_IMAGE_NVIDIA,
    SGLangDeploymentSpec,
    SGLangDeploymentStatus,
    format_validation_error,
    parse_spec,
)


def spec(**fields: Any) -> dict[str, Any]:
    return {"model": {"path": "Qwen/Qwen2.5-0.5B-Instruct"}, **fields}


def refusal(raw: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        parse_spec(raw)
    return format_validation_error(info.value)


def test_minimal_spec_gets_the_documented_defaults() -> None:
    parsed = parse_spec(spec())
    assert parsed.gpu.vendor == "amd"
    assert parsed.gpu.per_node == 8
    assert parsed.parallelism.nodes == 1
    assert parsed.tp == 8
    assert parsed.replicas == 1
    assert parsed.mode == "server"
    assert parsed.server.port == 30000
    assert parsed.server.enable_metrics is True
    assert parsed.network.dist_init_port == 5000
    assert parsed.probes.startup_timeout_seconds == 3600
    assert parsed.effective_image == DEFAULT_IMAGE_AMD
    assert parsed.gpu.effective_resource_name == "amd.com/gpu"


def test_nvidia_vendor_picks_nvidia_image_and_resource() -> None:
    parsed = parse_spec(spec(gpu={"vendor": "nvidia", "perNode": 4}))
    assert parsed.effective_image == DEFAULT_IMAGE_NVIDIA
    assert parsed.gpu.effective_resource_name == "nvidia.com/gpu"
    assert parsed.tp == 4


def test_explicit_image_and_resource_name_win() -> None:
    parsed = parse_spec(
        spec(image="example.com/sglang:dev", gpu={"resourceName": "amd.com/gpu-mi300x"})
    )
    assert parsed.effective_image == "example.com/sglang:dev"
    assert parsed.gpu.effective_resource_name == "amd.com/gpu-mi300x"


def test_tp_defaults_to_all_gpus_left_by_pp_and_dp() -> None:
    assert parse_spec(spec(parallelism={"nodes": 2})).tp == 16
    assert parse_spec(spec(parallelism={"nodes": 2, "pp": 2})).tp == 8
    assert parse_spec(spec(parallelism={"dp": 2})).tp == 4


def test_wire_format_is_camel_case_and_round_trips() -> None:
    raw = spec(
        server={"memFractionStatic": 0.85, "extraArgs": ["--log-level", "info"]},
        network={"distInitPort": 6000, "hostNetwork": True},
    )
    parsed = parse_spec(raw)
    assert parsed.server.mem_fraction_static == 0.85
    wire = parsed.wire()
    assert wire["server"]["memFractionStatic"] == 0.85
    assert wire["network"]["hostNetwork"] is True
    assert parse_spec(wire) == parsed


def test_unknown_fields_are_refused() -> None:
    assert "spec.server.prot: unknown field" in refusal(spec(server={"prot": 1}))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"parallelism": {"nodes": 2, "tp": 3}}, "tp * pp must be a multiple of"),
        ({"parallelism": {"tp": 16}}, "tp * pp * dp must fit"),
        ({"parallelism": {"pp": 16}}, "tp * pp * dp must fit"),
        ({"parallelism": {"tp": 4, "dp": 4}}, "tp * pp * dp must fit"),
        ({"parallelism": {"nodes": 2, "tp": 8, "dp": 2}}, "dp > 1 needs nodes 1"),
        ({"parallelism": {"tp": 8, "ep": 3}}, "ep must divide tp"),
        ({"env": [{"name": "NODE_RANK", "value": "3"}]}, "cannot be redefined"),
        ({"mode": "offline", "benchmark": {"enabled": True}}, "needs mode server"),
        ({"benchmark": {"datasetName": "sharegpt"}}, "need datasetPath"),
        ({"offline": {"datasetName": "random"}}, "need datasetPath"),
        ({"model": {"path": "m", "cache": {}}}, "set exactly one of claimName"),
        ({"model": {"path": "m", "cache": {"claimName": "c", "size": "1Ti"}}}, "exactly one"),
        (
            {"model": {"path": "m", "cache": {"claimName": "c", "storageClassName": "x"}}},
            "apply only to a PVC the operator creates",
        ),
        ({"env": [{"name": "A"}]}, "exactly one of value or valueFrom"),
        ({"model": {"path": "m", "servedModelName": "a:b"}}, "spec.model.servedModelName"),
        ({"shmSize": "lots"}, "is not a Kubernetes quantity"),
        ({"resources": {"limits": {"memory": "1 GB"}}}, "is not a Kubernetes quantity"),
        ({"replicas": -1}, "spec.replicas"),
    ],
)
def test_bad_specs_are_refused_with_a_clear_message(fields: dict[str, Any], message: str) -> None:
    assert message in refusal(spec(**fields))


def test_rules_that_fit_are_accepted() -> None:
    parse_spec(spec(parallelism={"nodes": 2, "tp": 16, "ep": 8}))
    parse_spec(spec(parallelism={"nodes": 2, "tp": 8, "pp": 2}))
    parse_spec(spec(parallelism={"tp": 2, "dp": 4}))
    parse_spec(spec(env=[{"name": "HSA_ENABLE_SDMA", "value": "1"}]))
    parse_spec(spec(benchmark={"enabled": True, "datasetName": "random", "datasetPath": "/d"}))
    parse_spec(spec(shmSize=68719476736, resources={"requests": {"cpu": 32, "memory": "1Ti"}}))


def test_error_message_names_the_field_path() -> None:
    message = refusal(spec(gpu={"perNode": 0}))
    assert message.startswith("spec.gpu.perNode: ")


def test_every_cross_field_rule_has_a_cel_twin_and_a_message() -> None:
    schema = SGLangDeploymentSpec.model_json_schema(by_alias=True)
    cel = schema["x-kubernetes-validations"]
    assert [c["message"] for c in cel] == [r.message for r in CROSS_FIELD_RULES]
    assert all(c["rule"] for c in cel)


def test_status_reads_what_the_operator_writes_and_ignores_extras() -> None:
    status = SGLangDeploymentStatus.model_validate(
        {
            "observedGeneration": 3,
            "phase": "Ready",
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "AllGroupsReady",
                    "message": "",
                    "lastTransitionTime": "2025-01-01T00:00:00Z",
                    "observedGeneration": 3,
                }
            ],
            "readyReplicas": 1,
            "benchmark": {"outputThroughput": 1234.5, "p99TtftMs": 80.0},
            "somethingNew": {"kept": True},
        }
    )
    assert status.phase == "Ready"
    assert status.conditions[0].reason == "AllGroupsReady"
    assert status.benchmark is not None
    assert status.benchmark.output_throughput == 1234.5
    assert status.wire()["benchmark"]["p99TtftMs"] == 80.0
