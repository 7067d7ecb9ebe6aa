"""docs/reference.md is generated from the code and committed; every reason and phase has
its explanation, and the tables say what the code does."""

from typing import get_args

from sglang_operator import groups, refdocs
from sglang_operator.api import PHASE_MEANING, Phase
from sglang_operator.conditions import ADVICE, reasons


def test_committed_reference_is_regenerated_output() -> None:
    committed = refdocs.FILE.path
    assert committed.read_text() == refdocs.render(), "run `sglang-operator reference-docs`"


def test_every_reason_has_its_meaning_and_what_to_do() -> None:
    # A new Reason without advice fails here, so the troubleshooting table never lags.
    assert set(reasons()) == set(ADVICE)
    assert all(a.meaning and a.action for a in ADVICE.values())


def test_every_phase_is_explained() -> None:
    assert set(PHASE_MEANING) == set(get_args(Phase))


def test_restart_timing_is_the_healing_schedule() -> None:
    text = refdocs.render()
    assert groups.backoff_before(0).total_seconds() == 0
    assert "The first restart is immediate; the next ones wait 30 s, 1 min, 2 min, 4 min" in text


def test_quick_reference_comes_from_the_builders() -> None:
    text = refdocs.render()
    assert "| `parallelism.pp` | `2` | `--tp-size 4`, `--pp-size 2` | - |" in text
    assert "name-0-0.name-0-hs.NAMESPACE.svc.cluster.local:6000" in text


def test_every_spec_field_is_in_the_flags_table_or_says_what_it_changes() -> None:
    # Walks the models: a new field that is in neither list fails here.
    assert refdocs.unlisted_fields() == []
    samples = [sample.path for sample in refdocs.FLAG_SAMPLES]
    assert len(set(samples)) == len(samples)
    fields = set(refdocs.spec_fields())
    assert set(samples) <= fields
    assert not set(samples) & set(refdocs.OTHER_FIELDS)
    for path in refdocs.OTHER_FIELDS:
        prefix = path.removesuffix("*")
        assert path in fields or any(f.startswith(prefix) for f in fields), path


def test_every_sampled_field_changes_a_flag_or_a_variable() -> None:
    # A field listed in the table whose sample changes nothing belongs in OTHER_FIELDS.
    text = refdocs.render()
    for sample in refdocs.FLAG_SAMPLES:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{sample.path}` |"))
        assert not row.endswith("| - | - |"), row


def test_the_network_fields_reach_sglang_and_its_environment() -> None:
    text = refdocs.render()
    assert '| `network.glooSocketIfname` | `"eth0"` | - | `GLOO_SOCKET_IFNAME=eth0` |' in text
    assert '| `network.ipFamily` | `"IPv6"` | `--host ::` | - |' in text
    assert "`NCCL_SOCKET_IFNAME=^lo,docker`" in text
    assert "| `network.hostNetwork` | `true` | `--nccl-port 5000` | - |" in text
    assert "`MASTER_ADDR=name-0-0.name-0-hs.NAMESPACE.svc.cluster.example`" in text
