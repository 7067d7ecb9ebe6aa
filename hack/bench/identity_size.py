"""What relisting.py's per-object identity costs beside the caches, for one deployment.

    PYTHONPATH=operator .venv/bin/python hack/bench/identity_size.py

For the objects of one single-group, 2-node deployment (its headless Service, StatefulSet,
client Service and a pod, as the builders render them, with a uid and a resourceVersion):
each decoded twice from JSON (two watch events: equal strings, distinct objects), the
second replacing the first in its cache entry (cachetransform.transform) and in relisting's
identity. Prints the deep size of the cache entries and the marginal deep size of the
identities beside them (what they hold that the entries do not), in bytes
(heap_probe.deep_size).
"""

from __future__ import annotations

import json
from typing import Any

# This directory is on sys.path when the script runs.
from heap_probe import deep_size

from sglang_operator import cachetransform, relisting
from sglang_operator.api import parse_spec
from sglang_operator.builders import desired_objects

SPEC = {
    "model": {"path": "Qwen/Qwen2.5-0.5B-Instruct"},
    "gpu": {"vendor": "amd", "perNode": 1},
    "parallelism": {"nodes": 2},
    "replicas": 1,
}


def objects() -> list[dict[str, Any]]:
    found = desired_objects(parse_spec(SPEC), "m123", "bench-ours-1-abcde")
    sts = next(o for o in found if o["kind"] == "StatefulSet")
    template = sts["spec"]["template"]
    labels = {
        **template["metadata"]["labels"],
        "apps.kubernetes.io/pod-index": "0",
        "controller-revision-hash": "m123-0-5d8f7c9b6",
        "statefulset.kubernetes.io/pod-name": "m123-0-0",
    }
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            **template["metadata"],
            "name": "m123-0-0",
            "namespace": "bench-ours-1-abcde",
            "labels": labels,
        },
        "spec": template["spec"],
        "status": {"phase": "Running"},
    }
    for i, obj in enumerate([*found, pod]):
        obj["metadata"]["uid"] = f"6f1c2f7e-1d2b-4c1e-9a55-{i:012d}"
        obj["metadata"]["resourceVersion"] = str(100000 + i)
    return [*found, pod]


def main() -> None:
    entries = identities = 0
    for obj in objects():
        raw = json.dumps(obj)
        first, second = json.loads(raw), json.loads(raw)
        cachetransform.transform(first, obj["apiVersion"], obj["kind"])
        entry = cachetransform.transform(second, obj["apiVersion"], obj["kind"])
        identity = relisting.identity(second)
        seen: set[int] = set()
        entries += deep_size([entry], seen)
        identities += deep_size([identity], seen)
    print(f"cache entries: {entries} bytes; identities beside them: {identities} bytes")


if __name__ == "__main__":
    main()
