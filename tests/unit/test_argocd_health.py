"""The Argo CD health check, run over every case in its health_test.yaml.

Argo CD runs health.lua in gopher-lua (Lua 5.1) with only the base, table, package and a
reduced os library open. The tests run the same file in a real Lua 5.1 (lupa) with the
string, math, io, os and debug libraries taken away, so a script that would fail inside
Argo CD fails here too.
"""

from pathlib import Path
from typing import Any

import lupa.lua51 as lua
import pytest
import yaml

from sglang_operator.conditions import Reason

ROOT = Path(__file__).resolve().parents[2]
CHECK_DIR = ROOT / "argocd" / "resource_customizations" / "sglang-operator.io" / "SGLangDeployment"
HEALTH_LUA = (CHECK_DIR / "health.lua").read_text()
CASES: list[dict[str, Any]] = yaml.safe_load((CHECK_DIR / "health_test.yaml").read_text())["tests"]

# What Argo CD accepts as a health status (anything else becomes Unknown).
ARGOCD_STATUSES = {"Healthy", "Progressing", "Degraded", "Suspended", "Missing", "Unknown"}

# The diagnoses the operator reports on Degraded, each of which Argo CD must show as such.
DEGRADING_REASONS = {
    Reason.INVALID_SPEC,
    Reason.UNSCHEDULABLE,
    Reason.GROUP_RESTART_BUDGET_EXHAUSTED,
    Reason.OOM_KILLED,
    Reason.IMAGE_PULL_FAILED,
    Reason.CRASH_LOOP,
    Reason.STARTUP_TIMEOUT,
}
OPERATOR_REASONS = {v for k, v in vars(Reason).items() if k.isupper()}

SANDBOX = """
string, math, io, os, debug = nil, nil, nil, nil, nil
getmetatable("").__index = nil
"""


def _to_lua(runtime: Any, value: Any) -> Any:
    # Mirrors Argo CD's decodeValue: maps and lists become tables, lists 1-indexed.
    if isinstance(value, dict):
        return runtime.table_from({k: _to_lua(runtime, v) for k, v in value.items()})
    if isinstance(value, list):
        return runtime.table_from([_to_lua(runtime, v) for v in value])
    return value


def run_health(obj: dict[str, Any]) -> dict[str, Any]:
    runtime = lua.LuaRuntime()
    runtime.execute(SANDBOX)
    runtime.globals().obj = _to_lua(runtime, obj)
    result = runtime.execute(HEALTH_LUA)
    return dict(result.items())


def load_case(case: dict[str, Any]) -> dict[str, Any]:
    obj: dict[str, Any] = yaml.safe_load((CHECK_DIR / case["inputPath"]).read_text())
    return obj


@pytest.mark.parametrize("case", CASES, ids=[c["inputPath"] for c in CASES])
def test_health_matches_expected(case: dict[str, Any]) -> None:
    assert run_health(load_case(case)) == case["healthStatus"]


def test_sandbox_really_hides_the_string_library() -> None:
    # Guards the guard: a script using string functions must fail under this harness.
    runtime = lua.LuaRuntime()
    runtime.execute(SANDBOX)
    with pytest.raises(lua.LuaError):
        runtime.execute('return ("x"):upper()')
    with pytest.raises(lua.LuaError):
        runtime.execute("return string.format('%d', 1)")


def test_every_testdata_file_is_a_case() -> None:
    listed = {c["inputPath"] for c in CASES}
    on_disk = {f"testdata/{p.name}" for p in (CHECK_DIR / "testdata").glob("*.yaml")}
    assert listed == on_disk


def test_cases_cover_every_status_argocd_can_act_on() -> None:
    statuses = {c["healthStatus"]["status"] for c in CASES}
    assert statuses == {"Healthy", "Progressing", "Degraded", "Suspended"}
    assert statuses <= ARGOCD_STATUSES


def test_each_degrading_reason_has_a_degraded_case() -> None:
    covered = set()
    for case in CASES:
        if case["healthStatus"]["status"] != "Degraded":
            continue
        for cond in load_case(case).get("status", {}).get("conditions", []):
            if cond["type"] == "Degraded" and cond["status"] == "True":
                covered.add(cond["reason"])
    assert covered >= DEGRADING_REASONS


def test_testdata_uses_only_reasons_the_operator_sets() -> None:
    for case in CASES:
        for cond in load_case(case).get("status", {}).get("conditions", []):
            assert cond["reason"] in OPERATOR_REASONS, (case["inputPath"], cond["reason"])


def test_failed_benchmark_leaves_serving_healthy() -> None:
    obj = load_case({"inputPath": "testdata/healthy_benchmarkFailed.yaml"})
    conditions = {c["type"]: c for c in obj["status"]["conditions"]}
    assert conditions["Benchmark"]["reason"] == Reason.BENCHMARK_FAILED
    assert run_health(obj)["status"] == "Healthy"
    # The same object with a serving problem is Degraded: the benchmark is what is ignored.
    conditions["Degraded"].update(status="True", reason=Reason.OOM_KILLED, message="OOMKilled")
    assert run_health(obj) == {"status": "Degraded", "message": "OOMKilled"}


def test_stale_status_is_progressing_whatever_it_says() -> None:
    # A Degraded status from an older generation must not block a sync that fixes it.
    obj = load_case({"inputPath": "testdata/degraded_oomKilled.yaml"})
    obj["metadata"]["generation"] = obj["status"]["observedGeneration"] + 1
    assert run_health(obj)["status"] == "Progressing"


def test_numbers_as_floats_behave_like_integers() -> None:
    # gopher-lua holds every number as float64; the comparisons must not care.
    obj = load_case({"inputPath": "testdata/healthy_ready.yaml"})
    obj["metadata"]["generation"] = 2.0
    obj["spec"]["replicas"] = 1.0
    obj["status"]["observedGeneration"] = 2.0
    obj["status"]["readyReplicas"] = 1.0
    assert run_health(obj)["status"] == "Healthy"
    obj["status"]["observedGeneration"] = 1.0
    assert run_health(obj)["status"] == "Progressing"
