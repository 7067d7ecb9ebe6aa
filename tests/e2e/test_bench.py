"""The benchmark suite still runs end to end: hack/bench_operator.py at N=2 with every system
(the operator, LeaderWorkerSet and the no-controller floor) on a cluster of its own with an
audit log. Timings are never asserted; what is fixed by construction is: the floor's requests
per create are the children it writes, each one request."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "hack"))

import bench_operator  # noqa: E402


@pytest.mark.timeout(1800)
def test_benchmark_reports_every_column_for_every_system(tmp_path: Path) -> None:
    base = os.environ.get("SGLANG_OPERATOR_CLUSTER", "sglang-operator")
    env = {**os.environ, "SGLANG_OPERATOR_CLUSTER": f"{base}-pytest-{os.getpid()}"}
    report_path = tmp_path / "bench.json"
    command = [
        sys.executable,
        str(REPO / "hack" / "bench_operator.py"),
        *("--sizes", "2", "--rest-seconds", "10", "--settle-seconds", "2", "--timeout", "300"),
        *("--json", str(report_path)),
    ]
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr[-4000:]

    report = json.loads(report_path.read_text())
    rows = {row["system"]: row for row in report["rows"]}
    assert set(rows) == {"ours", "lws", "floor"}
    for system, row in rows.items():
        for key, _ in bench_operator.COLUMNS:
            assert key in row, (system, key)
    # The operator and the floor converge in every phase. LWS is not held to it: v0.9.0 at
    # times misses a worker pod deleted and recreated before it looked, and never restarts
    # that group (the report then says e.g. "1/2 converged").
    for system in ("ours", "floor"):
        for phase in bench_operator.PHASES:
            assert rows[system][f"{phase}_convergence_s"] is not None, (system, phase)
    children = bench_operator.Context(None, {}, tmp_path, nodes=2).children("m0", "ns", "1")
    assert rows["floor"]["requests_per_create"] == len(children)
    assert rows["ours"]["requests_per_create"] > 0
    assert rows["lws"]["requests_per_create"] > 0
    assert rows["ours"]["peak_rss_mib"] > 0
    header = "| " + " | ".join(h for _, h in bench_operator.COLUMNS) + " |"
    assert header in result.stdout
    assert {"machine", "versions", "command"} <= set(report)
