"""The TCP ports an SGLang server listens on, for a given command line.

Declared as container ports, they are what hostNetwork reserves on the node (the scheduler
places no second pod needing the same host port there). The facts, from SGLang 0.5.23
(`sglang/srt/server_args.py` PortArgs.init_new, `arg_groups/fields/*.py`):

- `--port`: the HTTP API on rank 0, SGLang's dummy health server on ranks >= 1;
- the dist-init port of `--dist-init-addr` (multi-node): rank 0's torch TCPStore;
- `--nccl-port`: torch's TCPStore on a single node (picked at random below the ephemeral
  range unless given; the operator pins it to the dist-init port under hostNetwork, where a
  random port could collide with another pod of the node);
- with attention data parallelism (`--attn-dp-size` > 1, or the deprecated
  `--enable-dp-attention` beside `--dp-size` > 1: `arg_groups/parallel_hook.py`
  handle_deprecated_dp_attention, `runtime_context.py` attn_dp_enabled_of), six ZMQ ports
  from anchor + 1 (anchor - 7 if that passes 65535), the anchor being the dist-init port
  with several nodes and `--port` + 233 on one node (`--port` - 233 past 65535);
- `--disaggregation-bootstrap-port` (default 8998) with `--disaggregation-mode prefill`, or
  with any disaggregation mode and `--enable-pd-role-switch` (`managers/disagg_service.py`
  start_disagg_service);
- `--grpc-port` and `--gated-launch-port` when given.

NCCL/RCCL and Gloo open their own listeners on ephemeral ports the kernel picks free.
"""

from __future__ import annotations

from collections.abc import Sequence

ZMQ_TCP_PORT_DELTA = 233
DP_ATTENTION_PORTS = 6
DEFAULT_PD_BOOTSTRAP_PORT = 8998
MAX_PORT = 65535


# One option's spellings (SGLang's aliases).
ATTN_DP_SIZE = ("--attn-dp-size", "--attention-data-parallel-size")
DP_SIZE = ("--dp-size", "--data-parallel-size")


def flag_value(args: Sequence[str], *flags: str) -> str | None:
    """The value of an option in an argparse command line, given its spellings `flags`
    (`--f v` or `--f=v`; the last occurrence of any spelling wins)."""
    value = None
    for i, arg in enumerate(args):
        for flag in flags:
            if arg == flag and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith(flag + "="):
                value = arg.split("=", 1)[1]
    return value


def has_flag(args: Sequence[str], flag: str) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in args)


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def attention_dp(args: Sequence[str]) -> bool:
    """Whether SGLang runs attention data parallelism (ZMQ over TCP) with these arguments."""
    size = _int(flag_value(args, *ATTN_DP_SIZE)) or 1
    if size == 1 and has_flag(args, "--enable-dp-attention"):
        size = _int(flag_value(args, *DP_SIZE)) or 1
    return size > 1


def listen_ports(
    args: Sequence[str], *, port: int, dist_init_port: int, nodes: int
) -> list[tuple[str, int]]:
    """(name, port) of every TCP port SGLang binds with these launch_server `args`.

    `port` and `dist_init_port` are the operator's (--port, --dist-init-addr's port); the
    others are read from `args` (the user's extraArgs included). Names are container port
    names (at most 15 characters). A duplicate port number is left out: the first name wins.
    """
    found: list[tuple[str, int]] = [("http", port), ("dist", dist_init_port)]
    nccl = _int(flag_value(args, "--nccl-port"))
    if nccl is not None:
        found.append(("nccl", nccl))
    if attention_dp(args):
        anchor = dist_init_port
        if nodes == 1:
            anchor = port + ZMQ_TCP_PORT_DELTA
            if anchor > MAX_PORT:
                anchor = port - ZMQ_TCP_PORT_DELTA
        base = anchor + 1
        if anchor + DP_ATTENTION_PORTS > MAX_PORT:
            base = anchor - DP_ATTENTION_PORTS - 1
        found += [(f"zmq-{i}", base + i) for i in range(DP_ATTENTION_PORTS)]
    mode = flag_value(args, "--disaggregation-mode")
    if mode == "prefill" or (
        mode not in (None, "null") and has_flag(args, "--enable-pd-role-switch")
    ):
        bootstrap = _int(flag_value(args, "--disaggregation-bootstrap-port"))
        found.append(("pd-bootstrap", bootstrap or DEFAULT_PD_BOOTSTRAP_PORT))
    for name, flag in (("grpc", "--grpc-port"), ("gated-launch", "--gated-launch-port")):
        value = _int(flag_value(args, flag))
        if value is not None:
            found.append((name, value))
    unique: list[tuple[str, int]] = []
    for name, number in found:
        if all(number != n for _, n in unique):
            unique.append((name, number))
    return unique
