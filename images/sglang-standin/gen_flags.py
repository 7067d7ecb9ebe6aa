"""Writes the stand-in's flag table from the installed SGLang's own parsers.

    .venv/bin/python images/sglang-standin/gen_flags.py [--check]

launch_server's parser is `ServerArgs.add_cli_args` (as `prepare_server_args` builds it),
offline_throughput's `ServerArgs.add_cli_args` + `BenchArgs.add_cli_args` (as its `cli_main`
builds it). For every flag: its option strings, destination, action, arity, type (int, float
or str; any other converter is kept as str), choices, default and whether it is required.
`--check` exits 1 when the committed table differs (tests/unit/test_standin.py runs it).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "python" / "sglang" / "_standin_flags.json"


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return None
    return value


def _action(action: argparse.Action) -> str:
    if isinstance(action, argparse.BooleanOptionalAction):
        return "boolean_optional"
    if isinstance(action, argparse._StoreTrueAction):
        return "store_true"
    if isinstance(action, argparse._StoreFalseAction):
        return "store_false"
    if isinstance(action, argparse._StoreConstAction):
        return "store_const"
    if isinstance(action, argparse._AppendAction):
        return "append"
    if action.nargs == 0:
        # A custom flag without a value: it stores a constant.
        return "store_const"
    return "store"


def describe(parser: argparse.ArgumentParser) -> list[dict[str, Any]]:
    flags = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction) or not action.option_strings:
            continue
        entry: dict[str, Any] = {
            "flags": [
                s
                for s in action.option_strings
                if not (
                    isinstance(action, argparse.BooleanOptionalAction) and s.startswith("--no-")
                )
            ],
            "dest": action.dest,
            "action": _action(action),
        }
        if action.nargs not in (None, 0):
            entry["nargs"] = action.nargs
        if entry["action"] == "store_const":
            entry["const"] = _jsonable(action.const if action.nargs == 0 or action.const else True)
        elif action.const is not None:
            entry["const"] = _jsonable(action.const)
        if action.type in (int, float):
            entry["type"] = action.type.__name__
        if action.choices is not None:
            # Sorted: some choice lists are filled by registries in import order.
            entry["choices"] = _jsonable(sorted(action.choices, key=str))
        default = _jsonable(action.default)
        if default is not None:
            entry["default"] = default
        if action.required:
            entry["required"] = True
        flags.append(entry)
    return flags


def table() -> dict[str, Any]:
    # Imported here: SGLang's modules import torch, and warn about this machine's CPU-only one.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import sglang  # noqa: PLC0415
        from sglang.benchmark.offline_throughput import BenchArgs  # noqa: PLC0415
        from sglang.srt.server_args import ServerArgs  # noqa: PLC0415

    server = argparse.ArgumentParser()
    ServerArgs.add_cli_args(server)
    offline = argparse.ArgumentParser()
    ServerArgs.add_cli_args(offline)
    BenchArgs.add_cli_args(offline)
    return {
        "sglang_version": sglang.__version__,
        "launch_server": describe(server),
        "offline_throughput": describe(offline),
    }


def main() -> None:
    text = json.dumps(table(), indent=1, sort_keys=True) + "\n"
    if "--check" in sys.argv[1:]:
        if not OUT.exists() or OUT.read_text() != text:
            sys.exit(f"{OUT} is stale: run .venv/bin/python {Path(__file__).name}")
        return
    OUT.write_text(text)


if __name__ == "__main__":
    main()
