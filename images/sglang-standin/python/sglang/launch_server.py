"""Stand-in for `python3 -m sglang.launch_server`: SGLang's flags, rendezvous, HTTP endpoints."""

from __future__ import annotations

import sys

from sglang import _standin


def main(argv: list[str]) -> None:
    args = _standin.parser("launch_server", "launch_server.py").parse_args(argv)
    _standin.check_server_args(args)
    _standin.log(
        f"rank {args.node_rank}/{args.nnodes}: serving {args.model_path} (stand-in: no model runs)"
    )
    _group, _weights = _standin.start_group(args)
    state = _standin.State(args)
    _standin.serve(state, rank0=args.node_rank == 0)
    state.ready = True
    if args.node_rank == 0:
        _standin.log("The server is fired up and ready to roll!")
    _standin.wait_forever()


if __name__ == "__main__":
    main(sys.argv[1:])
