"""The one module that talks to the Kubernetes API.

Objects travel as plain dicts (what the builders produce and what the API returns), so the
reconcile logic never depends on the client's generated models. Children are written with
server-side apply under one field manager, which makes every write idempotent and lets the
API server, not the operator, work out what changed.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from sglang_operator import API_GROUP, API_VERSION, PLURAL, metrics
from sglang_operator.conditions import now_rfc3339

FIELD_MANAGER = "sglang-operator"
REQUEST_TIMEOUT_SECONDS = 30
# A resourceVersion no stored object has: the API server parses it as an unsigned 64-bit
# number, and etcd's revisions, which it is made of, are signed 64-bit (`Kube.apply_new`).
NEVER_STORED = str(2**64 - 1)

log = logging.getLogger(__name__)

SGLD_API_VERSION = f"{API_GROUP}/{API_VERSION}"

# Kinds the operator reads or writes, with the API version and REST plural they are served
# at. Only these: an unknown kind in a builder's output is a programming error that should
# fail loudly, not guess a plural. The kind alone decides the path, so a caller that names
# the wrong version of a kind still reaches it.
_RESOURCES = {
    "ConfigMap": ("v1", "configmaps"),
    "ControllerRevision": ("apps/v1", "controllerrevisions"),
    "Event": ("v1", "events"),
    "Job": ("batch/v1", "jobs"),
    "PersistentVolumeClaim": ("v1", "persistentvolumeclaims"),
    "Pod": ("v1", "pods"),
    "Service": ("v1", "services"),
    "StatefulSet": ("apps/v1", "statefulsets"),
    "SGLangDeployment": (SGLD_API_VERSION, PLURAL),
}


@dataclass(frozen=True)
class Ref:
    """Enough to address one namespaced object (the kind decides the path: `_RESOURCES`)."""

    kind: str
    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Ref:
        meta = obj["metadata"]
        return cls(obj["kind"], meta["namespace"], meta["name"])


def _collection_path(kind: str, namespace: str) -> str:
    api_version, plural = _RESOURCES[kind]
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    return f"{prefix}/namespaces/{namespace}/{plural}"


def _uid_differs(exc: ApiException) -> bool:
    """Whether the API server refused a write for a uid other than the stored object's (a
    uid is immutable: 422 with a cause on `metadata.uid`)."""
    if exc.status != 422:
        return False
    try:
        causes = json.loads(exc.body or "").get("details", {}).get("causes") or []
    except (TypeError, ValueError, AttributeError):
        return False
    return any(isinstance(c, dict) and c.get("field") == "metadata.uid" for c in causes)


def load_client_config() -> client.ApiClient:
    """In-cluster credentials when running in a pod, the kubeconfig otherwise."""
    try:
        config.load_incluster_config()  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config()  # type: ignore[no-untyped-call]
    return client.ApiClient()


# What YAML 1.1 may not carry raw: go-yaml, which decodes apply patches, refuses control
# characters (and U+FFFE/U+FFFF), and folds a raw U+0085 into a space. Found by the chaos
# tier's fuzzer against the real API server.
_NOT_YAML_PRINTABLE = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def yaml_safe_json(body: Any) -> bytes:
    """`body` as UTF-8 JSON that the API server's YAML decoder reads back unchanged.

    Text outside the BMP travels raw (the decoder refuses the surrogate-pair escapes that
    `json.dumps` writes by default, e.g. for an emoji); every character YAML cannot carry
    raw (C0/C1 controls, DEL, U+FFFE, U+FFFF; all in the BMP) travels as a \\u escape.
    """
    text = json.dumps(body, ensure_ascii=False)
    return _NOT_YAML_PRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode("utf-8")


class Kube:
    """Thin, synchronous access to the API (an event excepted: posted in the background);
    every method maps to one request. Reads come from the controller's watch caches, so
    these are writes, plus a finished run's log and the owner of a taken name."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        # Events are posted off the pass's path (`event`), one at a time so in order.
        self._events = ThreadPoolExecutor(max_workers=1, thread_name_prefix="events")

    def _request(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        """A request whose answer is JSON (every call but a log read)."""
        data: dict[str, Any] = json.loads(self._raw(method, path, **options) or "{}")
        return data

    def _raw(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> str:
        _, url, headers, body, _ = self._api.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        host = urlsplit(url).netloc
        try:
            resp = self._api.call_api(
                method,
                url,
                header_params=headers,
                body=body,
                _request_timeout=REQUEST_TIMEOUT_SECONDS,
            )
            resp.read()  # type: ignore[no-untyped-call]
        except Exception:
            # No answer (connection refused, timeout, TLS): client-go counts it as `<error>`.
            metrics.record_request(method, host, None)
            raise
        metrics.record_request(method, host, resp.status)
        # One line per request at DEBUG (`--log-level debug`): what a pass costs the API server.
        log.debug("api request %s %s %s", method, path, resp.status)
        if resp.status >= 400:
            raise ApiException(http_resp=resp)
        return resp.data.decode("utf-8", errors="replace") if resp.data else ""

    def get(self, ref: Ref) -> dict[str, Any] | None:
        """One object as stored, or None (404)."""
        try:
            return self._request("GET", f"{_collection_path(ref.kind, ref.namespace)}/{ref.name}")
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def apply(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply; `force` because this operator is the sole owner of its children.

        Returns the object as the API server stored it. The body is `yaml_safe_json(obj)`:
        the apply endpoint decodes it as YAML.
        """
        ref = Ref.of(obj)
        return self._request(
            "PATCH",
            f"{_collection_path(ref.kind, ref.namespace)}/{ref.name}",
            query={"fieldManager": FIELD_MANAGER, "force": "true"},
            body=yaml_safe_json(obj),
            content_type="application/apply-patch+yaml",
        )

    def apply_new(self, obj: Mapping[str, Any]) -> dict[str, Any] | None:
        """Creates `obj` by server-side apply, or None when its name is taken: the object
        the caches do not hold may be someone else's, which a forced apply would take over.

        One request instead of a `get` then an apply: the apply carries a resourceVersion no
        stored object can have (`NEVER_STORED`), a precondition the API server checks
        against a stored object (409 Conflict, nothing written) and drops on a create. Still
        an apply, so the object has one field manager, `Apply` (a POST would add an `Update`
        one, whose fields a later apply that stops setting them would never remove).
        """
        meta = {**obj["metadata"], "resourceVersion": NEVER_STORED}
        try:
            return self.apply({**obj, "metadata": meta})
        except ApiException as exc:
            if exc.status == 409:
                return None
            raise

    def apply_same(self, obj: Mapping[str, Any], uid: str) -> dict[str, Any] | None:
        """Server-side apply of an object the operator stored as `uid` (its own write's
        answer) that the caches do not show yet, or None when no object of that uid is
        stored under that name now (deleted, or the name another object's, possibly someone
        else's), and nothing was written. One request where `apply_new` would meet that very
        object (409), read it and apply again.

        The body carries `uid`, which the API server checks: no object of that name, 409
        Conflict ("uid mismatch", not created); another object, 422 Invalid naming
        `metadata.uid` (immutable; not written), whatever else it says of the merged object.
        """
        try:
            return self.apply({**obj, "metadata": {**obj["metadata"], "uid": uid}})
        except ApiException as exc:
            if exc.status == 409 or _uid_differs(exc):
                return None
            raise

    def dry_run_create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """Asks the API server to create `obj` in a server-side dry run (dryRun=All):
        validation and every admission step run (Pod Security, Priority, ResourceQuota,
        LimitRanger, webhooks and policies), nothing is stored. Returns the object as it would
        be stored; raises ApiException with the refusal."""
        meta = obj["metadata"]
        return self._request(
            "POST",
            _collection_path(obj["kind"], meta["namespace"]),
            query={"dryRun": "All"},
            body=dict(obj),
        )

    def delete(
        self,
        ref: Ref,
        *,
        uid: str | None = None,
        background: bool = False,
        grace_seconds: int | None = None,
    ) -> bool:
        """Deletes an object; with `uid`, only that incarnation of it; `grace_seconds` 0
        removes a pod without waiting for its kubelet. False if already gone (404) or
        another incarnation (409): a benign race, no error."""
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "DeleteOptions",
            "propagationPolicy": "Background" if background else "Foreground",
        }
        if uid:
            body["preconditions"] = {"uid": uid}
        if grace_seconds is not None:
            body["gracePeriodSeconds"] = grace_seconds
        try:
            self._request(
                "DELETE",
                f"{_collection_path(ref.kind, ref.namespace)}/{ref.name}",
                body=body,
            )
        except ApiException as exc:
            if exc.status in (404, 409):
                return False
            raise
        return True

    def patch_metadata(
        self,
        ref: Ref,
        uid: str,
        *,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """Merge-patches `labels` and `annotations` onto the object `ref` if it is still the
        incarnation `uid` (the patch carries it: another object of that name answers 422,
        immutable uid); the object as stored, or None when gone (404) or another
        incarnation."""
        meta: dict[str, Any] = {"uid": uid}
        if labels:
            meta["labels"] = dict(labels)
        if annotations:
            meta["annotations"] = dict(annotations)
        try:
            return self._request(
                "PATCH",
                f"{_collection_path(ref.kind, ref.namespace)}/{ref.name}",
                body={"metadata": meta},
                content_type="application/merge-patch+json",
            )
        except ApiException as exc:
            if exc.status in (404, 409) or _uid_differs(exc):
                return None
            raise

    def pod_log(self, namespace: str, name: str, container: str) -> str | None:
        """A container's log, or None when the node cannot serve it (pod gone, node down, no
        kubelet). Missing permission is raised, not hidden: results would vanish silently."""
        path = f"{_collection_path('Pod', namespace)}/{name}/log"
        try:
            return self._raw("GET", path, query={"container": container, "tailBytes": "4194304"})
        except ApiException as exc:
            if exc.status in (401, 403):
                raise
            return None

    def patch_status(self, namespace: str, name: str, status: Mapping[str, Any]) -> dict[str, Any]:
        """Merge-patches the SGLangDeployment's status subresource; returns the stored object."""
        path = f"{_collection_path('SGLangDeployment', namespace)}/{name}/status"
        return self._request(
            "PATCH",
            path,
            body={"status": dict(status)},
            content_type="application/merge-patch+json",
        )

    def event(self, owner: Mapping[str, Any], event_type: str, reason: str, message: str) -> None:
        """Records a core/v1 Event on the SGLangDeployment, posted in the background: no
        decision waits for it (it cost a pass 5 to 25 ms at N = 1, docs/performance.md), and
        it never fails the reconcile. Events still pending when the process ends are lost,
        as an event the API server refused always was."""
        meta = owner["metadata"]
        now = now_rfc3339()
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
            "involvedObject": {
                "apiVersion": owner["apiVersion"],
                "kind": owner["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta["uid"],
                "resourceVersion": meta.get("resourceVersion", ""),
            },
            "type": event_type,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": FIELD_MANAGER},
            "reportingComponent": FIELD_MANAGER,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        self._events.submit(self._post_event, meta["namespace"], body)

    def _post_event(self, namespace: str, body: Mapping[str, Any]) -> None:
        try:
            self._request("POST", _collection_path("Event", namespace), body=dict(body))
        except Exception as exc:
            # No one waits for this answer: said here, or lost in a discarded future.
            log.debug("event not posted: %s", exc)
