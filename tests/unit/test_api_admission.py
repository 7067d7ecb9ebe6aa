"""Admission: what the API server would refuse once the operator writes it is refused by the
operator's own parse (and, where the CRD can say it, by the CRD's CEL, evaluated here with
cel-python; tests/e2e/test_crd_admission.py runs the same cases through a real API server)."""

from __future__ import annotations

import argparse
import unittest.mock
import warnings
from typing import Any

import pytest
from pydantic import ValidationError
from test_crd import SPEC_SCHEMA, cel_failures, nodes

from admission_cases import BAD, GOOD, OPERATOR_ONLY
from sglang_operator import benchmark, builders, cli
from sglang_operator.api import (
    BENCHMARK_FLAGS,
    OFFLINE_FLAGS,
    RESERVED_MOUNT_PATHS,
    SERVER_FLAGS,
    OwnedFlags,
    format_validation_error,
    parse_spec,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from sglang.benchmark import offline_throughput, serving
    from sglang.srt.server_args import ServerArgs


def spec(fields: dict[str, Any]) -> dict[str, Any]:
    return {"model": {"path": "org/model"}, **fields}


def refusal(raw: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as info:
        parse_spec(raw)
    return format_validation_error(info.value)


def _cel_messages() -> set[str]:
    return {
        rule["message"]
        for _, node in nodes(SPEC_SCHEMA, ".spec")
        for rule in node.get("x-kubernetes-validations", [])
    }


CEL_MESSAGES = _cel_messages()


@pytest.mark.parametrize(("fields", "api_says", "operator_says"), BAD, ids=repr)
def test_each_bad_case_is_refused_by_the_operator_naming_the_field(
    fields: dict[str, Any], api_says: str, operator_says: str
) -> None:
    assert operator_says in refusal(spec(fields))


@pytest.mark.parametrize(("fields", "api_says", "operator_says"), BAD, ids=repr)
def test_bad_cases_a_cel_rule_speaks_for_are_refused_by_that_rule(
    fields: dict[str, Any], api_says: str, operator_says: str
) -> None:
    if " " not in api_says:
        # A field path: a schema keyword (pattern, maxLength, enum, minimum) refuses it, which
        # cel-python does not evaluate; the e2e tier checks it on the real API server.
        return
    assert any(api_says in message for message in CEL_MESSAGES), "no rule says it"
    failed = cel_failures(spec(fields), SPEC_SCHEMA)
    assert any(api_says in message for message in failed), failed


@pytest.mark.parametrize(("fields", "operator_says"), OPERATOR_ONLY, ids=repr)
def test_quantity_comparisons_are_refused_by_the_operator(
    fields: dict[str, Any], operator_says: str
) -> None:
    assert operator_says in refusal(spec(fields))


@pytest.mark.parametrize("fields", GOOD, ids=repr)
def test_near_misses_pass_the_operator_and_cel(fields: dict[str, Any]) -> None:
    raw = spec(fields)
    parsed = parse_spec(raw)
    assert cel_failures(raw, SPEC_SCHEMA) == []
    # And they render: every child is built from them.
    assert cli.all_objects(parsed, "near-miss", "default", 1)


# ---- operator-owned flags against SGLang's own parsers ----------------------------------------


def _options(parser: argparse.ArgumentParser) -> dict[str, str]:
    return {o: a.dest for a in parser._actions for o in a.option_strings}


def _server_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    ServerArgs.add_cli_args(parser)
    return parser


def _offline_parser() -> argparse.ArgumentParser:
    parser = _server_parser()
    offline_throughput.BenchArgs.add_cli_args(parser)
    return parser


class _CapturedError(Exception):
    pass


def _serving_parser() -> argparse.ArgumentParser:
    """The parser sglang.benchmark.serving builds inside its cli_main."""
    found: list[argparse.ArgumentParser] = []

    def capture(self: argparse.ArgumentParser, *_: Any, **__: Any) -> None:
        found.append(self)
        raise _CapturedError

    with (
        unittest.mock.patch.object(argparse.ArgumentParser, "parse_args", capture),
        pytest.raises(_CapturedError),
    ):
        serving.cli_main()
    return found[0]


PARSERS = {
    "server": (_server_parser, SERVER_FLAGS),
    "offline": (_offline_parser, OFFLINE_FLAGS),
    "benchmark": (_serving_parser, BENCHMARK_FLAGS),
}


@pytest.mark.parametrize("entry", PARSERS)
def test_every_alias_of_an_owned_flag_is_owned(entry: str) -> None:
    make, owned = PARSERS[entry]
    options = _options(make())
    owned_dests = {options[f] for f in owned.flags if f in options}
    assert {options[f] for f in owned.flags} == owned_dests, "an owned flag SGLang lacks"
    aliases = {o for o, dest in options.items() if dest in owned_dests}
    assert aliases <= set(owned.flags)


@pytest.mark.parametrize("entry", PARSERS)
def test_abbreviations_are_refused_and_other_flags_are_not(entry: str) -> None:
    make, owned = PARSERS[entry]
    parser = make()
    options = _options(parser)
    for option in options:
        if not option.startswith("--"):
            continue
        refused = owned.refuses(option) or owned.refuses(option + "=1")
        assert refused == (option in owned.flags), option
    for flag in owned.flags:
        for end in range(3, len(flag) + 1):
            abbreviation = flag[:end]
            assert owned.refuses(abbreviation) and owned.refuses(abbreviation + "=x")
            # argparse itself: whatever it makes of the abbreviation is an owned flag or an
            # error, never a flag the user may set.
            matches = {options[o] for o in options if o.startswith(abbreviation)}
            if len(matches) == 1:
                assert matches <= {options[f] for f in owned.flags}


def test_owned_flag_regex_is_what_cel_runs() -> None:
    rules = {
        m: r
        for _, n in nodes(SPEC_SCHEMA, ".spec")
        for r in n.get("x-kubernetes-validations", [])
        for m in [r["message"]]
    }
    for owned in (SERVER_FLAGS, OFFLINE_FLAGS, BENCHMARK_FLAGS):
        assert rules[owned.message]["rule"] == owned.cel()


def test_an_arg_that_only_contains_an_owned_flag_is_not_refused() -> None:
    flags = OwnedFlags("f", ("--node-rank",), "owned")
    assert not flags.refuses("--log-level=--node-rank")
    assert not flags.refuses("node-rank")
    assert not flags.refuses("--node-rankx")


# ---- reserved mount paths --------------------------------------------------------------------


def test_reserved_mount_paths_are_the_operators_own_mounts() -> None:
    parsed = parse_spec(spec({"benchmark": {"enabled": True}}))
    own = {
        m["mountPath"]
        for m in benchmark.benchmark_job(parsed, "n", "ns", 1)["spec"]["template"]["spec"][
            "containers"
        ][0]["volumeMounts"]
    }
    sts = builders.statefulset(parsed, "n", "ns", 0)
    own |= {
        m["mountPath"] for m in sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
    }
    assert own <= set(RESERVED_MOUNT_PATHS)
