"""Deletions that happened while a watch was broken, delivered as DELETED events.

kopf (1.45) lists a resource again whenever its watch breaks (410 Gone after an API server
restart or an etcd compaction, a connection error): the listing replays every object that
exists as an event of type None, then the watch resumes. An object deleted during the gap is
simply absent from that listing, and kopf sends no DELETED for it: its indexes (the
operator's caches) keep it forever, the queue keeps a deleted resource's memory, and with no
periodic pass nothing ever corrects the status (a pod replaced in the gap stays as a second
pod of its ordinal; a deployment deleted in the gap keeps being reconciled). client-go's
informers handle the same moment by comparing the new listing with their store and
delivering a deletion for each object missing from it (`DeletedFinalStateUnknown`).

`install()` does that for every kopf watch-stream: it remembers the identity of each object a
stream delivered, and when a listing ends (kopf's `Bookmark.LISTED`, after the listing's
events) it yields a DELETED event for each remembered object the listing did not contain,
before the watch resumes. kopf then handles it as any deletion: the object leaves every
index and the `on.event` handlers run (they enqueue the owner, or forget a deleted
deployment). It sends no request: the listing it compares with is the one kopf made anyway.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from kopf._cogs.clients import watching

from sglang_operator.cachetransform import interned

log = logging.getLogger(__name__)

Stream = Callable[..., AsyncIterator[Any]]
# Set on the wrapper, so installing twice wraps once.
_MARK = "_sglang_operator_relisting"


_IDENTITY = ("name", "namespace", "uid", "resourceVersion", "labels")


def identity(obj: Mapping[str, Any]) -> dict[str, Any]:
    """What a DELETED event needs of an object, kept per watched object: its kind, name,
    namespace, uid and labels (the owner lookup) and an Event's involvedObject; nothing of
    its spec, status, annotations or managedFields. Its strings are interned as the cache
    entries' are, so it shares them with the object's cache entry instead of holding copies
    (measured in docs/performance.md: 6.5 KB a deployment beside its cache entries, 2.3 KB
    interned)."""
    meta = obj.get("metadata") or {}
    kept = {k: obj[k] for k in ("apiVersion", "kind", "involvedObject") if k in obj}
    entry: dict[str, Any] = interned(
        {**kept, "metadata": {k: meta[k] for k in _IDENTITY if k in meta}}
    )
    return entry


def _uid(obj: Mapping[str, Any]) -> str | None:
    uid = (obj.get("metadata") or {}).get("uid")
    return str(uid) if uid else None


async def with_relist_deletions(
    stream: AsyncIterator[Any], listed_marker: Any
) -> AsyncIterator[Any]:
    """`stream`'s items, plus a DELETED event for each object absent from a (re-)listing.

    A listing is the run of type-None events before `listed_marker`; it may be empty. An
    event of type None for a uid already listed since the last marker means kopf started
    the listing over (a listing broken half-way is retried from its start without a
    marker), so only the last attempt counts."""
    known: dict[str, dict[str, Any]] = {}
    listed: set[str] = set()
    async for item in stream:
        if item is listed_marker:
            for gone_uid in [u for u in known if u not in listed]:
                gone = known.pop(gone_uid)
                log.info(
                    "%s %s/%s is gone: deleted while the watch was broken",
                    gone.get("kind", "object"),
                    gone["metadata"].get("namespace", ""),
                    gone["metadata"].get("name", ""),
                )
                yield {"type": "DELETED", "object": gone}
            listed = set()
            yield item
            continue
        if isinstance(item, Mapping) and isinstance(item.get("object"), Mapping):
            obj = item["object"]
            uid = _uid(obj)
            event_type = item.get("type")
            if uid is not None and event_type in (None, "ADDED", "MODIFIED"):
                if event_type is None:
                    if uid in listed:
                        listed = set()
                    listed.add(uid)
                known[uid] = identity(obj)
            elif uid is not None and event_type == "DELETED":
                known.pop(uid, None)
        yield item


def install() -> None:
    """Wraps kopf's watch-streams (`watching.infinite_watch`, which kopf's watchers look up
    at call time) once per process. Without the hook (another kopf), logs a warning and
    leaves kopf as it is: the operator works, deletions during a broken watch stay unseen."""
    original = getattr(watching, "infinite_watch", None)
    marker = getattr(getattr(watching, "Bookmark", None), "LISTED", None)
    if original is None or marker is None:
        log.warning("kopf has no watching.infinite_watch/Bookmark.LISTED: relist deletions off")
        return
    if getattr(original, _MARK, False):
        return

    def infinite_watch(**kwargs: Any) -> AsyncIterator[Any]:
        return with_relist_deletions(original(**kwargs), marker)

    setattr(infinite_watch, _MARK, True)
    watching.infinite_watch = infinite_watch
