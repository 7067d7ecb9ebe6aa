"""The pod template's fields whose syntax the operator checks with its own code take exactly what
the API server takes, asked of k8s.io/apimachinery's functions that Kubernetes v1.35.4's pod
validation calls, built with Go from tests/fixtures/podfields: IP addresses in the legacy IP
fields (dnsConfig.nameservers[], hostAliases[].ip: `podvalidation.legacy_ip`) and search domains
(dnsConfig.searches[]: `podvalidation.dns_search_domain`)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sglang_operator.podvalidation import dns_search_domain, legacy_ip

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "podfields"
Parser = Callable[[str, list[str]], list[bool]]


@pytest.fixture(scope="module")
def api_server_accepts(tmp_path_factory: pytest.TempPathFactory) -> Parser:
    binary = tmp_path_factory.mktemp("podfields") / "podfields"
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=FIXTURE, check=True)

    def accepts(kind: str, values: list[str]) -> list[bool]:
        out = subprocess.run(
            [str(binary), kind],
            input="".join(json.dumps(v) + "\n" for v in values),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert len(out) == len(values)
        return [answer == "ok" for answer in out]

    return accepts


VALID = [
    "10.96.0.10",
    "010.096.000.010",
    "0.0.0.0",
    "255.255.255.255",
    "::",
    "::1",
    "2001:db8::1",
    "2001:DB8:0:0:0:0:0:00001",
    "::ffff:10.96.0.10",
    "::ffff:010.1.1.1",
    "fe80::",
    "1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6:1.2.3.4",
]
INVALID = [
    "",
    "dns.example.com",
    "10.96.0",
    "10.96.0.256",
    "10.96.0.10.",
    " 10.96.0.10",
    "10.96.0.10/32",
    "fe80::1%eth0",
    "1:2:3:4:5:6:7:8:9",
    "1::2::3",
    "::10000",
    "1:2:3:4:5:6:7:1.2.3.4",
    "\uff11.\uff12.\uff13.\uff14",
    "0x0a.0.0.1",
]


def test_named_ip_examples(api_server_accepts: Parser) -> None:
    got = api_server_accepts("ip", VALID + INVALID)
    assert got == [True] * len(VALID) + [False] * len(INVALID)
    assert [legacy_ip(v) for v in VALID] == [True] * len(VALID)
    assert [legacy_ip(v) for v in INVALID] == [False] * len(INVALID)


# Pieces of addresses, valid and not, so that random joins hit the parsers' edges: leading
# zeros, long hex groups, embedded IPv4, zones, signs, spaces and non-ASCII digits.
_PIECES = [*"0123456789abcdefABCDEF.:%/ +-x\n", "::", "ffff", "00000", "255", "256", "1.2.3.4"]
_PIECES += ["٣"]
addresses = st.lists(st.sampled_from(_PIECES), min_size=1, max_size=14).map("".join)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(addresses, min_size=200, max_size=200))
def test_the_operator_takes_exactly_the_ips_the_api_server_takes(
    api_server_accepts: Parser, values: list[str]
) -> None:
    for value, accepted in zip(values, api_server_accepts("ip", values), strict=True):
        assert legacy_ip(value) == accepted, value


# No label bound: only the whole name's 253 characters.
SEARCH_VALID = [".", "svc.cluster.local", "svc.cluster.local.", "_tcp.example.com", "a" * 64]
SEARCH_INVALID = ["", "..", "Example.com", "a..b", "-a.com", "a_.com", "a" * 254, "a.com\n"]
_SEARCH_PIECES = [*"az09._-A \n", "example", "com", "a" * 63, ".."]
searches = st.lists(st.sampled_from(_SEARCH_PIECES), min_size=1, max_size=8).map("".join)


def test_named_search_examples(api_server_accepts: Parser) -> None:
    got = api_server_accepts("search", SEARCH_VALID + SEARCH_INVALID)
    assert got == [True] * len(SEARCH_VALID) + [False] * len(SEARCH_INVALID)
    assert all(dns_search_domain(v) for v in SEARCH_VALID)
    assert not any(dns_search_domain(v) for v in SEARCH_INVALID)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(searches, min_size=200, max_size=200))
def test_the_operator_takes_exactly_the_search_domains_the_api_server_takes(
    api_server_accepts: Parser, values: list[str]
) -> None:
    for value, accepted in zip(values, api_server_accepts("search", values), strict=True):
        assert dns_search_domain(value) == accepted, value
