"""The Helm chart, rendered by the real helm binary (no cluster): lint, every ci/ scenario,
the security settings and RBAC it promises, and the generated files kept in sync."""

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from rbac_matrix import (
    KOPF_CRD_RULE,
    KOPF_NAMESPACE_RULE,
    LEASE_RULES,
    NODE_RULE,
    OPERATOR_RULES,
)
from sglang_operator import chartgen, cli, naming
from sglang_operator.builders import HTTP_PORT_NAME

CHART = chartgen.CHART_DIR
SCENARIOS = sorted(p.name for p in (CHART / "ci").glob("*-values.yaml"))


def helm(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chartgen.find_helm(), *args], cwd=CHART, capture_output=True, text=True, check=False
    )


def render(*args: str) -> list[dict[str, Any]]:
    docs = yaml.safe_load_all(chartgen.helm_template("rel", ".", "--namespace", "ops", *args))
    return [d for d in docs if d]


def scenario(name: str) -> list[dict[str, Any]]:
    return render("-f", f"ci/{name}")


def only(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def flat_rules(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    out: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                out.setdefault((group, resource), set()).update(rule["verbs"])
    return out


def bound_rules(docs: list[dict[str, Any]], service_account: str) -> Iterator[dict[str, Any]]:
    """Every role (Cluster or namespaced) bound to the operator's ServiceAccount."""
    roles = {(d["kind"], d["metadata"]["name"], d["metadata"].get("namespace")): d for d in docs}
    for binding in docs:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(s["name"] == service_account for s in binding["subjects"]):
            continue
        ref = binding["roleRef"]
        namespace = None if ref["kind"] == "ClusterRole" else binding["metadata"]["namespace"]
        yield roles[(ref["kind"], ref["name"], namespace)]


@pytest.mark.parametrize("values", SCENARIOS)
def test_lint_strict(values: str) -> None:
    out = helm(
        "lint", "--strict", "--kube-version", chartgen.KUBE_VERSION, ".", "-f", f"ci/{values}"
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("values", SCENARIOS)
def test_operator_pod_is_hardened(values: str) -> None:
    deployment = only(scenario(values), "Deployment")
    spec = deployment["spec"]
    chosen = yaml.safe_load((CHART / "ci" / values).read_text()) or {}
    assert spec["replicas"] == chosen.get("replicaCount", 1)
    # Safe with one leader: a new pod waits for the Lease the old one releases.
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])


@pytest.mark.parametrize("values", SCENARIOS)
def test_probes_hit_kopf_liveness_endpoint(values: str) -> None:
    container = only(scenario(values), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    port = next(p for p in container["ports"] if p["name"] == "health")
    args = container["args"]
    liveness_url = args[args.index("--liveness") + 1]
    assert liveness_url == f"http://0.0.0.0:{port['containerPort']}/healthz"
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": port["name"]}
    assert "--standalone" in args
    assert "--leader-elect" in args


@pytest.mark.parametrize("values", SCENARIOS)
def test_operator_cli_accepts_the_charts_arguments(values: str) -> None:
    container = only(scenario(values), "Deployment")["spec"]["template"]["spec"]["containers"][0]
    # The image's entrypoint is `sglang-operator run`; the chart gives the arguments.
    args = cli.build_parser().parse_args(["run", *container["args"]])
    assert args.standalone is True
    assert not (args.all_namespaces and args.namespace)
    assert args.leader_elect is True
    assert args.leader_election_namespace == "ops"
    assert args.leader_election_id == "rel-sglang-operator"
    assert (
        args.leader_elect_lease_duration
        > args.leader_elect_renew_deadline
        > 1.2 * args.leader_elect_retry_period
    )
    assert {
        "name": "POD_NAME",
        "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}},
    } in (container["env"])


def lease_rules(docs: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """The rules of the Role in the release namespace (leader election), checked to name
    only the operator's own Lease for anything but create."""
    (role,) = [
        r
        for r in bound_rules(docs, "rel-sglang-operator")
        if r["kind"] == "Role"
        and r["metadata"]["namespace"] == "ops"
        and r["metadata"]["name"].endswith("-leader-election")
    ]
    for rule in role["rules"]:
        if rule["verbs"] != ["create"]:
            assert rule["resourceNames"] == ["rel-sglang-operator"]
    return flat_rules(role["rules"])


def test_cluster_wide_by_default() -> None:
    docs = scenario("default-values.yaml")
    args = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--all-namespaces" in args
    assert "--namespace" not in args
    assert lease_rules(docs) == LEASE_RULES
    roles = [r for r in bound_rules(docs, "rel-sglang-operator") if r["kind"] == "ClusterRole"]
    granted: dict[tuple[str, str], set[str]] = {}
    for role in roles:
        for key, verbs in flat_rules(role["rules"]).items():
            granted.setdefault(key, set()).update(verbs)
    # Exactly what the operator and kopf use, nothing more (cluster-wide kopf never reads
    # namespaces).
    assert granted == {**OPERATOR_RULES, **KOPF_CRD_RULE, **NODE_RULE}


def test_namespaced_mode_grants_operator_rules_only_in_watched_namespaces() -> None:
    docs = scenario("namespaced-values.yaml")
    watched = yaml.safe_load((CHART / "ci" / "namespaced-values.yaml").read_text())[
        "watchNamespaces"
    ]
    args = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--all-namespaces" not in args
    assert [args[i + 1] for i, a in enumerate(args) if a == "--namespace"] == watched
    assert lease_rules(docs) == LEASE_RULES
    roles = [
        r
        for r in bound_rules(docs, "rel-sglang-operator")
        if not r["metadata"]["name"].endswith("-leader-election")
    ]
    namespaced = [r for r in roles if r["kind"] == "Role"]
    assert sorted(r["metadata"]["namespace"] for r in namespaced) == sorted(watched)
    for role in namespaced:
        assert flat_rules(role["rules"]) == OPERATOR_RULES
    (cluster_role,) = [r for r in roles if r["kind"] == "ClusterRole"]
    assert flat_rules(cluster_role["rules"]) == {
        **KOPF_CRD_RULE,
        **KOPF_NAMESPACE_RULE,
        **NODE_RULE,
    }


@pytest.mark.parametrize("values", SCENARIOS)
def test_no_secrets_no_wildcards_no_escalation(values: str) -> None:
    for doc in scenario(values):
        if doc["kind"] not in ("Role", "ClusterRole"):
            continue
        for rule in doc["rules"]:
            assert "secrets" not in rule["resources"], doc["metadata"]["name"]
            assert "*" not in rule["resources"] + rule["verbs"] + rule["apiGroups"]
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])


def test_existing_service_account_is_used_and_bound() -> None:
    docs = scenario("hardened-values.yaml")
    assert not [d for d in docs if d["kind"] == "ServiceAccount"]
    pod = only(docs, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "sglang-operator-managed"
    assert list(bound_rules(docs, "sglang-operator-managed"))


def test_image_digest_wins_over_tag() -> None:
    pod = only(scenario("hardened-values.yaml"), "Deployment")["spec"]["template"]["spec"]
    values = yaml.safe_load((CHART / "ci" / "hardened-values.yaml").read_text())["image"]
    assert pod["containers"][0]["image"] == f"{values['repository']}@{values['digest']}"


def test_network_policy_allows_health_in_and_api_server_out() -> None:
    docs = scenario("hardened-values.yaml")
    policy = only(docs, "NetworkPolicy")["spec"]
    pod_labels = only(docs, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert policy["podSelector"]["matchLabels"].items() <= pod_labels.items()
    assert policy["ingress"] == [
        {"ports": [{"port": "health", "protocol": "TCP"}, {"port": "metrics", "protocol": "TCP"}]}
    ]
    (egress,) = policy["egress"]
    assert egress["ports"] == [{"port": 6443, "protocol": "TCP"}]
    assert egress["to"] == [{"ipBlock": {"cidr": "10.0.0.10/32"}}]


def test_no_optional_objects_by_default() -> None:
    kinds = {d["kind"] for d in scenario("default-values.yaml")}
    assert not {"NetworkPolicy", "PodMonitor", "ServiceMonitor"} & kinds


def test_metrics_are_served_behind_a_service_by_default() -> None:
    docs = scenario("default-values.yaml")
    pod = only(docs, "Deployment")["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    args = cli.build_parser().parse_args(["run", *container["args"]])
    port = next(p for p in container["ports"] if p["name"] == "metrics")
    assert args.metrics_bind_address == f":{port['containerPort']}"
    service = only(docs, "Service")
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    assert service["spec"]["ports"] == [
        {
            "name": "metrics",
            "port": port["containerPort"],
            "targetPort": "metrics",
            "protocol": "TCP",
        }
    ]


def test_metrics_disabled_serves_nothing_and_opens_nothing() -> None:
    docs = render("--set", "metrics.enabled=false", "--set", "networkPolicy.enabled=true")
    (container,) = only(docs, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert cli.build_parser().parse_args(["run", *container["args"]]).metrics_bind_address == "0"
    assert [p["name"] for p in container["ports"]] == ["health"]
    assert "Service" not in {d["kind"] for d in docs}
    policy = only(docs, "NetworkPolicy")["spec"]
    assert policy["ingress"] == [{"ports": [{"port": "health", "protocol": "TCP"}]}]
    refused = helm(
        "template",
        "rel",
        ".",
        "--kube-version",
        chartgen.KUBE_VERSION,
        "--set",
        "metrics.enabled=false",
        "--set",
        "monitoring.operatorServiceMonitor.enabled=true",
    )
    assert refused.returncode != 0
    assert "needs metrics.enabled" in refused.stderr


def test_service_monitor_scrapes_the_operators_metrics_service() -> None:
    docs = scenario("monitoring-values.yaml")
    monitor = only(docs, "ServiceMonitor")
    service = only(docs, "Service")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    spec = monitor["spec"]
    assert spec["namespaceSelector"] == {"matchNames": [service["metadata"]["namespace"]]}
    assert spec["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = spec["endpoints"]
    assert endpoint["port"] == service["spec"]["ports"][0]["name"]
    assert endpoint["path"] == "/metrics"


@pytest.mark.parametrize(
    ("values", "namespace_selector"),
    [
        ("monitoring-values.yaml", {"any": True}),
        ("namespaced-values.yaml", {"matchNames": ["team-a", "team-b"]}),
    ],
)
def test_pod_monitor_selects_the_operators_server_pods(
    values: str, namespace_selector: dict[str, Any]
) -> None:
    monitor = only(scenario(values), "PodMonitor")["spec"]
    assert monitor["namespaceSelector"] == namespace_selector
    server_labels = naming.labels("any-name", naming.COMPONENT_SERVER)
    assert monitor["selector"]["matchLabels"] == {
        k: v for k, v in server_labels.items() if k != naming.INSTANCE_LABEL
    }
    (endpoint,) = monitor["podMetricsEndpoints"]
    assert endpoint["port"] == HTTP_PORT_NAME
    assert endpoint["path"] == "/metrics"


def test_schema_rejects_unknown_and_invalid_values() -> None:
    for bad in ("imageTag=1", "watchNamespaces[0]=Not_A_Namespace", "image.pullPolicy=Sometimes"):
        out = helm("template", "rel", ".", "--kube-version", chartgen.KUBE_VERSION, "--set", bad)
        assert out.returncode != 0, bad
        assert "schema" in out.stderr, out.stderr


def test_values_yaml_is_the_models_defaults() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values == chartgen.ChartValues().model_dump(by_alias=True)


def test_chart_crds_are_byte_identical_to_top_level() -> None:
    top = {p.name: p.read_bytes() for p in chartgen.CRD_DIR.glob("*.yaml")}
    chart = {p.name: p.read_bytes() for p in (CHART / "crds").glob("*.yaml")}
    assert top, "no CRD in crds/"
    assert chart == top


@pytest.mark.parametrize(
    "path", list(chartgen.generated_files()), ids=lambda p: str(p.relative_to(chartgen.ROOT))
)
def test_generated_file_is_current(path: Path) -> None:
    produce = chartgen.generated_files()[path]
    assert path.read_text() == produce(), "stale: run hack/gen-chart.sh"


def test_install_yaml_orders_namespace_and_crd_first() -> None:
    docs = [d for d in yaml.safe_load_all(chartgen.INSTALL_YAML.read_text()) if d]
    assert [d["kind"] for d in docs[:2]] == ["Namespace", "CustomResourceDefinition"]
    for doc in docs[2:]:
        if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"):
            assert doc["metadata"]["namespace"] == chartgen.INSTALL_NAMESPACE, doc["kind"]
