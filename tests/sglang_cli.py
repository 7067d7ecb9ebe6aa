"""SGLang's own command-line parsers, run on CPU, to prove a command line is one SGLang accepts.

The operator writes argv for three SGLang entry points; each function here runs that entry
point's real parser (sglang 0.5.23, installed by hack/python-env.sh) and its start-up checks:

- `python3 -m sglang.launch_server`: `prepare_server_args` (the launcher's own parse), then
  `ServerArgs.resolve_once` (defaults, platform and parallelism rules) and `check_server_args`
  (the Engine's checks: `(tp*pp) % nnodes`, no multi-node `--dp-size`, no `:` in
  `--served-model-name`, ...). Resolution reads the model's config.json, which a test cannot
  have: it runs on a copy of the parsed record whose model path points at a stand-in config
  (a Llama-shaped config.json with generous limits, so model-dependent checks such as
  `--context-length` against the model's maximum never refuse what only the real model can
  decide), with `--device cuda` when none is given (the device SGLang detects on both CUDA
  and ROCm; this machine has none, and detection would fail).
- `python3 -m sglang.benchmark.serving`: its parser is built inside `cli_main`, so `cli_main`
  runs for real with `run_benchmark` (what it calls once parsing and its own checks passed)
  replaced by a function that keeps the arguments.
- `python3 -m sglang.benchmark.offline_throughput`: its `cli_main` resolves the server
  arguments against the real model, so the parser is assembled here exactly as `cli_main`
  assembles it (`ServerArgs.add_cli_args` + `BenchArgs.add_cli_args`) and the server half is
  checked as for launch_server.

Abbreviated flags are refused too, although argparse's prefix matching would take them: `--tp`
works only while no other flag starts with it, and SGLang keeps adding flags. (The same
parsers are built with `allow_abbrev=False`; for launch_server, a strict parse of the same
`ServerArgs.add_cli_args` parser runs first.) Any refusal raises `SGLangArgumentError` with
SGLang's message instead of exiting.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import unittest.mock
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import msgspec

# At import SGLang warns that this machine's torch has no GPU kernels (AWQ, GGUF, Triton), and
# sentencepiece's SWIG bindings warn about themselves: true, and irrelevant to parsing.
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from sglang.benchmark import offline_throughput, serving
    from sglang.srt.server_args import ServerArgs, prepare_server_args

# Llama-shaped; 64 heads and 16 KV heads divide by every usual tp size, and no real model reaches
# the context limit.
STAND_IN_MODEL_CONFIG: dict[str, Any] = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 4096,
    "intermediate_size": 14336,
    "num_attention_heads": 64,
    "num_key_value_heads": 16,
    "num_hidden_layers": 32,
    "vocab_size": 128256,
    "max_position_embeddings": 1 << 20,
    "rms_norm_eps": 1e-5,
    "rope_theta": 500000.0,
    "torch_dtype": "bfloat16",
}


class SGLangArgumentError(Exception):
    """SGLang refused a command line; the message is SGLang's."""


class _StrictParser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise SGLangArgumentError(f"{self.prog}: {message}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise SGLangArgumentError(f"{self.prog} exited ({status}): {message or ''}")


@contextlib.contextmanager
def _isolated_process_state() -> Iterator[None]:
    """Undo what SGLang's start-up does to the process: it exports environment variables
    while resolving, and the launcher re-configures the root logger with force=True."""
    environ = dict(os.environ)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(environ)
        root.handlers[:] = handlers
        root.setLevel(level)


def _stand_in_model_dir() -> str:
    path = Path(tempfile.gettempdir()) / f"sglang-operator-stand-in-model-{os.getuid()}"
    path.mkdir(exist_ok=True)
    # Written whole, then renamed: test processes running side by side may read it meanwhile.
    partial = path / f"config.json.{os.getpid()}"
    partial.write_text(json.dumps(STAND_IN_MODEL_CONFIG))
    partial.replace(path / "config.json")
    return str(path)


def _check_server_args(server_args: ServerArgs) -> ServerArgs:
    """Run SGLang's resolution and start-up checks on a copy aimed at the stand-in model;
    returns the resolved copy."""
    copy = msgspec.structs.replace(
        server_args,
        model_path=_stand_in_model_dir(),
        device=server_args.device or "cuda",
    )
    try:
        copy.resolve_once()
        copy.check_server_args()
    except (AssertionError, ValueError) as error:
        raise SGLangArgumentError(f"{type(error).__name__}: {error}") from error
    return copy


def parse_launch_server(argv: list[str]) -> ServerArgs:
    """argv as after `python3 -m sglang.launch_server`; the parsed (unresolved) record."""
    strict = _StrictParser(prog="sglang serve")
    ServerArgs.add_cli_args(strict)
    strict.parse_args(list(argv))
    with _isolated_process_state():
        server_args = prepare_server_args(list(argv))
        _check_server_args(server_args)
    return server_args


def resolve_launch_server(argv: list[str]) -> ServerArgs:
    """argv as after `python3 -m sglang.launch_server`; the record as SGLang resolves it
    (read derived settings through sglang's `resolving_view`)."""
    parse_launch_server(argv)
    with _isolated_process_state():
        return _check_server_args(prepare_server_args(list(argv)))


def parse_bench_serving(argv: list[str]) -> argparse.Namespace:
    """argv as after `python3 -m sglang.benchmark.serving`; the Namespace it would run with."""
    captured: list[argparse.Namespace] = []
    with (
        _isolated_process_state(),
        unittest.mock.patch.object(serving, "ArgumentParser", _StrictParser),
        unittest.mock.patch.object(sys, "argv", ["sglang.benchmark.serving", *argv]),
        unittest.mock.patch.object(serving, "run_benchmark", captured.append),
    ):
        serving.cli_main()
    (args,) = captured
    return args


def parse_offline_throughput(
    argv: list[str],
) -> tuple[ServerArgs, offline_throughput.BenchArgs]:
    """argv as after `python3 -m sglang.benchmark.offline_throughput`; its two argument records."""
    with _isolated_process_state():
        parser = _StrictParser()
        ServerArgs.add_cli_args(parser)
        offline_throughput.BenchArgs.add_cli_args(parser)
        args = parser.parse_args(list(argv))
        server_args = ServerArgs.from_cli_args(args)
        bench_args = offline_throughput.BenchArgs.from_cli_args(args)
        _check_server_args(server_args)
    return server_args, bench_args
