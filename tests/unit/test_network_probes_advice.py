"""Network (Gloo vs NCCL interfaces, IP families, declared ports), probe overrides and advice."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from sglang.srt.arg_groups.model_override_base import resolving_view
from sglang.srt.runtime_context import attn_dp_enabled_of

from sglang_cli import resolve_launch_server
from sglang_operator import advice, ports
from sglang_operator.api import SGLangDeploymentSpec, parse_spec
from sglang_operator.builders import GLOO_IFNAME_SCRIPT, statefulset


def spec(**fields: Any) -> SGLangDeploymentSpec:
    return parse_spec({"model": {"path": "org/m"}, **fields})


def container(s: SGLangDeploymentSpec) -> dict[str, Any]:
    c: dict[str, Any] = statefulset(s, "llama", "llm", 0)["spec"]["template"]["spec"]["containers"][
        0
    ]
    return c


@pytest.mark.parametrize("bad", ["^lo", "=eth0", "eth0,eth1", "", "a" * 16, "eth 0", "eth/0"])
def test_gloo_takes_one_plain_interface_name(bad: str) -> None:
    with pytest.raises(ValidationError):
        spec(network={"glooSocketIfname": bad})


@pytest.mark.parametrize("good", ["^lo,docker,veth", "=eth0", "ib", "eth0,eth1", "^=docker0"])
def test_nccl_syntax_is_accepted_and_never_reaches_gloo(good: str) -> None:
    for nodes in (1, 2):
        env = {
            e["name"]: e.get("value")
            for e in container(
                spec(
                    parallelism={"nodes": nodes},
                    network={"ncclSocketIfname": good, "hostNetwork": True},
                )
            )["env"]
        }
        assert env["NCCL_SOCKET_IFNAME"] == good
        assert "GLOO_SOCKET_IFNAME" not in env


def test_multi_node_ranks_derive_gloo_from_the_route_unless_given() -> None:
    multi = container(spec(parallelism={"nodes": 2}))
    assert GLOO_IFNAME_SCRIPT in multi["command"][2]
    assert 'if [ -z "${GLOO_SOCKET_IFNAME:-}" ]' in multi["command"][2]
    assert "$(" not in multi["command"][2], "the kubelet would expand it"
    single = container(spec())
    assert single["command"] == ["python3", "-m", "sglang.launch_server"]


@pytest.mark.parametrize(
    ("family", "host", "loopback"),
    [("IPv4", "0.0.0.0", "127.0.0.1"), ("IPv6", "::", "[::1]"), ("DualStack", "::", "127.0.0.1")],
)
def test_bind_address_and_exec_probe_follow_the_ip_family(
    family: str, host: str, loopback: str
) -> None:
    c = container(spec(parallelism={"nodes": 2}, network={"ipFamily": family}))
    assert c["args"][c["args"].index("--host") + 1] == host
    assert f"http://{loopback}:30000" in c["readinessProbe"]["exec"]["command"][2]


def test_host_network_declares_every_port_sglang_binds() -> None:
    s = spec(
        network={"hostNetwork": True, "distInitPort": 6000},
        server={"extraArgs": ["--disaggregation-mode", "prefill", "--grpc-port", "31000"]},
    )
    c = container(s)
    declared = {p["name"]: p["containerPort"] for p in c["ports"]}
    # One node: torch's TCPStore port pinned to the declared dist-init port.
    assert c["args"][c["args"].index("--nccl-port") + 1] == "6000"
    assert declared == {"http": 30000, "dist": 6000, "pd-bootstrap": 8998, "grpc": 31000}


def test_dp_attention_ports_follow_sglangs_arithmetic() -> None:
    dp_attention = ["--attn-dp-size", "8"]
    multi = ports.listen_ports(dp_attention, port=30000, dist_init_port=5000, nodes=2)
    assert [n for _, n in multi][2:] == list(range(5001, 5007))
    single = ports.listen_ports(dp_attention, port=30000, dist_init_port=5000, nodes=1)
    assert [n for _, n in single][2:] == list(range(30234, 30240))
    top = ports.listen_ports(dp_attention, port=30000, dist_init_port=65533, nodes=2)
    assert [n for _, n in top][2:] == list(range(65526, 65532))
    assert ports.flag_value(["--nccl-port=7", "--nccl-port", "8"], "--nccl-port") == "8"
    assert ports.flag_value(["--dp-size", "2", "--data-parallel-size=4"], *ports.DP_SIZE) == "4"


@pytest.mark.parametrize(
    "extra",
    [
        ["--attn-dp-size", "8"],
        ["--attention-data-parallel-size=4"],
        ["--attn-dp-size", "1"],
        ["--enable-dp-attention"],
        ["--enable-dp-attention", "--dp-size", "4"],
        ["--enable-dp-attention", "--data-parallel-size", "2"],
        ["--enable-dp-attention", "--attn-dp-size", "2"],
        ["--dp-size", "4"],
    ],
)
def test_attention_dp_is_read_as_sglang_reads_it(extra: list[str]) -> None:
    """Whether attention DP runs (and binds its ZMQ ports) is what SGLang itself resolves
    from the same arguments: its parser, its deprecated spellings, its aliases."""
    resolved = resolve_launch_server(["--model-path", "m", "--tp-size", "8", *extra])
    expected = attn_dp_enabled_of(resolving_view(resolved))
    assert ports.attention_dp(extra) == expected
    declared = ports.listen_ports(extra, port=30000, dist_init_port=5000, nodes=1)
    assert any(name.startswith("zmq-") for name, _ in declared) == expected


@pytest.mark.parametrize(
    "extra",
    [
        ["--disaggregation-mode", "prefill"],
        ["--disaggregation-mode=prefill", "--disaggregation-bootstrap-port", "9100"],
        ["--disaggregation-mode", "decode"],
        ["--disaggregation-mode", "decode", "--enable-pd-role-switch"],
        ["--enable-pd-role-switch"],
    ],
)
def test_the_pd_bootstrap_port_is_declared_where_sglang_binds_it(extra: list[str]) -> None:
    """SGLang starts the KV bootstrap server on a prefill instance, and on any PD instance
    that may switch roles (managers/disagg_service.py start_disagg_service)."""
    resolved = resolve_launch_server(["--model-path", "m", *extra])
    mode = resolved.disaggregation_mode
    binds = mode == "prefill" or (resolved.enable_pd_role_switch and mode != "null")
    declared = dict(ports.listen_ports(extra, port=30000, dist_init_port=5000, nodes=1))
    assert declared.get("pd-bootstrap") == (
        resolved.disaggregation_bootstrap_port if binds else None
    )


def test_probe_defaults_stay_and_overrides_apply() -> None:
    default = container(spec())
    assert default["readinessProbe"] == {
        "httpGet": {"path": "/ready", "port": "http"},
        "periodSeconds": 10,
        "timeoutSeconds": 10,
        "failureThreshold": 3,
    }
    assert default["startupProbe"]["failureThreshold"] == 360
    c = container(
        spec(
            probes={
                "startupTimeoutSeconds": 14400,
                "startup": {"periodSeconds": 30, "initialDelaySeconds": 60},
                "readiness": {
                    "path": "/health_generate",
                    "timeoutSeconds": 30,
                    "failureThreshold": 6,
                },
                "liveness": {"periodSeconds": 60},
            }
        )
    )
    assert c["readinessProbe"] == {
        "httpGet": {"path": "/health_generate", "port": "http"},
        "periodSeconds": 10,
        "timeoutSeconds": 30,
        "failureThreshold": 6,
    }
    assert c["startupProbe"]["failureThreshold"] == 480
    assert c["startupProbe"]["periodSeconds"] == 30
    assert c["startupProbe"]["initialDelaySeconds"] == 60
    assert c["livenessProbe"]["periodSeconds"] == 60
    assert c["livenessProbe"]["httpGet"]["path"] == "/ping"


def test_probe_path_on_several_nodes_or_behind_the_api_key_uses_exec() -> None:
    multi = container(
        spec(parallelism={"nodes": 2}, probes={"readiness": {"path": "/health_generate"}})
    )
    code = multi["readinessProbe"]["exec"]["command"][2]
    assert "'/health_generate' if os.environ['NODE_RANK'] == '0' else '/ping'" in code
    keyed = container(
        spec(
            server={"apiKeySecret": {"name": "k", "key": "k"}},
            probes={"liveness": {"path": "/v1/models"}},
        )
    )
    code = keyed["livenessProbe"]["exec"]["command"][2]
    assert "Authorization" in code and "SGLANG_API_KEY" in code
    # Key-free paths stay plain httpGet probes.
    free = container(spec(server={"apiKeySecret": {"name": "k", "key": "k"}}))
    assert free["readinessProbe"]["httpGet"]["path"] == "/ready"


HOST_TWO = {"parallelism": {"nodes": 2}, "network": {"hostNetwork": True}}


def test_tcp_advice_for_host_network_without_rdma() -> None:
    [message] = advice.advice(spec(**HOST_TWO))
    assert "TCP sockets" in message
    assert advice.advice(spec(parallelism={"nodes": 2})) == []
    assert advice.advice(spec(network={"hostNetwork": True})) == []


@pytest.mark.parametrize(
    "fields",
    [
        {"network": {"hostNetwork": True, "rdmaResourceName": "rdma/hca_shared_devices_a"}},
        {"resources": {"limits": {"nvidia.com/rdma_ib": 1}}},
        {
            "podTemplate": {
                "spec": {
                    "containers": [{"name": "sglang", "resources": {"limits": {"amd.com/hca": 1}}}]
                }
            }
        },
        {
            "podTemplate": {
                "spec": {
                    "containers": [{"name": "sglang", "securityContext": {"privileged": True}}]
                }
            }
        },
        {
            "podTemplate": {
                "spec": {"volumes": [{"name": "ib", "hostPath": {"path": "/dev/infiniband/"}}]}
            }
        },
    ],
)
def test_no_tcp_advice_with_any_kind_of_rdma(fields: dict[str, Any]) -> None:
    raw = {**HOST_TWO, **fields}
    raw["network"] = {**HOST_TWO["network"], **fields.get("network", {})}
    assert advice.advice(spec(**raw)) == []
