"""Names and labels: within Kubernetes' limits for any valid resource name, stable, distinct."""

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sglang_operator import naming
from strategies import resource_names

DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
# The StatefulSet controller's controller-revision-hash label is `<sts>-<hash>`, and the hash
# is up to 10 characters.
REVISION_HASH_LEN = 10

groups = st.integers(min_value=0, max_value=255)


def all_names(name: str, group: int) -> dict[str, str]:
    return {
        "group": naming.group_name(name, group),
        "headless": naming.headless_service_name(name, group),
        "client": naming.client_service_name(name),
        "pvc": naming.weights_pvc_name(name),
        "bench": naming.benchmark_job_name(name),
        "results": naming.benchmark_results_configmap_name(name),
        "offline": naming.offline_job_name(name, group),
        "offline-svc": naming.offline_service_name(name, group),
    }


def test_short_names_are_kept_readable() -> None:
    assert naming.group_name("llama", 0) == "llama-0"
    assert naming.headless_service_name("llama", 1) == "llama-1-hs"
    assert naming.client_service_name("llama") == "llama"
    assert naming.weights_pvc_name("llama") == "llama-weights"
    assert (
        naming.rank0_fqdn("llama", 1, "ns", "cluster.local")
        == "llama-1-0.llama-1-hs.ns.svc.cluster.local"
    )
    assert naming.client_endpoint("llama", "ns", 30000, "cluster.local") == (
        "http://llama.ns.svc.cluster.local:30000"
    )


def test_headless_service_never_takes_another_deployments_client_name() -> None:
    # Deployment "llama" group 1 against a deployment named "llama-1".
    assert naming.headless_service_name("llama", 1) != naming.client_service_name("llama-1")


def test_a_63_character_name_is_shortened_with_a_stable_hash() -> None:
    name = "a" * 63
    group = naming.group_name(name, 3)
    assert len(group) <= naming.WORKLOAD_NAME_MAX
    assert group.endswith("-3")
    assert group == naming.group_name(name, 3)
    assert naming.short_hash(name) in group
    assert naming.group_name("a" * 62 + "b", 3) != group


def test_names_that_are_not_dns_labels_are_sanitised() -> None:
    for name in ("7b-model", "llama.v3"):
        for value in all_names(name, 0).values():
            assert DNS_1035.match(value), value
    assert naming.client_service_name("llama.v3") != naming.client_service_name("llama-v3")


@given(resource_names, groups)
def test_every_name_fits_its_limit_for_any_valid_resource_name(name: str, group: int) -> None:
    names = all_names(name, group)
    for value in names.values():
        assert DNS_1035.match(value), value
        assert len(value) <= naming.DNS_LABEL_MAX, value
    # pods `<group>-<rank>`, revision hash label `<group>-<hash>`, Job pod hostnames
    for workload in (names["group"], names["offline"], names["bench"]):
        assert len(workload) + 1 + REVISION_HASH_LEN <= naming.DNS_LABEL_MAX
    assert len(naming.rank0_fqdn(name, group, "n" * 63, "cluster.local")) <= 253


@given(resource_names, resource_names, groups)
def test_distinct_deployments_get_distinct_group_names(a: str, b: str, group: int) -> None:
    if a != b:
        assert naming.group_name(a, group) != naming.group_name(b, group)
        assert naming.client_service_name(a) != naming.client_service_name(b)


@given(resource_names, groups)
def test_labels_and_selectors_are_valid(name: str, group: int) -> None:
    labels = naming.group_labels(name, group)
    for value in labels.values():
        assert len(value) <= 63 and LABEL_VALUE.match(value), value
    # Every selector is a subset of the labels the objects carry.
    assert naming.group_selector_labels(name, group).items() <= labels.items()
    server = naming.labels(name, naming.COMPONENT_SERVER)
    assert naming.selector_labels(name, naming.COMPONENT_SERVER).items() <= server.items()


def test_client_selector_is_rank_zero_server_pods() -> None:
    selector = naming.client_selector("llama")
    assert selector[naming.POD_INDEX_LABEL] == "0"
    assert selector[naming.COMPONENT_LABEL] == naming.COMPONENT_SERVER
    assert selector[naming.INSTANCE_LABEL] == "llama"


def test_status_selector_string_matches_every_server_pod() -> None:
    selector = naming.server_selector("llama")
    assert selector == (
        "app.kubernetes.io/component=server,app.kubernetes.io/instance=llama,"
        "app.kubernetes.io/name=sglang"
    )
    pairs = dict(item.split("=") for item in selector.split(","))
    for group in range(3):
        assert pairs.items() <= naming.group_labels("llama", group).items()


# ---- exact names: the hash, the truncation and the limits, value by value -------------------

# The longest name the API server accepts: 253 characters, four DNS labels.
LONGEST = ".".join(["a" * 63] * 3 + ["a" * 61])
A = "a"


def test_short_hash_is_the_sha256_hex_prefix() -> None:
    # sha256("llama") = fc5a1047f591...
    assert naming.short_hash("llama") == "fc5a1047"
    assert naming.short_hash("llama", 12) == "fc5a1047f591"
    assert naming.HASH_LEN == 8


def test_the_limits_are_kubernetes_label_limits() -> None:
    assert naming.DNS_LABEL_MAX == 63
    # 63 - len("-") - 10 (the controller-revision-hash suffix)
    assert naming.WORKLOAD_NAME_MAX == 52


def test_every_name_of_the_longest_resource_name_exactly() -> None:
    assert len(LONGEST) == 253
    expected = {
        "group": (A * 41 + "-5dc8059b-3", 52),
        "headless": (A * 41 + "-5dc8059b-3-hs", 55),
        "client": (A * 54 + "-5dc8059b", 63),
        "pvc": (A * 46 + "-5dc8059b-weights", 63),
        "bench": (A * 37 + "-5dc8059b-bench", 52),
        "results": (A * 40 + "-5dc8059b-bench-results", 63),
        "offline": (A * 33 + "-5dc8059b-offline-3", 52),
        "offline-svc": (A * 33 + "-5dc8059b-offline-3-hs", 55),
    }
    names = all_names(LONGEST, 3)
    assert {k: (v, len(v)) for k, v in names.items()} == expected
    assert naming.reporter_configmap_name(LONGEST) == A * 39 + "-5dc8059b-bench-reporter"
    assert naming.instance_label_value(LONGEST) == A * 54 + "-5dc8059b"


def test_every_name_of_a_63_character_name_exactly() -> None:
    name = A * 63
    assert all_names(name, 3) == {
        "group": A * 41 + "-7d3e74a0-3",
        "headless": A * 41 + "-7d3e74a0-3-hs",
        "client": name,
        "pvc": A * 46 + "-7d3e74a0-weights",
        "bench": A * 37 + "-7d3e74a0-bench",
        "results": A * 40 + "-7d3e74a0-bench-results",
        "offline": A * 33 + "-7d3e74a0-offline-3",
        "offline-svc": A * 33 + "-7d3e74a0-offline-3-hs",
    }
    assert naming.reporter_configmap_name(name) == A * 39 + "-7d3e74a0-bench-reporter"
    assert naming.instance_label_value(name) == name


@pytest.mark.parametrize(
    ("name", "group", "expected"),
    [
        # 50 + "-0" = 52 characters: fits as it is.
        ("c" * 50, 0, "c" * 50 + "-0"),
        # 50 + "-10" = 53: one too many, hashed.
        ("c" * 50, 10, "c" * 40 + "-5de6bf7f-10"),
        ("c" * 49, 10, "c" * 49 + "-10"),
    ],
)
def test_a_group_name_is_kept_up_to_52_characters_exactly(
    name: str, group: int, expected: str
) -> None:
    assert naming.group_name(name, group) == expected


def test_job_names_are_kept_up_to_52_characters_exactly() -> None:
    assert naming.benchmark_job_name("c" * 46) == "c" * 46 + "-bench"
    assert naming.benchmark_job_name("c" * 47) == "c" * 37 + "-579afbdc-bench"
    assert naming.offline_job_name("c" * 42, 0) == "c" * 42 + "-offline-0"
    assert naming.offline_job_name("c" * 43, 0) == "c" * 33 + "-0c49d892-offline-0"


def test_client_name_is_kept_up_to_63_characters_exactly() -> None:
    assert naming.client_service_name("c" * 63) == "c" * 63
    assert naming.client_service_name("c" * 63 + ".d") == "c" * 54 + "-5f9b0eca"


def test_a_truncated_prefix_never_ends_in_a_dash() -> None:
    name = A * 40 + "-" + "b" * 22
    assert naming.group_name(name, 3) == A * 40 + "-b80faf54-3"


def test_names_that_are_not_labels_are_sanitised_exactly() -> None:
    assert naming.client_service_name("7b-model") == "x7b-model-9ecb8d18"
    assert naming.group_name("7b-model", 3) == "x7b-model-9ecb8d18-3"
    assert naming.client_service_name("llama.v3") == "llama-v3-9aa27939"
    assert naming.weights_pvc_name("llama.v3") == "llama-v3-9aa27939-weights"
    assert naming.client_service_name("Llama") == "llama-9384f8e7"
    # Only a leading digit needs the "x"; a digit second does not.
    assert naming.client_service_name("a1.b") == "a1-b-c3765fc8"
    # A label value may start with a digit and hold dots: kept as it is.
    assert naming.instance_label_value("7b-model") == "7b-model"
    assert naming.instance_label_value("llama.v3") == "llama.v3"


def test_a_label_value_over_63_characters_is_hashed_without_a_trailing_dot() -> None:
    name = A * 53 + "." + "b" * 10
    assert naming.instance_label_value(name) == A * 53 + "-58447996"


def test_every_short_name_exactly() -> None:
    assert naming.benchmark_job_name("llama") == "llama-bench"
    assert naming.benchmark_results_configmap_name("llama") == "llama-bench-results"
    assert naming.reporter_configmap_name("llama") == "llama-bench-reporter"
    assert naming.offline_job_name("llama") == "llama-offline-0"
    assert naming.offline_job_name("llama", 2) == "llama-offline-2"
    assert naming.offline_service_name("llama", 2) == "llama-offline-2-hs"
    assert naming.offline_service_name("llama") == "llama-offline-0-hs"
    assert (
        naming.offline_rank0_fqdn("llama", 2, "ns", "cluster.local")
        == "llama-offline-2-0.llama-offline-2-hs.ns.svc.cluster.local"
    )
    assert naming.pod_fqdn("h", "s", "ns", "example.org") == "h.s.ns.svc.example.org"


def test_labels_exactly() -> None:
    assert naming.group_labels("llama", 2) == {
        "app.kubernetes.io/name": "sglang",
        "app.kubernetes.io/instance": "llama",
        "app.kubernetes.io/component": "server",
        "app.kubernetes.io/managed-by": "sglang-operator",
        "sglang-operator.io/group": "2",
    }
    assert naming.group_selector_labels("llama", 1, naming.COMPONENT_OFFLINE) == {
        "app.kubernetes.io/name": "sglang",
        "app.kubernetes.io/instance": "llama",
        "app.kubernetes.io/component": "offline",
        "sglang-operator.io/group": "1",
    }
    assert naming.labels("llama", naming.COMPONENT_BENCHMARK) == {
        "app.kubernetes.io/name": "sglang",
        "app.kubernetes.io/instance": "llama",
        "app.kubernetes.io/component": "benchmark",
        "app.kubernetes.io/managed-by": "sglang-operator",
    }
    assert naming.client_selector("llama") == {
        "app.kubernetes.io/name": "sglang",
        "app.kubernetes.io/instance": "llama",
        "app.kubernetes.io/component": "server",
        "apps.kubernetes.io/pod-index": "0",
    }
    assert naming.format_selector({"b": "2", "a": "1"}) == "a=1,b=2"
