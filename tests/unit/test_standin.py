"""The SGLang stand-in image's code (images/sglang-standin), without a cluster.

Its flag table must be SGLang's own, it must accept exactly what SGLang accepts of the
operator's command lines, and two ranks on loopback must behave as SGLang's do: rendezvous,
the API key, the endpoints of rank 0 and of the others, the watchdog and rank 0's orderly
shutdown. The stand-in runs as the image runs it: `python3 -m sglang.launch_server` with
only the stand-in package on the path (`-I`, no site-packages).
"""

from __future__ import annotations

import importlib.util
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from sglang_cli import SGLangArgumentError, parse_launch_server, parse_offline_throughput
from sglang_operator.api import SGLangDeploymentSpec
from sglang_operator.benchmark import offline_benchmark_args, offline_server_args
from sglang_operator.builders import sglang_args

STANDIN = Path(__file__).resolve().parents[2] / "images" / "sglang-standin"
PACKAGE_DIR = STANDIN / "python"
BOOT_TIMEOUT = 60


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# The stand-in's package is called sglang, like the real one installed here: its modules are
# loaded from their files under other names.
standin = _load("sglang_standin_core", PACKAGE_DIR / "sglang" / "_standin.py")
gen_flags = _load("sglang_standin_gen_flags", STANDIN / "gen_flags.py")


def test_the_flag_table_is_sglangs_own() -> None:
    committed = json.loads(Path(gen_flags.OUT).read_text())
    assert committed == json.loads(json.dumps(gen_flags.table(), sort_keys=True)), (
        "stale: run .venv/bin/python images/sglang-standin/gen_flags.py"
    )


def _spec(**fields: Any) -> SGLangDeploymentSpec:
    return SGLangDeploymentSpec.model_validate({"model": {"path": "org/model"}} | fields)


SPECS = [
    _spec(),
    _spec(
        model={"path": "org/model", "servedModelName": "m"},
        gpu={"perNode": 2},
        parallelism={"nodes": 2},
        server={
            "apiKeySecret": {"name": "s", "key": "k"},
            "contextLength": 4096,
            "extraArgs": ["--chunked-prefill-size", "4096"],
        },
    ),
    _spec(
        parallelism={"nodes": 4, "pp": 2},
        server={"memFractionStatic": 0.8, "attentionBackend": "triton"},
    ),
    _spec(parallelism={"dp": 2}, server={"disableRadixCache": True, "enableMetrics": False}),
]


def _expanded(args: list[str]) -> list[str]:
    return [a.replace("$(NODE_RANK)", "1").replace("$(SGLANG_API_KEY)", "key") for a in args]


@pytest.mark.parametrize("spec", SPECS, ids=range(len(SPECS)))
def test_the_operators_server_command_lines_parse_as_in_sglang(spec: SGLangDeploymentSpec) -> None:
    argv = _expanded(sglang_args(spec, dist_init_host="g-0-0.g-0-hs.ns.svc.cluster.local"))
    real = parse_launch_server(argv)
    ours = standin.parser("launch_server", "launch_server.py").parse_args(argv)
    for key in (
        "model_path",
        "host",
        "port",
        "tp_size",
        "pp_size",
        "nnodes",
        "node_rank",
        "dist_init_addr",
        "api_key",
        "served_model_name",
        "enable_metrics",
    ):
        assert getattr(ours, key) == getattr(real, key), key


@pytest.mark.parametrize("spec", SPECS[:2], ids=range(2))
def test_the_operators_offline_command_lines_parse_as_in_sglang(spec: SGLangDeploymentSpec) -> None:
    spec = spec.model_copy(
        update={"offline": spec.offline.model_copy(update={"dataset_path": "/data/sharegpt.json"})}
    )
    argv = _expanded([*offline_server_args(spec, "g", "ns", 0), *offline_benchmark_args(spec)])
    real_server, real_bench = parse_offline_throughput(argv)
    ours = standin.parser("offline_throughput", "offline_throughput.py").parse_args(argv)
    assert (ours.tp_size, ours.nnodes) == (real_server.tp_size, real_server.nnodes)
    assert (ours.num_prompts, ours.dataset_name, ours.result_filename) == (
        real_bench.num_prompts,
        real_bench.dataset_name,
        real_bench.result_filename,
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["--model-path", "m", "--no-such-flag"],
        ["--model-path", "m", "--tp-size", "two"],
        ["--tp-size", "2"],
        ["--model-path", "m", "--load-format", "nonsense"],
    ],
)
def test_what_sglang_refuses_the_stand_in_refuses(argv: list[str]) -> None:
    with pytest.raises(SGLangArgumentError):
        parse_launch_server(argv)
    done = _run(["--port", "1", *argv])
    assert done.returncode == 2
    assert "error:" in done.stderr


# ---- two ranks on loopback ------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _argv(*args: str) -> list[str]:
    # -I: no site-packages and no PYTHONPATH, as in the image (which has only the stand-in).
    code = (
        "import runpy, sys; sys.path.insert(0, sys.argv.pop(1)); "
        "runpy.run_module('sglang.launch_server', run_name='__main__', alter_sys=True)"
    )
    return [sys.executable, "-I", "-c", code, str(PACKAGE_DIR), *args]


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_argv(*args), capture_output=True, text=True, timeout=60, check=False)


def _get(url: str, key: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            body = r.read()
            return r.status, json.loads(body) if body.startswith(b"{") else body.decode()
    except urllib.error.HTTPError as err:
        return err.code, None


def _wait_http(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + BOOT_TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            _get(url)
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} never answered")


class Group:
    def __init__(self, nodes: int = 2, extra: tuple[str, ...] = ()) -> None:
        self.dist = _free_port()
        self.ports = [_free_port() for _ in range(nodes)]
        self.procs = [
            subprocess.Popen(
                _argv(
                    "--model-path",
                    "org/model",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.ports[rank]),
                    "--tp-size",
                    str(nodes),
                    "--nnodes",
                    str(nodes),
                    "--node-rank",
                    str(rank),
                    "--dist-init-addr",
                    f"localhost:{self.dist}",
                    *extra,
                ),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for rank in range(nodes)
        ]

    def url(self, rank: int, path: str) -> str:
        return f"http://127.0.0.1:{self.ports[rank]}{path}"

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


@pytest.fixture
def group() -> Iterator[Group]:
    g = Group(extra=("--api-key", "secret", "--enable-metrics", "--served-model-name", "tiny"))
    yield g
    g.stop()


def test_rank0_serves_the_api_behind_sglangs_key_rule_and_rank1_only_health(group: Group) -> None:
    for rank in (0, 1):
        _wait_http(group.url(rank, "/health"), group.procs[rank])
    # SGLang exempts only /health*, /ready* and /metrics* from the key.
    assert _get(group.url(0, "/ready"))[0] == 200
    assert _get(group.url(0, "/health_generate"))[0] == 200
    assert _get(group.url(0, "/metrics"))[0] == 200
    assert _get(group.url(0, "/ping"))[0] == 401
    assert _get(group.url(0, "/v1/models"))[0] == 401
    assert _get(group.url(0, "/v1/models"), "wrong")[0] == 401
    status, models = _get(group.url(0, "/v1/models"), "secret")
    assert status == 200
    assert [m["id"] for m in models["data"]] == ["tiny"]
    assert _get(group.url(0, "/ping"), "secret")[0] == 200
    request = urllib.request.Request(
        group.url(0, "/v1/completions"),
        data=json.dumps({"model": "tiny", "prompt": "w1 w2", "max_tokens": 5}).encode(),
        headers={"Authorization": "Bearer secret", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        completion = json.loads(r.read())
    assert completion["usage"]["completion_tokens"] == 5
    assert len(completion["choices"][0]["text"].split()) == 5
    # Rank 1 runs SGLang's dummy health server: no key, no API, no /ready.
    assert [_get(group.url(1, p))[0] for p in ("/ping", "/health", "/health_generate")] == [200] * 3
    assert _get(group.url(1, "/ready"))[0] == 404
    assert _get(group.url(1, "/v1/models"), "secret")[0] == 404


def test_a_rank_that_dies_takes_the_group_down(group: Group) -> None:
    _wait_http(group.url(0, "/ready"), group.procs[0])
    group.procs[1].kill()
    assert group.procs[0].wait(timeout=60) == 1
    assert "went away" in group.procs[0].communicate()[1]


def test_rank0_shutdown_is_broadcast_and_rank1_ignores_sigterm(group: Group) -> None:
    for rank in (0, 1):
        _wait_http(group.url(rank, "/health"), group.procs[rank])
    group.procs[1].send_signal(signal.SIGTERM)
    time.sleep(1)
    assert group.procs[1].poll() is None
    group.procs[0].send_signal(signal.SIGTERM)
    assert group.procs[0].wait(timeout=60) == 0
    assert group.procs[1].wait(timeout=60) == 0


def test_an_unknown_rank0_name_fails_at_once() -> None:
    done = _run(
        [
            "--model-path",
            "m",
            "--nnodes",
            "2",
            "--tp-size",
            "2",
            "--node-rank",
            "1",
            "--dist-init-addr",
            "no-such-host.invalid:5000",
            "--port",
            str(_free_port()),
        ]
    )
    assert done.returncode == 1
    assert "cannot resolve --dist-init-addr host no-such-host.invalid" in done.stderr
