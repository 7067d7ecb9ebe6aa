"""Hostile specs through the real API server: whatever admission lets through, the operator
either refuses itself (InvalidSpec, before it writes anything) or renders into children the
API server accepts (a server-side dry run of every child). Nothing crashes: no 5xx from the
API server, no exception but a validation error from the operator's parse and render.

FUZZ_EXAMPLES (default 2000) sets how many specs; the counts are printed and, with
CHAOS_REPORT=path, written as JSON (docs/reliability.md quotes them).
"""

from __future__ import annotations

import json
import os
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from chaos_settings import CHAOS_SETTINGS
from hypothesis import given, settings
from pydantic import ValidationError

import dryrun
from sglang_operator.api import format_validation_error, parse_spec
from strategies import hostile_specs

# The chaos tier (under tests/e2e, so also e2e): `-m "not chaos"` leaves it out.
pytestmark = pytest.mark.chaos
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2000"))


def test_admission_lets_through_only_what_the_api_server_accepts_later(
    kube: Any, crd: None, namespace: str
) -> None:
    counts: Counter[str] = Counter()
    problems: list[str] = []
    started = time.monotonic()

    @settings(CHAOS_SETTINGS, max_examples=EXAMPLES)
    @given(hostile_specs())
    def one(spec: dict[str, Any]) -> None:
        counts["specs"] += 1
        status, message = dryrun.create_sgld(kube, namespace, "fuzzed", spec)
        assert status < 500, f"API server {message} for {spec!r}"
        admitted = status < 300
        try:
            parsed = parse_spec(spec)
        except ValidationError as error:
            counts["refused at admission" if not admitted else "refused by the operator"] += 1
            # The operator's message is what status shows: bounded, whatever the input.
            assert len(format_validation_error(error)) < 32768
            return
        if not admitted:
            # Admission is stricter than the operator here: harmless (nothing runs), but the
            # two should agree; counted and listed.
            counts["refused at admission, accepted by the operator"] += 1
            problems.append(f"admission only: {message[:300]} for {spec!r}")
            return
        counts["accepted"] += 1
        refused = dryrun.apply_children(kube, dryrun.children(parsed, "fuzzed", namespace))
        assert not refused, f"admitted, then refused: {refused} for {spec!r}"

    try:
        one()
    except AssertionError:
        raise
    except Exception:
        raise AssertionError("crash:\n" + traceback.format_exc()) from None
    figures = {
        **counts,
        "seconds": round(time.monotonic() - started),
    }
    print(json.dumps(figures, indent=2))
    print("\n".join(problems[:20]))
    if report := os.environ.get("CHAOS_REPORT"):
        Path(report).write_text(json.dumps(figures, indent=2) + "\n")
    assert counts["specs"] >= EXAMPLES
    assert counts["accepted"] and counts["refused at admission"]
    assert counts["refused at admission, accepted by the operator"] == 0, problems[:20]
