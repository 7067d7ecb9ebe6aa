"""Broken updates to a running deployment harm nothing that runs (issue 10's proof: "0 running
pods harmed by a bad update"). Hypothesis draws updates (`strategies.hostile_updates`: hostile
fields, pod templates only Kubernetes' StatefulSet validation refuses) and merges each into
a Ready deployment of 2 copies x 2 nodes:

- refused at admission: the update fails with a 4xx (never a 5xx);
- admitted, refused by the operator (InvalidSpec) or by the API server when the operator
  applies the StatefulSet (ApplyFailed), or in the server-side dry run of one pod of its new
  template that comes first (PodCreationFailed): status says so at the update's generation,
  and the pods keep their UIDs (nothing deleted, no rollout, no hot loop of deletions);
- admitted and every child accepted: a valid update (it would roll out), not applied here.

Each update applied is then undone (the spec put back) before the next. The running pods'
UIDs are compared after every update and once more at the end, after a settle time in which
a hot loop would have deleted them. Classification is by server-side dry runs
(`tests/dryrun.py`), as in `test_fuzzed_specs.py`. BAD_UPDATES (default 40) sets how many
updates are drawn; the counts are printed and, with CHAOS_REPORT_UPDATES=path, written as JSON.
"""

from __future__ import annotations

import copy
import json
import os
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from chaos_settings import CHAOS_SETTINGS
from hypothesis import given, settings
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError
from story import apply, apply_formed_group, get_sgld, live_pods, manifest

import admission_cases
import dryrun
from sglang_operator import API_GROUP, API_VERSION, PLURAL
from sglang_operator.api import parse_spec
from sglang_operator.benchmark import GENERATION_ANNOTATION
from strategies import hostile_updates

pytestmark = [pytest.mark.chaos, pytest.mark.usefixtures("operator_log_on_failure")]
EXAMPLES = int(os.environ.get("BAD_UPDATES", "40"))
# Longer than the operator's first retries (5 s, then 10 s): a hot loop would show by then.
SETTLE_SECONDS = 12
NAME = "steady"
Wait = Callable[..., Any]


def uids(kube: Any, namespace: str) -> dict[str, str]:
    return {p.metadata.name: p.metadata.uid for p in live_pods(kube, namespace, NAME)}


def classify(kube: Any, namespace: str, spec: dict[str, Any]) -> tuple[str, str]:
    """(class, message) of a whole spec, by dry runs: `admission`, `operator`,
    `statefulset` (its apply refused), `other child` (another child refused) or `valid`."""
    status, message = dryrun.create_sgld(kube, namespace, f"{NAME}-probe", spec)
    assert status < 500, f"API server {message} for {spec!r}"
    if status >= 300:
        return "admission", message
    try:
        parsed = parse_spec(spec)
    except ValidationError as error:
        return "operator", str(error)[:300]
    refused = dryrun.apply_children(kube, dryrun.children(parsed, NAME, namespace))
    if any(r.startswith("StatefulSet ") for r in refused):
        return "statefulset", refused[0]
    return ("other child", refused[0]) if refused else ("valid", "")


def reported_on(name: str, kube: Any, namespace: str, generation: int, reasons: set[str]) -> bool:
    """Status at `generation` with a condition of one of `reasons`."""
    obj = get_sgld(kube, namespace, name)
    status = obj.get("status", {})
    return status.get("observedGeneration") == generation and any(
        c.get("reason") in reasons for c in status.get("conditions", [])
    )


def test_bad_updates_harm_no_running_pod(
    cluster: Any, kube: Any, namespace: str, wait_until: Wait
) -> None:
    custom = client.CustomObjectsApi(kube)
    base = manifest(NAME, nodes=2, per_node=1, replicas=2)
    apply_formed_group(cluster, kube, namespace, base)
    running = uids(kube, namespace)
    assert len(running) == 4
    counts: Counter[str] = Counter()
    started = time.monotonic()

    def put_spec(spec: dict[str, Any]) -> int:
        body = [{"op": "replace", "path": "/spec", "value": spec}]
        obj = custom.patch_namespaced_custom_object(
            API_GROUP,
            API_VERSION,
            namespace,
            PLURAL,
            NAME,
            body,
            _content_type="application/json-patch+json",
        )
        return int(obj["metadata"]["generation"])

    @settings(CHAOS_SETTINGS, max_examples=EXAMPLES)
    @given(hostile_updates())
    def one(update: dict[str, Any]) -> None:
        spec = {**copy.deepcopy(base["spec"]), **update}
        kind, message = classify(kube, namespace, spec)
        counts[kind] += 1
        if kind in ("valid", "other child"):
            return
        if kind == "admission":
            with pytest.raises(ApiException) as refused:
                put_spec(spec)
            assert 400 <= refused.value.status < 500, refused.value
        else:
            generation = put_spec(spec)
            # A pod template the API server refuses is refused in the dry run of its pods
            # (PodCreationFailed) before the StatefulSet is sent; the rest when it is sent.
            wanted = {"InvalidSpec"} if kind == "operator" else {"ApplyFailed", "PodCreationFailed"}
            wait_until(
                lambda: reported_on(NAME, kube, namespace, generation, wanted),
                timeout=60,
                what=f"status {wanted} at generation {generation} for {update!r} ({message})",
            )
            assert uids(kube, namespace) == running, f"pods harmed by {update!r} ({message})"
            generation = put_spec(copy.deepcopy(base["spec"]))
            wait_until(
                lambda: (
                    (status := get_sgld(kube, namespace, NAME).get("status", {})).get(
                        "observedGeneration"
                    )
                    == generation
                    and status.get("phase") == "Ready"
                ),
                timeout=60,
                what=f"Ready again at generation {generation} after {update!r}",
            )
        assert uids(kube, namespace) == running, f"pods harmed by {update!r} ({message})"

    one()
    time.sleep(SETTLE_SECONDS)
    assert uids(kube, namespace) == running, "pods harmed after the updates"
    figures = {"updates": sum(counts.values()), **counts}
    figures["seconds"] = round(time.monotonic() - started)
    print(json.dumps(figures, indent=2))
    if report := os.environ.get("CHAOS_REPORT_UPDATES"):
        Path(report).write_text(json.dumps(figures, indent=2) + "\n")
    assert counts["admission"] and counts["statefulset"], counts


def test_a_refused_update_runs_no_benchmark_for_its_generation(
    cluster: Any, kube: Any, namespace: str, wait_until: Wait
) -> None:
    """A generation whose StatefulSet the API server refused (here: in the dry run of one of
    its pods, which comes first) does not run: its pods are the previous generation's, so a
    benchmark for it would measure (and report) the wrong ones."""
    obj = manifest("bench", nodes=1, per_node=1)
    obj["spec"]["benchmark"] = {"enabled": True, "numPrompts": 10}
    apply(cluster, namespace, obj)
    batch = client.BatchV1Api(kube)

    def benchmark_generations() -> set[str]:
        return {
            j.metadata.annotations.get(GENERATION_ANNOTATION, "")
            for j in batch.list_namespaced_job(namespace).items
        }

    wait_until(lambda: "1" in benchmark_generations(), timeout=90, what="the first benchmark")
    # Admitted, parsed, refused by the API server's pod validation.
    obj["spec"]["podTemplate"] = admission_cases.API_SERVER_ONLY[0]
    apply(cluster, namespace, obj)
    wait_until(
        lambda: reported_on("bench", kube, namespace, 2, {"ApplyFailed", "PodCreationFailed"}),
        timeout=60,
        what="the StatefulSet refusal in status",
    )
    time.sleep(SETTLE_SECONDS)
    assert "2" not in benchmark_generations()
    assert (get_sgld(kube, namespace, "bench")["status"].get("benchmark") or {}).get(
        "generation"
    ) != 2
