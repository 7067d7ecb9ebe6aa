"""Runs (benchmark and offline Jobs): a Job whose pods are refused at creation says so."""

from __future__ import annotations

from typing import Any

from sglang_operator.conditions import Reason
from sglang_operator.runs import JOB_NAME_LABEL, _pod_creation_failure

FAILED = {"job-uid": ("2026-11-30T12:00:00Z", 'pods "x" is forbidden: violates PodSecurity')}


def job(**status: Any) -> dict[str, Any]:
    return {"metadata": {"name": "demo-bench", "uid": "job-uid"}, "status": status}


def pod(job_name: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{job_name}-abc",
            "labels": {JOB_NAME_LABEL: job_name},
            "creationTimestamp": "2026-11-30T12:00:01Z",
        }
    }


def test_a_job_without_pods_and_a_failed_create_reports_it() -> None:
    reason, message = _pod_creation_failure(job(), [], FAILED) or ("", "")
    assert reason == Reason.POD_CREATION_FAILED
    assert message.startswith("Job demo-bench cannot create pods: ")
    assert "violates PodSecurity" in message


def test_no_report_with_a_pod_when_finished_or_without_an_event() -> None:
    assert _pod_creation_failure(job(), [pod("demo-bench")], FAILED) is None
    finished = job(conditions=[{"type": "Failed", "status": "True"}])
    assert _pod_creation_failure(finished, [], FAILED) is None
    assert _pod_creation_failure(job(), [pod("other")], {}) is None


def test_the_message_is_bounded() -> None:
    huge = {"job-uid": ("2026-11-30T12:00:00Z", "x" * 100_000)}
    _, message = _pod_creation_failure(job(), [], huge) or ("", "")
    assert len(message) < 5000
