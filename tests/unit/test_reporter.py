"""The reporter on real benchmark output.

sglang.benchmark.serving (the real module) runs against a small OpenAI-compatible stand-in
server on loopback, with a tokenizer built here, so nothing is downloaded; the stand-in is the
only fake. The reporter runs as the Job runs it: a script, started with `python -I -S` (no
site-packages, so only the standard library is there for it), wrapping the benchmark command.
offline_throughput needs a GPU engine, so its result comes from a fixture whose keys are
checked against the module's source.
"""

from __future__ import annotations

import ast
import asyncio
import csv
import importlib.util
import io
import json
import os
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from sglang_cli import parse_bench_serving
from sglang_operator import reporter
from tiny_tokenizer import build_tokenizer

# madengine's regex for the performance line, as its log parser applies it (re.search: the
# first match in the log wins).
MADENGINE_PERFORMANCE = re.compile(
    r"performance:\s+([+\-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+\-]?[0-9]+)?)"
    r"(?:,?\s*/[a-zA-Z]+\s*,?|,)?\s+([^\s,]+)"
)
# madengine's perf.csv header.
MADENGINE_PERF_CSV_HEADER = [
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
]

REPORTER = Path(reporter.__file__)
FIXTURES = Path(__file__).parent.parent / "fixtures" / "bench"
NUM_PROMPTS = 8
API_KEY = "stand-in-key"
WARMUP_REQUESTS = 1
# A generous bound for one benchmark run (it takes seconds; most of it is importing torch).
RUN_TIMEOUT_SECONDS = 300


class StandInServer:
    """OpenAI-compatible enough for sglang.benchmark.serving's sglang-oai backend: lists one
    model and streams `max_tokens` vocabulary words per completion, then the usage; like
    SGLang with --api-key, it answers 401 to requests without the key."""

    def __init__(self) -> None:
        self.completions = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {API_KEY}":
            raise web.HTTPUnauthorized()
        response: web.StreamResponse = await handler(request)
        return response

    async def _models(self, _request: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "tiny", "object": "model"}]})

    async def _completions(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        tokens = int(body["max_tokens"])
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i in range(tokens):
            chunk = {"choices": [{"index": 0, "text": f"w{i % 255 + 1} "}]}
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())
        usage = {"prompt_tokens": 0, "completion_tokens": tokens, "total_tokens": tokens}
        last = {"choices": [{"index": 0, "text": "", "finish_reason": "length"}], "usage": usage}
        await response.write(f"data: {json.dumps(last)}\n\ndata: [DONE]\n\n".encode())
        self.completions += 1
        return response

    async def _start(self) -> str:
        app = web.Application(middlewares=[self._auth])
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/v1/completions", self._completions)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        port = self._runner.addresses[0][1]
        return f"http://127.0.0.1:{port}"

    def start(self) -> str:
        self._thread.start()
        return asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    termination: str | None
    out_dir: Path


def run_reporter(tmp: Path, options: list[str], command: list[str] | None = None) -> Run:
    """reporter.py as the Job runs it, in a Python that sees only the standard library."""
    termination = tmp / "termination-log"
    out_dir = tmp / "out"
    argv = [sys.executable, "-I", "-S", str(REPORTER), *options]
    argv += ["--output-dir", str(out_dir), "--termination-log", str(termination)]
    if command:
        argv += ["--", *command]
    # The benchmark Job gives the server's API key as OPENAI_API_KEY.
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_HOME": str(tmp / "hf-home"),
        "OPENAI_API_KEY": API_KEY,
    }
    done = subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=RUN_TIMEOUT_SECONDS, check=False
    )
    return Run(
        done.returncode,
        done.stdout,
        done.stderr,
        termination.read_text() if termination.exists() else None,
        out_dir,
    )


def bench_serving_args(base_url: str, tokenizer: Path, output_file: Path) -> list[str]:
    return [
        "--backend",
        "sglang-oai",
        "--base-url",
        base_url,
        "--dataset-name",
        "random-ids",
        "--num-prompts",
        str(NUM_PROMPTS),
        "--random-input-len",
        "16",
        "--random-output-len",
        "8",
        "--warmup-requests",
        str(WARMUP_REQUESTS),
        "--tokenizer",
        str(tokenizer),
        "--model",
        "tiny",
        "--ready-check-timeout-sec",
        "30",
        "--disable-tqdm",
        "--output-file",
        str(output_file),
    ]


REPORT_OPTIONS = [
    "--model",
    "tiny",
    "--tp-size",
    "16",
    "--nnodes",
    "2",
    "--gpus-per-node",
    "8",
    "--image",
    "lmsysorg/sglang:v0.5.23-rocm700-mi30x",
    "--dataset",
    "random-ids",
    "--num-prompts",
    str(NUM_PROMPTS),
]


@pytest.fixture(scope="module")
def tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("tokenizer")
    build_tokenizer(directory)
    return directory


@pytest.fixture(scope="module")
def serving_run(tmp_path_factory: pytest.TempPathFactory, tokenizer_dir: Path) -> Iterator[Any]:
    """One real serving benchmark through the reporter; the tests below read its traces."""
    tmp = tmp_path_factory.mktemp("serving")
    result_file = tmp / "result.jsonl"
    server = StandInServer()
    base_url = server.start()
    try:
        args = bench_serving_args(base_url, tokenizer_dir, result_file)
        run = run_reporter(
            tmp,
            ["--kind", "serving", "--result-file", str(result_file), *REPORT_OPTIONS],
            [sys.executable, "-m", "sglang.benchmark.serving", *args],
        )
    finally:
        server.stop()
    yield run, json.loads(result_file.read_text().splitlines()[-1]), args, server.completions


def test_the_real_benchmark_ran_against_the_stand_in(serving_run: Any) -> None:
    run, result, args, completions = serving_run
    assert run.returncode == 0, run.stderr
    assert completions == NUM_PROMPTS + WARMUP_REQUESTS
    assert result["completed"] == NUM_PROMPTS
    # The argv the reporter ran is one SGLang's own parser accepts.
    assert parse_bench_serving(args).num_prompts == NUM_PROMPTS


def test_madengine_reads_request_throughput_from_the_first_performance_line(
    serving_run: Any,
) -> None:
    run, result, _, _ = serving_run
    match = MADENGINE_PERFORMANCE.search(run.stdout)

    assert match is not None
    assert float(match.group(1)) == pytest.approx(result["request_throughput"], abs=1e-4)
    assert match.group(2) == "requests_per_second"


def test_the_other_madengine_lines_follow(serving_run: Any) -> None:
    run, result, _, _ = serving_run
    lines = run.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("performance: "))
    figures = dict(line.split(": ", 1) for line in lines[start + 1 :] if ": " in line)

    assert float(figures["tokens_per_second"]) == pytest.approx(
        result["output_throughput"], abs=1e-4
    )
    assert figures["model"] == "tiny"
    assert (figures["tp_size"], figures["nnodes"], figures["gpus_per_node"]) == ("16", "2", "8")
    assert float(figures["median_ttft_ms"]) == pytest.approx(result["median_ttft_ms"], abs=1e-4)
    assert figures["failed_requests"] == "0"
    assert figures["test_duration"] == f"{result['duration']:.2f}s"


def test_the_termination_message_is_a_compact_summary(serving_run: Any) -> None:
    run, result, _, _ = serving_run
    assert run.termination is not None
    summary = json.loads(run.termination)

    assert len(run.termination.encode()) < reporter.MAX_TERMINATION_BYTES
    assert summary["status"] == "Succeeded"
    assert summary["requestThroughput"] == result["request_throughput"]
    assert summary["outputThroughput"] == result["output_throughput"]
    assert summary["p99TtftMs"] == result["p99_ttft_ms"]
    assert summary["medianItlMs"] == result["median_itl_ms"]
    assert (summary["completed"], summary["failed"]) == (NUM_PROMPTS, 0)


def test_the_log_line_carries_the_full_result_and_the_perf_csv(serving_run: Any) -> None:
    run, result, _, _ = serving_run
    line = next(
        line for line in run.stdout.splitlines() if line.startswith(reporter.RESULT_LOG_PREFIX)
    )
    carried = json.loads(line.removeprefix(reporter.RESULT_LOG_PREFIX))

    # serving writes an unlimited request rate as Infinity, which strict JSON refuses.
    assert result["request_rate"] == float("inf")
    assert carried["result"] == {**result, "request_rate": "inf"}
    assert carried["summary"] == json.loads(run.termination)
    assert carried["perfCsv"] == (run.out_dir / "perf.csv").read_text()


def test_perf_csv_has_madengines_header_and_a_success_row(serving_run: Any) -> None:
    run, result, _, _ = serving_run
    rows = list(csv.DictReader(io.StringIO((run.out_dir / "perf.csv").read_text())))

    assert next(csv.reader(io.StringIO((run.out_dir / "perf.csv").read_text()))) == (
        MADENGINE_PERF_CSV_HEADER
    )
    (row,) = rows
    assert row["status"] == "SUCCESS"
    assert float(row["performance"]) == pytest.approx(result["request_throughput"], abs=1e-4)
    assert (row["metric"], row["model"], row["n_gpus"], row["nnodes"]) == (
        "requests_per_second",
        "tiny",
        "16",
        "2",
    )
    assert row["docker_image"] == "lmsysorg/sglang:v0.5.23-rocm700-mi30x"
    assert "sglang.benchmark.serving" in row["args"]
    assert json.loads((run.out_dir / "result.json").read_text())["completed"] == NUM_PROMPTS


def test_a_failed_benchmark_reports_failure_and_no_performance(
    tmp_path: Path, tokenizer_dir: Path
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    args = bench_serving_args(
        f"http://127.0.0.1:{closed_port}", tokenizer_dir, tmp_path / "result.jsonl"
    )
    args[args.index("--ready-check-timeout-sec") + 1] = "1"

    run = run_reporter(
        tmp_path,
        ["--kind", "serving", "--result-file", str(tmp_path / "result.jsonl"), *REPORT_OPTIONS],
        [sys.executable, "-m", "sglang.benchmark.serving", *args],
    )

    assert run.returncode != 0
    assert MADENGINE_PERFORMANCE.search(run.stdout) is None
    assert run.termination is not None
    summary = json.loads(run.termination)
    assert summary["status"] == "Failed"
    assert "exited with code" in summary["message"]
    (row,) = csv.DictReader(io.StringIO((run.out_dir / "perf.csv").read_text()))
    assert (row["status"], row["performance"]) == ("FAILURE", "")


def _offline_result_keys() -> set[str]:
    """The keys offline_throughput's throughput_test_once puts in its result, from its source."""
    spec = importlib.util.find_spec("sglang.benchmark.offline_throughput")
    assert spec is not None and spec.origin is not None
    source = Path(spec.origin).read_text()
    function = next(
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef) and node.name == "throughput_test_once"
    )
    keys = set()
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            keys |= {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
        if (
            isinstance(node, ast.Subscript)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.slice, ast.Constant)
        ):
            keys.add(node.slice.value)
    return keys


def test_the_offline_fixture_has_the_keys_offline_throughput_writes() -> None:
    for line in (FIXTURES / "offline_throughput.jsonl").read_text().splitlines():
        assert set(json.loads(line)) == _offline_result_keys()


def test_an_offline_result_is_reported_from_its_last_line(tmp_path: Path) -> None:
    fixture = FIXTURES / "offline_throughput.jsonl"
    last = json.loads(fixture.read_text().splitlines()[-1])

    options = ["--kind", "offline", "--result-file", str(fixture), "--model", "llama"]

    run = run_reporter(tmp_path, [*options, "--nnodes", "2", "--num-prompts", "2000"])

    assert run.returncode == 0, run.stderr
    match = MADENGINE_PERFORMANCE.search(run.stdout)
    assert match is not None
    assert float(match.group(1)) == pytest.approx(last["request_throughput"], abs=1e-4)
    assert run.termination is not None
    summary = json.loads(run.termination)
    assert summary["completed"] == last["successful_requests"]
    assert summary["durationSeconds"] == last["total_latency"]
    assert summary["failed"] == 0
    assert "medianTtftMs" not in summary


def test_ranks_above_zero_run_the_worker_command_and_report_nothing(tmp_path: Path) -> None:
    run = run_reporter(
        tmp_path,
        ["--kind", "offline", "--result-file", str(tmp_path / "none"), "--node-rank", "1"],
        [sys.executable, "-c", "raise SystemExit(3)", "--", sys.executable, "-c", "print('ok')"],
    )

    assert (run.returncode, run.stdout.strip(), run.termination) == (0, "ok", None)


def test_a_missing_result_is_a_failure(tmp_path: Path) -> None:
    run = run_reporter(
        tmp_path, ["--kind", "serving", "--result-file", str(tmp_path / "missing.jsonl")]
    )

    assert run.returncode == 1
    assert run.termination is not None
    assert json.loads(run.termination)["status"] == "Failed"


def test_the_termination_message_stays_under_the_limit_whatever_the_message() -> None:
    context = reporter.Context(kind="serving")
    summary = reporter.failure_summary(context, "x" * 100_000)

    assert len(reporter.termination_message(summary).encode()) < reporter.MAX_TERMINATION_BYTES


def test_split_commands_separates_options_command_and_worker_command() -> None:
    parts = reporter.split_commands(["--kind", "offline", "--", "a", "-x", "--", "b", "--", "c"])

    assert parts == [["--kind", "offline"], ["a", "-x"], ["b", "--", "c"]]


def test_the_reporter_is_python_3_8_and_standard_library_only() -> None:
    source = REPORTER.read_text()
    tree = ast.parse(source, feature_version=(3, 8))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        node.module.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module
    }

    assert imported <= sys.stdlib_module_names | {"__future__"}
