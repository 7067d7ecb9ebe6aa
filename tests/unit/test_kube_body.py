"""The apply body: JSON the API server's YAML decoder reads back to the same text."""

from __future__ import annotations

import json

import yaml
from hypothesis import given
from hypothesis import strategies as st

from sglang_operator.kube import yaml_safe_json


def test_text_outside_the_bmp_travels_raw_as_utf8() -> None:
    assert yaml_safe_json({"v": "hi \U0001f680"}) == '{"v": "hi \U0001f680"}'.encode()


def test_characters_yaml_cannot_carry_raw_travel_escaped() -> None:
    body = yaml_safe_json({"v": "a\x7fb\x85c\x9fd\ufffee\uffff"})
    assert body == b'{"v": "a\\u007fb\\u0085c\\u009fd\\ufffee\\uffff"}'


def test_printable_text_is_left_alone() -> None:
    text = "caf\u00e9 \u00a0\ud7ff\ue000\ufffd ~"
    assert yaml_safe_json([text]) == json.dumps([text], ensure_ascii=False).encode()


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"])))
def test_any_text_reads_back_unchanged_as_yaml(text: str) -> None:
    # PyYAML's reader applies YAML 1.1's printable set, as the API server's go-yaml does.
    assert yaml.safe_load(yaml_safe_json({"v": text}).decode()) == {"v": text}
