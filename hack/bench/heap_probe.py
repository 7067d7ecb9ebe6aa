"""Runs the operator's command line (`heap_probe.py OUT_DIR run ...` = `sglang-operator run ...`)
and writes a census of its heap to OUT_DIR/heap-<n>.json on each SIGUSR1: where the memory
of a running operator goes, by kind of cached object.

The census (JSON): `rss_mib` (VmRSS from /proc), `caches` (per kopf index: entries and the
deep size in MiB of what it holds), `kopf_memories` (kopf's per-object ResourceMemory records:
count and deep size), `work_queue` (the controller's per-deployment state, controller.WorkQueue:
deep size of each of its tables), `gc_types` (the 25 most numerous object types the garbage
collector tracks), and with SGLANG_HEAP_TRACE=1 (tracemalloc from the start: slow, and it
adds its own memory) `traced` (the 25 source lines that allocated the most live memory).

Deep sizes are `sys.getsizeof` summed over everything reachable through containers and
instance attributes, each object counted once, in the order listed: what an index shares with
another (a string interned once) counts in the first. Used by `hack/bench_operator.py --heap`.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import signal
import sys
import tracemalloc
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from types import FrameType, FunctionType, ModuleType
from typing import Any

from kopf._core.engines import indexing

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "operator"))

from sglang_operator.cli import main as operator_main  # noqa: E402

MIB = 1024 * 1024


def deep_size(roots: Iterable[Any], seen: set[int]) -> int:
    """Bytes reachable from `roots` (not yet in `seen`) through containers and attributes."""
    total = 0
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (type, ModuleType, FunctionType, FrameType)):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.keys())
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif dataclasses.is_dataclass(obj) or hasattr(obj, "__dict__"):
            stack.extend(vars(obj).values())
        elif hasattr(obj, "__slots__"):
            stack.extend(getattr(obj, s) for s in obj.__slots__ if hasattr(obj, s))
    return total


def _instances(type_name: str) -> list[Any]:
    return [o for o in gc.get_objects() if type(o).__name__ == type_name]


def census() -> dict[str, Any]:
    seen: set[int] = set()
    caches: dict[str, Any] = {}
    for indexers in (o for o in gc.get_objects() if isinstance(o, indexing.OperatorIndexers)):
        for handler_id, indexer in indexers.items():
            index = indexer.index
            values = [v for key in index for v in index[key]]
            caches[str(handler_id)] = {
                "entries": len(values),
                "mib": round(deep_size(values, seen) / MIB, 2),
            }
    memories = [m for o in _instances("ResourceMemories") for m in o.iter_all_memories()]
    kopf_memories = {"count": len(memories), "mib": round(deep_size(memories, seen) / MIB, 2)}
    work_queue: dict[str, float] = {}
    for queue in _instances("WorkQueue"):
        for name, table in vars(queue).items():
            if isinstance(table, (dict, set)):
                work_queue[name] = round(deep_size([table], seen) / MIB, 2)
    status = Path("/proc/self/status").read_text().splitlines()
    rss_kb = next(int(x.split()[1]) for x in status if x.startswith("VmRSS"))
    result: dict[str, Any] = {
        "rss_mib": round(rss_kb / 1024, 1),
        "caches": caches,
        "kopf_memories": kopf_memories,
        "work_queue": work_queue,
        "gc_types": dict(Counter(type(o).__name__ for o in gc.get_objects()).most_common(25)),
    }
    if tracemalloc.is_tracing():
        stats = tracemalloc.take_snapshot().statistics("lineno")[:25]
        result["traced"] = [
            {"where": str(s.traceback), "mib": round(s.size / MIB, 2), "count": s.count}
            for s in stats
        ]
    return result


def main() -> int:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    if os.environ.get("SGLANG_HEAP_TRACE") == "1":
        tracemalloc.start()
    taken = [0]

    def on_signal(signum: int, frame: FrameType | None) -> None:
        taken[0] += 1
        path = out / f"heap-{taken[0]}.json"
        path.write_text(json.dumps(census(), indent=1))

    signal.signal(signal.SIGUSR1, on_signal)
    return operator_main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
