"""Pure builders for benchmarks: the serving benchmark Job, the offline Indexed Job and its
headless Service, the reporter ConfigMap, and the readers of what a finished run reports.

Both kinds of run start `reporter.py` (this package's stdlib-only reporter, mounted from the
reporter ConfigMap) around the real SGLang module, in the deployment's own SGLang image:

- server mode, `spec.benchmark.enabled`: one pod runs `python3 -m sglang.benchmark.serving`
  against the client Service (the OpenAI-compatible endpoint), with the API key from the same
  Secret as the server (serving reads OPENAI_API_KEY), the tokenizer from the model path
  (through the weights cache when there is one, or the hub with HF_TOKEN).
- offline mode: an Indexed Job per replica group, `completions = parallelism = nodes`, rank
  = completion index (NODE_RANK from the Job controller's annotation), a headless Service as
  its subdomain so rank 0's DNS name (`<job>-0.<service>`) is the --dist-init-addr, the same
  container pieces as the server (builders.py) with `probes=False`. Rank 0 runs
  `sglang.benchmark.offline_throughput` with the server's own arguments plus the workload's;
  ranks >= 1 run `sglang.launch_server` with the server arguments only (see reporter.py for
  why). The Job succeeds when index 0 does (successPolicy) and fails on any pod failure
  (backoffLimit 0): one dead rank leaves the others hanging, as in a server group.
  offline_throughput has no `random-ids` dataset, and samples its warm-up prompts from
  ShareGPT whatever the dataset: `random-ids` runs as `random`, and without datasetPath the
  pod fetches ShareGPT through the Hugging Face hub (into HF_HOME, the weights cache when
  there is one). An air-gapped offline run needs datasetPath.

How the results get out without giving the pod API credentials: the reporter writes a
compact summary to the termination message, which the kubelet copies into the pod status
(`read_termination_message` turns it into status.benchmark), and one prefixed log line with
the full result and the perf.csv row, which the operator reads from the pod's log
(`read_result_log_line`) and stores with `results_configmap`. The pods need no RBAC.

Every Job carries the deployment generation it ran for (GENERATION_ANNOTATION), so the
operator runs a benchmark once per generation and not on every reconcile.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sglang_operator import API_GROUP, naming, reporter
from sglang_operator.api import (
    WEIGHTS_VOLUME,
    BenchmarkResult,
    SGLangDeploymentSpec,
    WorkloadSpec,
)
from sglang_operator.builders import (
    DIST_PORT_NAME,
    RankSource,
    launch_command,
    pod_template,
    sglang_args,
    sglang_container,
    weights_claim_name,
)

Obj = dict[str, Any]

SERVING_MODULE = "sglang.benchmark.serving"
OFFLINE_MODULE = "sglang.benchmark.offline_throughput"
WORKER_MODULE = "sglang.launch_server"
BENCHMARK_CONTAINER = "benchmark"
REPORTER_VOLUME = "reporter"
REPORTER_DIR = "/opt/sglang-operator"
REPORTER_KEY = "reporter.py"
REPORTER_PATH = f"{REPORTER_DIR}/{REPORTER_KEY}"
RESULTS_VOLUME = "results"
RESULTS_DIR = "/results"
RESULT_FILE = f"{RESULTS_DIR}/result.jsonl"
GENERATION_ANNOTATION = f"{API_GROUP}/generation"
# The client side of a serving benchmark: tokenizing prompts and streaming responses.
BENCHMARK_RESOURCES = {"requests": {"cpu": "2", "memory": "4Gi"}}
# A ConfigMap holds at most 1 MiB; keep room for the other keys and the metadata.
MAX_RESULT_JSON_BYTES = 900 * 1024


def reporter_source() -> str:
    return resources.files("sglang_operator").joinpath(REPORTER_KEY).read_text(encoding="utf-8")


def reporter_configmap(name: str, namespace: str) -> Obj:
    """reporter.py, for the benchmark and offline pods to mount and run."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": naming.reporter_configmap_name(name),
            "namespace": namespace,
            "labels": naming.labels(name, naming.COMPONENT_BENCHMARK),
        },
        "data": {REPORTER_KEY: reporter_source()},
    }


# ---- arguments ------------------------------------------------------------------------------


def served_model_name(spec: SGLangDeploymentSpec) -> str:
    """The model id the server reports (SGLang defaults it to the model path)."""
    return spec.model.served_model_name or spec.model.path


def _workload_args(workload: WorkloadSpec, *, dataset_name: str) -> list[str]:
    args = ["--dataset-name", dataset_name]
    if workload.dataset_path:
        args += ["--dataset-path", workload.dataset_path]
    return [
        *args,
        "--num-prompts",
        str(workload.num_prompts),
        "--random-input-len",
        str(workload.random_input_len),
        "--random-output-len",
        str(workload.random_output_len),
        "--random-range-ratio",
        str(workload.random_range_ratio),
    ]


def serving_benchmark_args(spec: SGLangDeploymentSpec, name: str, namespace: str) -> list[str]:
    """sglang.benchmark.serving's arguments: the client Service, the workload, the result file.
    The user's extraArgs come last so they can override any flag."""
    bench = spec.benchmark
    args = [
        "--backend",
        bench.backend,
        "--base-url",
        naming.client_endpoint(name, namespace, spec.server.port, spec.network.cluster_domain),
        "--model",
        served_model_name(spec),
        "--tokenizer",
        spec.model.path,
        *_workload_args(bench, dataset_name=bench.dataset_name),
        "--warmup-requests",
        str(bench.warmup_requests),
    ]
    if bench.request_rate is not None:
        args += ["--request-rate", str(bench.request_rate)]
    if bench.max_concurrency is not None:
        args += ["--max-concurrency", str(bench.max_concurrency)]
    return [*args, "--output-file", RESULT_FILE, *bench.extra_args]


def offline_server_args(
    spec: SGLangDeploymentSpec, name: str, namespace: str, group: int
) -> list[str]:
    """The server's own arguments, with rank 0 of the offline Job as the rendezvous."""
    return sglang_args(
        spec,
        dist_init_host=naming.offline_rank0_fqdn(
            name, group, namespace, spec.network.cluster_domain
        ),
    )


def offline_benchmark_args(spec: SGLangDeploymentSpec) -> list[str]:
    """offline_throughput's own arguments, after the server's; the user's extraArgs last."""
    offline = spec.offline
    # offline_throughput has no random-ids; random is the nearest (see the module docstring).
    dataset = "random" if offline.dataset_name == "random-ids" else offline.dataset_name
    return [
        *_workload_args(offline, dataset_name=dataset),
        "--result-filename",
        RESULT_FILE,
        *offline.extra_args,
    ]


def _reporter_args(
    spec: SGLangDeploymentSpec, *, kind: str, dataset: str, num_prompts: int
) -> list[str]:
    return [
        "--kind",
        kind,
        "--result-file",
        RESULT_FILE,
        "--output-dir",
        RESULTS_DIR,
        "--model",
        served_model_name(spec),
        "--tp-size",
        str(spec.tp),
        "--nnodes",
        str(spec.parallelism.nodes),
        "--gpus-per-node",
        str(spec.gpu.per_node),
        "--image",
        spec.effective_image,
        "--dataset",
        dataset,
        "--num-prompts",
        str(num_prompts),
    ]


# ---- pods -----------------------------------------------------------------------------------


def _reporter_volumes(name: str) -> list[Obj]:
    return [
        {"name": REPORTER_VOLUME, "configMap": {"name": naming.reporter_configmap_name(name)}},
        {"name": RESULTS_VOLUME, "emptyDir": {}},
    ]


def _reporter_mounts() -> list[Obj]:
    return [
        {"name": REPORTER_VOLUME, "mountPath": REPORTER_DIR, "readOnly": True},
        {"name": RESULTS_VOLUME, "mountPath": RESULTS_DIR},
    ]


def _job_metadata(name: str, namespace: str, labels: dict[str, str], generation: int) -> Obj:
    return {
        "name": name,
        "namespace": namespace,
        "labels": labels,
        "annotations": {GENERATION_ANNOTATION: str(generation)},
    }


def _benchmark_env(spec: SGLangDeploymentSpec) -> list[Obj]:
    env: list[Obj] = []
    secrets = [
        ("OPENAI_API_KEY", spec.server.api_key_secret),
        ("HF_TOKEN", spec.model.hf_token_secret),
    ]
    for variable, ref in secrets:
        if ref:
            env.append(
                {
                    "name": variable,
                    "valueFrom": {"secretKeyRef": {"name": ref.name, "key": ref.key}},
                }
            )
    if spec.model.cache:
        env.append({"name": "HF_HOME", "value": spec.model.cache.effective_mount_path})
    return env


def benchmark_job(spec: SGLangDeploymentSpec, name: str, namespace: str, generation: int) -> Obj:
    """The serving benchmark: one pod, one try, against the client Service."""
    bench = spec.benchmark
    labels = naming.labels(name, naming.COMPONENT_BENCHMARK)
    command = ["python3", "-m", SERVING_MODULE, *serving_benchmark_args(spec, name, namespace)]
    container: Obj = {
        "name": BENCHMARK_CONTAINER,
        "image": spec.effective_image,
        "imagePullPolicy": spec.image_pull_policy,
        "command": ["python3", REPORTER_PATH],
        "args": [
            *_reporter_args(
                spec, kind="serving", dataset=bench.dataset_name, num_prompts=bench.num_prompts
            ),
            "--",
            *command,
        ],
        "env": _benchmark_env(spec),
        "resources": BENCHMARK_RESOURCES,
        "volumeMounts": _reporter_mounts(),
        # A reporter that dies before writing its summary still leaves a reason.
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    volumes = _reporter_volumes(name)
    claim = weights_claim_name(spec, name)
    if spec.model.cache and claim:
        # The tokenizer is read from the model path, which may be on the cache.
        volumes.append({"name": WEIGHTS_VOLUME, "persistentVolumeClaim": {"claimName": claim}})
        container["volumeMounts"].append(
            {"name": WEIGHTS_VOLUME, "mountPath": spec.model.cache.effective_mount_path}
        )
    pod: Obj = {
        "containers": [container],
        "volumes": volumes,
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        # The benchmark client never calls the Kubernetes API.
        "automountServiceAccountToken": False,
    }
    if spec.node_selector:
        pod["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod["tolerations"] = [t.wire() for t in spec.tolerations]
    if spec.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": s} for s in spec.image_pull_secrets]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _job_metadata(naming.benchmark_job_name(name), namespace, labels, generation),
        "spec": {
            "backoffLimit": 0,
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def offline_service(spec: SGLangDeploymentSpec, name: str, namespace: str, group: int) -> Obj:
    """The offline Job's subdomain: DNS names for its pods, published before they are Ready."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": naming.offline_service_name(name, group),
            "namespace": namespace,
            "labels": naming.group_labels(name, group, naming.COMPONENT_OFFLINE),
        },
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": naming.group_selector_labels(name, group, naming.COMPONENT_OFFLINE),
            "ports": [
                {
                    "name": DIST_PORT_NAME,
                    "port": spec.network.dist_init_port,
                    "targetPort": DIST_PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }


def offline_job(
    spec: SGLangDeploymentSpec, name: str, namespace: str, group: int, generation: int
) -> Obj:
    """The offline run of replica group `group`: one pod per node, rank = completion index."""
    master = naming.offline_rank0_fqdn(name, group, namespace, spec.network.cluster_domain)
    server_args = offline_server_args(spec, name, namespace, group)
    leader = launch_command(
        spec, module=OFFLINE_MODULE, module_args=[*server_args, *offline_benchmark_args(spec)]
    )
    container = sglang_container(
        spec,
        rank_source=RankSource.JOB_COMPLETION_INDEX,
        master_addr=master,
        module=OFFLINE_MODULE,
        module_args=leader[1],
        probes=False,
    )
    args = _reporter_args(
        spec,
        kind="offline",
        dataset=spec.offline.dataset_name,
        num_prompts=spec.offline.num_prompts,
    )
    args += ["--node-rank", "$(NODE_RANK)", "--", *leader[0], *leader[1]]
    if spec.parallelism.nodes > 1:
        worker = launch_command(spec, module=WORKER_MODULE, module_args=server_args)
        args += ["--", *worker[0], *worker[1]]
    container["command"] = ["python3", REPORTER_PATH]
    container["args"] = args
    container["volumeMounts"] += _reporter_mounts()
    container["terminationMessagePolicy"] = "FallbackToLogsOnError"

    labels = naming.group_labels(name, group, naming.COMPONENT_OFFLINE)
    template = pod_template(
        spec,
        name=name,
        labels=labels,
        container=container,
        restart_policy="Never",
        extra_volumes=_reporter_volumes(name),
        subdomain=naming.offline_service_name(name, group),
    )
    nodes = spec.parallelism.nodes
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _job_metadata(
            naming.offline_job_name(name, group), namespace, labels, generation
        ),
        "spec": {
            "completionMode": "Indexed",
            "completions": nodes,
            "parallelism": nodes,
            "backoffLimit": 0,
            # Rank 0 holds the result; the other ranks only serve it.
            "successPolicy": {"rules": [{"succeededIndexes": "0"}]},
            "template": template,
        },
    }


# ---- reading the results --------------------------------------------------------------------


@dataclass(frozen=True)
class BenchmarkOutcome:
    """What a finished benchmark pod reported: a result, or why there is none."""

    result: BenchmarkResult | None
    message: str = ""

    @property
    def succeeded(self) -> bool:
        return self.result is not None


def read_termination_message(
    message: str, *, generation: int, results_config_map: str | None = None
) -> BenchmarkOutcome:
    """status.benchmark from the reporter's termination message.

    Anything but a successful summary is a failure whose message says why: the reporter's
    own reason, or the log tail the kubelet put there when the reporter died first.
    """
    try:
        summary = json.loads(message)
    except ValueError:
        summary = None
    if not isinstance(summary, dict):
        tail = message.strip()[-reporter.MAX_MESSAGE_CHARS :]
        return BenchmarkOutcome(None, tail or "the benchmark pod left no termination message")
    if summary.get("status") != reporter.SUCCEEDED:
        return BenchmarkOutcome(None, str(summary.get("message") or "the benchmark failed"))
    result = BenchmarkResult(
        request_throughput=summary.get("requestThroughput"),
        output_throughput=summary.get("outputThroughput"),
        median_ttft_ms=summary.get("medianTtftMs"),
        p99_ttft_ms=summary.get("p99TtftMs"),
        median_itl_ms=summary.get("medianItlMs"),
        p99_itl_ms=summary.get("p99ItlMs"),
        completed=summary.get("completed"),
        failed=summary.get("failed"),
        completed_at=summary.get("completedAt"),
        generation=generation,
        results_config_map=results_config_map,
    )
    return BenchmarkOutcome(result)


def read_result_log_line(log: str) -> dict[str, Any] | None:
    """The reporter's full report (summary, perfCsv, result) from a pod log, if it is there."""
    for line in reversed(log.splitlines()):
        if line.startswith(reporter.RESULT_LOG_PREFIX):
            try:
                report = json.loads(line[len(reporter.RESULT_LOG_PREFIX) :])
            except ValueError:
                return None
            return report if isinstance(report, dict) else None
    return None


def results_configmap(name: str, namespace: str, report: dict[str, Any]) -> Obj:
    """The results ConfigMap: full result JSON, summary and madengine's perf.csv."""
    result_json = json.dumps(report.get("result"), indent=2, sort_keys=True)
    data = {
        "summary.json": json.dumps(report.get("summary"), indent=2, sort_keys=True),
        "perf.csv": str(report.get("perfCsv") or ""),
    }
    if len(result_json.encode()) <= MAX_RESULT_JSON_BYTES:
        data["result.json"] = result_json
    else:
        # Per-request details (--output-details) can exceed a ConfigMap; the pod log keeps them.
        data["result.json.omitted"] = f"{len(result_json.encode())} bytes, over the ConfigMap limit"
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": naming.benchmark_results_configmap_name(name),
            "namespace": namespace,
            "labels": naming.labels(name, naming.COMPONENT_BENCHMARK),
        },
        "data": data,
    }
