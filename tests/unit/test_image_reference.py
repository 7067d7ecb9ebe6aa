"""Image references: every image field of the API (spec.image; the pod template's containers,
initContainers and image volumes) is refused at apply, naming the field, when the kubelet's
parser would refuse it, and `api.image_problem` (the operator's and render's check) agrees with
that parser: distribution/reference's ParseNormalizedNamed, built with Go from
tests/fixtures/imageref (the version Kubernetes builds its kubelet with)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from test_crd import SPEC_SCHEMA, nodes

from sglang_operator.api import (
    IMAGE_NAME_CEL,
    IMAGE_REFERENCE_RE,
    format_validation_error,
    image_problem,
    parse_spec,
)
from sglang_operator.crd import spec_problems

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "imageref"
Parser = Callable[[list[str]], list[bool]]


@pytest.fixture(scope="module")
def kubelet_accepts(tmp_path_factory: pytest.TempPathFactory) -> Parser:
    binary = tmp_path_factory.mktemp("imageref") / "imageref"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=FIXTURE, check=True)

    def accepts(images: list[str]) -> list[bool]:
        out = subprocess.run(
            [str(binary)],
            input="".join(json.dumps(i) + "\n" for i in images),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert len(out) == len(images)
        return [answer == "ok" for answer in out]

    return accepts


# Pieces of references, valid and not, so that random joins hit the grammar's edges: domains,
# ports, IPv6 hosts, separators, tags, digests of every algorithm and length, capitals,
# non-ASCII, and names near the 255-character limit.
_PIECES = [
    *"azAZ09._-/:@[]",
    "__",
    "--",
    "::1",
    "localhost",
    "docker.io",
    "index.docker.io",
    "ghcr.io/",
    ":5000",
    "latest",
    "v0.5.23-rocm700",
    "sha256:",
    "sha384:",
    "sha512:",
    "md5:",
    "a" * 32,
    "a" * 248,
    "f" * 64,
    "0" * 96,
    "e" * 128,
    "x" * 120,
    "é",
    "\U0001f680",
    " ",
    "lmsysorg/sglang",
]
references = st.lists(st.sampled_from(_PIECES), min_size=1, max_size=12).map("".join)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(references, min_size=200, max_size=200))
def test_the_operator_refuses_exactly_what_the_kubelets_parser_refuses(
    kubelet_accepts: Parser, images: list[str]
) -> None:
    for image, accepted in zip(images, kubelet_accepts(images), strict=True):
        assert (image_problem(image) is None) == accepted, image


VALID = [
    "lmsysorg/sglang:v0.5.23",
    "ubuntu",
    "localhost/sglang",
    "localhost:5000/team/sglang:latest",
    "[::1]:5000/sglang:v1",
    "Registry.Example.com/team/sglang:V1_2",
    "registry.example.com:5000/sglang@sha256:" + "a" * 64,
    "team/sglang:v1@sha512:" + "0" * 128,
    "a__b/c---d/e.f:" + "t" * 128,
    "x/" + "a" * 253,
    "a" * 247,
]
INVALID = [
    "\U0001f680",
    "lmsysorg/sglang :latest",
    " lmsysorg/sglang",
    "Lmsysorg/Sglang",
    "lmsysorg/sglang:",
    "lmsysorg/sglang:-tag",
    "lmsysorg/sglang:" + "t" * 129,
    "lmsysorg/sglang@sha256:abc",
    "lmsysorg/sglang@md5:" + "a" * 32,
    "lmsysorg/sglang@sha256:" + "A" * 64,
    "registry.example.com:port/sglang",
    "a" * 64,
    "x/" + "a" * 254,
    "a" * 248,
    "docker.io/" + "a" * 248,
    "ftp://registry/sglang",
    "",
]


def test_named_examples(kubelet_accepts: Parser) -> None:
    assert kubelet_accepts(VALID + INVALID) == [True] * len(VALID) + [False] * len(INVALID)
    assert [image_problem(i) for i in VALID] == [None] * len(VALID)
    assert all(image_problem(i) for i in INVALID)


def _fields(image: str) -> dict[str, dict[str, Any]]:
    """Every image field of the API, by the path `kubectl apply` names, set to `image`."""
    return {
        "spec.image": {"image": image},
        "spec.podTemplate.spec.containers[0].image": {
            "podTemplate": {"spec": {"containers": [{"name": "side", "image": image}]}}
        },
        "spec.podTemplate.spec.initContainers[0].image": {
            "podTemplate": {"spec": {"initContainers": [{"name": "init", "image": image}]}}
        },
        "spec.podTemplate.spec.volumes[0].image.reference": {
            "podTemplate": {"spec": {"volumes": [{"name": "v", "image": {"reference": image}}]}}
        },
    }


@pytest.mark.parametrize("image", ["\U0001f680", "Lmsysorg/Sglang", "sglang@sha256:abc"])
def test_every_image_field_is_refused_at_apply_and_by_the_operator(image: str) -> None:
    for path, fields in _fields(image).items():
        spec = {"model": {"path": "org/model"}, **fields}
        # The CRD's schema (what the API server checks at apply, render too)...
        assert any(p.startswith(f"{path}: should match") for p in spec_problems(spec)), path
        # ...and the operator's parse, naming the same field.
        with pytest.raises(ValidationError) as refused:
            parse_spec(spec)
        assert f"{path.removeprefix('spec.')}: {image[:63]!r} is not an image reference" in (
            format_validation_error(refused.value)
        )


def _cel(rule: str) -> Callable[[str], bool]:
    """The CRD's image-name rule as Python: it uses only matches(), startsWith(), !, && and
    parentheses (CEL's matches() is RE2's search, which Python's re.search agrees with on
    these ASCII patterns)."""
    assert not re.search(r"\|\||\?|[^!=]=[^=]", re.sub(r"'(?:[^'\\]|\\.)*'", "''", rule))
    calls: list[str] = []

    def call(match: re.Match[str]) -> str:
        calls.append(match.group(2).replace("\\\\", "\\"))
        method = "re.search" if match.group(1) == "matches" else "str.startswith"
        order = "(p, self)" if method == "re.search" else "(self, p)"
        return f"{method}{order.replace('p', f'calls[{len(calls) - 1}]')}"

    text = re.sub(r"self\.(matches|startsWith)\('((?:[^'\\]|\\.)*)'\)", call, rule)
    text = text.replace("&&", " and ").replace("!", " not ")
    check: Callable[[str], bool] = eval(f"lambda self: bool({text})", {"re": re, "calls": calls})
    return check


NAME_RULE = _cel(IMAGE_NAME_CEL)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(references, min_size=200, max_size=200))
def test_the_crds_name_rule_never_refuses_what_the_kubelets_parser_accepts(
    kubelet_accepts: Parser, images: list[str]
) -> None:
    grammatical = [i for i in images if re.match(IMAGE_REFERENCE_RE, i)]
    for image, accepted in zip(grammatical, kubelet_accepts(grammatical), strict=True):
        if accepted:
            assert NAME_RULE(image), image


def test_the_crds_name_rule_refuses_what_the_grammar_lets_through() -> None:
    # ParseNormalizedNamed refuses a bare 64-digit hexadecimal name and a repository path over
    # 255 characters; the pattern cannot count, the CRD's rule does, at apply.
    too_long = ["x/" + "a" * 254, "a" * 248, "docker.io/" + "a" * 248, "r.io:1/" + "a" * 256]
    for image in ["a" * 64, *too_long]:
        assert re.match(IMAGE_REFERENCE_RE, image)
        assert not NAME_RULE(image), image
        with pytest.raises(ValidationError, match="is not an image reference"):
            parse_spec({"model": {"path": "org/model"}, "image": image})
    assert all(NAME_RULE(image) for image in VALID)


def test_every_image_field_of_the_crd_carries_the_pattern() -> None:
    patterned = {
        path
        for path, node in nodes(SPEC_SCHEMA, ".spec")
        if node.get("pattern") == IMAGE_REFERENCE_RE
    }
    assert patterned == {
        ".spec.image",
        ".spec.podTemplate.spec.containers[].image",
        ".spec.podTemplate.spec.initContainers[].image",
        ".spec.podTemplate.spec.volumes[].image.reference",
    }
    assert patterned == {
        path
        for path, node in nodes(SPEC_SCHEMA, ".spec")
        if IMAGE_NAME_CEL in [r["rule"] for r in node.get("x-kubernetes-validations", [])]
    }
    images = {
        path for path, _ in nodes(SPEC_SCHEMA, ".spec") if path.endswith((".image", ".reference"))
    }
    assert images - patterned == {".spec.podTemplate.spec.volumes[].image"}
