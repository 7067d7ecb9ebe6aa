"""The real node (hack/node.sh) for the `realnode` stories: a kubelet with containerd and runc
beside the kwok nodes, running localhost/sglang-standin:local (images/sglang-standin).

What differs from kwok: containers really run, so probes, DNS, kube-proxy, logs, exec,
restarts, OOM kills and termination messages are the kubelet's own. The node is tainted
(`sglang-operator/real-node=true:NoSchedule`), so only manifests from `manifest()` land there.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import story
from conftest import REPO, Cluster

from tiny_tokenizer import build_tokenizer

NODE_SCRIPT = REPO / "hack" / "node.sh"
# Where the stand-in looks for a real SGLang (images/sglang-standin/README.md), and so the
# mount path of the volume that holds it with the tokenizer and datasets.
ENV_MOUNT_PATH = "/opt/sglang"


def _site_packages() -> Path:
    """The test environment's site-packages: it holds the real sglang (hack/python-env.sh)."""
    spec = importlib.util.find_spec("sglang")
    assert spec is not None and spec.origin is not None, "the real sglang is not installed"
    return Path(spec.origin).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class RealNode:
    name: str
    dir: Path
    label: str
    image: str

    @property
    def socket(self) -> Path:
        return self.dir / "containerd" / "containerd.sock"

    def ctr(self, *args: str) -> str:
        """`ctr` on the node's containerd, in the kubelet's namespace; stdout."""
        argv = ["ctr", "-a", str(self.socket), "-n", "k8s.io", *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise AssertionError(f"{shlex.join(argv)}: {done.stderr}")
        return done.stdout

    def containers_of(self, namespace: str) -> list[str]:
        """Ids of the containers (sandboxes included) containerd holds for pods of `namespace`."""
        out = self.ctr(
            "containers", "ls", "-q", f'labels."io.kubernetes.pod.namespace"=={namespace}'
        )
        return out.split()

    def kill(self, container_id: str) -> None:
        """SIGKILL to a container's main process, as a crash or the kernel would deliver it."""
        self.ctr("tasks", "kill", "--signal", "SIGKILL", container_id)

    def leftovers(self, pod_uids: list[str]) -> list[str]:
        """What of these pods is still on the machine: mounts, cgroups, pod directories."""
        found: list[str] = []
        mounts = Path("/proc/self/mounts").read_text()
        for uid in pod_uids:
            found += [line for line in mounts.splitlines() if uid in line]
            found += [str(p) for p in Path("/sys/fs/cgroup").glob(f"*/kubepods/**/pod{uid}")]
            pod_dir = self.dir / "kubelet" / "pods" / uid
            if pod_dir.exists():
                found.append(str(pod_dir))
        return found


def _node_script(
    cluster: Cluster, *args: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(NODE_SCRIPT), *args],
        env={**os.environ, "SGLANG_OPERATOR_CLUSTER": cluster.name},
        capture_output=True,
        text=True,
        check=False,
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"hack/node.sh {shlex.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done


def real_node(cluster: Cluster) -> Iterator[RealNode]:
    """The node joined to `cluster` for as long as the caller holds it; removed afterwards
    unless it was already up for this cluster (then it is left as it was)."""
    status = _node_script(cluster, "status", check=False)
    was_up = status.returncode == 0 and f"cluster {cluster.name}" in status.stdout
    if not was_up:
        _node_script(cluster, "up")
    values = dict(
        line.split("=", 1) for line in _node_script(cluster, "env").stdout.split() if "=" in line
    )
    try:
        yield RealNode(
            name=values["NODE_NAME"],
            dir=Path(values["NODE_DIR"]),
            label=values["NODE_LABEL"],
            image=values["NODE_IMAGE"],
        )
    finally:
        if not was_up:
            _node_script(cluster, "down")


def manifest(name: str, node: RealNode, *, nodes: int = 2, per_node: int = 1) -> dict[str, Any]:
    """A small deployment for the real node: the stand-in image, never pulled, tolerating
    the node's taint; no CPU requests (two cores are all the node has)."""
    obj = story.manifest(name, nodes=nodes, per_node=per_node)
    obj["spec"].update(
        {
            "image": node.image,
            "imagePullPolicy": "Never",
            "nodeSelector": {node.label: "true"},
            "tolerations": [{"key": node.label, "operator": "Exists", "effect": "NoSchedule"}],
            "shmSize": "64Mi",
        }
    )
    return obj


class SGLangVolume:
    """A hostPath PersistentVolume on the node, claimed in a namespace and used as the
    deployment's weights cache at ENV_MOUNT_PATH: a tokenizer built here (`tokenizer/`), a
    small ShareGPT file (`sharegpt.json`), and this environment's site-packages bind-mounted
    read-only (`site-packages/`), where the stand-in finds the real sglang.benchmark.serving."""

    def __init__(self, cluster: Cluster, node: RealNode, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.claim = "sglang-env"
        self.pv = f"sglang-env-{namespace}"
        self.host_dir = node.dir / "volumes" / namespace
        self.mount = self.host_dir / "site-packages"

    def __enter__(self) -> SGLangVolume:
        build_tokenizer(self.host_dir / "tokenizer")
        conversations = [
            {
                "conversations": [
                    {"from": "human", "value": " ".join(["w1"] * 12)},
                    {"from": "gpt", "value": " ".join(["w2"] * 6)},
                ]
            }
            for _ in range(32)
        ]
        (self.host_dir / "sharegpt.json").write_text(json.dumps(conversations))
        self.mount.mkdir(parents=True)
        subprocess.run(["mount", "--bind", str(_site_packages()), str(self.mount)], check=True)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(self.mount)], check=True)
        objects = [
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": self.pv},
                "spec": {
                    "capacity": {"storage": "1Gi"},
                    "accessModes": ["ReadWriteMany"],
                    "persistentVolumeReclaimPolicy": "Retain",
                    "storageClassName": "",
                    "hostPath": {"path": str(self.host_dir), "type": "Directory"},
                    "claimRef": {"namespace": self.namespace, "name": self.claim},
                },
            },
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": self.claim, "namespace": self.namespace},
                "spec": {
                    "accessModes": ["ReadWriteMany"],
                    "storageClassName": "",
                    "volumeName": self.pv,
                    "resources": {"requests": {"storage": "1Gi"}},
                },
            },
        ]
        self.cluster.kubectl(
            "apply",
            "-f",
            "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}),
        )
        return self

    def __exit__(self, *_exc: object) -> None:
        self.cluster.kubectl("delete", "pv", self.pv, "--wait=false", check=False)
        subprocess.run(["umount", "-l", str(self.mount)], check=False)

    def cache_spec(self) -> dict[str, str]:
        return {"claimName": self.claim, "mountPath": ENV_MOUNT_PATH}
