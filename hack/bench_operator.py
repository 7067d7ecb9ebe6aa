"""Benchmark: how long the operator takes to bring N deployments to Ready, and its memory.

    hack/cluster.sh up && .venv/bin/python hack/bench_operator.py --deployments 50 --nodes 2

Starts the operator (a real process), adds fake GPU nodes with room for the run, applies N
SGLangDeployments of `--nodes` pods each into a fresh namespace, and reports wall time until
every one is Ready, the operator's CPU time and peak RSS, then a group restart's latency.
kwok makes pods Ready at once, so this measures the operator and the control plane, not
SGLang. Results are printed as one JSON line; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def sh(*argv: str, stdin: str | None = None) -> str:
    return subprocess.run(argv, input=stdin, text=True, capture_output=True, check=True).stdout


def cluster_env() -> dict[str, str]:
    """KUBECONFIG and PATH as `eval "$(hack/cluster.sh env)"` sets them."""
    script = f'eval "$({REPO}/hack/cluster.sh env)" && printf "%s\\n%s" "$KUBECONFIG" "$PATH"'
    kubeconfig, path = sh("bash", "-c", script).splitlines()
    return {**os.environ, "KUBECONFIG": kubeconfig, "PATH": path}


def kubectl(env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        ["kubectl", *args], input=stdin, text=True, capture_output=True, check=True, env=env
    ).stdout


def proc_stats(pid: int) -> dict[str, float]:
    status = Path(f"/proc/{pid}/status").read_text()
    peak_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return {"peak_rss_mib": peak_kb / 1024, "cpu_s": (int(fields[11]) + int(fields[12])) / ticks}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deployments", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=2, help="pods per deployment")
    args = parser.parse_args()

    env = cluster_env()
    kubectl(env, "apply", "--server-side", "-f", str(REPO / "crds"))
    pods = args.deployments * args.nodes
    room = {"cpu": "1000", "memory": "4Ti", "pods": "250", "amd.com/gpu": "250"}
    fake_nodes = [
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": f"bench-{i}",
                "annotations": {"kwok.x-k8s.io/node": "fake"},
                "labels": {"type": "kwok", "bench": "true"},
            },
            "status": {"capacity": room, "allocatable": room},
        }
        for i in range(pods // 200 + 1)
    ]
    kubectl(env, "apply", "-f", "-", stdin=yaml.safe_dump_all(fake_nodes))
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    kubectl(env, "create", "namespace", namespace)

    log_path = Path(f"/tmp/{namespace}-operator.log")
    with log_path.open("w") as log:
        operator = subprocess.Popen(
            [sys.executable, "-m", "sglang_operator", "run", "--namespace", namespace],
            env={**env, "PYTHONPATH": str(REPO / "operator")},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        time.sleep(3)
        manifests = [
            {
                "apiVersion": "sglang-operator.io/v1alpha1",
                "kind": "SGLangDeployment",
                "metadata": {"name": f"m{i}", "namespace": namespace},
                "spec": {
                    "model": {"path": "Qwen/Qwen2.5-0.5B-Instruct"},
                    "gpu": {"vendor": "amd", "perNode": 1},
                    "parallelism": {"nodes": args.nodes},
                    "replicas": 1,
                    "nodeSelector": {"bench": "true"},
                },
            }
            for i in range(args.deployments)
        ]
        start = time.monotonic()
        kubectl(env, "apply", "-f", "-", stdin=yaml.safe_dump_all(manifests))
        kubectl(
            env,
            "wait",
            "-n",
            namespace,
            "--for=condition=Ready",
            "sgld",
            "--all",
            "--timeout=900s",
        )
        to_ready = time.monotonic() - start
        after_ready = proc_stats(operator.pid)

        start = time.monotonic()
        old: dict[str, Any] = json.loads(
            kubectl(env, "get", "pod", "-n", namespace, "m0-0-0", "-o", "json")
        )
        kubectl(env, "delete", "pod", "-n", namespace, "m0-0-1", "--wait=false")
        while True:
            # Rank 0 recreated (a new UID) means the operator restarted the whole group.
            found = kubectl(
                env, "get", "pod", "-n", namespace, "m0-0-0", "-o", "json", "--ignore-not-found"
            )
            if found and json.loads(found)["metadata"]["uid"] != old["metadata"]["uid"]:
                break
            time.sleep(0.1)
        restart = time.monotonic() - start
        print(
            json.dumps(
                {
                    "deployments": args.deployments,
                    "pods": pods,
                    "seconds_to_all_ready": round(to_ready, 1),
                    "operator_cpu_seconds": round(after_ready["cpu_s"], 1),
                    "operator_peak_rss_mib": round(after_ready["peak_rss_mib"], 1),
                    "group_restart_seconds": round(restart, 2),
                }
            )
        )
    finally:
        operator.terminate()
        operator.wait(timeout=30)
        kubectl(env, "delete", "namespace", namespace, "--wait=false")
        kubectl(env, "delete", "node", "-l", "bench=true", "--wait=false")
    return 0


if __name__ == "__main__":
    sys.exit(main())
