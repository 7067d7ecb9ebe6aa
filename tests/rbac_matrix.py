"""The rights the operator's code uses, written once: the chart's rendered RBAC
(tests/unit/test_helm_chart.py) and the real API server's answer for the chart's
ServiceAccount (tests/e2e/test_rbac_matrix.py) must both equal these, no verb more, no verb
less. Each entry names the code that needs it; change the code, change this, change the chart.

Keys are (apiGroup, resource); values are verbs.
"""

from __future__ import annotations

from sglang_operator import API_GROUP

Matrix = dict[tuple[str, str], set[str]]

# In every watched namespace (a ClusterRole cluster-wide; a Role per namespace otherwise).
OPERATOR_RULES: Matrix = {
    # controller.py: kopf's watch of the resource (list + watch); reconcile.py reads it (get).
    (API_GROUP, "sglangdeployments"): {"get", "list", "watch"},
    # kube.Kube.patch_status (merge patch of the status subresource).
    (API_GROUP, "sglangdeployments/status"): {"patch"},
    # controller.py watches StatefulSets, Services, Jobs and Pods (list + watch);
    # kube.Kube.get / list read them in reconcile.py and runs.py; kube.Kube.apply writes them
    # (server-side apply is a patch, and a create when the object is new); kube.Kube.delete
    # prunes groups (reconcile._prune), restarts groups (pods) and replaces Jobs (runs.py).
    ("apps", "statefulsets"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "services"): {"get", "list", "watch", "create", "patch", "delete"},
    ("batch", "jobs"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "pods"): {"list", "watch", "delete"},
    # reconcile._apply_children reads each desired child before applying it (the weights
    # claim); claims are never pruned or watched (a weights cache outlives a scale-down).
    ("", "persistentvolumeclaims"): {"get", "create", "patch"},
    # runs.py applies the reporter script and the results ConfigMaps, never reads them.
    ("", "configmaps"): {"create", "patch"},
    # kube.Kube.pod_log: the benchmark/offline result line from the finished pod's log.
    ("", "pods/log"): {"get"},
    # kube.Kube.event posts core/v1 Events (kopf's own posting is off).
    ("", "events"): {"create"},
}

# Cluster-scoped, for kopf itself (kopf's reactor/observation.py): it watches CRDs to notice
# the resource's CRD being installed or upgraded after start; with --namespace it also
# follows the watched namespaces.
KOPF_CRD_RULE: Matrix = {("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"}}
KOPF_NAMESPACE_RULE: Matrix = {("", "namespaces"): {"list", "watch"}}

# In the operator's own namespace, on its own Lease only (leader.py: the kubernetes client's
# LeaseLock reads, creates and replaces it). create cannot be limited to a name.
LEASE_RULES: Matrix = {("coordination.k8s.io", "leases"): {"get", "create", "update"}}
