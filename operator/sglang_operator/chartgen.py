"""Generates the delivery files that must never be edited by hand.

One pydantic model, `ChartValues`, is the single source of the Helm chart's values: it writes
both `values.yaml` (defaults, each with its description as a comment) and
`values.schema.json` (so `helm install` refuses a misspelt or mistyped value). The chart's
`crds/` is a byte copy of the top-level `crds/`; `dist/install.yaml` is the chart rendered
for a plain `kubectl apply`; `argocd/argocd-cm.yaml` embeds the ArgoCD health check.

    python -m sglang_operator.chartgen            # write every generated file
    python -m sglang_operator.chartgen --check    # exit 1 if any is out of date

`dist/install.yaml` needs the `helm` binary (`hack/cluster.sh build` makes one).
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from sglang_operator import API_GROUP, KIND, podtemplate

ROOT = Path(__file__).resolve().parents[2]
CHART_DIR = ROOT / "helm" / "sglang-operator"
CRD_DIR = ROOT / "crds"
INSTALL_YAML = ROOT / "dist" / "install.yaml"
HEALTH_DIR = ROOT / "argocd" / "resource_customizations" / API_GROUP / KIND
ARGOCD_CM = ROOT / "argocd" / "argocd-cm.yaml"

# The release name and namespace of the one-file install; the names it produces are the ones
# `helm install sglang-operator ... -n sglang-operator` would give, so both ways look alike.
INSTALL_RELEASE = "sglang-operator"
INSTALL_NAMESPACE = "sglang-operator"

# The Kubernetes version `helm template` renders for: the project's (the pod template's and
# the test cluster's). Passed explicitly because a helm built from source without helm's own
# ldflags assumes v1.20, below the chart's kubeVersion.
KUBE_VERSION = podtemplate.K8S_VERSION

OPERATOR_IMAGE_REPOSITORY = "ghcr.io/sglang-operator/sglang-operator"
DNS_LABEL_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"

FreeForm = dict[str, Any]
Namespace = Annotated[str, Field(pattern=DNS_LABEL_RE, max_length=63)]


def _drop_description(schema: dict[str, Any]) -> None:
    # Class docstrings describe Python code, not values: the field descriptions say it all.
    schema.pop("description", None)


class _Values(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        json_schema_extra=_drop_description,
    )


class ImageValues(_Values):
    repository: str = Field(
        default=OPERATOR_IMAGE_REPOSITORY, min_length=1, description="Operator image repository."
    )
    tag: str = Field(default="", description="Image tag; empty means the chart's appVersion.")
    digest: str = Field(
        default="",
        pattern=r"^(sha256:[a-f0-9]{64})?$",
        description="Image digest (sha256:...); when set it pins the image and the tag is ignored.",
    )
    pull_policy: Literal["Always", "IfNotPresent", "Never"] = Field(
        default="IfNotPresent", description="Image pull policy."
    )


class ServiceAccountValues(_Values):
    create: bool = Field(default=True, description="Create the operator's ServiceAccount.")
    name: str = Field(
        default="",
        description="ServiceAccount to use; empty means the release's full name.",
    )
    annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations on the ServiceAccount."
    )


class RbacValues(_Values):
    create: bool = Field(
        default=True,
        description="Create the ClusterRoles/Roles and bindings the operator needs. Turn off "
        "only if an administrator grants the same rules another way.",
    )
    aggregate_to_default_roles: bool = Field(
        default=True,
        description="Add SGLangDeployment rights to the built-in admin, edit and view "
        "ClusterRoles, so namespace users can manage them without extra bindings.",
    )


class SGLangPodMonitorValues(_Values):
    enabled: bool = Field(
        default=False,
        description="Create a Prometheus Operator PodMonitor that scrapes /metrics of every "
        "SGLang pod this operator manages (needs the monitoring.coreos.com CRDs, and "
        "spec.server.enableMetrics on each deployment, which is the default).",
    )
    namespaces: list[Namespace] = Field(
        default_factory=list,
        description="Namespaces to scrape; empty means the watched namespaces (all of them "
        "when watchNamespaces is empty).",
    )
    interval: str = Field(default="30s", description="Scrape interval.")
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Extra labels on the PodMonitor, e.g. the one your Prometheus selects.",
    )


class OperatorServiceMonitorValues(_Values):
    enabled: bool = Field(
        default=False,
        description="Create a Prometheus Operator ServiceMonitor that scrapes the operator's "
        "own /metrics through the metrics Service (needs the monitoring.coreos.com CRDs and "
        "metrics.enabled).",
    )
    interval: str = Field(default="30s", description="Scrape interval.")
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Extra labels on the ServiceMonitor, e.g. the one your Prometheus selects.",
    )


class MonitoringValues(_Values):
    sglang_pod_monitor: SGLangPodMonitorValues = Field(
        default_factory=SGLangPodMonitorValues, description="Scraping the SGLang servers."
    )
    operator_service_monitor: OperatorServiceMonitorValues = Field(
        default_factory=OperatorServiceMonitorValues, description="Scraping the operator."
    )


class MetricsValues(_Values):
    enabled: bool = Field(
        default=True,
        description="Serve the operator's Prometheus metrics (controller-runtime's names: "
        "controller_runtime_reconcile_total, workqueue_depth, rest_client_requests_total, ...) "
        "on /metrics, with a ClusterIP Service in front of them.",
    )
    port: int = Field(
        default=8080, ge=1, le=65535, description="Port of the operator's /metrics endpoint."
    )


class NetworkPolicyValues(_Values):
    enabled: bool = Field(
        default=False,
        description="Restrict the operator pod's traffic: ingress only to its health and "
        "metrics ports, egress only to the Kubernetes API server.",
    )
    api_server_ports: list[int] = Field(
        default_factory=lambda: [443, 6443],
        description="Ports of the API server endpoints (after the kubernetes Service's "
        "translation: often 6443 on self-managed clusters, 443 on managed ones).",
    )
    api_server_peers: list[FreeForm] = Field(
        default_factory=list,
        description="NetworkPolicyPeers of the API server, e.g. [{ipBlock: {cidr: "
        "10.0.0.10/32}}]; empty allows those ports to any address.",
    )


class LeaderElectionValues(_Values):
    lease_duration_seconds: int = Field(
        default=15,
        ge=2,
        description="How long standbys wait after the leader's last renewal before one takes over.",
    )
    renew_deadline_seconds: int = Field(
        default=10,
        ge=2,
        description="How long the leader keeps retrying a renewal before it exits; below the "
        "lease duration.",
    )
    retry_period_seconds: int = Field(
        default=2,
        ge=1,
        description="Time between renewals, and between a standby's attempts.",
    )


class ChartValues(_Values):
    """Every value of the sglang-operator chart, with its default."""

    image: ImageValues = Field(default_factory=ImageValues, description="The operator image.")
    image_pull_secrets: list[FreeForm] = Field(
        default_factory=list, description="Pull secrets for the operator image: [{name: ...}]."
    )
    name_override: str = Field(default="", description="Replaces the chart name in names.")
    fullname_override: str = Field(default="", description="Replaces the full resource names.")
    watch_namespaces: list[Namespace] = Field(
        default_factory=list,
        description="Namespaces to watch. Empty: the whole cluster (ClusterRole). Set: only "
        "these, each with its own Role; the namespaces must exist before the install.",
    )
    replica_count: int = Field(
        default=1,
        ge=1,
        le=5,
        description="Operator replicas. One leads (holds the Lease) and reconciles; the others "
        "stand by and take over within the lease duration if it dies, at once if it stops "
        "cleanly. 2 for high availability.",
    )
    leader_election: LeaderElectionValues = Field(
        default_factory=LeaderElectionValues,
        description="Leader election on a coordination.k8s.io Lease in the release namespace.",
    )
    health_port: int = Field(
        default=8081, ge=1, le=65535, description="Port of the operator's /healthz endpoint."
    )
    metrics: MetricsValues = Field(
        default_factory=MetricsValues, description="The operator's own metrics."
    )
    extra_args: list[str] = Field(
        default_factory=list, description="Extra command-line arguments for the operator."
    )
    extra_env: list[FreeForm] = Field(
        default_factory=list, description="Extra environment variables (EnvVar objects)."
    )
    service_account: ServiceAccountValues = Field(
        default_factory=ServiceAccountValues, description="The operator's ServiceAccount."
    )
    rbac: RbacValues = Field(default_factory=RbacValues, description="RBAC objects.")
    resources: FreeForm = Field(
        default_factory=lambda: {
            "requests": {"cpu": "100m", "memory": "256Mi"},
            "limits": {"cpu": "1", "memory": "512Mi"},
        },
        description="Operator container resources.",
    )
    pod_security_context: FreeForm = Field(
        default_factory=lambda: {
            "runAsNonRoot": True,
            "runAsUser": 65532,
            "runAsGroup": 65532,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        description="Pod securityContext. The image runs as uid 65532 and needs no privileges.",
    )
    security_context: FreeForm = Field(
        default_factory=lambda: {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "privileged": False,
            "capabilities": {"drop": ["ALL"]},
        },
        description="Container securityContext.",
    )
    pod_annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations on the operator pod."
    )
    pod_labels: dict[str, str] = Field(
        default_factory=dict, description="Extra labels on the operator pod."
    )
    priority_class_name: str = Field(default="", description="PriorityClass of the operator pod.")
    node_selector: dict[str, str] = Field(
        default_factory=dict, description="nodeSelector of the operator pod."
    )
    tolerations: list[FreeForm] = Field(
        default_factory=list, description="Tolerations of the operator pod."
    )
    affinity: FreeForm = Field(default_factory=dict, description="Affinity of the operator pod.")
    monitoring: MonitoringValues = Field(
        default_factory=MonitoringValues, description="Prometheus Operator objects."
    )
    network_policy: NetworkPolicyValues = Field(
        default_factory=NetworkPolicyValues, description="A NetworkPolicy for the operator pod."
    )


def _without_titles(node: Any) -> Any:
    # pydantic titles each property after its Python name ("Apiserverports"): noise to a user.
    if isinstance(node, dict):
        return {k: _without_titles(v) for k, v in node.items() if k != "title"}
    if isinstance(node, list):
        return [_without_titles(v) for v in node]
    return node


def values_schema() -> dict[str, Any]:
    """The JSON schema Helm checks values against (draft 2020-12, as Helm 3.18+ reads)."""
    schema: dict[str, Any] = _without_titles(ChartValues.model_json_schema(by_alias=True))
    return {"title": "sglang-operator chart values", **schema}


def _comment(text: str, indent: str) -> list[str]:
    return [f"{indent}# {line}" for line in textwrap.wrap(text, width=96 - len(indent))]


def _yaml_lines(key: str, value: Any, indent: str) -> list[str]:
    if isinstance(value, dict | list) and value:
        body = yaml.safe_dump(value, default_flow_style=False, sort_keys=False).splitlines()
        return [f"{indent}{key}:", *(f"{indent}  {line}" for line in body)]
    scalar = yaml.safe_dump(value, default_flow_style=True).splitlines()[0]
    return [f"{indent}{key}: {scalar}"]


def _model_lines(model: BaseModel, indent: str) -> list[str]:
    lines: list[str] = []
    for name, field in type(model).model_fields.items():
        key = field.alias or name
        value = getattr(model, name)
        if field.description:
            lines += _comment(field.description, indent)
        if isinstance(value, BaseModel):
            lines += [f"{indent}{key}:", *_model_lines(value, indent + "  ")]
        else:
            lines += _yaml_lines(key, value, indent)
    return lines


def values_yaml() -> str:
    """values.yaml: every default, each under its description."""
    header = [
        "# Values of the sglang-operator chart. GENERATED by `hack/gen-chart.sh` from",
        "# operator/sglang_operator/chartgen.py (ChartValues): edit that, not this file.",
        "# values.schema.json, generated from the same model, rejects unknown keys.",
    ]
    return "\n".join([*header, *_model_lines(ChartValues(), "")]) + "\n"


def values_schema_json() -> str:
    return json.dumps(values_schema(), indent=2, sort_keys=False) + "\n"


@functools.cache
def find_helm() -> str:
    """The helm binary: the one `hack/cluster.sh build` made, else the one on PATH."""
    out = subprocess.run(
        ["bash", "-c", 'eval "$(hack/cluster.sh env)" && command -v helm'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    found = out.stdout.strip() or shutil.which("helm")
    if not found:
        raise FileNotFoundError("helm not found: run hack/cluster.sh build")
    return found


def helm_template(*args: str) -> str:
    """`helm template` of the chart in the repository (values files relative to the chart)."""
    cmd = [find_helm(), "template", "--kube-version", KUBE_VERSION, *args]
    return subprocess.run(cmd, cwd=CHART_DIR, capture_output=True, text=True, check=True).stdout


def install_yaml() -> str:
    """dist/install.yaml: the namespace, then the chart as `helm install` would create it."""
    rendered = helm_template(
        INSTALL_RELEASE, ".", "--namespace", INSTALL_NAMESPACE, "--include-crds"
    )
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": INSTALL_NAMESPACE,
            "labels": {
                # The operator needs nothing beyond the restricted Pod Security profile.
                "pod-security.kubernetes.io/enforce": "restricted",
            },
        },
    }
    header = (
        "# sglang-operator: CRD, namespace, RBAC and Deployment in one file.\n"
        "#   kubectl apply -f dist/install.yaml            (or: --server-side)\n"
        "# GENERATED by hack/gen-chart.sh from helm/sglang-operator with default values;\n"
        "# use the chart to change them.\n"
    )
    return header + "---\n" + yaml.safe_dump(namespace, sort_keys=False) + rendered


def argocd_cm_yaml() -> str:
    """The argocd-cm entry that registers the health check with ArgoCD."""
    lua = (HEALTH_DIR / "health.lua").read_text()
    key = f"resource.customizations.health.{API_GROUP}_{KIND}"
    body = textwrap.indent(lua, "    ")
    return (
        "# Merge into ArgoCD's argocd-cm ConfigMap (namespace argocd) to show the health of\n"
        "# SGLangDeployments:\n"
        "#   kubectl -n argocd patch configmap argocd-cm --patch-file argocd/argocd-cm.yaml\n"
        f"# GENERATED by hack/gen-chart.sh from {HEALTH_DIR.relative_to(ROOT)}/health.lua.\n"
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata:\n"
        "  name: argocd-cm\n"
        "  namespace: argocd\n"
        "  labels:\n"
        "    app.kubernetes.io/name: argocd-cm\n"
        "    app.kubernetes.io/part-of: argocd\n"
        "data:\n"
        f"  {key}: |\n"
        f"{body}"
    )


def generated_files() -> dict[Path, Callable[[], str]]:
    """Every generated file and the function that produces its content."""
    files: dict[Path, Callable[[], str]] = {
        CHART_DIR / "values.yaml": values_yaml,
        CHART_DIR / "values.schema.json": values_schema_json,
        ARGOCD_CM: argocd_cm_yaml,
    }
    for crd in sorted(CRD_DIR.glob("*.yaml")):
        files[CHART_DIR / "crds" / crd.name] = crd.read_text
    # Rendered last: it reads the chart files written above.
    files[INSTALL_YAML] = install_yaml
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    stale = []
    for path, produce in generated_files().items():
        content = produce()
        if path.exists() and path.read_text() == content:
            continue
        stale.append(path.relative_to(ROOT))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content)
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'}: {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
