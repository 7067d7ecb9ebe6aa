"""tests/sglang_cli.py runs SGLang's real parsers: good command lines parse, bad ones fail."""

from __future__ import annotations

import os

import pytest

from sglang_cli import (
    SGLangArgumentError,
    parse_bench_serving,
    parse_launch_server,
    parse_offline_throughput,
)

MULTI_NODE_SERVER = [
    "--model-path",
    "/models/meta-llama/Llama-3.1-70B-Instruct",
    "--served-model-name",
    "llama-70b",
    "--host",
    "0.0.0.0",
    "--port",
    "30000",
    "--tp-size",
    "16",
    "--nnodes",
    "2",
    "--node-rank",
    "$(NODE_RANK)",
    "--dist-init-addr",
    "llama-0-0.llama-0.default.svc:5000",
    "--trust-remote-code",
    "--context-length",
    "32768",
]


def test_a_multi_node_launch_command_parses_into_server_args() -> None:
    argv = [arg.replace("$(NODE_RANK)", "1") for arg in MULTI_NODE_SERVER]

    server_args = parse_launch_server(argv)

    assert server_args.model_path == "/models/meta-llama/Llama-3.1-70B-Instruct"
    assert (server_args.tp_size, server_args.nnodes, server_args.node_rank) == (16, 2, 1)
    assert server_args.dist_init_addr == "llama-0-0.llama-0.default.svc:5000"
    assert server_args.host == "0.0.0.0"
    assert server_args.context_length == 32768


def test_an_unexpanded_kubernetes_variable_is_not_an_integer() -> None:
    # The kubelet expands $(NODE_RANK); a command line that still carries it is not SGLang's.
    with pytest.raises(SGLangArgumentError, match="--node-rank"):
        parse_launch_server(MULTI_NODE_SERVER)


def test_an_unknown_flag_fails_with_the_parsers_message() -> None:
    with pytest.raises(SGLangArgumentError, match="unrecognized arguments: --tensor-parallel"):
        parse_launch_server(["--model-path", "m", "--tensor-parallel", "2"])


def test_an_abbreviated_flag_fails_although_argparse_would_guess_it() -> None:
    with pytest.raises(SGLangArgumentError, match="--tp"):
        parse_launch_server(["--model-path", "m", "--tp", "2"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tp-size", "3", "--nnodes", "2"], "tp_size must be divisible by number of nodes"),
        (["--dp-size", "2", "--tp-size", "2", "--nnodes", "2"], "multi-node data-parallel"),
        (["--served-model-name", "llama:8b"], "cannot contain a colon"),
    ],
)
def test_sglang_start_up_checks_refuse_what_the_server_would_refuse(
    argv: list[str], message: str
) -> None:
    with pytest.raises(SGLangArgumentError, match=message):
        parse_launch_server(["--model-path", "m", *argv])


def test_parsing_leaves_the_environment_as_it_was() -> None:
    before = dict(os.environ)

    parse_launch_server(["--model-path", "m", "--tp-size", "8"])

    assert dict(os.environ) == before


def test_a_serving_benchmark_command_parses() -> None:
    args = parse_bench_serving(
        [
            "--backend",
            "sglang-oai",
            "--base-url",
            "http://llama.default.svc:30000",
            "--dataset-name",
            "random-ids",
            "--num-prompts",
            "200",
            "--random-input-len",
            "1024",
            "--random-output-len",
            "128",
            "--max-concurrency",
            "32",
            "--output-file",
            "/results/result.jsonl",
        ]
    )

    assert args.backend == "sglang-oai"
    assert args.dataset_name == "random-ids"
    assert (args.num_prompts, args.random_input_len, args.max_concurrency) == (200, 1024, 32)
    assert args.output_file == "/results/result.jsonl"


def test_a_serving_benchmark_with_an_unknown_backend_fails() -> None:
    with pytest.raises(SGLangArgumentError, match="--backend"):
        parse_bench_serving(["--backend", "tgi-deluxe"])


def test_the_serving_benchmarks_own_checks_after_parsing_run() -> None:
    with pytest.raises(SGLangArgumentError, match="--rust-worker-threads requires --rust-client"):
        parse_bench_serving(["--rust-worker-threads", "2"])


def test_an_offline_throughput_command_parses_into_server_and_bench_args() -> None:
    server_args, bench_args = parse_offline_throughput(
        [
            "--model-path",
            "/models/llama",
            "--tp-size",
            "8",
            "--dataset-name",
            "random",
            "--num-prompts",
            "100",
            "--result-filename",
            "/results/offline.jsonl",
        ]
    )

    assert (server_args.model_path, server_args.tp_size) == ("/models/llama", 8)
    assert (bench_args.dataset_name, bench_args.num_prompts) == ("random", 100)
    assert bench_args.result_filename == "/results/offline.jsonl"


def test_offline_throughput_has_no_random_ids_dataset() -> None:
    with pytest.raises(SGLangArgumentError, match="--dataset-name"):
        parse_offline_throughput(["--model-path", "m", "--dataset-name", "random-ids"])


def test_offline_throughput_applies_the_server_checks() -> None:
    with pytest.raises(SGLangArgumentError, match="tp_size must be divisible"):
        parse_offline_throughput(["--model-path", "m", "--tp-size", "3", "--nnodes", "2"])
