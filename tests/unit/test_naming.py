"""Names and labels: within Kubernetes' limits for any valid resource name, stable, distinct."""

import re

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
