"""Stand-in for `python3 -m sglang.benchmark.offline_throughput`: SGLang's flags (server and
benchmark), the group's rendezvous as rank 0, and a result line in the real module's format.
No engine runs: the token counts are the workload's, the timings the stand-in's own."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from sglang import _standin


def check_dataset(args: argparse.Namespace) -> None:
    # The real module reads ShareGPT from --dataset-path (random prompts too, and its warm-up
    # always), or downloads it from the Hugging Face hub; the stand-in never downloads.
    if args.dataset_name in ("sharegpt", "random") and not args.dataset_path:
        _standin.fail(
            f"--dataset-name {args.dataset_name} without --dataset-path: the real module "
            "downloads ShareGPT from the Hugging Face hub; the stand-in does not"
        )
    if args.dataset_path:
        with open(args.dataset_path, encoding="utf-8") as f:
            data = json.load(f)
        if not isinstance(data, list) or not all(
            isinstance(d, dict) and "conversations" in d for d in data
        ):
            _standin.fail(f"{args.dataset_path} is not a ShareGPT JSON file")


def main(argv: list[str]) -> None:
    args = _standin.parser("offline_throughput", "offline_throughput.py").parse_args(argv)
    _standin.check_server_args(args)
    if args.node_rank != 0:
        _standin.fail("offline_throughput runs on rank 0; ranks >= 1 run launch_server")
    check_dataset(args)
    group, _weights = _standin.start_group(args)
    lengths = _standin.sample_lengths(args)
    inputs = sum(i for i, _ in lengths)
    outputs = sum(o for _, o in lengths)
    # No engine: "generation" is a pause of a millisecond per prompt (at most 5 s).
    started = time.perf_counter()
    time.sleep(min(0.001 * len(lengths), 5.0))
    latency = time.perf_counter() - started
    result = {
        "backend": args.backend,
        "successful_requests": len(lengths),
        "total_latency": latency,
        "total_input_tokens": inputs,
        "total_output_tokens": outputs,
        "request_throughput": len(lengths) / latency,
        "input_throughput": inputs / latency,
        "output_throughput": outputs / latency,
        "total_throughput": (inputs + outputs) / latency,
        "last_gen_throughput": outputs / latency,
    }
    if args.result_filename:
        with open(args.result_filename, "a", encoding="utf-8") as fout:
            fout.write(json.dumps(result) + "\n")
    print(json.dumps(result))
    group.shutdown()
    time.sleep(0.2)
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main(sys.argv[1:])
