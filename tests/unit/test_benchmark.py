"""Benchmark builders: the Jobs run command lines SGLang's own parsers accept, are wired as
the design says, and what the reporter writes is read back into status.benchmark."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sglang_cli import parse_bench_serving, parse_launch_server, parse_offline_throughput
from sglang_operator import naming, reporter
from sglang_operator.api import SGLangDeploymentSpec, parse_spec
from sglang_operator.benchmark import (
    GENERATION_ANNOTATION,
    REPORTER_PATH,
    RESULT_FILE,
    BenchmarkOutcome,
    benchmark_job,
    offline_job,
    offline_service,
    read_result_log_line,
    read_termination_message,
    reporter_configmap,
    results_configmap,
)
from sglang_operator.builders import pod_spec_hash
from strategies import resource_names

NS = "llm"
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
FIXTURES = Path(__file__).parent.parent / "fixtures" / "bench"


def spec(**fields: Any) -> SGLangDeploymentSpec:
    return parse_spec({"model": {"path": "meta-llama/Llama-3.1-70B-Instruct"}, **fields})


def only_container(job: dict[str, Any]) -> dict[str, Any]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    result: dict[str, Any] = container
    return result


def split(job: dict[str, Any]) -> list[list[str]]:
    """The container's reporter options, rank-0 command and worker command."""
    container = only_container(job)
    assert container["command"] == ["python3", REPORTER_PATH]
    return reporter.split_commands(container["args"])


def module_args(command: list[str], module: str) -> list[str]:
    """The arguments of `python3 -m module ...`, or of the DNS-waiting bash wrapper around it."""
    if command[:3] == ["python3", "-m", module]:
        return command[3:]
    assert command[:2] == ["bash", "-c"]
    assert f"python3 -m {module}" in command[2]
    return command[4:]


def as_rank(args: list[str], rank: int) -> list[str]:
    """What the kubelet passes after expanding $(NODE_RANK)."""
    return [a.replace("$(NODE_RANK)", str(rank)) for a in args]


def flag(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


SERVING_CASES = {
    "defaults": {"benchmark": {"enabled": True}},
    "rate, concurrency, sharegpt, api key, cache": {
        "benchmark": {
            "enabled": True,
            "backend": "sglang-oai-chat",
            "datasetName": "sharegpt",
            "datasetPath": "/root/.cache/huggingface/sharegpt.json",
            "numPrompts": 300,
            "requestRate": 12.5,
            "maxConcurrency": 64,
            "warmupRequests": 4,
            "extraArgs": ["--seed", "7"],
        },
        "server": {"apiKeySecret": {"name": "llm-key", "key": "key"}},
        "model": {
            "path": "Qwen/Qwen2.5-7B-Instruct",
            "servedModelName": "qwen",
            "cache": {"size": "200Gi"},
            "hfTokenSecret": {"name": "hf", "key": "token"},
        },
    },
}


@pytest.mark.parametrize("fields", SERVING_CASES.values(), ids=SERVING_CASES.keys())
def test_the_serving_benchmark_command_is_one_sglang_accepts(fields: dict[str, Any]) -> None:
    s = spec(**fields)
    options, command, worker = split(benchmark_job(s, "llama", NS, generation=3))

    args = parse_bench_serving(module_args(command, "sglang.benchmark.serving"))

    assert worker == []
    assert args.base_url == naming.client_endpoint(
        "llama", NS, s.server.port, s.network.cluster_domain
    )
    assert args.backend == s.benchmark.backend
    assert args.dataset_name == s.benchmark.dataset_name
    assert args.num_prompts == s.benchmark.num_prompts
    assert args.warmup_requests == s.benchmark.warmup_requests
    assert args.model == (s.model.served_model_name or s.model.path)
    assert args.tokenizer == s.model.path
    assert args.output_file == flag(options, "--result-file") == RESULT_FILE
    reporter_args = reporter.build_parser().parse_args(options)
    assert (reporter_args.kind, reporter_args.num_prompts) == ("serving", s.benchmark.num_prompts)


def test_the_serving_benchmark_passes_rate_concurrency_and_extra_args() -> None:
    s = spec(**SERVING_CASES["rate, concurrency, sharegpt, api key, cache"])
    _, command, _ = split(benchmark_job(s, "qwen", NS, generation=1))

    args = parse_bench_serving(module_args(command, "sglang.benchmark.serving"))

    assert (args.request_rate, args.max_concurrency, args.seed) == (12.5, 64, 7)
    assert args.dataset_path == "/root/.cache/huggingface/sharegpt.json"


def test_the_serving_benchmark_job_runs_once_with_the_servers_secrets_and_cache() -> None:
    s = spec(**SERVING_CASES["rate, concurrency, sharegpt, api key, cache"])
    job = benchmark_job(s, "qwen", NS, generation=5)
    container = only_container(job)
    pod = job["spec"]["template"]["spec"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}

    assert job["metadata"]["name"] == naming.benchmark_job_name("qwen")
    assert job["metadata"]["annotations"][GENERATION_ANNOTATION] == "5"
    assert (job["spec"]["backoffLimit"], pod["restartPolicy"]) == (0, "Never")
    assert env["OPENAI_API_KEY"] == {"secretKeyRef": {"name": "llm-key", "key": "key"}}
    assert env["HF_TOKEN"] == {"secretKeyRef": {"name": "hf", "key": "token"}}
    assert env["HF_HOME"] == mounts["weights"] == "/root/.cache/huggingface"
    assert volumes["weights"]["persistentVolumeClaim"]["claimName"] == (
        naming.weights_pvc_name("qwen")
    )
    assert volumes["reporter"]["configMap"]["name"] == naming.reporter_configmap_name("qwen")
    assert REPORTER_PATH.startswith(mounts["reporter"] + "/")
    assert RESULT_FILE.startswith(mounts["results"] + "/")
    assert "emptyDir" in volumes["results"]
    assert container["image"] == s.effective_image
    assert "amd.com/gpu" not in container["resources"]["requests"]


def test_the_serving_benchmark_job_exactly() -> None:
    s = spec(
        image="registry.example/sglang:v1",
        imagePullPolicy="Always",
        imagePullSecrets=["regcred"],
        benchmark={"enabled": True, "datasetName": "random-ids", "numPrompts": 10},
    )
    labels = {
        "app.kubernetes.io/name": "sglang",
        "app.kubernetes.io/instance": "llama",
        "app.kubernetes.io/component": "benchmark",
        "app.kubernetes.io/managed-by": "sglang-operator",
    }
    model = "meta-llama/Llama-3.1-70B-Instruct"
    args = [
        "--kind", "serving",
        "--result-file", "/results/result.jsonl",
        "--output-dir", "/results",
        "--model", model,
        "--tp-size", "8",
        "--nnodes", "1",
        "--gpus-per-node", "8",
        "--image", "registry.example/sglang:v1",
        "--dataset", "random-ids",
        "--num-prompts", "10",
        "--",
        "python3", "-m", "sglang.benchmark.serving",
        "--backend", "sglang-oai",
        "--base-url", "http://llama.llm.svc.cluster.local:30000",
        "--model", model,
        "--tokenizer", model,
        "--dataset-name", "random-ids",
        "--num-prompts", "10",
        "--random-input-len", "1024",
        "--random-output-len", "1024",
        "--random-range-ratio", "0.0",
        "--warmup-requests", "1",
        "--output-file", "/results/result.jsonl",
    ]  # fmt: skip
    assert benchmark_job(s, "llama", NS, 3) == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "llama-bench",
            "namespace": NS,
            "labels": labels,
            "annotations": {"sglang-operator.io/generation": "3"},
        },
        "spec": {
            "backoffLimit": 0,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "benchmark",
                            "image": "registry.example/sglang:v1",
                            "imagePullPolicy": "Always",
                            "command": ["python3", "/opt/sglang-operator/reporter.py"],
                            "args": args,
                            "env": [],
                            "resources": {"requests": {"cpu": "2", "memory": "4Gi"}},
                            "volumeMounts": [
                                {
                                    "name": "reporter",
                                    "mountPath": "/opt/sglang-operator",
                                    "readOnly": True,
                                },
                                {"name": "results", "mountPath": "/results"},
                            ],
                            "terminationMessagePolicy": "FallbackToLogsOnError",
                        }
                    ],
                    "volumes": [
                        {"name": "reporter", "configMap": {"name": "llama-bench-reporter"}},
                        {"name": "results", "emptyDir": {}},
                    ],
                    "restartPolicy": "Never",
                    "enableServiceLinks": False,
                    "automountServiceAccountToken": False,
                    "imagePullSecrets": [{"name": "regcred"}],
                },
            },
        },
    }


OFFLINE_CASES = {
    "one node": {},
    "two nodes, tp 16": {"parallelism": {"nodes": 2}},
    "four nodes, pp 2, api key": {
        "parallelism": {"nodes": 4, "pp": 2},
        "server": {"apiKeySecret": {"name": "k", "key": "k"}},
    },
    "nvidia, sharegpt path": {
        "gpu": {"vendor": "nvidia", "perNode": 4},
        "offline": {"datasetName": "sharegpt", "datasetPath": "/data/sharegpt.json"},
    },
}


@pytest.mark.parametrize("fields", OFFLINE_CASES.values(), ids=OFFLINE_CASES.keys())
def test_every_rank_of_the_offline_job_runs_a_command_sglang_accepts(
    fields: dict[str, Any],
) -> None:
    s = spec(mode="offline", **fields)
    options, leader, worker = split(offline_job(s, "llama", NS, group=0, generation=1))

    server_args, bench_args = parse_offline_throughput(
        as_rank(module_args(leader, "sglang.benchmark.offline_throughput"), 0)
    )

    assert server_args.tp_size == s.tp
    assert bench_args.result_filename == flag(options, "--result-file") == RESULT_FILE
    assert bench_args.num_prompts == s.offline.num_prompts
    assert flag(options, "--node-rank") == "$(NODE_RANK)"
    if s.parallelism.nodes == 1:
        assert worker == []
        return
    assert server_args.nnodes == s.parallelism.nodes
    rank0 = naming.offline_rank0_fqdn("llama", 0, NS, s.network.cluster_domain)
    assert server_args.dist_init_addr == f"{rank0}:{s.network.dist_init_port}"
    for rank in range(1, s.parallelism.nodes):
        worker_args = parse_launch_server(
            as_rank(module_args(worker, "sglang.launch_server"), rank)
        )
        assert worker_args.node_rank == rank
        assert worker_args.dist_init_addr == server_args.dist_init_addr


def test_random_ids_runs_as_random_since_offline_throughput_has_no_random_ids() -> None:
    s = spec(mode="offline")
    _, leader, _ = split(offline_job(s, "llama", NS, group=0, generation=1))

    _, bench_args = parse_offline_throughput(
        as_rank(module_args(leader, "sglang.benchmark.offline_throughput"), 0)
    )

    assert s.offline.dataset_name == "random-ids"
    assert bench_args.dataset_name == "random"


def test_the_offline_job_is_indexed_one_pod_per_node_with_rank_from_the_index() -> None:
    s = spec(mode="offline", parallelism={"nodes": 2})
    job = offline_job(s, "llama", NS, group=1, generation=9)
    template = job["spec"]["template"]
    container = only_container(job)
    node_rank = next(e for e in container["env"] if e["name"] == "NODE_RANK")
    service = offline_service(s, "llama", NS, group=1)

    assert job["metadata"]["name"] == naming.offline_job_name("llama", 1)
    assert job["metadata"]["annotations"][GENERATION_ANNOTATION] == "9"
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 2
    assert job["spec"]["backoffLimit"] == 0
    assert job["spec"]["successPolicy"] == {"rules": [{"succeededIndexes": "0"}]}
    assert template["spec"]["restartPolicy"] == "Never"
    assert node_rank["valueFrom"]["fieldRef"]["fieldPath"] == (
        f"metadata.annotations['{naming.JOB_COMPLETION_INDEX_ANNOTATION}']"
    )
    assert not {"startupProbe", "readinessProbe", "livenessProbe"} & set(container)
    # The pods' DNS names come from the headless Service named as their subdomain.
    assert template["spec"]["subdomain"] == service["metadata"]["name"]
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["publishNotReadyAddresses"] is True
    assert service["spec"]["selector"].items() <= template["metadata"]["labels"].items()
    assert naming.offline_rank0_fqdn("llama", 1, NS, "cluster.local").startswith(
        f"{job['metadata']['name']}-0.{service['metadata']['name']}."
    )
    assert any(v.get("configMap") for v in template["spec"]["volumes"])
    assert any(m["mountPath"] == "/dev/shm" for m in container["volumeMounts"])


def test_the_offline_job_and_service_exactly() -> None:
    s = spec(
        mode="offline",
        parallelism={"nodes": 2},
        image="registry.example/sglang:v1",
        offline={"numPrompts": 10},
    )
    labels = {
        "app.kubernetes.io/name": "sglang",
        "app.kubernetes.io/instance": "llama",
        "app.kubernetes.io/component": "offline",
        "app.kubernetes.io/managed-by": "sglang-operator",
        "sglang-operator.io/group": "1",
    }
    selector = {k: v for k, v in labels.items() if k != "app.kubernetes.io/managed-by"}
    assert offline_service(s, "llama", NS, 1) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "llama-offline-1-hs", "namespace": NS, "labels": labels},
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": selector,
            "ports": [{"name": "dist", "port": 5000, "targetPort": "dist", "protocol": "TCP"}],
        },
    }

    job = offline_job(s, "llama", NS, 1, 3)
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert job["metadata"] == {
        "name": "llama-offline-1",
        "namespace": NS,
        "labels": labels,
        "annotations": {"sglang-operator.io/generation": "3"},
    }
    assert {k: v for k, v in job["spec"].items() if k != "template"} == {
        "completionMode": "Indexed",
        "completions": 2,
        "parallelism": 2,
        "backoffLimit": 0,
        "successPolicy": {"rules": [{"succeededIndexes": "0"}]},
    }
    pod = job["spec"]["template"]["spec"]
    assert (pod["subdomain"], pod["restartPolicy"]) == ("llama-offline-1-hs", "Never")
    assert pod["volumes"][-2:] == [
        {"name": "reporter", "configMap": {"name": "llama-bench-reporter"}},
        {"name": "results", "emptyDir": {}},
    ]
    container = only_container(job)
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    assert container["volumeMounts"][-2:] == [
        {"name": "reporter", "mountPath": "/opt/sglang-operator", "readOnly": True},
        {"name": "results", "mountPath": "/results"},
    ]
    options, leader, worker = split(job)
    assert options == [
        "--kind", "offline",
        "--result-file", "/results/result.jsonl",
        "--output-dir", "/results",
        "--model", "meta-llama/Llama-3.1-70B-Instruct",
        "--tp-size", "16",
        "--nnodes", "2",
        "--gpus-per-node", "8",
        "--image", "registry.example/sglang:v1",
        "--dataset", "random-ids",
        "--num-prompts", "10",
        "--node-rank", "$(NODE_RANK)",
    ]  # fmt: skip
    server = [
        "--model-path", "meta-llama/Llama-3.1-70B-Instruct",
        "--host", "0.0.0.0",
        "--port", "30000",
        "--tp-size", "16",
        "--nnodes", "2",
        "--node-rank", "$(NODE_RANK)",
        "--dist-init-addr", "llama-offline-1-0.llama-offline-1-hs.llm.svc.cluster.local:5000",
        "--enable-metrics",
    ]  # fmt: skip
    assert module_args(leader, "sglang.benchmark.offline_throughput") == [
        *server,
        "--dataset-name", "random",
        "--num-prompts", "10",
        "--random-input-len", "1024",
        "--random-output-len", "1024",
        "--random-range-ratio", "0.0",
        "--result-filename", "/results/result.jsonl",
    ]  # fmt: skip
    assert module_args(worker, "sglang.launch_server") == server


def test_a_one_node_offline_job_has_no_worker_command() -> None:
    job = offline_job(spec(mode="offline"), "llama", NS, 0, 1)
    _, leader, worker = split(job)
    assert worker == []
    assert "--nnodes" not in module_args(leader, "sglang.benchmark.offline_throughput")
    assert (job["spec"]["completions"], job["spec"]["parallelism"]) == (1, 1)


def test_the_offline_pod_hash_covers_the_finished_template() -> None:
    job = offline_job(spec(mode="offline"), "llama", NS, group=0, generation=1)
    template = copy.deepcopy(job["spec"]["template"])

    stamped = template["metadata"]["annotations"].pop(naming.POD_SPEC_HASH_ANNOTATION)

    assert stamped == pod_spec_hash(template)


def test_the_reporter_configmap_holds_the_reporter_source() -> None:
    configmap = reporter_configmap("llama", NS)

    assert configmap["metadata"]["name"] == naming.reporter_configmap_name("llama")
    assert configmap["data"]["reporter.py"] == Path(reporter.__file__).read_text()
    assert len(configmap["metadata"]["name"]) <= naming.DNS_LABEL_MAX


def test_the_reporter_configmap_exactly() -> None:
    configmap = reporter_configmap("llama", NS)
    source = configmap["data"].pop("reporter.py")
    assert source.startswith('"""')
    assert configmap == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "llama-bench-reporter",
            "namespace": NS,
            "labels": {
                "app.kubernetes.io/name": "sglang",
                "app.kubernetes.io/instance": "llama",
                "app.kubernetes.io/component": "benchmark",
                "app.kubernetes.io/managed-by": "sglang-operator",
            },
        },
        "data": {},
    }


def _reported(kind: str, result: dict[str, Any], num_prompts: int) -> dict[str, Any]:
    context = reporter.Context(kind=kind, model="llama", num_prompts=num_prompts)
    return reporter.summarize(result, context)


def test_a_serving_summary_becomes_status_benchmark() -> None:
    result = {
        "request_throughput": 12.5,
        "output_throughput": 1600.25,
        "median_ttft_ms": 80.5,
        "p99_ttft_ms": 400.0,
        "median_itl_ms": 9.5,
        "p99_itl_ms": 30.0,
        "completed": 498,
        "duration": 40.0,
    }
    message = reporter.termination_message(_reported("serving", result, 500))

    outcome = read_termination_message(message, generation=4, results_config_map="llama-bench-r")

    assert outcome.succeeded
    assert outcome.result is not None
    assert outcome.result.wire() == {
        "requestThroughput": 12.5,
        "outputThroughput": 1600.25,
        "medianTtftMs": 80.5,
        "p99TtftMs": 400.0,
        "medianItlMs": 9.5,
        "p99ItlMs": 30.0,
        "completed": 498,
        "failed": 2,
        "completedAt": outcome.result.completed_at,
        "generation": 4,
        "resultsConfigMap": "llama-bench-r",
    }
    assert outcome.result.completed_at is not None


def test_an_offline_summary_becomes_status_benchmark() -> None:
    last = json.loads((FIXTURES / "offline_throughput.jsonl").read_text().splitlines()[-1])
    message = reporter.termination_message(_reported("offline", last, 2000))

    outcome = read_termination_message(message, generation=2)

    assert outcome.result is not None
    assert outcome.result.request_throughput == last["request_throughput"]
    assert outcome.result.output_throughput == last["output_throughput"]
    assert (outcome.result.completed, outcome.result.failed) == (2000, 0)
    assert outcome.result.median_ttft_ms is None


def test_a_failure_summary_is_a_failure_with_its_reason() -> None:
    summary = reporter.failure_summary(reporter.Context(kind="serving"), "exited with code 1")

    outcome = read_termination_message(reporter.termination_message(summary), generation=1)

    assert (outcome.succeeded, outcome.message) == (False, "exited with code 1")


def test_a_log_tail_instead_of_a_summary_is_a_failure_that_shows_it() -> None:
    outcome = read_termination_message("Traceback ...\nMemoryError\n", generation=1)

    assert not outcome.succeeded
    assert outcome.message.endswith("MemoryError")


def test_the_full_report_is_found_in_the_log_and_stored_in_the_results_configmap() -> None:
    report = {"summary": {"status": "Succeeded"}, "perfCsv": "model\nllama\n", "result": {"a": 1}}
    log = "\n".join(
        [
            "performance: 1 requests_per_second",
            reporter.RESULT_LOG_PREFIX + json.dumps(report),
            "",
        ]
    )

    found = read_result_log_line(log)
    assert found == report
    configmap = results_configmap("llama", NS, found)

    assert configmap["metadata"]["name"] == naming.benchmark_results_configmap_name("llama")
    assert json.loads(configmap["data"]["result.json"]) == {"a": 1}
    assert configmap["data"]["perf.csv"] == "model\nllama\n"
    assert json.loads(configmap["data"]["summary.json"]) == {"status": "Succeeded"}


def test_a_result_too_large_for_a_configmap_is_left_out_of_it() -> None:
    report = {"summary": {}, "perfCsv": "", "result": {"itls": [0.001] * 200_000}}

    data = results_configmap("llama", NS, report)["data"]

    assert "result.json" not in data
    assert "result.json.omitted" in data
    assert len(json.dumps(data).encode()) < 1024 * 1024


def test_a_log_without_the_report_line_has_no_report() -> None:
    assert read_result_log_line("performance: 1 requests_per_second\n") is None


# ---- properties over generated valid specs -----------------------------------------------------


@st.composite
def workload_specs(draw: st.DrawFn, mode: str) -> SGLangDeploymentSpec:
    per_node = draw(st.sampled_from([1, 2, 4, 8]))
    nodes = draw(st.integers(1, 4)) if mode == "offline" else draw(st.integers(1, 2))
    workload: dict[str, Any] = {
        "datasetName": draw(st.sampled_from(["random-ids", "random", "sharegpt"])),
        "numPrompts": draw(st.integers(1, 100_000)),
        "randomInputLen": draw(st.integers(1, 32768)),
        "randomOutputLen": draw(st.integers(1, 32768)),
        "randomRangeRatio": draw(st.sampled_from([0.0, 0.5, 1.0])),
    }
    if workload["datasetName"] != "random-ids":
        workload["datasetPath"] = "/data/sharegpt.json"
    raw: dict[str, Any] = {
        "model": {"path": "org/model"},
        "mode": mode,
        "gpu": {"vendor": draw(st.sampled_from(["amd", "nvidia"])), "perNode": per_node},
        "parallelism": {"nodes": nodes, "pp": draw(st.sampled_from([1, 1, 2]))},
        "replicas": draw(st.integers(1, 3)),
    }
    if draw(st.booleans()):
        raw["server"] = {"apiKeySecret": {"name": "key", "key": "key"}}
    if mode == "offline":
        raw["offline"] = workload
    else:
        workload["enabled"] = True
        workload["backend"] = draw(st.sampled_from(["sglang", "sglang-oai", "sglang-oai-chat"]))
        if draw(st.booleans()):
            workload["maxConcurrency"] = draw(st.integers(1, 1024))
        if draw(st.booleans()):
            workload["requestRate"] = draw(st.sampled_from([0.5, 8.0, 100.0]))
        raw["benchmark"] = workload
    try:
        return parse_spec(raw)
    except ValidationError:
        assume(False)
        raise


@settings(max_examples=25, deadline=None)
@given(workload_specs("offline"), resource_names, st.integers(0, 3))
def test_every_offline_job_runs_what_sglang_accepts_on_every_rank(
    s: SGLangDeploymentSpec, name: str, group: int
) -> None:
    job = offline_job(s, name, NS, group=group, generation=1)
    service = offline_service(s, name, NS, group=group)
    options, leader, worker = split(job)

    server_args, bench_args = parse_offline_throughput(
        as_rank(module_args(leader, "sglang.benchmark.offline_throughput"), 0)
    )
    for rank in range(1, s.parallelism.nodes):
        assert (
            parse_launch_server(
                as_rank(module_args(worker, "sglang.launch_server"), rank)
            ).node_rank
            == rank
        )

    assert bench_args.num_prompts == s.offline.num_prompts
    assert server_args.nnodes == s.parallelism.nodes
    for obj in (job, service):
        assert DNS_1035.match(obj["metadata"]["name"]) and len(obj["metadata"]["name"]) <= 63
    # Pod hostnames are `<job>-<index>`: a DNS label too.
    assert len(f"{job['metadata']['name']}-{s.parallelism.nodes - 1}") <= 63
    assert (
        service["spec"]["selector"].items() <= job["spec"]["template"]["metadata"]["labels"].items()
    )
    assert reporter.build_parser().parse_args(as_rank(options, 0)).kind == "offline"


@settings(max_examples=25, deadline=None)
@given(workload_specs("server"), resource_names)
def test_every_serving_benchmark_job_runs_what_sglang_accepts(
    s: SGLangDeploymentSpec, name: str
) -> None:
    job = benchmark_job(s, name, NS, generation=1)
    options, command, _ = split(job)

    args = parse_bench_serving(module_args(command, "sglang.benchmark.serving"))

    assert args.num_prompts == s.benchmark.num_prompts
    assert args.max_concurrency == s.benchmark.max_concurrency
    assert DNS_1035.match(job["metadata"]["name"]) and len(job["metadata"]["name"]) <= 63
    assert reporter.build_parser().parse_args(options).kind == "serving"


# ---- reading results: boundaries and exact messages ------------------------------------------


def test_the_results_json_limit_is_900_kib_inclusive() -> None:
    # json.dumps of a string is the string plus its two quotes.
    at_limit = {"summary": {}, "perfCsv": "x", "result": "a" * (921_600 - 2)}
    data = results_configmap("llama", NS, at_limit)["data"]
    assert len(data["result.json"]) == 921_600
    assert "result.json.omitted" not in data

    over = {"summary": {}, "perfCsv": "x", "result": "a" * (921_600 - 1)}
    data = results_configmap("llama", NS, over)["data"]
    assert "result.json" not in data
    assert data["result.json.omitted"] == "921601 bytes, over the ConfigMap limit"


def test_the_results_configmap_exactly() -> None:
    report = {"summary": {"b": 2, "a": 1}, "result": {"y": [1], "x": 0}}
    assert results_configmap("llama", NS, report) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "llama-bench-results",
            "namespace": NS,
            "labels": {
                "app.kubernetes.io/name": "sglang",
                "app.kubernetes.io/instance": "llama",
                "app.kubernetes.io/component": "benchmark",
                "app.kubernetes.io/managed-by": "sglang-operator",
            },
        },
        "data": {
            "summary.json": '{\n  "a": 1,\n  "b": 2\n}',
            "perf.csv": "",
            "result.json": '{\n  "x": 0,\n  "y": [\n    1\n  ]\n}',
        },
    }


def test_the_last_report_line_of_a_log_wins() -> None:
    prefix = reporter.RESULT_LOG_PREFIX
    log = f'{prefix}{{"n": 1}}\nnoise\n{prefix}{{"n": 2}}\nmore noise\n'
    assert read_result_log_line(log) == {"n": 2}


def test_a_report_line_that_is_not_a_json_object_is_no_report() -> None:
    prefix = reporter.RESULT_LOG_PREFIX
    assert read_result_log_line(f"{prefix}{{not json\n") is None
    assert read_result_log_line(f"{prefix}[1, 2]\n") is None
    # The prefix counts only at the start of a line.
    assert read_result_log_line(f'said {prefix}{{"n": 1}}\n') is None


def test_an_empty_termination_message_says_so() -> None:
    outcome = read_termination_message("  \n", generation=1)
    assert outcome == BenchmarkOutcome(None, "the benchmark pod left no termination message")
    assert not outcome.succeeded


def test_a_long_log_tail_is_cut_to_its_last_1024_characters() -> None:
    tail = "x" * 1000 + "y" * 1024
    outcome = read_termination_message(f"\n{tail}\n", generation=1)
    assert outcome.message == "y" * 1024


def test_a_json_message_that_is_not_an_object_is_shown_as_it_is() -> None:
    assert read_termination_message("[1]", generation=1) == BenchmarkOutcome(None, "[1]")


def test_a_failure_without_a_message_says_the_benchmark_failed() -> None:
    message = json.dumps({"status": "Failed"})
    assert read_termination_message(message, generation=1) == BenchmarkOutcome(
        None, "the benchmark failed"
    )
    # Anything but the reporter's success status is a failure, whatever else it holds.
    message = json.dumps({"status": "succeeded", "requestThroughput": 1.0})
    assert not read_termination_message(message, generation=1).succeeded


def test_a_success_summary_is_read_field_by_field() -> None:
    summary = {
        "status": "Succeeded",
        "requestThroughput": 1.5,
        "outputThroughput": 2.5,
        "medianTtftMs": 3.5,
        "p99TtftMs": 4.5,
        "medianItlMs": 5.5,
        "p99ItlMs": 6.5,
        "completed": 7,
        "failed": 8,
        "completedAt": "2026-11-27T12:00:00Z",
    }
    outcome = read_termination_message(json.dumps(summary), generation=9)
    assert outcome.message == ""
    assert outcome.result is not None
    assert outcome.result.wire() == {
        "requestThroughput": 1.5,
        "outputThroughput": 2.5,
        "medianTtftMs": 3.5,
        "p99TtftMs": 4.5,
        "medianItlMs": 5.5,
        "p99ItlMs": 6.5,
        "completed": 7,
        "failed": 8,
        "completedAt": "2026-11-27T12:00:00Z",
        "generation": 9,
    }


# ---- scheduling, cache, rank 0's address and datasets, literally -----------------------------


def test_the_serving_benchmark_pod_takes_the_servers_scheduling_and_reads_the_cache() -> None:
    s = spec(
        model={"path": "org/model", "cache": {"size": "200Gi", "mountPath": "/models"}},
        nodeSelector={"node.kubernetes.io/instance-type": "mi300x"},
        tolerations=[{"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        benchmark={"enabled": True},
    )
    pod = benchmark_job(s, "llama", NS, 1)["spec"]["template"]["spec"]
    container = only_container({"spec": {"template": {"spec": pod}}})

    assert pod["nodeSelector"] == {"node.kubernetes.io/instance-type": "mi300x"}
    assert pod["tolerations"] == [
        {"key": "amd.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    ]
    assert pod["volumes"] == [
        {"name": "reporter", "configMap": {"name": "llama-bench-reporter"}},
        {"name": "results", "emptyDir": {}},
        {"name": "weights", "persistentVolumeClaim": {"claimName": "llama-weights"}},
    ]
    assert container["volumeMounts"] == [
        {"name": "reporter", "mountPath": "/opt/sglang-operator", "readOnly": True},
        {"name": "results", "mountPath": "/results"},
        {"name": "weights", "mountPath": "/models"},
    ]
    assert container["env"] == [{"name": "HF_HOME", "value": "/models"}]


def test_the_serving_benchmark_reads_a_dataset_file_by_name_and_path() -> None:
    s = spec(
        benchmark={
            "enabled": True,
            "datasetName": "sharegpt",
            "datasetPath": "/data/sharegpt.json",
            "numPrompts": 20,
            "randomInputLen": 128,
            "randomOutputLen": 64,
            "randomRangeRatio": 0.5,
        }
    )
    _, command, _ = split(benchmark_job(s, "llama", NS, 1))

    assert command[command.index("--dataset-name") : command.index("--warmup-requests")] == [
        "--dataset-name", "sharegpt",
        "--dataset-path", "/data/sharegpt.json",
        "--num-prompts", "20",
        "--random-input-len", "128",
        "--random-output-len", "64",
        "--random-range-ratio", "0.5",
    ]  # fmt: skip


def test_every_offline_rank_is_told_rank_0s_name_in_the_clusters_domain() -> None:
    s = spec(
        mode="offline",
        parallelism={"nodes": 2},
        network={"clusterDomain": "gpu.example", "distInitPort": 6000},
        model={"path": "org/model", "cache": {"size": "200Gi"}},
        offline={"datasetName": "sharegpt", "datasetPath": "/data/sharegpt.json"},
    )
    job = offline_job(s, "llama", "bench", 2, 1)
    container = only_container(job)
    env = {e["name"]: e.get("value") for e in container["env"]}
    _, leader, worker = split(job)
    rank0 = "llama-offline-2-0.llama-offline-2-hs.bench.svc.gpu.example"

    assert (env["MASTER_ADDR"], env["MASTER_PORT"]) == (rank0, "6000")
    for command, module in [
        (leader, "sglang.benchmark.offline_throughput"),
        (worker, "sglang.launch_server"),
    ]:
        assert flag(module_args(command, module), "--dist-init-addr") == f"{rank0}:6000"
    # A dataset other than random-ids keeps its name, and its file is passed on.
    args = module_args(leader, "sglang.benchmark.offline_throughput")
    assert args[args.index("--dataset-name") :] == [
        "--dataset-name", "sharegpt",
        "--dataset-path", "/data/sharegpt.json",
        "--num-prompts", "1000",
        "--random-input-len", "1024",
        "--random-output-len", "1024",
        "--random-range-ratio", "0.0",
        "--result-filename", "/results/result.jsonl",
    ]  # fmt: skip
    assert {"name": "weights", "persistentVolumeClaim": {"claimName": "llama-weights"}} in (
        job["spec"]["template"]["spec"]["volumes"]
    )
