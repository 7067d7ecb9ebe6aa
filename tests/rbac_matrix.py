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
    # controller.py: kopf's index and event handler of the resource (list + watch); the
    # reconcile reads it from that cache only, and writes only its status.
    (API_GROUP, "sglangdeployments"): {"list", "watch"},
    # kube.Kube.patch_status (merge patch of the status subresource).
    (API_GROUP, "sglangdeployments/status"): {"patch"},
    # controller.py caches every kind of child (list + watch, selected by the managed-by
    # label on the API server); a child missing from the cache is created by an apply that
    # fails on a taken name (kube.Kube.apply_new), and only then read (get) so that an object
    # of that name without the label is never taken over; kube.Kube.apply writes (server-side
    # apply: patch, and create when new); kube.Kube.delete prunes groups
    # (plan._prune) and replaces Jobs (runs.py).
    ("apps", "statefulsets"): {"get", "list", "watch", "create", "patch", "delete"},
    ("", "services"): {"get", "list", "watch", "create", "patch", "delete"},
    ("batch", "jobs"): {"get", "list", "watch", "create", "patch", "delete"},
    # The recorded specs (plan.revision): cached like the other children, read when the name
    # of one missing from the cache is taken, created with server-side apply (never changed:
    # what one keeps is immutable), deleted once nothing records or runs them
    # (plan._keep_records).
    ("apps", "controllerrevisions"): {"get", "list", "watch", "create", "patch", "delete"},
    # Watched for group health; deleted to restart or roll a group, force-deleted on a lost
    # node (reconcile._act); created only in server-side dry runs, to ask admission about a
    # new pod template before a StatefulSet gets it (reconcile._check_pods; RBAC cannot
    # grant dryRun alone); labels changed by hand put back (reconcile._relabel_all, a merge
    # patch); read by name when a StatefulSet lacks one that no cache holds (a selector
    # label changed by hand, plan.LOOK_UP_AFTER).
    ("", "pods"): {"get", "list", "watch", "create", "patch", "delete"},
    # Cached and applied like the other children; never deleted (a weights cache outlives a
    # scale-down and goes with the SGLangDeployment through its owner reference, or stays).
    ("", "persistentvolumeclaims"): {"get", "list", "watch", "create", "patch"},
    # The reporter script and the results ConfigMaps: cached and applied, never deleted.
    ("", "configmaps"): {"get", "list", "watch", "create", "patch"},
    # kube.Kube.pod_log: the benchmark/offline result line from the finished pod's log.
    ("", "pods/log"): {"get"},
    # kube.Kube.event posts core/v1 Events (kopf's own posting is off); controller.py
    # watches the FailedCreate events of the children (pods refused at creation are told
    # only there).
    ("", "events"): {"create", "list", "watch"},
}

# Cluster-scoped, in every mode: controller.py watches Nodes, so that a pod on a node that
# stops reporting (Ready Unknown) or is deleted is noticed at once and force-deleted after
# spec.healing.unreachableNodeTimeoutSeconds.
NODE_RULE: Matrix = {("", "nodes"): {"list", "watch"}}

# Cluster-scoped, for kopf itself (kopf's reactor/observation.py): it watches CRDs to notice
# the resource's CRD being installed or upgraded after start; with --namespace it also
# follows the watched namespaces.
KOPF_CRD_RULE: Matrix = {("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"}}
KOPF_NAMESPACE_RULE: Matrix = {("", "namespaces"): {"list", "watch"}}

# In the operator's own namespace, on its own Lease only (leader.py: the kubernetes client's
# LeaseLock reads, creates and replaces it). create cannot be limited to a name.
LEASE_RULES: Matrix = {("coordination.k8s.io", "leases"): {"get", "create", "update"}}
