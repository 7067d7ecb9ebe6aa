"""Which status writes a pass holds back (reconcile._status_held): a write of only what a
later pass observes again is left to a pass already due, for at most
STATUS_HOLD_MAX_SECONDS; memory is written at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sglang_operator import reconcile
from sglang_operator.reconcile import Memory, _status_held

NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


def status(ready: int, **extra: Any) -> dict[str, Any]:
    return {
        "observedGeneration": 1,
        "readyReplicas": ready,
        "conditions": [{"type": "Ready", "status": "False", "reason": "GroupsNotReady"}],
        **extra,
    }


def test_a_pass_already_due_writes_what_it_observes_again() -> None:
    memory = Memory()
    assert _status_held(status(0), status(1), memory, NOW, lambda: True)
    assert not _status_held(status(0), status(1), memory, NOW, lambda: False)
    # Not once the first write held back is a second old: events must not starve status.
    memory.status_held_since = NOW - timedelta(seconds=reconcile.STATUS_HOLD_MAX_SECONDS)
    assert not _status_held(status(0), status(1), memory, NOW, lambda: True)


def test_memory_is_written_at_once_even_with_a_pass_due() -> None:
    members = status(0, groups=[{"index": 0, "members": ["uid-a", "uid-b"]}])
    assert not _status_held(status(0), members, Memory(), NOW, lambda: True)


def test_an_unchanged_status_holds_nothing_back() -> None:
    assert not _status_held(status(1), status(1), Memory(), NOW, lambda: True)
