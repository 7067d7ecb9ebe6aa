"""Deletions during a broken watch: after each (re-)listing, every object the stream had
delivered and the listing no longer contains comes as a DELETED event, before the watch
resumes; nothing else is added."""

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kopf._cogs.clients import watching
from kopf._core.reactor import queueing

from sglang_operator import cachetransform, relisting

LISTED = watching.Bookmark.LISTED


def obj(uid: str, name: str = "", **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name or uid,
            "namespace": "ns",
            "uid": uid,
            "labels": {"app.kubernetes.io/instance": "x"},
            "annotations": {"note": "x" * 1000},
            "managedFields": [{"manager": "kube-controller-manager"}],
        },
        "spec": {"nodeName": "node-0"},
        **extra,
    }


def listed(*uids: str) -> list[Any]:
    return [*({"type": None, "object": obj(u)} for u in uids), LISTED]


def through(items: list[Any]) -> list[Any]:
    async def source() -> AsyncIterator[Any]:
        for item in items:
            yield item

    async def collect() -> list[Any]:
        return [i async for i in relisting.with_relist_deletions(source(), LISTED)]

    return asyncio.run(collect())


def deleted(items: list[Any]) -> list[str]:
    return [
        i["object"]["metadata"]["uid"] for i in items if i is not LISTED and i["type"] == "DELETED"
    ]


def test_objects_missing_from_a_relisting_are_deleted_before_the_watch_resumes() -> None:
    out = through(
        [
            *listed("a", "b"),
            {"type": "ADDED", "object": obj("c")},
            {"type": "MODIFIED", "object": obj("a")},
            # The watch broke; b and c were deleted meanwhile, d created.
            {"type": None, "object": obj("a")},
            {"type": None, "object": obj("d")},
            LISTED,
            {"type": "MODIFIED", "object": obj("d")},
        ]
    )
    assert deleted(out) == ["b", "c"]
    # Everything kopf sent still comes, in order; the deletions just before the marker.
    assert [i for i in out if i is LISTED or i["type"] != "DELETED"] == [
        *listed("a", "b"),
        {"type": "ADDED", "object": obj("c")},
        {"type": "MODIFIED", "object": obj("a")},
        *listed("a", "d"),
        {"type": "MODIFIED", "object": obj("d")},
    ]
    first_second_listing = out.index(LISTED, 3)
    assert all(
        out[i]["type"] == "DELETED" for i in (first_second_listing - 1, first_second_listing - 2)
    )


def test_the_deleted_event_carries_identity_and_labels_only() -> None:
    event = {"type": None, "object": obj("e", involvedObject={"uid": "sts-uid"})}
    out = through([event, LISTED, LISTED])
    gone = next(i for i in out if i is not LISTED and i["type"] == "DELETED")["object"]
    assert gone["metadata"]["name"] == "e"
    assert gone["metadata"]["namespace"] == "ns"
    assert gone["metadata"]["labels"] == {"app.kubernetes.io/instance": "x"}
    assert gone["involvedObject"] == {"uid": "sts-uid"}
    assert set(gone["metadata"]) == {"name", "namespace", "uid", "labels"}
    assert "spec" not in gone


def test_an_identity_shares_its_strings_with_the_objects_cache_entry() -> None:
    # Two decodings of one object, as two watch events give: equal strings, distinct objects.
    first, second = json.loads(json.dumps(obj("u1"))), json.loads(json.dumps(obj("u1")))
    entry = cachetransform.transform(first, "v1", "Pod")
    kept = relisting.identity(second)
    assert kept["metadata"] == {k: entry["metadata"][k] for k in kept["metadata"]}
    for field in ("name", "namespace", "uid"):
        assert kept["metadata"][field] is entry["metadata"][field]
    (label,) = kept["metadata"]["labels"].items()
    (cached_label,) = entry["metadata"]["labels"].items()
    assert label[0] is cached_label[0] and label[1] is cached_label[1]


def test_an_empty_relisting_deletes_everything_known() -> None:
    assert deleted(through([*listed("a"), {"type": "ADDED", "object": obj("b")}, LISTED])) == [
        "a",
        "b",
    ]


def test_nothing_is_deleted_when_the_relisting_has_everything() -> None:
    assert deleted(through([*listed("a", "b"), *listed("b", "a"), *listed("a", "b")])) == []


def test_a_deletion_seen_by_the_watch_is_not_sent_again() -> None:
    out = through([*listed("a", "b"), {"type": "DELETED", "object": obj("b")}, *listed("a")])
    assert deleted(out) == ["b"]  # once: the watch's own event


def test_a_listing_started_over_counts_only_its_last_attempt() -> None:
    # kopf retries a listing broken half-way from its start, without a marker in between:
    # b was in the broken attempt but is gone by the complete one.
    out = through(
        [
            *listed("a", "b"),
            {"type": None, "object": obj("a")},
            {"type": None, "object": obj("b")},
            {"type": None, "object": obj("a")},
            LISTED,
        ]
    )
    assert deleted(out) == ["b"]


def test_install_wraps_the_stream_kopf_watchers_use_once(monkeypatch: pytest.MonkeyPatch) -> None:
    original = watching.infinite_watch
    monkeypatch.setattr(watching, "infinite_watch", original)
    relisting.install()
    relisting.install()
    wrapped = watching.infinite_watch
    assert wrapped is not original
    # kopf's watcher looks the stream up through the module at call time.
    assert queueing.watching is watching
    relisting.install()
    assert watching.infinite_watch is wrapped
