"""Every example would run on the hardware it names: its tensor parallel size fits its
model's attention and KV heads and its weights fit the GPUs (from docs/models.md, each
number with its source), and it states its prerequisites at the top with how to create
them."""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from sglang_operator import chartgen
from sglang_operator.api import SGLangDeploymentSpec, parse_spec

ROOT = chartgen.ROOT
MODELS_DOC = ROOT / "docs" / "models.md"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
# SGLang's default --mem-fraction-static is at most this on large GPUs: weights and KV cache.
DEFAULT_MEM_FRACTION = 0.88


@dataclass(frozen=True)
class Model:
    heads: int
    kv_heads: int | None  # None: multi-head latent attention, no KV-head split
    weights_gb: float


def _rows(heading: str) -> list[list[str]]:
    """The cells of the markdown table whose header row starts with `heading`."""
    lines = MODELS_DOC.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {heading} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split("|")])
    return rows


def models() -> dict[str, Model]:
    table = {}
    for name, heads, kv, params, bytes_per, source in _rows("Model"):
        assert source.startswith("[config.json](https://huggingface.co/"), name
        assert name.strip("`") in source, f"{name}: the source is another model's"
        table[name.strip("`")] = Model(
            int(heads), None if kv == "MLA" else int(kv), float(params) * float(bytes_per)
        )
    return table


def gpu_memory_gb() -> dict[str, float]:
    """GPU memory by node label value, and by vendor for `default for <vendor>` rows."""
    memory = {}
    for gpu, gb, label in _rows("GPU"):
        memory[label.strip("`").split(": ", 1)[1]] = float(gb)
        if vendor := re.search(r"default for `(\w+)`", gpu):
            memory[vendor.group(1)] = float(gb)
    return memory


def load(path: Path) -> tuple[dict[str, Any], SGLangDeploymentSpec, str]:
    text = path.read_text()
    doc = yaml.safe_load(text)
    header = text.split("\napiVersion:", 1)[0]
    return doc, parse_spec(doc["spec"]), header


def hardware_memory(doc: dict[str, Any], spec: SGLangDeploymentSpec) -> float:
    memory = gpu_memory_gb()
    for value in (doc["spec"].get("nodeSelector") or {}).values():
        if value in memory:
            return memory[value]
    return memory[spec.gpu.vendor]


def check(doc: dict[str, Any], spec: SGLangDeploymentSpec) -> list[str]:
    """What would fail on real hardware: an empty list when the example is sound."""
    path = spec.model.path
    known = models()
    if path not in known:
        return [f"{path} is not in docs/models.md: add its heads and source there"]
    model, tp, pp = known[path], spec.tp, spec.parallelism.pp
    problems = []
    if model.heads % tp:
        problems.append(f"tp {tp} does not divide {path}'s {model.heads} attention heads")
    kv = model.kv_heads
    if kv is not None and kv % tp and tp % kv:
        problems.append(f"tp {tp} and {path}'s {kv} KV heads: neither divides the other")
    fraction = spec.server.mem_fraction_static or DEFAULT_MEM_FRACTION
    per_gpu = model.weights_gb / (tp * pp)
    room = fraction * hardware_memory(doc, spec)
    if per_gpu >= room:
        problems.append(f"{per_gpu:.0f} GB of weights per GPU, {room:.0f} GB for weights and KV")
    return problems


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_fits_its_models_heads_and_its_gpus(path: Path) -> None:
    doc, spec, _ = load(path)
    assert check(doc, spec) == []


@pytest.mark.parametrize(
    ("model", "fields", "fault"),
    [
        (
            "Qwen/Qwen2.5-7B-Instruct",
            {"gpu": {"perNode": 8}, "parallelism": {"nodes": 2}},
            "attention heads",
        ),
        # 40 heads over 20 ranks is fine, 8 KV heads over 20 is not.
        (
            "Qwen/Qwen2.5-32B-Instruct",
            {"gpu": {"perNode": 4}, "parallelism": {"nodes": 5}},
            "KV heads",
        ),
        (
            "meta-llama/Llama-3.1-70B-Instruct",
            {"gpu": {"vendor": "nvidia", "perNode": 1}},
            "weights per GPU",
        ),
        ("example-org/unlisted-model", {}, "not in docs/models.md"),
    ],
)
def test_the_check_refuses_what_would_fail_on_real_hardware(
    model: str, fields: dict[str, Any], fault: str
) -> None:
    doc = {"spec": {"model": {"path": model}, **fields}}
    (problem,) = check(doc, parse_spec(doc["spec"]))
    assert fault in problem


def test_every_listed_model_is_used_by_an_example() -> None:
    used = {load(path)[1].model.path for path in EXAMPLES}
    assert set(models()) == used


def _needs(doc: dict[str, Any], spec: SGLangDeploymentSpec) -> list[str]:
    """Text the header must contain for each thing the example needs from the cluster."""
    needs = []
    for ref in (spec.model.hf_token_secret, spec.server.api_key_secret):
        if ref is not None:
            needs.append(f"kubectl create secret generic {ref.name}")
    cache = spec.model.cache
    if cache is not None and cache.claim_name:
        needs += [cache.claim_name, "ReadWriteMany", "kubectl apply -f examples/prerequisites/"]
    if cache is not None and cache.size and cache.effective_access_mode == "ReadWriteMany":
        needs += ["StorageClass", "ReadWriteMany"]
    if spec.network.rdma_resource_name:
        needs += [spec.network.rdma_resource_name, "device plugin"]
    needs.append(f"{spec.gpu.effective_resource_name}")
    needs += list(doc["spec"].get("nodeSelector") or {})
    return needs


@pytest.mark.parametrize("path", [*EXAMPLES, *(ROOT / "examples").glob("*/*.yaml")], ids=str)
def test_example_names_no_namespace_so_kubectl_apply_n_works(path: Path) -> None:
    # `kubectl apply -n team-a -f FILE` refuses a manifest that names another namespace.
    assert "namespace" not in yaml.safe_load(path.read_text())["metadata"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_states_its_prerequisites_at_the_top(path: Path) -> None:
    doc, spec, header = load(path)
    assert "Prerequisites" in header
    missing = [need for need in _needs(doc, spec) if need not in header]
    assert not missing, f"{path.name}: the header does not say {missing}"
    for command in re.findall(r"kubectl apply -f (examples/prerequisites/\S+)", header):
        assert (ROOT / command).is_file(), command
