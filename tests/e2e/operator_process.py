"""The operator as a user runs it: `python -m sglang_operator run`, a real process, so tests
can kill it mid-way and start it again."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import IO

from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class OperatorProcess:
    def __init__(
        self,
        kubeconfig: Path,
        log_path: Path,
        namespaces: tuple[str, ...] = (),
        *,
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_path
        # Empty: all namespaces; else `--namespace` for each, as the chart runs it.
        self.scope = [a for ns in namespaces for a in ("--namespace", ns)] or ["--all-namespaces"]
        self.extra_args = list(extra_args)
        self.extra_env = dict(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.metrics_port = 0

    def start(self, timeout: float = 60) -> None:
        port = _free_port()
        self.metrics_port = _free_port()
        self._log = self.log_path.open("ab")
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig), **self.extra_env}
        env["PYTHONPATH"] = str(REPO / "operator")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sglang_operator",
                "run",
                *self.scope,
                "--liveness",
                f"http://127.0.0.1:{port}/healthz",
                "--metrics-bind-address",
                f"127.0.0.1:{self.metrics_port}",
                *self.extra_args,
            ],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"operator exited early; see {self.log_path}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise AssertionError(f"operator not live after {timeout}s; see {self.log_path}")

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        """Every sample of the operator's /metrics, keyed by (name, labels)."""
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as resp:
            text = resp.read().decode()
        return {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def kill(self) -> None:
        """SIGKILL: no cleanup, as when a node dies under the operator."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
        self.proc = None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
        self.proc = None
        if self._log:
            self._log.close()
            self._log = None

    def tail(self, lines: int = 80) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
