"""YAML read as `kubectl apply -f` reads it, for `sglang-operator render`.

kubectl turns each YAML document into JSON with sigs.k8s.io/yaml (v1.6.0 in Kubernetes
v1.35.4), which parses with go.yaml.in/yaml/v2 (v2.4.3): YAML 1.1's scalars as that library
resolves them (`resolve.go`), not PyYAML's. A plain (unquoted) scalar is

- a boolean when it is y, Y, yes, Yes, YES, true, True, TRUE, on, On, ON (true) or n, N, no,
  No, NO, false, False, FALSE, off, Off, OFF (false): PyYAML reads y, Y, n and N as strings;
- null when empty, ~, null, Null or NULL;
- an integer in Go's `strconv.ParseInt(s, 0, 64)` syntax after dropping every `_` (0x1F,
  0o17, 0b11, 0755 octal, 1_000), else a float in YAML's decimal syntax (1e3, 08, .5) or
  .inf/.nan: PyYAML reads 1e3 and 0o17 as strings and 08 as a string;
- a string otherwise, timestamps (2001-12-14) and base-60 numbers (1:20) included: PyYAML
  reads those as a date and as the integer 80.

Quoted scalars stay strings. sigs.k8s.io/yaml then writes JSON: map keys become strings
(true, 80), a float whose value is whole is sent as an integer (Go's encoding/json writes 1e3
as 1000), and NaN or an infinity cannot be sent at all (`kubectl` fails on the document).
"""

from __future__ import annotations

import math
import re
from typing import Any

import yaml

# go.yaml.in/yaml/v2 resolve.go: resolveMapList (the merge key "<<" is PyYAML's own resolver).
_CONSTANTS: dict[str, Any] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE"), True),
    **dict.fromkeys(("on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE"), False),
    **dict.fromkeys(("off", "Off", "OFF"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
# strconv.ParseInt's base-0 syntax: a sign, then hex, octal (0o or a leading 0), binary or
# decimal digits.
_GO_INT = re.compile(r"([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_BASES = {"x": 16, "o": 8, "b": 2}
# resolve.go's yamlStyleFloat.
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
# encoding/json writes a float64 in exponent form from 1e21 on (the API server then reads a
# float, not an integer).
_JSON_EXPONENT_FROM = 1e21
_PLAIN = "tag:sglang-operator.io,2026:go-yaml-v2-plain"


def resolve_plain(text: str) -> Any:
    """The value go.yaml.in/yaml/v2 gives the plain scalar `text` (an untagged, unquoted one)."""
    if text in _CONSTANTS:
        return _CONSTANTS[text]
    if text[0] == ".":
        return float(text) if re.fullmatch(r"\.[0-9]+([eE][-+]?[0-9]+)?", text) else text
    if not (text[0].isascii() and (text[0].isdigit() or text[0] in "+-")):
        return text
    plain = text.replace("_", "")
    match = _GO_INT.fullmatch(plain)
    if match:
        sign, digits = match.groups()
        if len(digits) > 1 and digits[1].lower() in _BASES:
            number = int(digits[2:], _BASES[digits[1].lower()])
        else:
            number = int(digits, 8 if digits.startswith("0") else 10)
        value = -number if sign == "-" else number
        # ParseInt's int64, else ParseUint's uint64 (which takes no sign).
        if -(2**63) <= value < 2**63 or (not sign and value < 2**64):
            return value
    if _YAML_FLOAT.fullmatch(plain):
        real = float(plain)
        if not math.isinf(real):  # ParseFloat's range error: the text stays a string
            return real
    return text


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader with go-yaml v2's resolution of plain scalars."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        if kind is yaml.ScalarNode and implicit[0] and value != "<<":
            return _PLAIN
        return super().resolve(kind, value, implicit)  # type: ignore[no-untyped-call]


def _construct_plain(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    return resolve_plain(str(loader.construct_scalar(node)))


_Loader.add_constructor(_PLAIN, _construct_plain)


class NotJSONError(ValueError):
    """A document holds what kubectl cannot turn into JSON (a null key, NaN, an infinity)."""


def _json_key(key: Any) -> str:
    # sigs.k8s.io/yaml convertToJSONableObject: keys become strings.
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, str | int | float):
        return str(_json_value(key))
    raise NotJSONError(f"unsupported map key {key!r}")


def _json_value(value: Any) -> Any:
    if isinstance(value, dict):
        return {_json_key(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, bytes):  # !!binary: its decoded bytes, as a string
        return value.decode("utf-8", errors="replace")
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise NotJSONError(f"json: unsupported value: {value}")
        if value.is_integer() and abs(value) < _JSON_EXPONENT_FROM:
            return int(value)
    return value


def load_all(text: str) -> list[Any]:
    """Each non-empty YAML document of `text` as the JSON kubectl sends for it.

    Raises yaml.YAMLError on malformed YAML and NotJSONError on what JSON cannot carry."""
    return [_json_value(doc) for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]
