"""Benchmark reporter: runs an SGLang benchmark and turns its JSON result into madengine's lines.

It runs inside the SGLang image, mounted from a ConfigMap the operator owns, as

    python3 /opt/sglang-operator/reporter.py --kind serving|offline [options] \\
        -- <benchmark command> [-- <command of ranks >= 1>]

so it uses the standard library only, imports nothing of sglang_operator, and keeps to what
Python 3.8 has (the image's Python is not ours to choose).

Rank 0 (the default) runs the benchmark command, reads the last JSON line of its result file
(`sglang.benchmark.serving --output-file`, `sglang.benchmark.offline_throughput
--result-filename`; both append one line per run) and reports it four ways:

1. stdout, for madengine and for people: FIRST `performance: <request throughput>
   requests_per_second`, since madengine's regex takes the first match in the log, then
   `tokens_per_second: <output tokens/s>`, `model:`, `tp_size:`, `nnodes:` and the rest. The
   metric is request throughput, as in the seed's run.sh, so perf.csv histories that users
   already keep stay comparable (relative_change compares like with like).
2. the termination message (`--termination-log`, default /dev/termination-log): a compact JSON
   summary, under Kubernetes' 4096-byte limit. The kubelet copies it into the pod's status,
   where the operator reads it for status.benchmark: the pod needs no API credentials and
   the operator no extra call.
3. one log line `sglang-operator-result: <JSON>` holding the summary, the perf.csv text and the
   full result (far over 4096 bytes once server_info is in it). The operator reads it from
   the pod's log (its own pods/log permission) and writes the results ConfigMap; the pod
   again needs no credentials.
4. files in `--output-dir` (result.json, perf.csv, summary.json), for `kubectl cp` or a volume.

A benchmark that fails (non-zero exit, no result) gets no `performance:` line (madengine then
records a FAILURE), a `Failed` summary with the reason, a FAILURE perf.csv row, and the
reporter exits non-zero so the Job fails.

In a multi-node offline run every rank starts the same container. Ranks >= 1 (`--node-rank`)
exec the second command instead, without reporting: offline_throughput on a rank >= 1 serves
the engine's schedulers until rank 0 shuts them down and then goes on to benchmark without a
tokenizer manager and crashes, whereas launch_server's rank >= 1 path returns cleanly when
rank 0 broadcasts its shutdown.

Non-finite numbers (serving reports an unlimited request rate as Infinity, which is not JSON)
are written as the strings "inf"/"nan" in the files and the log line, and left out of the
summary.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

# The prefix of the log line that carries the full result to the operator.
RESULT_LOG_PREFIX = "sglang-operator-result: "
# Kubernetes truncates a container's termination message beyond this many bytes.
MAX_TERMINATION_BYTES = 4096
# A failure message longer than this is cut, so the summary always fits.
MAX_MESSAGE_CHARS = 1024
METRIC = "requests_per_second"
SUCCEEDED = "Succeeded"
FAILED = "Failed"
KINDS = ("serving", "offline")

# madengine's perf.csv columns, in its order.
PERF_CSV_HEADER = (
    "model",
    "n_gpus",
    "nnodes",
    "gpus_per_node",
    "training_precision",
    "pipeline",
    "args",
    "tags",
    "docker_file",
    "base_docker",
    "docker_sha",
    "docker_image",
    "git_commit",
    "machine_name",
    "deployment_type",
    "launcher",
    "gpu_architecture",
    "performance",
    "metric",
    "relative_change",
    "status",
    "build_duration",
    "test_duration",
    "dataname",
    "data_provider_type",
    "data_size",
    "data_download_duration",
    "build_number",
    "additional_docker_run_options",
)

# summary key -> the result key it comes from, per kind. serving's names are the JSON keys of
# sglang.benchmark.serving; offline's those of offline_throughput's throughput_test_once.
_SUMMARY_KEYS: dict[str, dict[str, str]] = {
    "serving": {
        "requestThroughput": "request_throughput",
        "outputThroughput": "output_throughput",
        "inputThroughput": "input_throughput",
        "totalThroughput": "total_throughput",
        "medianTtftMs": "median_ttft_ms",
        "p99TtftMs": "p99_ttft_ms",
        "medianItlMs": "median_itl_ms",
        "p99ItlMs": "p99_itl_ms",
        "medianE2eLatencyMs": "median_e2e_latency_ms",
        "completed": "completed",
        "durationSeconds": "duration",
    },
    "offline": {
        "requestThroughput": "request_throughput",
        "outputThroughput": "output_throughput",
        "inputThroughput": "input_throughput",
        "totalThroughput": "total_throughput",
        "completed": "successful_requests",
        "durationSeconds": "total_latency",
    },
}

# The madengine-style lines after `performance:`: (label, summary key).
_LINES = (
    ("input_tokens_per_second", "inputThroughput"),
    ("total_tokens_per_second", "totalThroughput"),
    ("median_ttft_ms", "medianTtftMs"),
    ("p99_ttft_ms", "p99TtftMs"),
    ("median_itl_ms", "medianItlMs"),
    ("p99_itl_ms", "p99ItlMs"),
    ("median_e2e_latency_ms", "medianE2eLatencyMs"),
    ("completed_requests", "completed"),
    ("failed_requests", "failed"),
)


@dataclass(frozen=True)
class Context:
    """What the operator knows about the run and the result does not say."""

    kind: str
    model: str = ""
    tp_size: int = 1
    nnodes: int = 1
    gpus_per_node: int = 1
    image: str = ""
    dataset: str = ""
    num_prompts: int | None = None
    command: list[str] = field(default_factory=list)


def _number(value: Any) -> float | None:
    """A finite number, or None (missing, null, a string, inf, nan)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def json_safe(value: Any) -> Any:
    """The value with non-finite floats as strings, so strict JSON readers accept it."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list):
        return [json_safe(item) for item in value]
    return value


def now_rfc3339() -> str:
    # timezone.utc, not datetime.UTC: the image's Python may be older than 3.11.
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: UP017


def load_result(path: str) -> dict[str, Any]:
    """The last JSON line of a benchmark's result file (earlier lines are earlier runs)."""
    with open(path, encoding="utf-8") as file:
        lines = [line for line in file.read().splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{path} holds no result")
    result = json.loads(lines[-1])
    if not isinstance(result, dict):
        raise ValueError(f"the last line of {path} is not a JSON object")
    return result


def summarize(result: dict[str, Any], context: Context) -> dict[str, Any]:
    """The compact summary (termination message and status.benchmark), camelCase keys."""
    summary: dict[str, Any] = {"status": SUCCEEDED, "kind": context.kind}
    for key, source in _SUMMARY_KEYS[context.kind].items():
        number = _number(result.get(source))
        if number is not None:
            summary[key] = int(number) if key == "completed" else number
    if "requestThroughput" not in summary:
        raise ValueError("the result has no request throughput")
    completed = summary.get("completed")
    if context.num_prompts is not None and completed is not None:
        summary["failed"] = max(context.num_prompts - completed, 0)
    summary["completedAt"] = now_rfc3339()
    return summary


def failure_summary(context: Context, message: str) -> dict[str, Any]:
    return {
        "status": FAILED,
        "kind": context.kind,
        "message": message[:MAX_MESSAGE_CHARS],
        "completedAt": now_rfc3339(),
    }


def _format(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 1e15 else f"{value:.4f}"


def madengine_lines(summary: dict[str, Any], context: Context) -> list[str]:
    """The lines madengine parses: `performance:` first, then the other figures."""
    lines = []
    if summary["status"] == SUCCEEDED:
        lines.append(f"performance: {_format(summary['requestThroughput'])} {METRIC}")
        if "outputThroughput" in summary:
            lines.append(f"tokens_per_second: {_format(summary['outputThroughput'])}")
    lines += [
        f"model: {context.model}",
        f"tp_size: {context.tp_size}",
        f"nnodes: {context.nnodes}",
        f"gpus_per_node: {context.gpus_per_node}",
    ]
    lines += [f"{label}: {_format(summary[key])}" for label, key in _LINES if key in summary]
    if "durationSeconds" in summary:
        lines.append(f"test_duration: {summary['durationSeconds']:.2f}s")
    return lines


def perf_csv(summary: dict[str, Any], context: Context) -> str:
    """madengine's header and one row for this run."""
    succeeded = summary["status"] == SUCCEEDED
    row = dict.fromkeys(PERF_CSV_HEADER, "")
    row.update(
        model=context.model,
        n_gpus=str(context.nnodes * context.gpus_per_node),
        nnodes=str(context.nnodes),
        gpus_per_node=str(context.gpus_per_node),
        args=" ".join(context.command),
        docker_image=context.image,
        machine_name=socket.gethostname(),
        deployment_type="kubernetes",
        launcher="sglang-operator",
        performance=_format(summary["requestThroughput"]) if succeeded else "",
        metric=METRIC,
        status="SUCCESS" if succeeded else "FAILURE",
        test_duration=(f"{summary['durationSeconds']:.2f}" if "durationSeconds" in summary else ""),
        dataname=context.dataset,
    )
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=PERF_CSV_HEADER, lineterminator="\n")
    writer.writeheader()
    writer.writerow(row)
    return out.getvalue()


def termination_message(summary: dict[str, Any]) -> str:
    """The summary as compact JSON, within Kubernetes' termination message limit."""
    text = json.dumps(summary, separators=(",", ":"), sort_keys=True)
    if len(text.encode()) > MAX_TERMINATION_BYTES:
        text = json.dumps({**summary, "message": "(cut)"}, separators=(",", ":"))
    return text


def report(
    context: Context,
    summary: dict[str, Any],
    *,
    result: dict[str, Any] | None,
    output_dir: str | None,
    termination_log: str | None,
) -> None:
    """Print and write the summary of one run, its perf.csv row and the full result."""
    csv_text = perf_csv(summary, context)
    for line in madengine_lines(summary, context):
        print(line)
    full = {"summary": summary, "perfCsv": csv_text, "result": json_safe(result)}
    print(RESULT_LOG_PREFIX + json.dumps(full, separators=(",", ":"), sort_keys=True))
    sys.stdout.flush()
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        files = {
            "result.json": json.dumps(json_safe(result), indent=2, sort_keys=True),
            "summary.json": json.dumps(summary, indent=2, sort_keys=True),
            "perf.csv": csv_text,
        }
        for name, text in files.items():
            with open(os.path.join(output_dir, name), "w", encoding="utf-8") as file:
                file.write(text)
    if termination_log:
        with open(termination_log, "w", encoding="utf-8") as file:
            file.write(termination_message(summary))


def run(command: Sequence[str]) -> int:
    """Run the command with this process's stdio; SIGTERM and SIGINT reach it too."""
    process = subprocess.Popen(list(command))

    def forward(signum: int, _frame: Any) -> None:
        process.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return process.wait()


def split_commands(argv: Sequence[str]) -> list[list[str]]:
    """`opts -- cmd [-- worker cmd]` -> [opts, cmd, worker cmd] (absent parts empty)."""
    parts: list[list[str]] = [[]]
    for arg in argv:
        if arg == "--" and len(parts) < 3:
            parts.append([])
        else:
            parts[-1].append(arg)
    while len(parts) < 3:
        parts.append([])
    return parts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reporter.py",
        description="Run an SGLang benchmark and report its result for madengine and the operator.",
    )
    parser.add_argument("--kind", choices=KINDS, required=True, help="Shape of the result.")
    parser.add_argument("--result-file", required=True, help="JSON-lines file the run appends.")
    parser.add_argument("--output-dir", help="Write result.json, summary.json, perf.csv here.")
    parser.add_argument(
        "--termination-log",
        default="/dev/termination-log",
        help="Where the summary goes (empty: nowhere).",
    )
    parser.add_argument("--node-rank", type=int, default=0, help="Ranks >= 1 only run.")
    parser.add_argument("--model", default="", help="Model name for the report.")
    parser.add_argument("--tp-size", type=int, default=1)
    parser.add_argument("--nnodes", type=int, default=1)
    parser.add_argument("--gpus-per-node", type=int, default=1)
    parser.add_argument("--image", default="", help="Container image, for perf.csv.")
    parser.add_argument("--dataset", default="", help="Dataset name, for perf.csv.")
    parser.add_argument(
        "--num-prompts", type=int, help="Requests sent; the ones not completed count as failed."
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    options, command, worker = split_commands(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(options)
    if args.node_rank > 0:
        if not (worker or command):
            parser.error("--node-rank > 0 needs a command to run")
        os.execvp((worker or command)[0], worker or command)
    context = Context(
        kind=args.kind,
        model=args.model,
        tp_size=args.tp_size,
        nnodes=args.nnodes,
        gpus_per_node=args.gpus_per_node,
        image=args.image,
        dataset=args.dataset,
        num_prompts=args.num_prompts,
        command=command,
    )
    code = run(command) if command else 0
    result: dict[str, Any] | None = None
    if code != 0:
        summary = failure_summary(context, f"the benchmark exited with code {code}")
    else:
        try:
            result = load_result(args.result_file)
            summary = summarize(result, context)
        except (OSError, ValueError) as error:
            result, summary = None, failure_summary(context, f"no usable result: {error}")
    report(
        context,
        summary,
        result=result,
        output_dir=args.output_dir,
        termination_log=args.termination_log or None,
    )
    if summary["status"] != SUCCEEDED:
        print(f"benchmark failed: {summary['message']}", file=sys.stderr)
        return code or 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
