"""What Kubernetes' pod validation refuses in spec.podTemplate that the CRD cannot say.

The facts are Kubernetes v1.35.4's: `pkg/apis/core/validation/validation.go` of
k8s.io/kubernetes (ValidatePodSpec and the functions it calls; each check's docstring names
them), the name and IP syntax of k8s.io/apimachinery v0.35.4's `util/validation` and
k8s.io/utils/net (ParseIPSloppy), and the sysctl namespaces of k8s.io/component-helpers.
What is checked, across the template's items and in its IP and DNS fields: port names and
host ports (hostNetwork included), probes and lifecycle hooks, init containers' probes,
dnsConfig and hostAliases, sysctls, scheduling gates, environment names, a volume's single
source and topology spread constraints. The API server would refuse each only at the
StatefulSet write or at pod creation; `problems` lets the operator (InvalidSpec) and
`sglang-operator render` refuse them first.

The checks take the template's pod spec as the user wrote it (a plain dict: the CRD's schema
has checked its shape at apply; a spec `render` checks may still hold other shapes, which
that schema check reports) and name each problem at the template's path
(`podTemplate.spec...`), even where the API server would name an index of the merged pod.
They import nothing of the operator's, so `api` can run them from its spec validator.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Collection
from typing import Any

# apimachinery's name lengths (DNS1123SubdomainMaxLength, DNS1123LabelMaxLength), which the
# CRD's bounds (api) reuse; MAX_SHORT is also how much of a bad value a message quotes.
MAX_NAME = 253
MAX_SHORT = 63
# IsDNS1123Subdomain.
DNS_SUBDOMAIN_RE = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
# IsValidPortName (IANA_SVC_NAME), beyond its pattern and length.
PORT_NAME_MESSAGE = "a port name (IANA_SVC_NAME) has a letter and no '--'"


def problems(
    pod: dict[str, Any],
    *,
    host_network: bool,
    sglang_ports: Collection[int],
    sglang_container: str,
) -> list[str]:
    """Every problem of the template's pod spec `pod` (podTemplate.spec), one line each.

    `host_network` is spec.network.hostNetwork (the operator sets the pod's); `sglang_ports`
    are the port numbers the operator declares on the container named `sglang_container`,
    whose probes are the operator's too."""
    return [
        *_container_ports(pod, host_network, sglang_ports),
        *_init_containers(pod),
        *_dns(pod),
        *_sysctls(pod, host_network),
        *_scheduling_gates(pod),
        *_probes(pod, sglang_container),
        *_env(pod),
        *_volume_sources(pod),
        *_spread(pod),
    ]


def containers(pod: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The containers and init containers of `pod` with the path below spec that names each."""
    return [
        (f"podTemplate.spec.{key}[{index}]", container)
        for key in ("containers", "initContainers")
        for index, container in enumerate(pod.get(key) or [])
    ]


def _items(value: Any) -> list[tuple[int, dict[str, Any]]]:
    """(index, item) of each object in a list (the CRD's schema refuses other shapes; a spec
    `render` checks can still hold them, and they are reported by that schema check)."""
    items = value if isinstance(value, list) else []
    return [(index, item) for index, item in enumerate(items) if isinstance(item, dict)]


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> list[str]:
    return [str(item) for item in value] if isinstance(value, list) else []


def _port_key(port: dict[str, Any], host_port: Any) -> str:
    # AccumulateUniqueHostPorts' key: protocol (defaulted to TCP), hostIP, hostPort.
    return f"{port.get('protocol') or 'TCP'}/{port.get('hostIP') or ''}/{host_port}"


def _host_port(port: dict[str, Any], host_network: bool) -> Any:
    """The hostPort the pod gets: under hostNetwork a Pod's defaulting (SetDefaults_Pod,
    defaultHostNetworkPorts) sets an unset one to the containerPort."""
    host_port = port.get("hostPort") or 0
    return port.get("containerPort") if host_network and not host_port else host_port


def _container_ports(
    pod: dict[str, Any], host_network: bool, sglang_ports: Collection[int]
) -> list[str]:
    """validateContainerPorts: a port name once per container. checkHostPortConflicts: a
    hostPort (with its protocol and hostIP) once among the regular containers, the operator's
    sglang ports included, and once within each init container (they run one at a time).
    validatePodHostNetworkDeps: under hostNetwork a container's hostPort, if set, equals its
    containerPort. A hostPort clash under hostNetwork is refused only when the StatefulSet
    creates the pods (FailedCreate), the others when the operator writes the StatefulSet."""
    # The operator's own ports carry no hostPort; hostNetwork gives them their number.
    taken = {
        _port_key({}, _host_port({"containerPort": number}, host_network))
        for number in sglang_ports
        if host_network
    }
    found = []
    for path, container in containers(pod):
        init = path.startswith("podTemplate.spec.initContainers")
        names: set[Any] = set()
        seen = set() if init else taken
        for index, port in _items(container.get("ports")):
            where = f"{path}.ports[{index}]"
            name = port.get("name")
            if name and name in names:
                found.append(f"{where}.name: Duplicate value: {name!r}")
            names.add(name)
            host_port = _host_port(port, host_network)
            given = port.get("hostPort") or 0
            if host_network and not init and given and given != port.get("containerPort"):
                found.append(
                    f"{where}.hostPort: {given}: must match `containerPort` when `hostNetwork` "
                    "is true (spec.network.hostNetwork)"
                )
            elif host_port:
                key = _port_key(port, host_port)
                if key in seen:
                    found.append(
                        f"{where}.hostPort: Duplicate value: {key!r}: another port of the pod "
                        "(or of the sglang container, under spec.network.hostNetwork) takes it"
                    )
                seen.add(key)
    return found


_PROBES_AND_LIFECYCLE = ("lifecycle", "livenessProbe", "readinessProbe", "startupProbe")


def _init_containers(pod: dict[str, Any]) -> list[str]:
    """validateInitContainers: probes and lifecycle hooks only on an init container with
    restartPolicy Always (a sidecar); the others run to completion before the pod starts."""
    return [
        f"podTemplate.spec.initContainers[{index}].{field}: Forbidden: may not be set for init "
        "containers without restartPolicy=Always"
        for index, container in _items(pod.get("initContainers"))
        if container.get("restartPolicy") != "Always"
        for field in _PROBES_AND_LIFECYCLE
        if container.get(field) is not None
    ]


_IPV4_SLOPPY_RE = r"([0-9]+)\.([0-9]+)\.([0-9]+)\.([0-9]+)"


def _sloppy_ipv4(value: str) -> str | None:
    match = re.fullmatch(_IPV4_SLOPPY_RE, value)
    if not match or any(int(octet) > 255 for octet in match.groups()):
        return None
    return ".".join(str(int(octet)) for octet in match.groups())


def legacy_ip(value: str) -> bool:
    """Whether the API server takes `value` in a "legacy" IP field (dnsConfig.nameservers,
    hostAliases[].ip): k8s.io/utils/net ParseIPSloppy, Go's net.ParseIP of before Go 1.17,
    which takes IPv4 octets with leading zeros ("010.0.0.1") and hex groups of any length up
    to 0xFFFF, but no IPv6 zone ("fe80::1%eth0"); the StrictIPCIDRValidation gate that would
    refuse the leading zeros is off by default in Kubernetes v1.35."""
    first = re.search("[.:]", value)
    if first is None:
        return False
    if first.group() == ".":
        return _sloppy_ipv4(value) is not None
    if not re.fullmatch("[0-9a-fA-F:.]+", value):  # no zone, nothing but IPv6's characters
        return False
    head, colon, last = value.rpartition(":")
    if "." in last:
        v4 = _sloppy_ipv4(last)
        if v4 is None:
            return False
        value = head + colon + v4
    groups = [
        (part.lstrip("0") or "0") if re.fullmatch("[0-9a-fA-F]+", part) else part
        for part in value.split(":")
    ]
    try:
        ipaddress.IPv6Address(":".join(groups))
    except ValueError:
        return False
    return True


_IP_MESSAGE = "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
# validatePodDNSConfig's limits (from libc's resolver).
MAX_DNS_NAMESERVERS = 3
MAX_DNS_SEARCH_PATHS = 32
MAX_DNS_SEARCH_LIST_CHARS = 2048
# A search domain (RelaxedDNSSearchValidation, GA since v1.34): a subdomain whose labels may
# hold '_' (and start with one), a trailing '.' ignored, or "." alone.
_DNS_SEARCH_LABEL = "_?[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
DNS_SEARCH_RE = rf"^{_DNS_SEARCH_LABEL}(\.{_DNS_SEARCH_LABEL})*$"


def dns_search_domain(value: str) -> bool:
    """Whether the API server takes `value` in dnsConfig.searches: "." or, a trailing "."
    dropped, a DNS subdomain whose labels may hold '_'."""
    name = value.removesuffix(".")
    return value == "." or (len(name) <= MAX_NAME and re.fullmatch(DNS_SEARCH_RE, name) is not None)


def _dns(pod: dict[str, Any]) -> list[str]:
    """validatePodDNSConfig and ValidateHostAliases: nameservers and host alias IPs are IP
    addresses, at most 3 nameservers, at most 32 search domains of at most 2048 characters in
    all, each a DNS subdomain; an option has a name; dnsPolicy None needs a nameserver; a host
    alias's hostnames are DNS subdomains."""
    where = "podTemplate.spec.dnsConfig"
    config = pod.get("dnsConfig")
    found = []
    if pod.get("dnsPolicy") == "None":
        if config is None:
            found.append(
                f"{where}: Required value: must provide `dnsConfig` when `dnsPolicy` is None"
            )
        elif not _object(config).get("nameservers"):
            found.append(
                f"{where}.nameservers: Required value: must provide at least one DNS nameserver "
                "when `dnsPolicy` is None"
            )
    config = _object(config)
    nameservers = _strings(config.get("nameservers"))
    if len(nameservers) > MAX_DNS_NAMESERVERS:
        found.append(
            f"{where}.nameservers: must not have more than {MAX_DNS_NAMESERVERS} nameservers "
            f"(has {len(nameservers)})"
        )
    found += [
        f"{where}.nameservers[{index}]: {ip[:MAX_SHORT]!r}: {_IP_MESSAGE}"
        for index, ip in enumerate(nameservers)
        if not legacy_ip(ip)
    ]
    searches = _strings(config.get("searches"))
    if len(searches) > MAX_DNS_SEARCH_PATHS:
        found.append(
            f"{where}.searches: must not have more than {MAX_DNS_SEARCH_PATHS} search paths "
            f"(has {len(searches)})"
        )
    if len(" ".join(searches)) > MAX_DNS_SEARCH_LIST_CHARS:
        found.append(
            f"{where}.searches: must not have more than {MAX_DNS_SEARCH_LIST_CHARS} characters "
            "(including spaces) in the search list"
        )
    found += [
        f"{where}.searches[{index}]: {search[:MAX_SHORT]!r}: a lowercase RFC 1123 subdomain "
        "(letters, digits, '_', '-' and '.', at most 253 characters)"
        for index, search in enumerate(searches)
        if not dns_search_domain(search)
    ]
    found += [
        f"{where}.options[{index}]: Required value: must not be empty (a name)"
        for index, option in _items(config.get("options"))
        if not option.get("name")
    ]
    for index, alias in _items(pod.get("hostAliases")):
        ip = str(alias.get("ip") or "")
        if not legacy_ip(ip):
            found.append(
                f"podTemplate.spec.hostAliases[{index}].ip: {ip[:MAX_SHORT]!r}: {_IP_MESSAGE}"
            )
        found += [
            f"podTemplate.spec.hostAliases[{index}].hostnames[{number}]: "
            f"{str(name)[:MAX_SHORT]!r}: a lowercase RFC 1123 subdomain (letters, digits, '-' "
            "and '.', at most 253 characters)"
            for number, name in enumerate(_strings(alias.get("hostnames")))
            if len(name) > MAX_NAME or not re.fullmatch(DNS_SUBDOMAIN_RE, name)
        ]
    return found


# validateSysctls: IsValidSysctlName (segments joined by '.' or '/').
_SYSCTL_SEGMENT = "[a-z0-9]([-_a-z0-9]*[a-z0-9])?"
SYSCTL_NAME_RE = rf"^({_SYSCTL_SEGMENT}[\./])*{_SYSCTL_SEGMENT}$"
MAX_SYSCTL_NAME = 253
# k8s.io/component-helpers node/util/sysctl namespace.go: the sysctls of the IPC namespace
# (by name, and by prefix "fs.mqueue."); "net." ones are the network namespace's.
_IPC_SYSCTLS = (
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
    "kernel.shm",
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.msg",
)


def _sysctl_namespace(name: str) -> str | None:
    """GetNamespace: "Net", "IPC" or None, for a name in either separator style."""
    first = re.search("[./]", name)
    if first is not None and first.group() == "/":
        name = name.translate(str.maketrans("./", "/."))
    name = name.split("*", 1)[0]
    if name in _IPC_SYSCTLS or name.startswith("fs.mqueue."):
        return "IPC"
    return "Net" if name.startswith("net.") else None


def _sysctls(pod: dict[str, Any], host_network: bool) -> list[str]:
    """validateSysctls: each name valid and used once; ValidateHostSysctl: no network sysctl
    under spec.network.hostNetwork, no IPC one under podTemplate.spec.hostIPC (they would
    change the node's own)."""
    sysctls = _items(_object(pod.get("securityContext")).get("sysctls"))
    shared = {"Net": host_network, "IPC": bool(pod.get("hostIPC"))}
    flag = {"Net": "'hostNetwork' (spec.network.hostNetwork)", "IPC": "'hostIPC'"}
    found = []
    names: set[str] = set()
    for index, sysctl in sysctls:
        where = f"podTemplate.spec.securityContext.sysctls[{index}].name"
        name = str(sysctl.get("name") or "")
        if not name:
            found.append(f"{where}: Required value")
        elif len(name) > MAX_SYSCTL_NAME or not re.fullmatch(SYSCTL_NAME_RE, name):
            found.append(
                f"{where}: {name[:MAX_SHORT]!r}: must have at most {MAX_SYSCTL_NAME} characters "
                "and be a sysctl name (lowercase segments joined by '.' or '/', such as "
                "net.core.somaxconn)"
            )
        elif name in names:
            found.append(f"{where}: Duplicate value: {name!r}")
        namespace = _sysctl_namespace(name)
        if namespace and shared[namespace]:
            found.append(f"{where}: {name!r}: may not be specified when {flag[namespace]} is true")
        names.add(name)
    return found


def _scheduling_gates(pod: dict[str, Any]) -> list[str]:
    """validateSchedulingGates: a gate's name once (the CRD's list type says so at apply; the
    operator also meets specs stored before it)."""
    found = []
    names: set[Any] = set()
    for index, gate in _items(pod.get("schedulingGates")):
        if gate.get("name") in names:
            found.append(
                f"podTemplate.spec.schedulingGates[{index}]: Duplicate value: {gate.get('name')!r}"
            )
        names.add(gate.get("name"))
    return found


_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_LIFECYCLE_HANDLERS = ("exec", "httpGet", "tcpSocket", "sleep")
_PROBE_COUNTS = ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold")


def _port_problem(port: Any) -> str | None:
    """ValidatePortNumOrName: a number 1-65535 or an IANA service name."""
    if isinstance(port, int) and not isinstance(port, bool):
        return None if 1 <= port <= 65535 else f"{port}: must be between 1 and 65535, inclusive"
    name = str(port)
    if (
        len(name) > 15
        or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name)
        or not re.search("[a-z]", name)
        or "--" in name
    ):
        return f"{name[:MAX_SHORT]!r}: {PORT_NAME_MESSAGE} (at most 15 characters)"
    return None


def _handler_problems(handler: dict[str, Any], where: str, kinds: tuple[str, ...]) -> list[str]:
    """validateHandler: exactly one action; an exec has a command; a port is valid."""
    given = [kind for kind in kinds if handler.get(kind) is not None]
    if not given:
        return [f"{where}: Required value: must specify a handler type ({', '.join(kinds)})"]
    found = [
        f"{where}.{kind}: Forbidden: may not specify more than 1 handler type" for kind in given[1:]
    ]
    action = _object(handler.get(given[0]))
    if given[0] == "exec" and not action.get("command"):
        found.append(f"{where}.exec.command: Required value")
    if given[0] in ("httpGet", "tcpSocket", "grpc"):
        problem = _port_problem(action.get("port"))
        if problem:
            found.append(f"{where}.{given[0]}.port: {problem}")
    return found


def _probe_problems(probe: dict[str, Any], where: str, kind: str) -> list[str]:
    """validateLivenessProbe, validateReadinessProbe, validateStartupProbe (after defaulting:
    an unset successThreshold is 1)."""
    found = _handler_problems(probe, where, _HANDLERS)
    found += [
        f"{where}.{field}: {probe[field]}: must be greater than or equal to 0"
        for field in (*_PROBE_COUNTS, "failureThreshold")
        if isinstance(probe.get(field), int) and probe[field] < 0
    ]
    grace = probe.get("terminationGracePeriodSeconds")
    if kind == "readinessProbe" and grace is not None:
        found.append(f"{where}.terminationGracePeriodSeconds: must not be set for readinessProbes")
    elif isinstance(grace, int) and grace <= 0:
        found.append(f"{where}.terminationGracePeriodSeconds: {grace}: must be greater than 0")
    threshold = probe.get("successThreshold")
    if kind != "readinessProbe" and threshold not in (None, 0, 1):
        found.append(f"{where}.successThreshold: {threshold}: must be 1")
    return found


def _probes(pod: dict[str, Any], sglang_container: str) -> list[str]:
    """validateContainers (and validateInitContainers for restartable init containers): each
    probe and lifecycle hook of the template's containers. The sglang container's probes are
    the operator's (spec.probes); an init container that runs to completion takes none."""
    found = []
    for path, container in containers(pod):
        init = path.startswith("podTemplate.spec.initContainers")
        if container.get("name") == sglang_container and not init:
            probes: tuple[str, ...] = ()
        elif init and container.get("restartPolicy") != "Always":
            continue
        else:
            probes = ("livenessProbe", "readinessProbe", "startupProbe")
        for kind in probes:
            if isinstance(container.get(kind), dict):
                found += _probe_problems(container[kind], f"{path}.{kind}", kind)
        lifecycle = _object(container.get("lifecycle"))
        for hook in ("postStart", "preStop"):
            if isinstance(lifecycle.get(hook), dict):
                found += _handler_problems(
                    lifecycle[hook], f"{path}.lifecycle.{hook}", _LIFECYCLE_HANDLERS
                )
    return found


def _relaxed_env_name_problem(name: str) -> str | None:
    """IsRelaxedEnvVarName (RelaxedEnvironmentVariableValidation, GA since v1.34): printable
    ASCII but '='."""
    if not name:
        return "Required value"
    if any(not " " <= char <= "~" or char == "=" for char in name):
        return (
            f"{name[:MAX_SHORT]!r}: a valid environment variable name must consist only of "
            "printable ASCII characters other than '='"
        )
    return None


def _env(pod: dict[str, Any]) -> list[str]:
    """ValidateEnv, ValidateEnvFrom: the names and prefixes of the template's containers'
    environment."""
    found = []
    for path, container in containers(pod):
        for index, variable in _items(container.get("env")):
            problem = _relaxed_env_name_problem(str(variable.get("name") or ""))
            if problem:
                found.append(f"{path}.env[{index}].name: {problem}")
        for index, source in _items(container.get("envFrom")):
            prefix = str(source.get("prefix") or "")
            problem = _relaxed_env_name_problem(prefix) if prefix else None
            if problem:
                found.append(f"{path}.envFrom[{index}].prefix: {problem}")
    return found


def _volume_sources(pod: dict[str, Any]) -> list[str]:
    """validateVolumeSource: a volume of the template has one source (none is defaulted to an
    emptyDir, SetDefaults_Volume)."""
    return [
        f"podTemplate.spec.volumes[{index}].{key}: Forbidden: may not specify more than 1 "
        "volume type"
        for index, volume in _items(pod.get("volumes"))
        for key in [key for key in volume if key != "name" and volume[key] is not None][1:]
    ]


def _spread(pod: dict[str, Any]) -> list[str]:
    """validateTopologySpreadConstraints: one constraint per {topologyKey, whenUnsatisfiable}
    (the CRD's list type says so at apply, naming the second; the operator also meets specs
    stored before it); minDomains at least 1 and only with whenUnsatisfiable DoNotSchedule."""
    found = []
    pairs: set[tuple[Any, Any]] = set()
    for index, constraint in _items(pod.get("topologySpreadConstraints")):
        where = f"podTemplate.spec.topologySpreadConstraints[{index}]"
        pair = (constraint.get("topologyKey"), constraint.get("whenUnsatisfiable"))
        if pair in pairs:
            found.append(f"{where}: Duplicate value: {{{pair[0]}, {pair[1]}}}")
        pairs.add(pair)
        domains = constraint.get("minDomains")
        if domains is None:
            continue
        if isinstance(domains, int) and domains < 1:
            found.append(f"{where}.minDomains: {domains}: must be greater than zero")
        if pair[1] != "DoNotSchedule":
            found.append(
                f"{where}.minDomains: can only use minDomains if whenUnsatisfiable=DoNotSchedule, "
                f"not {pair[1]}"
            )
    return found
