"""Rewrites SGLangDeployments so they run on the local real node (hack/node.sh), for hack/demo.sh.

    .venv/bin/python hack/real-node-manifest.py EXAMPLE.yaml IMAGE NODE_LABEL > out.yaml

Every SGLangDeployment in the file gets the stand-in image (never pulled), a nodeSelector
and toleration for the real node, and loses what that node cannot give: CPU/memory requests
sized for GPU servers, a weights cache (no storage provisioner), a benchmark (it needs a real
SGLang environment mounted), host networking and RDMA devices, and scheduling constraints
that name other nodes or cluster objects. What was dropped is said on stderr. Prints the
GPUs the rewritten file asks for, as a comment on its last line, for the node's capacity.
"""

from __future__ import annotations

import sys
from typing import Any

import yaml

KIND = "SGLangDeployment"
DROPPED_SPEC = ("resources", "affinity", "priorityClassName", "schedulerName", "benchmark")
DROPPED_NETWORK = ("hostNetwork", "rdmaResourceName", "rdmaCount")


def rewrite(obj: dict[str, Any], image: str, label: str) -> tuple[list[str], int]:
    """Rewrites one SGLangDeployment in place; returns what was dropped and its GPU count."""
    spec = obj.setdefault("spec", {})
    dropped = [key for key in DROPPED_SPEC if spec.pop(key, None) is not None]
    network = spec.get("network") or {}
    dropped += [f"network.{k}" for k in DROPPED_NETWORK if network.pop(k, None) is not None]
    if (spec.get("model") or {}).pop("cache", None) is not None:
        dropped.append("model.cache")
    spec["image"] = image
    spec["imagePullPolicy"] = "Never"
    spec["nodeSelector"] = {label: "true"}
    spec["tolerations"] = [{"key": label, "operator": "Exists", "effect": "NoSchedule"}]
    gpus = (
        int(spec.get("replicas", 1))
        * int((spec.get("parallelism") or {}).get("nodes", 1))
        * int((spec.get("gpu") or {}).get("perNode", 8))
    )
    return dropped, gpus


def main() -> None:
    path, image, label = sys.argv[1:4]
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if d]
    gpus = 0
    for doc in docs:
        if doc.get("kind") == KIND:
            dropped, needed = rewrite(doc, image, label)
            gpus += needed
            if dropped:
                name = doc["metadata"]["name"]
                print(
                    f"[demo] {name}: left out on the real node: {', '.join(dropped)}",
                    file=sys.stderr,
                )
    sys.stdout.write(yaml.safe_dump_all(docs, sort_keys=False))
    print(f"# gpus: {gpus}")


if __name__ == "__main__":
    main()
