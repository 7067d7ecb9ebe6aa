"""The one place that builds names and labels of everything the operator creates.

Names. An SGLangDeployment's name is a DNS-1123 subdomain: up to 253 characters, dots
allowed, may start with a digit. The objects it owns have tighter rules: Services need a
DNS-1035 label (63 characters, starts with a letter), and a StatefulSet's name must leave
room in its pods' names (`<sts>-<ordinal>`) and in the `controller-revision-hash` label
(`<sts>-<10-character hash>`), both 63-character labels. So every owned name is
`<base><suffix>`, where the base is the deployment's name when it already fits and is a
valid label, and otherwise a sanitised, truncated prefix plus an 8-character hash of the
full name: stable (same input, same name) and distinct for distinct inputs.

| object                        | name                         | limit |
|-------------------------------|------------------------------|-------|
| group i StatefulSet           | `NAME-<i>`                   | 52    |
| group i headless Service      | `<group>-hs`                 | 63    |
| client Service                | `NAME`                       | 63    |
| weights PVC                   | `NAME-weights`               | 63    |
| benchmark Job                 | `NAME-bench`                 | 52    |
| benchmark results ConfigMap   | `NAME-bench-results`         | 63    |
| reporter script ConfigMap     | `NAME-bench-reporter`        | 63    |
| offline Indexed Job (group i) | `NAME-offline-<i>`           | 52    |
| offline headless Service      | `<offline job>-hs`           | 63    |
| ControllerRevision of a spec  | `NAME-rev-<10-char hash>`    | 63    |

The headless Service is not named like its group so that it can never take the client
Service name of another deployment (`llama`'s group 1 against a deployment `llama-1`).
"""

from __future__ import annotations

import hashlib
import re

from sglang_operator import API_GROUP

DNS_LABEL_MAX = 63
# 63 minus "-" and the 10-character hash the StatefulSet controller appends to its name in
# the controller-revision-hash label; pod names (`<name>-<ordinal>`) then fit too, and an
# Indexed Job's pod hostnames (`<job>-<index>`) as well.
WORKLOAD_NAME_MAX = DNS_LABEL_MAX - 1 - 10
HASH_LEN = 8

_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

# Label keys (app.kubernetes.io/* are Kubernetes' recommended labels).
NAME_LABEL = "app.kubernetes.io/name"
INSTANCE_LABEL = "app.kubernetes.io/instance"
COMPONENT_LABEL = "app.kubernetes.io/component"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
GROUP_LABEL = f"{API_GROUP}/group"
# Set by the StatefulSet controller (Kubernetes >= 1.28) on each pod: its ordinal, the rank.
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
# Set by the StatefulSet controller on each pod: the revision (ControllerRevision name) of the
# template it made the pod from; its StatefulSet's status.updateRevision is the current one.
POD_REVISION_LABEL = "controller-revision-hash"
# Set by the Job controller on each pod of an Indexed Job: its completion index, the rank.
JOB_COMPLETION_INDEX_ANNOTATION = "batch.kubernetes.io/job-completion-index"
# Hash of a group's pod template, on the StatefulSet and its pod template, so the operator
# can tell which pods run an old revision.
POD_SPEC_HASH_ANNOTATION = f"{API_GROUP}/pod-spec-hash"
# On an object the operator leaves behind when its SGLangDeployment is deleted (the weights
# claim with cache.whenDeleted Retain, which has no owner reference): the deployment's full
# name, so that a deployment of that name in the namespace takes the object up again.
RETAINED_FOR_ANNOTATION = f"{API_GROUP}/retained-for"
# On a group's StatefulSet: when (RFC 3339) the operator deleted a pod the StatefulSet had
# released (plan.reclaim). The StatefulSet controller backs off each failed sync of a
# StatefulSet whose pod's name is taken (5 ms doubling, up to 1000 s) and is not told when an
# orphan goes; a change of the StatefulSet syncs it at once.
RESYNC_ANNOTATION = f"{API_GROUP}/released-pod-deleted"
# Hash of what the operator last applied to a child: a child is written again only when
# this differs from what it would apply now, or when someone changed a field it sets.
APPLIED_HASH_ANNOTATION = f"{API_GROUP}/applied-hash"
# On each StatefulSet the operator writes: the SGLangDeployment's spec and generation it was
# built from (compact JSON, plan.recorded_spec), as kubectl's last-applied-configuration
# records an apply. It outlives the operator's memory, so a group can be built again on the
# revision it ran (its StatefulSet deleted during a held rollout, or under an invalid spec);
# each record is kept in a ControllerRevision too (`revision_name`), which outlives the
# StatefulSet, so pods it left behind (--cascade=orphan) come back on their own revision.
BUILT_FROM_ANNOTATION = f"{API_GROUP}/built-from"

# The env var of the seed's contract that tells each SGLang pod its group's size (rank
# count): how many pods a group of pods left behind by its StatefulSet should have.
GROUP_SIZE_ENV = "NNODES"

APP_NAME = "sglang"
MANAGED_BY_VALUE = "sglang-operator"
COMPONENT_SERVER = "server"
COMPONENT_BENCHMARK = "benchmark"
COMPONENT_OFFLINE = "offline"
# The ControllerRevisions that keep the specs the StatefulSets were built from: no group
# label, so no StatefulSet's selector (which has one) ever claims them.
COMPONENT_REVISION = "revision"


def short_hash(text: str, length: int = HASH_LEN) -> str:
    """A stable hex digest prefix of text."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _compose(name: str, suffix: str, limit: int) -> str:
    """`<name><suffix>` if it is a DNS-1035 label within limit; else a hashed short form."""
    full = name + suffix
    if len(full) <= limit and _DNS_1035.match(full):
        return full
    room = limit - len(suffix) - 1 - HASH_LEN
    sanitised = re.sub(r"[^a-z0-9-]", "-", name.lower())
    if not sanitised[:1].isalpha():
        sanitised = "x" + sanitised
    prefix = sanitised[:room].rstrip("-")
    return f"{prefix}-{short_hash(name)}{suffix}"


def group_name(name: str, group: int) -> str:
    """StatefulSet of replica group `group`; its pods are `<group name>-<rank>`."""
    return _compose(name, f"-{group}", WORKLOAD_NAME_MAX)


def headless_service_name(name: str, group: int) -> str:
    """Headless Service giving group `group`'s pods their rendezvous DNS names."""
    return group_name(name, group) + "-hs"


# How a group's headless Service name ends (`headless_service_name`, also when hashed).
_HEADLESS_SUFFIX = re.compile(r"-[0-9]+-hs$")


def name_problem(name: str) -> str | None:
    """Why `name` cannot be a deployment's although Kubernetes accepts it, or None: a name
    ending like a group's headless Service (`NAME-<group>-hs`) would give this deployment's
    client Service the name of another deployment's headless Service in the namespace, and
    one of the two would go without it. (Not a CRD rule: the CRD has no room left under
    client-side apply's annotation limit.)"""
    if _HEADLESS_SUFFIX.search(name):
        return (
            "metadata.name: a name ending in -<number>-hs is the name of the headless Service "
            "of another SGLangDeployment's group (NAME-<group>-hs), which this one's client "
            "Service would take: choose another name"
        )
    return None


def client_service_name(name: str) -> str:
    """The Service clients use: the OpenAI-compatible API of the rank-0 pods."""
    return _compose(name, "", DNS_LABEL_MAX)


def weights_pvc_name(name: str) -> str:
    """The weights cache PersistentVolumeClaim the operator creates (cache.size)."""
    return _compose(name, "-weights", DNS_LABEL_MAX)


def benchmark_job_name(name: str) -> str:
    """The serving benchmark Job."""
    return _compose(name, "-bench", WORKLOAD_NAME_MAX)


def benchmark_results_configmap_name(name: str) -> str:
    """ConfigMap holding the last benchmark's full JSON results."""
    return _compose(name, "-bench-results", DNS_LABEL_MAX)


def reporter_configmap_name(name: str) -> str:
    """ConfigMap holding reporter.py, which benchmark and offline pods mount and run."""
    return _compose(name, "-bench-reporter", DNS_LABEL_MAX)


def offline_job_name(name: str, group: int = 0) -> str:
    """Indexed Job of mode offline for replica group `group`; its pods are `<job>-<rank>`."""
    return _compose(name, f"-offline-{group}", WORKLOAD_NAME_MAX)


def offline_service_name(name: str, group: int = 0) -> str:
    """Headless Service (the Indexed Job's subdomain) for offline ranks' DNS names."""
    return offline_job_name(name, group) + "-hs"


def revision_name(name: str, record: str) -> str:
    """The ControllerRevision keeping `record` (a recorded spec, plan.recorded_spec): named
    by a hash of it, so one record has one name, and "-rev-" keeps it apart from the
    StatefulSet controller's own revisions (`<statefulset>-<hash>`)."""
    return _compose(name, f"-rev-{short_hash(record, 10)}", DNS_LABEL_MAX)


def pod_fqdn(hostname: str, service: str, namespace: str, domain: str) -> str:
    """DNS name of a pod with `hostname` under headless `service` (StatefulSet or Job)."""
    return f"{hostname}.{service}.{namespace}.svc.{domain}"


def rank0_fqdn(name: str, group: int, namespace: str, domain: str) -> str:
    """DNS name of rank 0 of a server group: the --dist-init-addr host."""
    host = f"{group_name(name, group)}-0"
    return pod_fqdn(host, headless_service_name(name, group), namespace, domain)


def offline_rank0_fqdn(name: str, group: int, namespace: str, domain: str) -> str:
    """DNS name of rank 0 of an offline Indexed Job (its pods' hostname is `<job>-<index>`)."""
    job = offline_job_name(name, group)
    return pod_fqdn(f"{job}-0", offline_service_name(name, group), namespace, domain)


def client_endpoint(name: str, namespace: str, port: int, domain: str) -> str:
    """In-cluster URL of the OpenAI-compatible API (status.endpoint)."""
    return f"http://{client_service_name(name)}.{namespace}.svc.{domain}:{port}"


# ---- labels ---------------------------------------------------------------------------------


def instance_label_value(name: str) -> str:
    """The deployment's name as a label value (63 characters at most, hashed beyond)."""
    if len(name) <= DNS_LABEL_MAX and _LABEL_VALUE.match(name):
        return name
    return f"{name[: DNS_LABEL_MAX - 1 - HASH_LEN].rstrip('.-')}-{short_hash(name)}"


def selector_labels(name: str, component: str) -> dict[str, str]:
    """Labels that identify one deployment's pods of one component (immutable selectors)."""
    return {
        NAME_LABEL: APP_NAME,
        INSTANCE_LABEL: instance_label_value(name),
        COMPONENT_LABEL: component,
    }


def labels(name: str, component: str) -> dict[str, str]:
    """Every label of an object the operator creates for a deployment."""
    return {**selector_labels(name, component), MANAGED_BY_LABEL: MANAGED_BY_VALUE}


def group_selector_labels(
    name: str, group: int, component: str = COMPONENT_SERVER
) -> dict[str, str]:
    """Selector of one replica group's pods."""
    return {**selector_labels(name, component), GROUP_LABEL: str(group)}


def group_labels(name: str, group: int, component: str = COMPONENT_SERVER) -> dict[str, str]:
    """Labels of one replica group's objects and pods."""
    return {**labels(name, component), GROUP_LABEL: str(group)}


def client_selector(name: str) -> dict[str, str]:
    """The client Service's selector: rank-0 server pods only, since only rank 0 serves HTTP."""
    return {**selector_labels(name, COMPONENT_SERVER), POD_INDEX_LABEL: "0"}


def server_selector(name: str) -> str:
    """Label selector string of all server pods of a deployment (status.selector)."""
    return format_selector(selector_labels(name, COMPONENT_SERVER))


def format_selector(match_labels: dict[str, str]) -> str:
    """`k=v,k=v` as kubectl and the scale subresource read it."""
    return ",".join(f"{key}={value}" for key, value in sorted(match_labels.items()))
