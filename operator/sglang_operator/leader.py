"""Leader election on a coordination.k8s.io/v1 Lease, so that of several operator processes
(two replicas, or an upgrade's old and new pod) exactly one reconciles, writes status and
posts events.

The election itself is the kubernetes client's `kubernetes.leaderelection` with its
`LeaseLock` (client-go's algorithm: a candidate takes the Lease when it is free or its holder
has not renewed it for `lease_duration`; the leader renews every `retry_period` and gives up
when a renewal has not succeeded for `renew_deadline`). kopf's own peering is not used: it
needs cluster-wide peering CRDs and pauses rather than elects.

What this module adds around it:

- a standby serves the liveness endpoint itself (200 while it waits), so a kubelet never
  kills the replica that waits to take over; the endpoint is handed to kopf on election;
- a leader that loses the Lease, or cannot renew it within `renew_deadline` (a renewal
  request that hangs included, which the library does not time out), exits at once, as
  controller-runtime does: another replica may already lead;
- on a clean shutdown the Lease is released (holder cleared, as client-go's
  ReleaseOnCancel does), so a standby takes over within one `retry_period` instead of waiting
  for the Lease to expire.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.leaderelection import electionconfig, leaderelection
from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

from sglang_operator import metrics

log = logging.getLogger(__name__)
# The library logs every attempt of a standby at INFO ("yet to finish lease_duration"); this
# module logs the transitions itself.
logging.getLogger("leaderelection").setLevel(logging.WARNING)

DEFAULT_LEASE_NAME = "sglang-operator"
# client-go's defaults (kube-controller-manager's --leader-elect-* flags).
DEFAULT_LEASE_DURATION = 15
DEFAULT_RENEW_DEADLINE = 10
DEFAULT_RETRY_PERIOD = 2
_SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def own_namespace() -> str | None:
    """The namespace the operator runs in: $POD_NAMESPACE, else the pod's service account's."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        with open(_SERVICE_ACCOUNT_NAMESPACE, encoding="utf-8") as file:
            return file.read().strip() or None
    except OSError:
        return None


def default_identity() -> str:
    """client-go's choice: the host (the pod's name in a cluster) and a unique suffix."""
    return f"{os.environ.get('POD_NAME') or socket.gethostname()}_{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class ElectionSettings:
    """Where the Lease lives and the timing, in whole seconds (what the Lease stores)."""

    namespace: str
    name: str = DEFAULT_LEASE_NAME
    identity: str = field(default_factory=default_identity)
    lease_duration: int = DEFAULT_LEASE_DURATION
    renew_deadline: int = DEFAULT_RENEW_DEADLINE
    retry_period: int = DEFAULT_RETRY_PERIOD

    def check(self) -> None:
        """Raises ValueError unless lease_duration > renew_deadline > 1.2 * retry_period >= 1.2
        (the library's own rule, which would otherwise end the process with sys.exit)."""
        if not self.lease_duration > self.renew_deadline > 1.2 * self.retry_period >= 1.2:
            raise ValueError(
                "leader election needs lease duration > renew deadline > 1.2 x retry period, "
                f"retry period >= 1 s; got {self.lease_duration}, {self.renew_deadline}, "
                f"{self.retry_period}"
            )


class _ReleasableLeaseLock(LeaseLock):
    """The client's LeaseLock, with a release that also stops every later write, so the
    library's renew loop (which cannot be stopped from outside) never takes the Lease back."""

    def __init__(self, settings: ElectionSettings) -> None:
        super().__init__(settings.name, settings.namespace, settings.identity)  # type: ignore[no-untyped-call]
        self._writes = threading.Lock()
        self.released = False

    def create(self, name: str, namespace: str, election_record: Any) -> bool:
        with self._writes:
            if self.released:
                return False
            return bool(super().create(name, namespace, election_record))  # type: ignore[no-untyped-call]

    def update(self, name: str, namespace: str, updated_record: Any) -> bool:
        with self._writes:
            if self.released:
                return False
            return bool(super().update(name, namespace, updated_record))  # type: ignore[no-untyped-call]

    def release(self) -> None:
        """Clears the holder if it is still us (an optimistic, resourceVersion-checked write)."""
        with self._writes:
            self.released = True
            api = client.CoordinationV1Api()
            try:
                lease = api.read_namespaced_lease(self.name, self.namespace)
                if lease.spec is None or lease.spec.holder_identity != self.identity:
                    return
                now = datetime.now(UTC)
                lease.spec.holder_identity = None
                lease.spec.lease_duration_seconds = 1
                lease.spec.acquire_time = now
                lease.spec.renew_time = now
                api.replace_namespaced_lease(self.name, self.namespace, lease)
                log.info("released the lease %s/%s", self.namespace, self.name)
            except ApiException as exc:
                # Expiry hands over anyway, only later.
                log.warning("could not release the lease: %s %s", exc.status, exc.reason)


class _Liveness(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"standby": true}')

    def log_message(self, format: str, *args: Any) -> None:
        """Probes every few seconds are not worth a log line."""


class LeaderElector:
    """One candidate: `wait_until_leading`, then run the controller, then `release`."""

    def __init__(self, settings: ElectionSettings) -> None:
        settings.check()
        self.settings = settings
        self._lock = _ReleasableLeaseLock(settings)
        self._leading = threading.Event()
        config = electionconfig.Config(  # type: ignore[no-untyped-call]
            self._lock,
            settings.lease_duration,
            settings.renew_deadline,
            settings.retry_period,
            self._leading.set,
            self._stopped_leading,
        )
        self._election = leaderelection.LeaderElection(config)  # type: ignore[no-untyped-call]

    def _stopped_leading(self) -> None:
        if not self._lock.released:
            self._exit("lost the lease")

    def _exit(self, why: str) -> None:
        log.critical(
            "%s %s/%s: exiting so that only the new leader acts",
            why,
            self.settings.namespace,
            self.settings.name,
        )
        logging.shutdown()
        os._exit(1)

    def _watchdog(self) -> None:
        """Exits when the last successful renewal is older than the renew deadline, which the
        library notices only between requests (a renewal that hangs would keep us leading)."""
        deadline_ms = self.settings.renew_deadline * 1000
        while not self._lock.released:
            renewed = self._election.observed_time_milliseconds
            if time.time() * 1000 - renewed > deadline_ms and not self._lock.released:
                self._exit("could not renew the lease within the renew deadline")
            time.sleep(self.settings.retry_period / 2)

    def wait_until_leading(self, liveness_endpoint: str | None = None) -> None:
        """Blocks until this candidate holds the Lease, answering liveness probes meanwhile."""
        log.info(
            "waiting to lead on lease %s/%s as %s",
            self.settings.namespace,
            self.settings.name,
            self.settings.identity,
        )
        metrics.set_leader(self.settings.name, False)
        server = _serve_liveness(liveness_endpoint) if liveness_endpoint else None
        threading.Thread(target=self._election.run, name="leader-election", daemon=True).start()
        try:
            self._leading.wait()
        finally:
            if server:
                server.shutdown()
                server.server_close()
        metrics.set_leader(self.settings.name, True)
        threading.Thread(target=self._watchdog, name="leader-watchdog", daemon=True).start()
        log.info("leading on lease %s/%s", self.settings.namespace, self.settings.name)

    def release(self) -> None:
        """Hands the Lease over at once (on a clean shutdown, after the controller stopped)."""
        self._lock.release()


def _serve_liveness(endpoint: str) -> ThreadingHTTPServer:
    url = urlsplit(endpoint)
    server = ThreadingHTTPServer((url.hostname or "0.0.0.0", url.port or 80), _Liveness)
    threading.Thread(target=server.serve_forever, name="standby-liveness", daemon=True).start()
    return server
