"""SGLang's real argument parser (sglang 0.5.23, tests/sglang_cli.py) accepts every
launch_server command line the builders write, for every rank, and reads back what we meant."""

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sglang_cli import SGLangArgumentError, parse_launch_server
from sglang_operator import naming
from sglang_operator.api import SGLangDeploymentSpec, parse_spec
from sglang_operator.builders import BIND_ADDRESS, SERVER_MODULE, statefulset
from strategies import resource_names

ROOT = Path(__file__).resolve().parents[2]
NS = "llm"
API_KEY = "sk-test"


def argv_for_rank(sts: dict[str, Any], rank: int) -> list[str]:
    """The container's args as the kubelet expands them in the pod of ordinal `rank`."""
    container = sts["spec"]["template"]["spec"]["containers"][0]
    # Both forms of the command end in `python3 -m sglang.launch_server <args>`.
    assert SERVER_MODULE in " ".join(container["command"])
    return [
        arg.replace("$(NODE_RANK)", str(rank)).replace("$(SGLANG_API_KEY)", API_KEY)
        for arg in container["args"]
    ]


def check_every_rank(spec: SGLangDeploymentSpec, name: str) -> None:
    nodes = spec.parallelism.nodes
    for group in range(max(spec.replicas, 1)):
        sts = statefulset(spec, name, NS, group)
        for rank in range(nodes):
            args = parse_launch_server(argv_for_rank(sts, rank))
            assert args.tp_size == spec.tp
            assert args.pp_size == spec.parallelism.pp
            assert args.dp_size == spec.parallelism.dp
            assert args.nnodes == nodes
            assert args.node_rank == rank
            assert args.host == BIND_ADDRESS[spec.network.ip_family]
            assert args.port == spec.server.port
            assert args.model_path == spec.model.path
            if nodes > 1:
                host = naming.rank0_fqdn(name, group, NS, spec.network.cluster_domain)
                assert args.dist_init_addr == f"{host}:{spec.network.dist_init_port}"
            else:
                assert args.dist_init_addr is None
                if spec.network.host_network:
                    # The TCPStore port SGLang will bind is one the pod declares (reserves).
                    declared = sts["spec"]["template"]["spec"]["containers"][0]["ports"]
                    assert args.nccl_port in {p["containerPort"] for p in declared}
            if spec.server.api_key_secret:
                assert args.api_key == API_KEY
            assert args.enable_metrics == spec.server.enable_metrics
            # SGLang's own default for an unset --ep-size is 1.
            assert args.ep_size == (1 if spec.parallelism.ep is None else spec.parallelism.ep)
            assert args.mem_fraction_static == spec.server.mem_fraction_static
            assert args.context_length == spec.server.context_length
            assert args.attention_backend == spec.server.attention_backend
            assert args.disable_radix_cache == spec.server.disable_radix_cache
            assert args.trust_remote_code == spec.model.trust_remote_code
            assert args.served_model_name == spec.model.served_model_name
            assert args.revision == spec.model.revision


SERVER_EXAMPLES = [
    (path, doc)
    for path in sorted((ROOT / "examples").glob("*.yaml"))
    for doc in yaml.safe_load_all(path.read_text())
    if doc["spec"].get("mode", "server") == "server"
]


@pytest.mark.parametrize(("path", "doc"), SERVER_EXAMPLES, ids=[p.stem for p, _ in SERVER_EXAMPLES])
def test_sglang_accepts_every_example(path: Path, doc: dict[str, Any]) -> None:
    check_every_rank(parse_spec(doc["spec"]), doc["metadata"]["name"])


def test_a_flag_sglang_does_not_know_is_caught() -> None:
    spec = parse_spec({"model": {"path": "m"}, "server": {"extraArgs": ["--no-such-flag"]}})
    with pytest.raises(SGLangArgumentError):
        parse_launch_server(argv_for_rank(statefulset(spec, "x", NS, 0), 0))


def test_an_abbreviated_flag_in_extra_args_is_caught() -> None:
    # An abbreviation of an operator-owned flag is refused by the API itself (test_api_admission);
    # one of any other flag passes the API and is caught by the strict parse here.
    spec = parse_spec({"model": {"path": "m"}, "server": {"extraArgs": ["--mem-fraction", "0.8"]}})
    with pytest.raises(SGLangArgumentError):
        parse_launch_server(argv_for_rank(statefulset(spec, "x", NS, 0), 0))


@st.composite
def server_specs(draw: st.DrawFn) -> SGLangDeploymentSpec:
    per_node = draw(st.sampled_from([1, 2, 4, 8]))
    nodes = draw(st.integers(1, 4))
    parallelism: dict[str, Any] = {"nodes": nodes, "pp": draw(st.sampled_from([1, 1, 2]))}
    if nodes == 1:
        parallelism["dp"] = draw(st.sampled_from([1, 1, 2]))
    if draw(st.booleans()):
        parallelism["tp"] = draw(st.sampled_from([1, 2, 4, 8, 16, 32]))
    if draw(st.booleans()):
        parallelism["ep"] = draw(st.sampled_from([1, 2, 4]))
    server: dict[str, Any] = {
        "port": draw(st.integers(1024, 65535)),
        "enableMetrics": draw(st.booleans()),
        "disableRadixCache": draw(st.booleans()),
    }
    if draw(st.booleans()):
        server["memFractionStatic"] = draw(st.sampled_from([0.5, 0.8, 0.88, 0.9]))
    if draw(st.booleans()):
        server["contextLength"] = draw(st.sampled_from([2048, 8192, 131072]))
    if draw(st.booleans()):
        server["attentionBackend"] = draw(
            st.sampled_from(["triton", "aiter", "fa3", "torch_native"])
        )
    if draw(st.booleans()):
        server["apiKeySecret"] = {"name": "api", "key": "key"}
    model: dict[str, Any] = {
        "path": draw(st.sampled_from(["org/model", "/models/llama", "deepseek-ai/DeepSeek-R1"])),
        "trustRemoteCode": draw(st.booleans()),
    }
    if draw(st.booleans()):
        model["servedModelName"] = draw(st.sampled_from(["llama", "my-model/v1"]))
    if draw(st.booleans()):
        model["revision"] = draw(st.sampled_from(["main", "a1b2c3d"]))
    raw = {
        "model": model,
        "gpu": {"vendor": draw(st.sampled_from(["amd", "nvidia"])), "perNode": per_node},
        "parallelism": parallelism,
        "replicas": draw(st.integers(1, 2)),
        "server": server,
        "network": {
            "distInitPort": draw(st.integers(1024, 65535)),
            "hostNetwork": draw(st.booleans()),
            "ipFamily": draw(st.sampled_from(["IPv4", "IPv6", "DualStack"])),
        },
    }
    if draw(st.booleans()):
        raw["network"]["glooSocketIfname"] = draw(st.sampled_from(["eth0", "bond0", "ib0"]))
    if draw(st.booleans()):
        raw["network"]["ncclSocketIfname"] = draw(st.sampled_from(["^lo,docker", "=eth0", "ib"]))
    if draw(st.booleans()):
        raw["podTemplate"] = {
            "spec": {
                "hostIPC": True,
                "containers": [
                    {
                        "name": "sglang",
                        "securityContext": {"capabilities": {"add": ["SYS_PTRACE"]}},
                    },
                    {"name": "cache-agent", "image": "busybox"},
                ],
            }
        }
    if draw(st.booleans()):
        server["extraArgs"] = draw(
            st.sampled_from(
                [
                    ["--nccl-port", "29000"],
                    ["--disaggregation-mode", "prefill", "--disaggregation-bootstrap-port", "9100"],
                ]
            )
        )
    try:
        return parse_spec(raw)
    except ValidationError:
        assume(False)
        raise


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(server_specs(), resource_names)
def test_sglang_accepts_every_generated_spec(spec: SGLangDeploymentSpec, name: str) -> None:
    check_every_rank(spec, name)


def test_every_flag_the_spec_sets_reaches_sglang_with_its_value() -> None:
    spec = parse_spec(
        {
            "model": {
                "path": "deepseek-ai/DeepSeek-R1",
                "revision": "a1b2c3d",
                "servedModelName": "r1",
                "trustRemoteCode": True,
            },
            "gpu": {"vendor": "amd", "perNode": 8},
            "parallelism": {"nodes": 2, "tp": 16, "pp": 1, "ep": 8},
            "server": {
                "port": 31000,
                "memFractionStatic": 0.82,
                "contextLength": 65536,
                "attentionBackend": "aiter",
                "disableRadixCache": True,
                "enableMetrics": True,
                "apiKeySecret": {"name": "api", "key": "key"},
            },
            "network": {"distInitPort": 5001, "clusterDomain": "example.org"},
        }
    )
    args = parse_launch_server(argv_for_rank(statefulset(spec, "r1", NS, 1), 1))
    assert (args.model_path, args.revision, args.served_model_name) == (
        "deepseek-ai/DeepSeek-R1",
        "a1b2c3d",
        "r1",
    )
    assert args.trust_remote_code is True
    assert (args.host, args.port) == ("0.0.0.0", 31000)
    assert (args.tp_size, args.pp_size, args.dp_size, args.ep_size) == (16, 1, 1, 8)
    assert (args.nnodes, args.node_rank) == (2, 1)
    assert args.dist_init_addr == "r1-1-0.r1-1-hs.llm.svc.example.org:5001"
    assert args.mem_fraction_static == 0.82
    assert args.context_length == 65536
    assert args.attention_backend == "aiter"
    assert args.disable_radix_cache is True
    assert args.enable_metrics is True
    assert args.api_key == API_KEY


def test_flags_left_unset_in_the_spec_are_left_to_sglang() -> None:
    spec = parse_spec({"model": {"path": "org/model"}, "gpu": {"perNode": 4}})
    args = parse_launch_server(argv_for_rank(statefulset(spec, "m", NS, 0), 0))
    assert (args.tp_size, args.pp_size, args.dp_size, args.ep_size) == (4, 1, 1, 1)
    assert (args.nnodes, args.node_rank, args.dist_init_addr) == (1, 0, None)
    assert args.revision is None
    assert args.served_model_name is None
    assert args.trust_remote_code is False
    assert args.port == 30000
    assert args.mem_fraction_static is None
    assert args.context_length is None
    assert args.attention_backend is None
    assert args.disable_radix_cache is False
    assert args.api_key is None
    # The one flag the operator turns on by default (server.enableMetrics).
    assert args.enable_metrics is True


def test_pp_and_dp_reach_sglang() -> None:
    spec = parse_spec(
        {"model": {"path": "m"}, "gpu": {"perNode": 8}, "parallelism": {"pp": 2, "dp": 2}}
    )
    args = parse_launch_server(argv_for_rank(statefulset(spec, "m", NS, 0), 0))
    # tp = 8 GPUs / (pp 2 x dp 2)
    assert (args.tp_size, args.pp_size, args.dp_size) == (2, 2, 2)


def test_extra_args_come_last_and_override() -> None:
    spec = parse_spec(
        {
            "model": {"path": "m"},
            "server": {"contextLength": 4096, "extraArgs": ["--context-length", "8192"]},
        }
    )
    argv = argv_for_rank(statefulset(spec, "m", NS, 0), 0)
    assert argv[-2:] == ["--context-length", "8192"]
    assert parse_launch_server(argv).context_length == 8192
