"""The pure builders: what each object must contain, and properties over generated specs."""

import os
import re
import subprocess
import sys
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from sglang_operator import naming
from sglang_operator.api import ROCM_PRESET_ENV, SGLangDeploymentSpec, parse_spec
from sglang_operator.builders import (
    RankSource,
    container_env,
    desired_objects,
    launch_command,
    sglang_args,
    sglang_container,
    statefulset,
)
from strategies import resource_names

NS = "llm"
DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
VAR_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def spec(**fields: Any) -> SGLangDeploymentSpec:
    return parse_spec({"model": {"path": "Qwen/Qwen2.5-7B-Instruct"}, **fields})


def objects(s: SGLangDeploymentSpec, name: str = "qwen") -> list[dict[str, Any]]:
    return desired_objects(s, name, NS)


def of_kind(objs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objs if o["kind"] == kind]


def container(sts: dict[str, Any]) -> dict[str, Any]:
    c: dict[str, Any] = sts["spec"]["template"]["spec"]["containers"][0]
    return c


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c["env"]}


def flag(args: list[str], name: str) -> str | None:
    return args[args.index(name) + 1] if name in args else None


def test_single_node_deployment_objects() -> None:
    objs = objects(spec())
    assert [o["kind"] for o in objs] == ["Service", "StatefulSet", "Service"]
    headless, sts, client = objs
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    # Single-node groups too: the operator rolls one group at a time, not all at once.
    assert sts["spec"]["updateStrategy"] == {"type": "OnDelete"}
    assert sts["spec"]["serviceName"] == headless["metadata"]["name"]
    c = container(sts)
    assert c["command"] == ["python3", "-m", "sglang.launch_server"]
    assert "--nnodes" not in c["args"] and "--dist-init-addr" not in c["args"]
    assert flag(c["args"], "--host") == "0.0.0.0"
    assert flag(c["args"], "--tp-size") == "8"
    assert c["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert client["spec"]["selector"][naming.POD_INDEX_LABEL] == "0"
    assert client["metadata"]["name"] == "qwen"
    assert all(o["metadata"]["namespace"] == NS for o in objs)


def test_multi_node_group_waits_for_rank0_and_rendezvouses_on_its_dns_name() -> None:
    sts = of_kind(objects(spec(parallelism={"nodes": 2}), "ds"), "StatefulSet")[0]
    assert sts["spec"]["replicas"] == 2
    assert sts["spec"]["updateStrategy"] == {"type": "OnDelete"}
    c = container(sts)
    rank0 = "ds-0-0.ds-0-hs.llm.svc.cluster.local"
    assert flag(c["args"], "--dist-init-addr") == f"{rank0}:5000"
    assert flag(c["args"], "--nnodes") == "2"
    assert flag(c["args"], "--node-rank") == "$(NODE_RANK)"
    assert flag(c["args"], "--tp-size") == "16"
    assert c["command"][:2] == ["bash", "-c"]
    assert "getent hosts" in c["command"][2]
    env = env_of(c)
    assert env["MASTER_ADDR"] == rank0
    assert env["MASTER_PORT"] == "5000"
    assert env["NNODES"] == "2"
    assert env["NPROC_PER_NODE"] == "8"
    assert env["NODE_RANK"] == {
        "fieldRef": {"fieldPath": "metadata.labels['apps.kubernetes.io/pod-index']"}
    }
    assert env["SGLANG_EXECUTION_MODE"] == "server"


def test_probes_never_kill_during_load_and_use_paths_every_rank_serves() -> None:
    c = container(of_kind(objects(spec(parallelism={"nodes": 2})), "StatefulSet")[0])
    startup, liveness = c["startupProbe"], c["livenessProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 3600
    assert startup["httpGet"]["path"] == "/ping"
    assert liveness["httpGet"]["path"] == "/ping"
    assert liveness["timeoutSeconds"] >= 25
    code = c["readinessProbe"]["exec"]["command"][2]
    compile(code, "<readiness>", "exec")
    assert "'/ready'" in code and "'/ping'" in code


def test_startup_window_follows_the_spec() -> None:
    c = container(of_kind(objects(spec(probes={"startupTimeoutSeconds": 7205})), "StatefulSet")[0])
    startup = c["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 7205
    assert startup["periodSeconds"] * (startup["failureThreshold"] - 1) < 7205


def test_readiness_exec_probe_picks_the_path_by_rank() -> None:
    c = container(of_kind(objects(spec(parallelism={"nodes": 2})), "StatefulSet")[0])
    code = c["readinessProbe"]["exec"]["command"][2]
    # Run the probe's code with urlopen replaced by a recorder: rank 0 asks /ready.
    seen: list[str] = []
    for rank, path in (("0", "/ready"), ("1", "/ping")):
        os.environ["NODE_RANK"] = rank
        try:
            fake = type("U", (), {"urlopen": staticmethod(lambda url, timeout: seen.append(url))})
            exec(code.replace("import os, urllib.request as u; ", ""), {"os": os, "u": fake})
        finally:
            del os.environ["NODE_RANK"]
        assert seen[-1] == f"http://127.0.0.1:30000{path}"


def test_dns_wait_script_execs_python_with_the_arguments_untouched() -> None:
    command, args = launch_command(
        spec(parallelism={"nodes": 2}), module="json.tool", module_args=["--sort-keys"]
    )
    command = [sys.executable if part == "python3" else part for part in command]
    script = command[2].replace("python3", sys.executable)
    result = subprocess.run(
        [command[0], command[1], script, *command[3:], *args],
        input='{"b": 1, "a": "$(NOT_EXPANDED) x"}',
        capture_output=True,
        text=True,
        env={**os.environ, "MASTER_ADDR": "localhost"},
        timeout=60,
        check=True,
    )
    assert result.stdout.index('"a"') < result.stdout.index('"b"')


def test_command_and_args_only_reference_defined_env_vars() -> None:
    s = spec(parallelism={"nodes": 2}, server={"apiKeySecret": {"name": "k", "key": "v"}})
    c = container(of_kind(objects(s), "StatefulSet")[0])
    names = {e["name"] for e in c["env"]}
    for part in [*c["command"], *c["args"]]:
        for ref in VAR_REF.findall(part):
            assert ref in names, ref
    # The kubelet expands $(NAME) in commands too: the shell script must not contain one.
    assert "$(" not in c["command"][2]


def test_cluster_domain_names_rank0_and_the_endpoint() -> None:
    s = spec(parallelism={"nodes": 2}, network={"clusterDomain": "corp.example"})
    c = container(of_kind(objects(s, "ds"), "StatefulSet")[0])
    rank0 = "ds-0-0.ds-0-hs.llm.svc.corp.example"
    assert flag(c["args"], "--dist-init-addr") == f"{rank0}:5000"
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["MASTER_ADDR"] == rank0


def test_probes_never_need_the_api_key() -> None:
    # SGLang answers /ping with 401 when an API key is set; /ready is exempt.
    plain = container(of_kind(objects(spec()), "StatefulSet")[0])
    assert plain["startupProbe"]["httpGet"]["path"] == "/ping"
    keyed_spec = spec(server={"apiKeySecret": {"name": "k", "key": "v"}})
    keyed = container(of_kind(objects(keyed_spec), "StatefulSet")[0])
    for probe in ("startupProbe", "livenessProbe"):
        assert "httpGet" not in keyed[probe]
        assert keyed[probe]["tcpSocket"] == {"port": "http"}
    assert keyed["readinessProbe"]["httpGet"]["path"] == "/ready"


def test_gpus_shm_and_resources() -> None:
    s = spec(
        gpu={"perNode": 4},
        parallelism={"tp": 4},
        shmSize="48Gi",
        resources={"requests": {"cpu": 16}, "limits": {"memory": "512Gi", "amd.com/gpu": 1}},
    )
    sts = of_kind(objects(s), "StatefulSet")[0]
    c = container(sts)
    assert c["resources"]["limits"]["amd.com/gpu"] == 4
    assert c["resources"]["requests"]["amd.com/gpu"] == 4
    assert c["resources"]["requests"]["cpu"] == 16
    assert c["resources"]["limits"]["memory"] == "512Gi"
    shm = sts["spec"]["template"]["spec"]["volumes"][0]
    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": "48Gi"}
    assert {"name": shm["name"], "mountPath": "/dev/shm"} in c["volumeMounts"]


def test_nvidia_gets_its_resource_and_image_and_no_rocm_presets() -> None:
    c = container(of_kind(objects(spec(gpu={"vendor": "nvidia"})), "StatefulSet")[0])
    assert c["resources"]["limits"]["nvidia.com/gpu"] == 8
    assert c["image"].startswith("lmsysorg/sglang:v") and "rocm" not in c["image"]
    assert not set(ROCM_PRESET_ENV) & set(env_of(c))


def test_rocm_presets_are_defaults_that_env_overrides() -> None:
    env = env_of(container(of_kind(objects(spec()), "StatefulSet")[0]))
    assert {k: env[k] for k in ROCM_PRESET_ENV} == ROCM_PRESET_ENV
    c = container(
        of_kind(objects(spec(env=[{"name": "HSA_ENABLE_SDMA", "value": "1"}])), "StatefulSet")[0]
    )
    assert [e for e in c["env"] if e["name"] == "HSA_ENABLE_SDMA"] == [
        {"name": "HSA_ENABLE_SDMA", "value": "1"}
    ]
    off = env_of(container(of_kind(objects(spec(rocm={"presets": False})), "StatefulSet")[0]))
    assert not set(ROCM_PRESET_ENV) & set(off)


def test_env_puts_the_contract_first_so_user_values_can_reference_it() -> None:
    s = spec(env=[{"name": "MY_RANK", "value": "rank-$(NODE_RANK)"}])
    env = container_env(s, rank_source=RankSource.POD_INDEX, master_addr="m")
    names = [e["name"] for e in env]
    assert names.index("NODE_RANK") < names.index("MY_RANK")
    assert len(names) == len(set(names))


def test_secrets_reach_pods_only_by_reference() -> None:
    s = spec(
        model={"path": "m", "hfTokenSecret": {"name": "hf", "key": "token"}},
        server={"apiKeySecret": {"name": "api", "key": "key"}},
    )
    c = container(of_kind(objects(s), "StatefulSet")[0])
    env = env_of(c)
    assert env["HF_TOKEN"] == {"secretKeyRef": {"name": "hf", "key": "token"}}
    assert env["SGLANG_API_KEY"] == {"secretKeyRef": {"name": "api", "key": "key"}}
    assert flag(c["args"], "--api-key") == "$(SGLANG_API_KEY)"


def test_host_network_rdma_and_socket_interface() -> None:
    s = spec(
        network={
            "hostNetwork": True,
            "ncclSocketIfname": "ib0",
            "rdmaResourceName": "rdma/hca",
            "rdmaCount": 2,
        }
    )
    sts = of_kind(objects(s), "StatefulSet")[0]
    pod = sts["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True
    assert pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    c = container(sts)
    assert c["resources"]["limits"]["rdma/hca"] == 2
    assert "IPC_LOCK" in c["securityContext"]["capabilities"]["add"]
    env = env_of(c)
    assert env["NCCL_SOCKET_IFNAME"] == "ib0"
    # NCCL's value is never Gloo's; Gloo's own field sets it, else each rank derives it.
    assert "GLOO_SOCKET_IFNAME" not in env
    s = spec(network={"ncclSocketIfname": "^lo,docker", "glooSocketIfname": "bond0"})
    env = env_of(container(of_kind(objects(s), "StatefulSet")[0]))
    assert (env["NCCL_SOCKET_IFNAME"], env["GLOO_SOCKET_IFNAME"]) == ("^lo,docker", "bond0")


def test_weights_cache_created_or_reused() -> None:
    created = objects(
        spec(model={"path": "m", "cache": {"size": "1Ti", "storageClassName": "nfs"}})
    )
    pvc = of_kind(created, "PersistentVolumeClaim")[0]
    assert pvc["metadata"]["name"] == "qwen-weights"
    assert pvc["spec"]["accessModes"] == ["ReadWriteMany"]
    assert pvc["spec"]["storageClassName"] == "nfs"
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Ti"
    volumes = of_kind(created, "StatefulSet")[0]["spec"]["template"]["spec"]["volumes"]
    assert {"name": "weights", "persistentVolumeClaim": {"claimName": "qwen-weights"}} in volumes

    reused = objects(spec(model={"path": "m", "cache": {"claimName": "shared", "mountPath": "/c"}}))
    assert not of_kind(reused, "PersistentVolumeClaim")
    sts = of_kind(reused, "StatefulSet")[0]
    volumes = sts["spec"]["template"]["spec"]["volumes"]
    assert {"name": "weights", "persistentVolumeClaim": {"claimName": "shared"}} in volumes
    assert env_of(container(sts))["HF_HOME"] == "/c"
    assert {"name": "weights", "mountPath": "/c"} in container(sts)["volumeMounts"]


def test_a_created_weights_claim_is_marked_retained_unless_when_deleted_is_delete() -> None:
    retained = of_kind(
        objects(spec(model={"path": "m", "cache": {"size": "1Ti"}})), "PersistentVolumeClaim"
    )
    assert retained[0]["metadata"]["annotations"] == {naming.RETAINED_FOR_ANNOTATION: "qwen"}
    deleted = of_kind(
        objects(spec(model={"path": "m", "cache": {"size": "1Ti", "whenDeleted": "Delete"}})),
        "PersistentVolumeClaim",
    )
    assert naming.RETAINED_FOR_ANNOTATION not in (deleted[0]["metadata"].get("annotations") or {})


def test_offline_mode_builds_no_server_objects() -> None:
    s = spec(mode="offline", model={"path": "m", "cache": {"size": "1Ti"}})
    assert [o["kind"] for o in objects(s)] == ["PersistentVolumeClaim"]


def test_offline_rank_source_is_the_job_completion_index() -> None:
    s = spec(mode="offline", parallelism={"nodes": 2})
    c = sglang_container(
        s,
        rank_source=RankSource.JOB_COMPLETION_INDEX,
        master_addr="job-0.svc.ns.svc.cluster.local",
        module="sglang.benchmark.offline_throughput",
        module_args=["--model-path", "m"],
        probes=False,
    )
    env = env_of(c)
    assert env["NODE_RANK"] == {
        "fieldRef": {
            "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"
        }
    }
    assert env["SGLANG_EXECUTION_MODE"] == "offline"
    assert "startupProbe" not in c and "readinessProbe" not in c
    assert "exec python3 -m sglang.benchmark.offline_throughput" in c["command"][2]


def test_pod_labels_and_annotations_never_override_the_operators() -> None:
    s = spec(
        podLabels={naming.INSTANCE_LABEL: "other", "team": "a"},
        podAnnotations={naming.POD_SPEC_HASH_ANNOTATION: "x", "note": "y"},
    )
    meta = of_kind(objects(s), "StatefulSet")[0]["spec"]["template"]["metadata"]
    assert meta["labels"][naming.INSTANCE_LABEL] == "qwen"
    assert meta["labels"]["team"] == "a"
    assert meta["annotations"]["note"] == "y"
    assert meta["annotations"][naming.POD_SPEC_HASH_ANNOTATION] != "x"


def pod_hash(s: SGLangDeploymentSpec, group: int = 0) -> str:
    sts = statefulset(s, "qwen", NS, group)
    template_hash: str = sts["spec"]["template"]["metadata"]["annotations"][
        naming.POD_SPEC_HASH_ANNOTATION
    ]
    assert sts["metadata"]["annotations"][naming.POD_SPEC_HASH_ANNOTATION] == template_hash
    return template_hash


def test_pod_spec_hash_tracks_pod_affecting_changes_only() -> None:
    base = pod_hash(spec())
    assert pod_hash(spec()) == base
    assert pod_hash(spec(replicas=3)) == base
    assert pod_hash(spec(image="example.com/sglang:dev")) != base
    assert pod_hash(spec(server={"extraArgs": ["--log-level", "debug"]})) != base
    assert pod_hash(spec(env=[{"name": "X", "value": "1"}])) != base


def test_extra_args_come_last_and_verbatim() -> None:
    extra = ["--chunked-prefill-size", "8192", "--log-level=debug"]
    c = container(of_kind(objects(spec(server={"extraArgs": extra})), "StatefulSet")[0])
    assert c["args"][-3:] == extra


def test_every_spec_flag_is_written_with_its_value() -> None:
    s = parse_spec(
        {
            "model": {
                "path": "deepseek-ai/DeepSeek-R1",
                "revision": "a1b2c3d",
                "servedModelName": "r1",
                "trustRemoteCode": True,
            },
            "gpu": {"perNode": 8},
            "parallelism": {"nodes": 2, "tp": 8, "pp": 2, "ep": 4},
            "server": {
                "port": 31000,
                "memFractionStatic": 0.82,
                "contextLength": 65536,
                "attentionBackend": "aiter",
                "disableRadixCache": True,
                "enableMetrics": True,
                "apiKeySecret": {"name": "api", "key": "key"},
                "extraArgs": ["--log-level", "debug"],
            },
            "network": {"distInitPort": 5001},
        }
    )
    assert sglang_args(s, dist_init_host="r1-0-0.r1-0-hs") == [
        "--model-path", "deepseek-ai/DeepSeek-R1",
        "--revision", "a1b2c3d",
        "--served-model-name", "r1",
        "--trust-remote-code",
        "--host", "0.0.0.0",
        "--port", "31000",
        "--tp-size", "8",
        "--pp-size", "2",
        "--ep-size", "4",
        "--nnodes", "2",
        "--node-rank", "$(NODE_RANK)",
        "--dist-init-addr", "r1-0-0.r1-0-hs:5001",
        "--mem-fraction-static", "0.82",
        "--context-length", "65536",
        "--attention-backend", "aiter",
        "--disable-radix-cache",
        "--enable-metrics",
        "--api-key", "$(SGLANG_API_KEY)",
        "--log-level", "debug",
    ]  # fmt: skip


def test_a_minimal_spec_writes_only_the_required_flags_and_metrics() -> None:
    s = parse_spec({"model": {"path": "org/m"}, "gpu": {"perNode": 4}})
    assert sglang_args(s, dist_init_host="unused") == [
        "--model-path", "org/m",
        "--host", "0.0.0.0",
        "--port", "30000",
        "--tp-size", "4",
        "--enable-metrics",
    ]  # fmt: skip
    # dp on its own (single node), an explicit ep of 1 still written, metrics turned off.
    s = parse_spec(
        {
            "model": {"path": "org/m"},
            "gpu": {"perNode": 4},
            "parallelism": {"dp": 2, "ep": 1},
            "server": {"enableMetrics": False},
        }
    )
    assert sglang_args(s, dist_init_host="unused") == [
        "--model-path", "org/m",
        "--host", "0.0.0.0",
        "--port", "30000",
        "--tp-size", "2",
        "--dp-size", "2",
        "--ep-size", "1",
    ]  # fmt: skip


def test_scheduling_fields_and_pull_secrets_reach_the_pod_exactly() -> None:
    affinity = {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{"key": "gpu", "operator": "In", "values": ["mi300x"]}]}
                ]
            }
        }
    }
    s = spec(
        affinity=affinity,
        priorityClassName="inference-high",
        schedulerName="volcano",
        imagePullSecrets=["regcred", "mirror"],
    )
    pod = of_kind(objects(s), "StatefulSet")[0]["spec"]["template"]["spec"]
    assert pod["affinity"] == affinity
    assert pod["priorityClassName"] == "inference-high"
    assert pod["schedulerName"] == "volcano"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}, {"name": "mirror"}]
    # Unset, they are left out (the API server's defaults apply).
    plain = of_kind(objects(spec()), "StatefulSet")[0]["spec"]["template"]["spec"]
    for key in ("affinity", "priorityClassName", "schedulerName", "imagePullSecrets"):
        assert key not in plain, key


def test_replicas_make_groups_and_one_client_service() -> None:
    objs = objects(spec(replicas=3))
    sts = of_kind(objs, "StatefulSet")
    assert [o["metadata"]["name"] for o in sts] == ["qwen-0", "qwen-1", "qwen-2"]
    assert len(of_kind(objs, "Service")) == 4
    # Scaled to zero: the client Service stays, with no endpoints.
    assert [o["kind"] for o in objects(spec(replicas=0))] == ["Service"]


# ---- properties over generated valid specs -----------------------------------------------------


@st.composite
def valid_specs(draw: st.DrawFn) -> SGLangDeploymentSpec:
    per_node = draw(st.sampled_from([1, 2, 4, 8]))
    nodes = draw(st.integers(1, 4))
    pp = draw(st.sampled_from([1, 1, 2]))
    dp = draw(st.sampled_from([1, 1, 2])) if nodes == 1 else 1
    raw: dict[str, Any] = {
        "model": {"path": "org/model"},
        "gpu": {"vendor": draw(st.sampled_from(["amd", "nvidia"])), "perNode": per_node},
        "parallelism": {"nodes": nodes, "pp": pp, "dp": dp},
        "replicas": draw(st.integers(0, 4)),
        "network": {"hostNetwork": draw(st.booleans())},
    }
    if draw(st.booleans()):
        raw["parallelism"]["tp"] = draw(st.integers(1, 32))
    try:
        return parse_spec(raw)
    except ValidationError:
        assume(False)
        raise


def pods_of(sts: dict[str, Any]) -> list[dict[str, str]]:
    """The labels each pod of the StatefulSet will carry (the controller adds pod-index)."""
    labels = sts["spec"]["template"]["metadata"]["labels"]
    return [
        {**labels, naming.POD_INDEX_LABEL: str(rank)} for rank in range(sts["spec"]["replicas"])
    ]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


@settings(max_examples=150, deadline=None)
@given(valid_specs(), resource_names)
def test_properties_of_every_valid_spec(s: SGLangDeploymentSpec, name: str) -> None:
    objs = desired_objects(s, name, NS)
    for obj in objs:
        assert DNS_1035.match(obj["metadata"]["name"]) and len(obj["metadata"]["name"]) <= 63
        for value in obj["metadata"]["labels"].values():
            assert len(value) <= 63 and LABEL_VALUE.match(value)
    statefulsets = of_kind(objs, "StatefulSet")
    assert len(statefulsets) == s.replicas
    client = next(o for o in objs if o["metadata"]["name"] == naming.client_service_name(name))
    p = s.parallelism
    for sts in statefulsets:
        assert sts["spec"]["replicas"] == p.nodes
        pods = pods_of(sts)
        assert all(selects(sts["spec"]["selector"]["matchLabels"], pod) for pod in pods)
        # Only rank 0 is an endpoint of the client Service.
        assert [selects(client["spec"]["selector"], pod) for pod in pods] == [
            rank == 0 for rank in range(p.nodes)
        ]
        c = container(sts)
        assert c["resources"]["limits"][s.gpu.effective_resource_name] == s.gpu.per_node
        tp = int(flag(c["args"], "--tp-size") or 0)
        pp = int(flag(c["args"], "--pp-size") or 1)
        dp = int(flag(c["args"], "--dp-size") or 1)
        assert (tp * pp) % p.nodes == 0
        assert tp * pp * dp <= p.nodes * s.gpu.per_node
        assert ("--nnodes" in c["args"]) == (p.nodes > 1)
