"""`render` reads YAML as kubectl does (go.yaml.in/yaml/v2 through sigs.k8s.io/yaml), not as
PyYAML does: the same manifest is accepted or refused by both for the same reason."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from sglang_operator import kubeyaml
from sglang_operator.cli import main

# go.yaml.in/yaml/v2 resolve.go's table, every spelling.
TRUE = ["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"]
FALSE = ["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"]
# Near misses that stay strings in go-yaml v2 (its table holds no other case mixes).
STRINGS = ["yES", "oN", "nO", "tRUE", "Nope", "yess", "o", "t", "f"]


def _value(text: str) -> Any:
    (doc,) = kubeyaml.load_all(f"k: {text}\n")
    return doc["k"]


@pytest.mark.parametrize("text", TRUE)
def test_yaml_1_1_true_spellings_are_true(text: str) -> None:
    assert _value(text) is True
    # Quoted, any of them is the string.
    assert _value(f'"{text}"') == text
    assert _value(f"'{text}'") == text


@pytest.mark.parametrize("text", FALSE)
def test_yaml_1_1_false_spellings_are_false(text: str) -> None:
    assert _value(text) is False
    assert _value(f'"{text}"') == text
    assert _value(f"!!str {text}") == text


@pytest.mark.parametrize("text", STRINGS)
def test_other_spellings_stay_strings(text: str) -> None:
    assert _value(text) == text


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # Go's strconv.ParseInt(s, 0, 64) after dropping '_'.
        ("0755", 493),
        ("0o17", 15),
        ("0x1F", 31),
        ("-0x1F", -31),
        ("0b101", 5),
        ("1_000", 1000),
        ("+12", 12),
        ("9223372036854775807", 2**63 - 1),
        ("18446744073709551615", 2**64 - 1),
        # Floats (yamlStyleFloat); a whole one travels as an integer in kubectl's JSON.
        ("1e3", 1000),
        ("08", 8),
        ("1.5", 1.5),
        (".5", 0.5),
        ("-.5e1", -5),
        ("1e21", 1e21),
        # Strings for go-yaml v2, other values for PyYAML.
        ("1:20", "1:20"),
        ("2001-12-14", "2001-12-14"),
        ("2001-12-14T21:59:43Z", "2001-12-14T21:59:43Z"),
        ("1e400", "1e400"),
        ("0x", "0x"),
        ("1.2.3", "1.2.3"),
        ("+", "+"),
        ("-x", "-x"),
        (".inf.", ".inf."),
        # Nulls.
        ("~", None),
        ("Null", None),
        ("", None),
    ],
)
def test_numbers_timestamps_and_nulls_as_go_yaml_v2_reads_them(text: str, value: Any) -> None:
    got = _value(text)
    assert got == value and type(got) is type(value)


def test_keys_become_strings_as_in_kubectls_json() -> None:
    (doc,) = kubeyaml.load_all("y: a\n80: b\n1e3: c\n'on': d\n")
    assert doc == {"true": "a", "80": "b", "1000": "c", "on": "d"}


@pytest.mark.parametrize("text", ["k: .nan\n", "k: -.Inf\n", "~: x\n"])
def test_what_json_cannot_carry_is_refused(text: str) -> None:
    with pytest.raises(kubeyaml.NotJSONError):
        kubeyaml.load_all(text)


def test_anchors_merge_keys_and_documents_work_as_before() -> None:
    docs = kubeyaml.load_all("a: &x {p: y}\nb:\n  <<: *x\n  q: 1\n---\n---\nc: [on, 'off']\n")
    assert docs == [{"a": {"p": True}, "b": {"p": True, "q": 1}}, {"c": [True, "off"]}]
    assert math.isclose(kubeyaml.resolve_plain("6.02e23"), 6.02e23)


MANIFEST = """\
apiVersion: sglang-operator.io/v1alpha1
kind: SGLangDeployment
metadata: {{name: tiny}}
spec:
  model: {{path: org/model}}
  network: {{hostNetwork: {host_network}}}
  podLabels: {{team: {label}}}
"""


@pytest.mark.parametrize(
    ("host_network", "label", "refused"),
    [
        # kubectl sends a boolean for y: hostNetwork takes it...
        ("y", '"y"', None),
        ("Off", "'on'", None),
        # ...a label value refuses it, as the API server would.
        ("n", "y", "spec.podLabels.team"),
        ("no", "ON", "spec.podLabels.team"),
        # A quoted y is no boolean for hostNetwork.
        ('"y"', '"x"', "spec.network.hostNetwork"),
    ],
)
def test_render_accepts_and_refuses_what_kubectl_would_send(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    host_network: str,
    label: str,
    refused: str | None,
) -> None:
    path = tmp_path / "sgld.yaml"
    path.write_text(MANIFEST.format(host_network=host_network, label=label))
    code = main(["render", "-f", str(path)])
    err = capsys.readouterr().err
    if refused is None:
        assert code == 0, err
    else:
        assert code == 1 and f"error: tiny: {refused}" in err, err


def test_render_names_a_document_json_cannot_carry(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "sgld.yaml"
    path.write_text("kind: SGLangDeployment\nspec: {shmSize: .inf}\n")
    assert main(["render", "-f", str(path)]) == 1
    assert "json: unsupported value: inf" in capsys.readouterr().err
