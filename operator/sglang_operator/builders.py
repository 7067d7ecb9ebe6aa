"""Pure builders: an SGLangDeployment spec in, the plain-dict Kubernetes objects out.

No client and no cluster here; owner references are the caller's to add. The pieces of the
SGLang pod (container, env, arguments, pod template) are public so the offline Indexed Job
builder can reuse them with the Job's completion index as the rank source.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from enum import Enum
from typing import Any

from sglang_operator import naming, podtemplate, ports
from sglang_operator.api import (
    OPERATOR_LABELS,
    OPERATOR_POD_FIELDS,
    PROBE_PERIOD_SECONDS,
    RESERVED_ENV,
    ROCM_PRESET_ENV,
    SGLANG_CONTAINER,
    SHM_MOUNT_PATH,
    SHM_VOLUME,
    WEIGHTS_VOLUME,
    ProbeOverride,
    SGLangDeploymentSpec,
    StartupProbeOverride,
)

Obj = dict[str, Any]

CONTAINER_NAME = SGLANG_CONTAINER
SERVER_MODULE = "sglang.launch_server"
HTTP_PORT_NAME = "http"
DIST_PORT_NAME = "dist"
# Ranks >= 1 ignore SIGTERM until rank 0 broadcasts its shutdown, and rank 0 drains first:
# give both time before the SIGKILL.
TERMINATION_GRACE_SECONDS = 120
# How long a multi-node pod waits for rank 0's DNS record before it gives up (and the
# container restarts): records appear some seconds after the pod, rarely more.
DNS_WAIT_SECONDS = 300
# SGLang's bind address per spec.network.ipFamily (`::` is a dual-stack socket on Linux, so
# IPv4 clients reach it too), and the loopback address an exec probe calls.
BIND_ADDRESS = {"IPv4": "0.0.0.0", "IPv6": "::", "DualStack": "::"}
LOOPBACK_URL = {"IPv4": "127.0.0.1", "IPv6": "[::1]", "DualStack": "127.0.0.1"}


class RankSource(Enum):
    """Where a pod learns its node rank (NODE_RANK) from, through the downward API."""

    # The StatefulSet controller's ordinal label on each of its pods.
    POD_INDEX = f"metadata.labels['{naming.POD_INDEX_LABEL}']"
    # The Job controller's completion-index annotation on each pod of an Indexed Job.
    JOB_COMPLETION_INDEX = f"metadata.annotations['{naming.JOB_COMPLETION_INDEX_ANNOTATION}']"


# ---- the SGLang container -------------------------------------------------------------------


def sglang_args(spec: SGLangDeploymentSpec, *, dist_init_host: str) -> list[str]:
    """sglang.launch_server's arguments (also accepted by the offline benchmark modules).

    `$(NODE_RANK)` and `$(SGLANG_API_KEY)` are expanded by the kubelet from the container's
    env. The user's extraArgs come last so they can override any flag.
    """
    server = spec.server
    p = spec.parallelism
    args = ["--model-path", spec.model.path]
    if spec.model.revision:
        args += ["--revision", spec.model.revision]
    if spec.model.served_model_name:
        args += ["--served-model-name", spec.model.served_model_name]
    if spec.model.trust_remote_code:
        args.append("--trust-remote-code")
    # SGLang binds 127.0.0.1 by default: probes and the client Service would never reach it.
    host = BIND_ADDRESS[spec.network.ip_family]
    args += ["--host", host, "--port", str(server.port), "--tp-size", str(spec.tp)]
    if p.pp != 1:
        args += ["--pp-size", str(p.pp)]
    if p.dp != 1:
        args += ["--dp-size", str(p.dp)]
    if p.ep is not None:
        args += ["--ep-size", str(p.ep)]
    if p.nodes > 1:
        args += [
            "--nnodes",
            str(p.nodes),
            "--node-rank",
            "$(NODE_RANK)",
            "--dist-init-addr",
            f"{dist_init_host}:{spec.network.dist_init_port}",
        ]
    elif spec.network.host_network and not ports.has_flag(server.extra_args, "--nccl-port"):
        # One node runs torch's TCPStore on --nccl-port, random unless given: pinned to the
        # declared dist-init port, hostNetwork reserves it on the node.
        args += ["--nccl-port", str(spec.network.dist_init_port)]
    if server.mem_fraction_static is not None:
        args += ["--mem-fraction-static", str(server.mem_fraction_static)]
    if server.context_length is not None:
        args += ["--context-length", str(server.context_length)]
    if server.attention_backend:
        args += ["--attention-backend", server.attention_backend]
    if server.disable_radix_cache:
        args.append("--disable-radix-cache")
    if server.enable_metrics:
        args.append("--enable-metrics")
    if server.api_key_secret:
        args += ["--api-key", "$(SGLANG_API_KEY)"]
    return args + list(server.extra_args)


def _env(name: str, value: str) -> Obj:
    return {"name": name, "value": value}


def _secret_env(name: str, secret: str, key: str) -> Obj:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def container_env(
    spec: SGLangDeploymentSpec, *, rank_source: RankSource, master_addr: str
) -> list[Obj]:
    """The SGLang container's env: the seed's contract first, then defaults, then spec.env.

    The contract comes first so that spec.env values may refer to it with $(NODE_RANK);
    a spec.env entry replaces a default of the same name (the API refuses contract names).
    """
    contract = [
        _env(naming.GROUP_SIZE_ENV, str(spec.parallelism.nodes)),
        _env("NPROC_PER_NODE", str(spec.gpu.per_node)),
        {"name": "NODE_RANK", "valueFrom": {"fieldRef": {"fieldPath": rank_source.value}}},
        _env("MASTER_ADDR", master_addr),
        _env("MASTER_PORT", str(spec.network.dist_init_port)),
        _env("SGLANG_EXECUTION_MODE", spec.mode),
    ]
    if spec.server.api_key_secret:
        ref = spec.server.api_key_secret
        contract.append(_secret_env("SGLANG_API_KEY", ref.name, ref.key))

    defaults: list[Obj] = []
    if spec.gpu.vendor == "amd" and spec.rocm.presets:
        defaults += [_env(k, v) for k, v in ROCM_PRESET_ENV.items()]
    if spec.network.nccl_socket_ifname:
        # NCCL's syntax (^exclude, =exact, comma lists) is NCCL's alone: Gloo takes one name
        # and crashes on the rest, so it gets its own field (or its route-derived default).
        defaults.append(_env("NCCL_SOCKET_IFNAME", spec.network.nccl_socket_ifname))
    if spec.network.gloo_socket_ifname:
        defaults.append(_env("GLOO_SOCKET_IFNAME", spec.network.gloo_socket_ifname))
    if spec.model.cache:
        defaults.append(_env("HF_HOME", spec.model.cache.effective_mount_path))
    if spec.model.hf_token_secret:
        ref = spec.model.hf_token_secret
        defaults.append(_secret_env("HF_TOKEN", ref.name, ref.key))

    user = [e.wire() for e in spec.env]
    overridden = {e["name"] for e in user}
    return contract + [e for e in defaults if e["name"] not in overridden] + user


# Prints the interface whose address this pod uses to reach rank 0 (MASTER_ADDR), from the
# route the kernel picks for a UDP "connection" (no packet is sent): IPv4 addresses are
# matched with SIOCGIFADDR, IPv6 ones in /proc/net/if_inet6. Prints nothing when no interface
# matches. Python's standard library only; no "'" (it sits in single quotes) and no "$(".
GLOO_IFNAME_SCRIPT = """import fcntl, os, socket, struct
master = (os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]))
family, _, _, _, target = socket.getaddrinfo(*master, 0, socket.SOCK_DGRAM)[0]
s = socket.socket(family, socket.SOCK_DGRAM)
s.connect(target)
local = s.getsockname()[0].split("%")[0]
if family == socket.AF_INET:
    for _, name in socket.if_nameindex():
        try:
            request = struct.pack("256s", name.encode()[:15])
            found = socket.inet_ntoa(fcntl.ioctl(s.fileno(), 0x8915, request)[20:24])
        except OSError:
            continue
        if found == local:
            print(name)
            break
else:
    packed = socket.inet_pton(socket.AF_INET6, local).hex()
    for line in open("/proc/net/if_inet6"):
        fields = line.split()
        if fields[0] == packed:
            print(fields[5])
            break
"""


def launch_command(
    spec: SGLangDeploymentSpec, *, module: str, module_args: list[str]
) -> tuple[list[str], list[str]]:
    """(command, args) that run `python3 -m module module_args` in the container.

    With several nodes every rank first waits until rank 0's name ($MASTER_ADDR) resolves:
    torch.distributed's rendezvous fails at once on an unknown host, and the headless
    Service's record appears only some seconds after the pod. Then, unless
    GLOO_SOCKET_IFNAME is set, it sets it to the interface of the route to rank 0: Gloo
    otherwise binds the address its hostname resolves to, under hostNetwork often
    127.0.0.1 ("connectFullMesh failed ... remote=[127.0.0.1]").
    """
    python = ["python3", "-m", module]
    if spec.parallelism.nodes == 1:
        return python, module_args
    tries = DNS_WAIT_SECONDS // 2
    # The shell is the container's PID 1, which the kernel spares every signal it has no
    # handler for: without the trap, deleting a waiting pod would take the whole grace period.
    script = (
        "trap 'exit 143' TERM; "
        f"for _ in {{1..{tries}}}; do "
        'getent hosts "$MASTER_ADDR" >/dev/null && break; sleep 2; done; '
        'getent hosts "$MASTER_ADDR" >/dev/null || '
        f'{{ echo "rank 0 ($MASTER_ADDR) not resolvable after {DNS_WAIT_SECONDS}s" >&2; '
        "exit 1; }; "
        'if [ -z "${GLOO_SOCKET_IFNAME:-}" ]; then '
        f"GLOO_SOCKET_IFNAME=`python3 -c '{GLOO_IFNAME_SCRIPT}'`; "
        'if [ -n "$GLOO_SOCKET_IFNAME" ]; then export GLOO_SOCKET_IFNAME; '
        'echo "GLOO_SOCKET_IFNAME=$GLOO_SOCKET_IFNAME (the route to rank 0)" >&2; '
        "else unset GLOO_SOCKET_IFNAME; fi; fi; "
        f'exec {" ".join(python)} "$@"'
    )
    # "$@" carries the arguments unquoted and untouched; "sglang" becomes $0. The script
    # avoids "$(" because the kubelet expands $(NAME) in commands too.
    return ["bash", "-c", script, "sglang"], module_args


def _extended_resources(spec: SGLangDeploymentSpec) -> dict[str, int]:
    """The GPUs and RDMA devices of each pod, by resource name."""
    extended = {spec.gpu.effective_resource_name: spec.gpu.per_node}
    if spec.network.rdma_resource_name:
        extended[spec.network.rdma_resource_name] = spec.network.rdma_count
    return extended


def _resources(spec: SGLangDeploymentSpec) -> Obj:
    """User CPU/memory, plus the GPUs and RDMA devices (the operator's values win)."""
    requests = dict(spec.resources.requests)
    limits = dict(spec.resources.limits)
    extended = _extended_resources(spec)
    requests.update(extended)
    limits.update(extended)
    return {"requests": requests, "limits": limits}


# SGLang serves these without the API key (its middleware exempts /health*, /ready* and
# /metrics*); any other path needs it.
_KEY_FREE_PREFIXES = ("/health", "/ready", "/metrics")


def _http_check(spec: SGLangDeploymentSpec, rank0_path: str, *, timeout: int) -> Obj:
    """A probe handler checking `rank0_path` on rank 0 and /ping on ranks >= 1.

    One pod template serves every rank, and ranks >= 1 run SGLang's dummy health server
    (/ping, /health, /health_generate only): with several nodes, or when the path needs the
    API key (which an httpGet probe cannot read from a Secret), an exec probe picks the path
    by NODE_RANK and sends the key from the container's env.
    """
    needs_key = spec.server.api_key_secret is not None and not rank0_path.startswith(
        _KEY_FREE_PREFIXES
    )
    if spec.parallelism.nodes == 1 and not needs_key:
        return {"httpGet": {"path": rank0_path, "port": HTTP_PORT_NAME}}
    loopback = LOOPBACK_URL[spec.network.ip_family]
    base = f"http://{loopback}:{spec.server.port}"
    if not needs_key:
        code = (
            "import os, urllib.request as u; "
            f"path = {rank0_path!r} if os.environ['NODE_RANK'] == '0' else '/ping'; "
            f"u.urlopen('{base}' + path, timeout={timeout})"
        )
    else:
        code = (
            "import os, urllib.request as u; "
            "rank0 = os.environ['NODE_RANK'] == '0'; "
            f"path = {rank0_path!r} if rank0 else '/ping'; "
            "key = os.environ.get('SGLANG_API_KEY', ''); "
            "headers = {'Authorization': 'Bearer ' + key} if rank0 and key else {}; "
            f"u.urlopen(u.Request('{base}' + path, headers=headers), timeout={timeout})"
        )
    return {"exec": {"command": ["python3", "-c", code]}}


def _override(probe: Obj, override: StartupProbeOverride) -> Obj:
    """The probe's timing fields replaced by the spec's overrides, where set."""
    fields = {
        "periodSeconds": override.period_seconds,
        "timeoutSeconds": override.timeout_seconds,
        "initialDelaySeconds": override.initial_delay_seconds,
    }
    if isinstance(override, ProbeOverride):
        fields["failureThreshold"] = override.failure_threshold
    return {**probe, **{k: v for k, v in fields.items() if v is not None}}


def _probes(spec: SGLangDeploymentSpec) -> Obj:
    """Startup, readiness and liveness probes for every rank of a server group.

    Rank 0 serves the API and /ready (cheap, 200 once warmed up, 503 while paused); ranks
    >= 1 run SGLang's dummy health server, which serves /ping, /health and
    /health_generate but not /ready. /ping is the one cheap path both serve (rank 0: a flag
    check, 503 once unhealthy or shutting down), so startup and liveness use it. rank 0's
    /health runs a generation and takes over a second: never a default probe here.
    Readiness uses /ready on a single node; with several nodes one pod template serves all
    ranks, so an exec probe picks /ready for rank 0 and /ping for the others.
    With an API key, rank 0 answers /ping with 401 (SGLang exempts only /health*, /ready*
    and /metrics* from the key), so startup and liveness check that the port accepts
    connections instead: it listens only once the model is loaded.
    spec.probes overrides the path (of rank 0) and the timings of each probe.
    """
    overrides = spec.probes

    def alive(override: StartupProbeOverride, timeout: int) -> Obj:
        if override.path:
            return _http_check(spec, override.path, timeout=max(1, timeout - 2))
        if spec.server.api_key_secret:
            return {"tcpSocket": {"port": HTTP_PORT_NAME}}
        return {"httpGet": {"path": "/ping", "port": HTTP_PORT_NAME}}

    startup_period = overrides.startup.period_seconds or PROBE_PERIOD_SECONDS
    startup_timeout = overrides.startup.timeout_seconds or 5
    startup = _override(
        {
            **alive(overrides.startup, startup_timeout),
            "periodSeconds": PROBE_PERIOD_SECONDS,
            "timeoutSeconds": 5,
            # Download, load and CUDA-graph capture all happen before the port listens.
            "failureThreshold": -(-overrides.startup_timeout_seconds // startup_period),
        },
        overrides.startup,
    )
    readiness_timeout = overrides.readiness.timeout_seconds or 10
    readiness = _override(
        {
            **_http_check(
                spec, overrides.readiness.path or "/ready", timeout=max(1, readiness_timeout - 2)
            ),
            "periodSeconds": PROBE_PERIOD_SECONDS,
            "timeoutSeconds": 10,
            "failureThreshold": 3,
        },
        overrides.readiness,
    )
    liveness_timeout = overrides.liveness.timeout_seconds or 30
    liveness = _override(
        {
            **alive(overrides.liveness, liveness_timeout),
            "periodSeconds": 30,
            # A busy event loop under heavy load may answer slowly: no kill for that.
            "timeoutSeconds": 30,
            "failureThreshold": 5,
        },
        overrides.liveness,
    )
    return {"startupProbe": startup, "readinessProbe": readiness, "livenessProbe": liveness}


def sglang_container(
    spec: SGLangDeploymentSpec,
    *,
    rank_source: RankSource,
    master_addr: str,
    module: str = SERVER_MODULE,
    module_args: list[str],
    probes: bool = True,
) -> Obj:
    """The SGLang container: image, command, env, GPUs, /dev/shm, cache, probes."""
    command, args = launch_command(spec, module=module, module_args=module_args)
    container: Obj = {
        "name": CONTAINER_NAME,
        "image": spec.effective_image,
        "imagePullPolicy": spec.image_pull_policy,
        "command": command,
        "args": args,
        "env": container_env(spec, rank_source=rank_source, master_addr=master_addr),
        "ports": [
            {"name": port_name, "containerPort": number, "protocol": "TCP"}
            for port_name, number in ports.listen_ports(
                module_args,
                port=spec.server.port,
                dist_init_port=spec.network.dist_init_port,
                nodes=spec.parallelism.nodes,
            )
        ],
        "resources": _resources(spec),
        "volumeMounts": [{"name": SHM_VOLUME, "mountPath": SHM_MOUNT_PATH}],
    }
    if spec.model.cache:
        container["volumeMounts"].append(
            {"name": WEIGHTS_VOLUME, "mountPath": spec.model.cache.effective_mount_path}
        )
    if spec.network.rdma_resource_name:
        # RDMA verbs pin (lock) memory for their buffers.
        container["securityContext"] = {"capabilities": {"add": ["IPC_LOCK"]}}
    if probes:
        container.update(_probes(spec))
    return container


def weights_claim_name(spec: SGLangDeploymentSpec, name: str) -> str | None:
    """The PVC the pods mount: the user's claim, the one the operator creates, or none."""
    cache = spec.model.cache
    if cache is None:
        return None
    return cache.claim_name or naming.weights_pvc_name(name)


def pod_spec_hash(template: Obj) -> str:
    """Stable hash of a pod template (keys sorted), stamped on the pods it makes."""
    return naming.short_hash(json.dumps(template, sort_keys=True, separators=(",", ":")), 16)


def pod_template(
    spec: SGLangDeploymentSpec,
    *,
    name: str,
    labels: dict[str, str],
    container: Obj,
    restart_policy: str = "Always",
    extra_volumes: Sequence[Obj] = (),
    subdomain: str | None = None,
) -> Obj:
    """A pod template around the SGLang container, stamped with its own hash.

    The user's podLabels and podAnnotations come first so the operator's own keys win.
    `extra_volumes` (for the container's extra mounts) and `subdomain` (an Indexed Job's
    headless Service) are for callers other than the StatefulSet.
    """
    volumes: list[Obj] = [
        {"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": str(spec.shm_size)}}
    ]
    claim = weights_claim_name(spec, name)
    if claim:
        volumes.append({"name": WEIGHTS_VOLUME, "persistentVolumeClaim": {"claimName": claim}})
    volumes += extra_volumes
    pod: Obj = {
        "containers": [container],
        "volumes": volumes,
        "restartPolicy": restart_policy,
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
        # Service links would inject <SERVICE>_PORT variables for every Service in the
        # namespace; one named "sglang" would then set SGLANG_PORT inside SGLang.
        "enableServiceLinks": False,
        # SGLang never calls the Kubernetes API, and trustRemoteCode runs a model repository's
        # code: no ServiceAccount token in the pod (the pod template can turn it back on).
        "automountServiceAccountToken": False,
    }
    if subdomain:
        pod["subdomain"] = subdomain
    if spec.network.host_network:
        pod["hostNetwork"] = True
        # Without it a host-network pod resolves with the node's DNS and never finds rank 0.
        # A template's own dnsPolicy replaces it (the API refuses those that cannot work).
        pod["dnsPolicy"] = "ClusterFirstWithHostNet"
    if spec.node_selector:
        pod["nodeSelector"] = dict(spec.node_selector)
    if spec.tolerations:
        pod["tolerations"] = [t.wire() for t in spec.tolerations]
    if spec.affinity:
        pod["affinity"] = spec.affinity.wire()
    if spec.priority_class_name:
        pod["priorityClassName"] = spec.priority_class_name
    if spec.scheduler_name:
        pod["schedulerName"] = spec.scheduler_name
    if spec.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": s} for s in spec.image_pull_secrets]
    template: Obj = {
        "metadata": {
            "labels": {**spec.pod_labels, **labels},
            "annotations": dict(spec.pod_annotations),
        },
        "spec": pod,
    }
    if spec.pod_template:
        merged = podtemplate.merge(template, spec.pod_template)
        template = with_operator_wiring(spec, merged, template, labels)
    template["metadata"]["annotations"][naming.POD_SPEC_HASH_ANNOTATION] = pod_spec_hash(template)
    return template


def with_operator_wiring(
    spec: SGLangDeploymentSpec, merged: Obj, base: Obj, labels: dict[str, str]
) -> Obj:
    """`merged` (spec.podTemplate over `base`) with the operator's wiring from `base` restored.

    The API refuses templates that touch these fields; restoring them makes the guarantee
    hold by construction as well: the operator's `labels`, its pod fields
    (OPERATOR_POD_FIELDS, hostNetwork), its volumes, and in
    the SGLang container the command, args, rank env, ports, probes, GPU and RDMA resources
    and the mounts of its volumes. Everything else of the template stands.
    """
    metadata = merged["metadata"]
    for key in OPERATOR_LABELS:
        metadata["labels"].pop(key, None)
    metadata["labels"].update(labels)
    for key in (naming.POD_SPEC_HASH_ANNOTATION, naming.JOB_COMPLETION_INDEX_ANNOTATION):
        metadata["annotations"].pop(key, None)
    pod, base_pod = merged["spec"], base["spec"]
    for field in (*OPERATOR_POD_FIELDS, "hostNetwork"):
        if field in base_pod:
            pod[field] = base_pod[field]
        else:
            pod.pop(field, None)
    owned_volumes = {v["name"]: v for v in base_pod["volumes"]}
    pod["volumes"] = [
        owned_volumes.get(v["name"], v)
        for v in pod["volumes"]
        if v["name"] in owned_volumes or v["name"] not in (SHM_VOLUME, WEIGHTS_VOLUME)
    ]
    container = next(c for c in pod["containers"] if c["name"] == CONTAINER_NAME)
    wiring = next(c for c in base_pod["containers"] if c["name"] == CONTAINER_NAME)
    for field in ("command", "args", "startupProbe", "readinessProbe", "livenessProbe"):
        if field in wiring:
            container[field] = wiring[field]
        else:
            container.pop(field, None)
    reserved = {e["name"]: e for e in wiring["env"] if e["name"] in RESERVED_ENV}
    container["env"] = [
        reserved.get(e["name"], e)
        for e in container["env"]
        if e["name"] not in RESERVED_ENV or e["name"] in reserved
    ]
    own_ports = wiring["ports"]
    taken = {p["containerPort"] for p in own_ports} | {p["name"] for p in own_ports}
    container["ports"] = own_ports + [
        p
        for p in container["ports"]
        if p.get("containerPort") not in taken and p.get("name") not in taken
    ]
    own_mounts = {m["mountPath"]: m for m in wiring["volumeMounts"]}
    container["volumeMounts"] = [
        own_mounts.get(m["mountPath"], m)
        for m in container["volumeMounts"]
        if m["mountPath"] in own_mounts
        or (
            m.get("name") not in owned_volumes and m.get("name") not in (SHM_VOLUME, WEIGHTS_VOLUME)
        )
    ]
    extended = _extended_resources(spec)
    for kind in ("requests", "limits"):
        container.setdefault("resources", {}).setdefault(kind, {}).update(extended)
    return merged


# ---- the objects of one deployment ----------------------------------------------------------


def _metadata(name: str, namespace: str, labels: dict[str, str]) -> Obj:
    return {"name": name, "namespace": namespace, "labels": labels}


def headless_service(spec: SGLangDeploymentSpec, name: str, namespace: str, group: int) -> Obj:
    """Rendezvous DNS for a group's pods, published before they are Ready (rank 0 never is
    until the other ranks have joined it)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(
            naming.headless_service_name(name, group),
            namespace,
            naming.group_labels(name, group),
        ),
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": naming.group_selector_labels(name, group),
            "ports": [
                {
                    "name": DIST_PORT_NAME,
                    "port": spec.network.dist_init_port,
                    "targetPort": DIST_PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }


def server_pod_template(spec: SGLangDeploymentSpec, name: str, namespace: str, group: int) -> Obj:
    """The pod template of a server group's StatefulSet."""
    master = naming.rank0_fqdn(name, group, namespace, spec.network.cluster_domain)
    container = sglang_container(
        spec,
        rank_source=RankSource.POD_INDEX,
        master_addr=master,
        module_args=sglang_args(spec, dist_init_host=master),
    )
    return pod_template(
        spec, name=name, labels=naming.group_labels(name, group), container=container
    )


def statefulset(spec: SGLangDeploymentSpec, name: str, namespace: str, group: int) -> Obj:
    """One model copy: `nodes` pods, rank = ordinal, all created at once."""
    template = server_pod_template(spec, name, namespace, group)
    pod_hash = template["metadata"]["annotations"][naming.POD_SPEC_HASH_ANNOTATION]
    metadata = _metadata(
        naming.group_name(name, group), namespace, naming.group_labels(name, group)
    )
    metadata["annotations"] = {naming.POD_SPEC_HASH_ANNOTATION: pod_hash}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata,
        "spec": {
            "replicas": spec.parallelism.nodes,
            "serviceName": naming.headless_service_name(name, group),
            # OrderedReady would wait for rank 0 to be Ready before creating rank 1, and
            # rank 0 is never Ready without rank 1.
            "podManagementPolicy": "Parallel",
            # The operator replaces pods itself: a rolling update would mix revisions inside a
            # multi-node group, and, with one StatefulSet per group, every single-node group
            # would roll at once. The operator replaces one whole group at a time instead.
            "updateStrategy": {"type": "OnDelete"},
            "selector": {"matchLabels": naming.group_selector_labels(name, group)},
            "template": template,
        },
    }


def client_service(spec: SGLangDeploymentSpec, name: str, namespace: str) -> Obj:
    """The OpenAI-compatible endpoint: rank-0 pods of every group (only they serve HTTP)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(
            naming.client_service_name(name),
            namespace,
            naming.labels(name, naming.COMPONENT_SERVER),
        ),
        "spec": {
            "type": "ClusterIP",
            "selector": naming.client_selector(name),
            "ports": [
                {
                    "name": HTTP_PORT_NAME,
                    "port": spec.server.port,
                    "targetPort": HTTP_PORT_NAME,
                    "protocol": "TCP",
                }
            ],
        },
    }


def weights_pvc(spec: SGLangDeploymentSpec, name: str, namespace: str) -> Obj | None:
    """The weights cache claim, when the spec asks the operator to create one (cache.size).

    With cache.whenDeleted Retain (the default) it is marked to outlive the deployment: the
    reconcile then gives it no owner reference (`ownership.with_owner`).
    """
    cache = spec.model.cache
    if cache is None or cache.size is None:
        return None
    pvc_spec: Obj = {
        "accessModes": [cache.effective_access_mode],
        "resources": {"requests": {"storage": str(cache.size)}},
    }
    if cache.storage_class_name:
        pvc_spec["storageClassName"] = cache.storage_class_name
    metadata = _metadata(
        naming.weights_pvc_name(name), namespace, naming.labels(name, naming.COMPONENT_SERVER)
    )
    if cache.effective_when_deleted == "Retain":
        metadata["annotations"] = {naming.RETAINED_FOR_ANNOTATION: name}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata,
        "spec": pvc_spec,
    }


def desired_objects(spec: SGLangDeploymentSpec, name: str, namespace: str) -> list[Obj]:
    """Everything this module builds for a deployment, in creation order.

    Mode offline gets only the weights claim here: its Indexed Job and headless Service
    come from the offline builder. The benchmark Job is built elsewhere too.
    """
    objects: list[Obj] = []
    pvc = weights_pvc(spec, name, namespace)
    if pvc:
        objects.append(pvc)
    if spec.mode == "offline":
        return objects
    for group in range(spec.replicas):
        objects.append(headless_service(spec, name, namespace, group))
        objects.append(statefulset(spec, name, namespace, group))
    objects.append(client_service(spec, name, namespace))
    return objects
