"""Admission: what the API server would refuse once the operator writes it is refused by the
operator's own parse (and, where the CRD can say it, by the CRD's CEL, evaluated here with
cel-python; tests/e2e/test_crd_admission.py runs the same cases through a real API server)."""

from __future__ import annotations

import argparse
import functools
import unittest.mock
import warnings
from typing import Any, NoReturn

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
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


class _AmbiguousError(Exception):
    pass


def _ambiguous(message: str) -> NoReturn:
    raise _AmbiguousError(message)


@functools.cache
def _parser(entry: str) -> argparse.ArgumentParser:
    """The entry point's real parser, telling an ambiguous abbreviation by an exception."""
    parser = PARSERS[entry][0]()
    parser.error = _ambiguous  # type: ignore[method-assign]
    return parser


def _maps_to(parser: argparse.ArgumentParser, arg: str) -> str | None:
    """What SGLang's real parser (from `_parser`) makes of `arg` as it meets it on a command
    line: the dest of the flag it stands for (exact, `=` form, unique abbreviation, or a short
    option with its value attached), "" for no flag (a value, or an option the parser does not
    know: it refuses it at start), "ambiguous" for an abbreviation it refuses as one."""
    try:
        found = parser._parse_optional(arg)
    except _AmbiguousError:
        return "ambiguous"
    if found is None or found[0] is None:
        return ""
    dest: str = found[0].dest
    return dest


def _spellings(options: list[str]) -> st.SearchStrategy[str]:
    """Ways to write a flag: a prefix of a real option, with one dash or two, with or without
    `=value`, and free text over a flag's alphabet."""
    cut = st.builds(
        lambda option, end, dashes, value: "-" * dashes + option.lstrip("-")[:end] + value,
        st.sampled_from(options),
        st.integers(1, 40),
        st.sampled_from([1, 2]),
        st.sampled_from(["", "=", "=4", "=--port"]),
    )
    return st.one_of(cut, st.text(alphabet="-=_ptnodes4", min_size=1, max_size=12))


@pytest.mark.parametrize("entry", PARSERS)
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_generated_spellings_are_refused_exactly_when_the_parser_takes_them_for_an_owned_flag(
    entry: str, data: st.DataObject
) -> None:
    parser, owned = _parser(entry), PARSERS[entry][1]
    options = _options(parser)
    owned_dests = {options[f] for f in owned.flags}
    arg = data.draw(_spellings(sorted(options)))
    meaning = _maps_to(parser, arg)
    if meaning in owned_dests:
        assert owned.refuses(arg), arg
    elif meaning not in ("", "ambiguous"):
        assert not owned.refuses(arg), (arg, meaning)
    elif owned.refuses(arg):
        # Refused although it sets no owned flag: only an abbreviation of one that the parser
        # refuses anyway (ambiguous today, or unknown), never a value or another flag.
        name = arg.split("=", 1)[0]
        assert name.startswith("--") and any(f.startswith(name) for f in owned.flags), arg


@pytest.mark.parametrize("entry", PARSERS)
def test_no_single_dash_spelling_reaches_an_owned_flag(entry: str) -> None:
    # SGLang's parsers have no short option but -h, and argparse matches a single-dash
    # argument only against single-dash options: `-tp 4` is no --tp-size (SGLang refuses it at
    # start as an unrecognized argument), so the owned-flag check lets it be.
    parser, owned = _parser(entry), PARSERS[entry][1]
    assert [o for o in _options(parser) if not o.startswith("--")] == ["-h"]
    for arg in ("-tp", "-tp=4", "-tp-size", "-port", "-nnodes", "-p", "-n", "-model"):
        assert _maps_to(parser, arg) == "", arg
        assert not owned.refuses(arg), arg


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


def test_the_template_containers_resources_are_compared_as_the_api_server_compares_them() -> None:
    # ValidateResourceRequirements on every container of the template, each problem named by
    # its container's index (operator-time: CEL cannot compare quantities).
    message = refusal(
        {
            "model": {"path": "org/model"},
            "shmSize": "256Mi",
            "podTemplate": {
                "spec": {
                    "initContainers": [
                        {"name": "init", "image": "x", "resources": {"requests": {"cpu": "-1"}}}
                    ],
                    "containers": [
                        {"name": "side", "image": "x"},
                        {
                            "name": "sglang",
                            "resources": {
                                "requests": {"memory": "2Gi", "example.com/fpga": 1},
                                "limits": {"memory": "1Gi"},
                            },
                        },
                    ],
                }
            },
        }
    )
    assert message.split("; ") == [
        "spec.podTemplate.spec.containers[1].resources.requests.example.com/fpga: needs an equal "
        "limit (hugepages and extended resources cannot be overcommitted)",
        "spec.podTemplate.spec.containers[1].resources.requests.memory: must be less than or "
        "equal to its limit (1Gi)",
        "spec.podTemplate.spec.initContainers[0].resources.requests.cpu: must be greater than "
        "or equal to 0",
    ]
