"""Leader election settings and command line (the election itself runs against a real API
server in tests/e2e/test_leader_election.py)."""

import pytest

from sglang_operator import cli
from sglang_operator.leader import ElectionSettings, default_identity, own_namespace


def test_timing_must_let_the_leader_renew_before_a_standby_takes_over() -> None:
    ElectionSettings(namespace="ns").check()
    ElectionSettings(namespace="ns", lease_duration=4, renew_deadline=3, retry_period=1).check()
    for bad in [(10, 10, 2), (15, 2, 2), (15, 10, 0), (3, 2, 2)]:
        with pytest.raises(ValueError, match="lease duration > renew deadline"):
            ElectionSettings(
                namespace="ns", lease_duration=bad[0], renew_deadline=bad[1], retry_period=bad[2]
            ).check()


def test_identity_is_the_pod_name_and_unique(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAME", "sgo-7d9f-abcde")
    first, second = default_identity(), default_identity()
    assert first.startswith("sgo-7d9f-abcde_")
    assert first != second


def test_lease_namespace_comes_from_the_pod(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POD_NAMESPACE", "ops")
    assert own_namespace() == "ops"


def test_leader_election_outside_a_pod_needs_a_namespace(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    monkeypatch.setattr("sglang_operator.leader._SERVICE_ACCOUNT_NAMESPACE", "/nonexistent")
    assert cli.main(["run", "--leader-elect"]) == 1
    assert "--leader-election-namespace" in capsys.readouterr().err


def test_bad_timing_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["run", "--leader-elect", "--leader-election-namespace", "ns"]
    assert cli.main([*argv, "--leader-elect-renew-deadline", "20"]) == 1
    assert "lease duration > renew deadline" in capsys.readouterr().err
