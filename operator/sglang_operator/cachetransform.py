"""What the operator's watch caches keep of an object: controller-runtime's cache transform
(`cache.Options.DefaultTransform`, a `toolscache.TransformFunc` run on each object before it
is stored), for kopf's indexes.

The caches hold every pod, Service, StatefulSet, ControllerRevision and SGLangDeployment of
the operator at once (2 pods, 2 Services, a StatefulSet and a ControllerRevision per
single-group deployment at rest), so what one cached object costs decides the operator's
memory at 1,000 deployments (docs/performance.md). Three cuts, none of which drops a field a
decision reads (a ControllerRevision is kept whole but for cut 1: its `data` is the recorded
spec a group is built again from):

1. `metadata.managedFields` goes, from every kind: no decision reads it, and it was half of a
   cached object (controller-runtime's `cache.TransformStripManagedFields`).
2. A pod keeps, of its spec, only the fields in `POD_SPEC_FIELDS` and, of each container, those
   in `CONTAINER_FIELDS` and the env entry of its group's size (naming.GROUP_SIZE_ENV: the
   size of a group whose StatefulSet is gone): the rest is its StatefulSet's template, which
   the cache holds already (and which is what rollout and drift decisions compare with). Its
   metadata and status stay whole. A decision that reads another field of a pod's spec adds
   it here; the unit test `test_cachetransform` plans from full and from transformed objects
   and compares.
3. Every mapping key and every string value up to `MAX_INTERNED` characters is interned: the
   JSON decoder makes new strings for each watch event, so 1,000 copies of
   "imagePullPolicy", of a pod-spec hash or of an image name become one. Nothing is lost
   (Python's strings are immutable), and an interned string is freed with its last user.

Each transform returns new dicts and lists (the event's body is not modified, and the cache
shares nothing mutable with it).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

from sglang_operator import naming

Obj = dict[str, Any]

# What a decision reads of a cached pod's spec: its node (unreachable nodes, Node events), its
# scheduler and scheduling gates (a pod no scheduler answers, groups._unscheduled_problem), its
# SGLang container's startup probe (groups.startup_window) and group size (plan._pods_size).
POD_SPEC_FIELDS = ("nodeName", "schedulerName", "schedulingGates", "containers")
CONTAINER_FIELDS = ("name", "startupProbe")
# Longer strings (a container's script, a JSON annotation) are rare and seldom repeated.
MAX_INTERNED = 256


def transform(body: Mapping[str, Any], api_version: str, kind: str) -> Obj:
    """A cache entry for `body`, an object as a watch or list returned it: with `apiVersion`
    and `kind` (list items lack them), and cut as the module says."""
    meta = {k: v for k, v in (body.get("metadata") or {}).items() if k != "managedFields"}
    obj: Obj = {**body, "metadata": meta, "apiVersion": api_version, "kind": kind}
    if kind == "Pod":
        obj["spec"] = _pod_spec(obj.get("spec") or {})
    entry: Obj = interned(obj)
    return entry


def cached(body: Mapping[str, Any]) -> Obj:
    """`transform` of an object that carries its `apiVersion` and `kind` (an API server's
    answer to a write)."""
    return transform(body, str(body["apiVersion"]), str(body["kind"]))


def _pod_spec(spec: Mapping[str, Any]) -> Obj:
    kept = {k: spec[k] for k in POD_SPEC_FIELDS if k in spec}
    if "containers" in kept:
        kept["containers"] = [_container(c) for c in kept["containers"] or []]
    return kept


def _container(container: Mapping[str, Any]) -> Obj:
    kept = {k: container[k] for k in CONTAINER_FIELDS if k in container}
    size = [e for e in container.get("env") or [] if e.get("name") == naming.GROUP_SIZE_ENV]
    if size:
        kept["env"] = size
    return kept


def interned(value: Any) -> Any:
    """A copy of `value` (JSON-like: mappings, lists, scalars) with every mapping key and
    every string up to `MAX_INTERNED` characters interned: the same string objects as every
    cache entry holds."""
    if isinstance(value, str):
        return sys.intern(value) if len(value) <= MAX_INTERNED else value
    if isinstance(value, Mapping):
        return {sys.intern(str(k)): interned(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interned(v) for v in value]
    return value
