"""The stand-in's machinery: SGLang's command lines, the group rendezvous and watchdog, and
the HTTP server of rank 0 and of ranks >= 1. Standard library only (the image has Debian's
python3 and nothing else). What is real and what stands in: ../../README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Written by images/sglang-standin/gen_flags.py from the installed SGLang's own parsers.
_FLAGS_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_standin_flags.json")
_TYPES: dict[str, Callable[[str], Any]] = {"int": int, "float": float, "str": str}

# Stand-in knobs (environment variables; SGLang has no such thing): how long "loading the
# model" takes, and how much host memory it takes while doing so (a quantity such as 256Mi).
LOAD_SECONDS_ENV = "SGLANG_STANDIN_LOAD_SECONDS"
LOAD_MEMORY_ENV = "SGLANG_STANDIN_LOAD_MEMORY"

# torch.distributed's default rendezvous timeout (SGLang's --dist-timeout, when unset).
DEFAULT_DIST_TIMEOUT_SECONDS = 600
HEARTBEAT_SECONDS = 1.0
# A peer silent for this long is gone (a frozen process; a dead one closes its socket at once).
PEER_TIMEOUT_SECONDS = 30.0
# Generated text: one word per token, so a word-level tokenizer counts what was sent.
WORDS = [f"w{i}" for i in range(1, 256)]


def log(message: str) -> None:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    print(f"[{stamp}] [sglang stand-in] {message}", file=sys.stderr, flush=True)


def fail(message: str, code: int = 1) -> None:
    log(message)
    sys.stderr.flush()
    os._exit(code)


# ---- command lines --------------------------------------------------------------------------


def parser(entry_point: str, prog: str) -> argparse.ArgumentParser:
    """argparse parser with every flag of `entry_point` (launch_server, offline_throughput):
    names, arity, types, choices and defaults as SGLang's own parser has them."""
    with open(_FLAGS_FILE, encoding="utf-8") as f:
        flags = json.load(f)[entry_point]
    p = argparse.ArgumentParser(prog=prog)
    for flag in flags:
        kwargs: dict[str, Any] = {"dest": flag["dest"], "default": flag.get("default")}
        action = flag["action"]
        if action in ("store_true", "store_false"):
            kwargs["action"] = action
        elif action == "store_const":
            kwargs.update(action="store_const", const=flag.get("const"))
        elif action == "boolean_optional":
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["action"] = "append" if action == "append" else "store"
            if flag.get("nargs") is not None:
                kwargs["nargs"] = flag["nargs"]
            if flag.get("const") is not None and flag.get("nargs") == "?":
                kwargs["const"] = flag["const"]
            kwargs["type"] = _TYPES.get(flag.get("type") or "str", str)
            if flag.get("choices") is not None:
                kwargs["choices"] = flag["choices"]
        if flag.get("required"):
            kwargs["required"] = True
        p.add_argument(*flag["flags"], **kwargs)
    return p


def check_server_args(args: argparse.Namespace) -> None:
    """The checks of SGLang's own that the operator's command lines meet (check_server_args)."""
    tp, pp, nnodes = args.tp_size, args.pp_size, args.nnodes
    if (tp * pp) % nnodes != 0:
        fail(f"AssertionError: tp_size ({tp}) * pp_size ({pp}) must be divisible by nnodes")
    if not 0 <= args.node_rank < nnodes:
        fail(f"node_rank {args.node_rank} out of range for nnodes {nnodes}")
    if nnodes > 1 and not args.dist_init_addr:
        fail("multi-node needs --dist-init-addr")
    if args.served_model_name and ":" in args.served_model_name:
        fail("--served-model-name may not contain ':' (reserved for LoRA adapters)")


def quantity_bytes(text: str) -> int:
    """A Kubernetes quantity (such as 256Mi, 1G, 1048576) in bytes."""
    match = re.fullmatch(r"(\d+)([KMGT]i?)?", text.strip())
    if not match:
        fail(f"{LOAD_MEMORY_ENV}={text!r} is not a quantity such as 256Mi")
    number, unit = int(match.group(1)), match.group(2) or ""
    scale = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "T": 10**12}
    scale.update({"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40})
    return number * scale[unit]


def load_model(args: argparse.Namespace) -> bytearray:
    """'Loads the model': takes LOAD_SECONDS_ENV seconds and LOAD_MEMORY_ENV bytes of host
    memory (touched, so a container memory limit really is charged)."""
    held = bytearray()
    memory = os.environ.get(LOAD_MEMORY_ENV)
    if memory:
        size = quantity_bytes(memory)
        log(f"loading {args.model_path}: taking {size} bytes of host memory")
        held = bytearray(size)
        for offset in range(0, size, 4096):
            held[offset] = 1
    seconds = float(os.environ.get(LOAD_SECONDS_ENV) or 0)
    if seconds:
        log(f"loading {args.model_path}: {seconds:g}s")
        time.sleep(seconds)
    return held


# ---- the group: rendezvous on --dist-init-addr, then a watchdog on every peer ---------------


class Group:
    """The ranks of one model copy, joined over TCP as torch.distributed's store joins them.

    Rank 0 listens on the --dist-init-addr port and waits for every other rank; ranks >= 1
    resolve the address (an unknown name fails at once, as in torch) and connect, retrying
    while nothing listens. Then each side sends a heartbeat; a peer whose socket closes or
    goes silent ends this process with exit code 1, as SGLang's watchdog ends a rank whose
    NCCL peer died. Rank 0's orderly shutdown is broadcast, and ranks >= 1 exit 0 on it.
    """

    def __init__(self, nnodes: int, node_rank: int, dist_init_addr: str | None, timeout: float):
        self.nnodes = nnodes
        self.rank = node_rank
        self.addr = dist_init_addr
        self.timeout = timeout
        self.peers: list[socket.socket] = []
        self._lock = threading.Lock()
        self.shutting_down = False

    def join(self) -> None:
        if self.nnodes == 1:
            return
        assert self.addr is not None
        host, _, port = self.addr.rpartition(":")
        host = host.strip("[]")
        if self.rank == 0:
            self._accept(int(port))
        else:
            self._connect(host, int(port))
        for peer in self.peers:
            threading.Thread(target=self._watch, args=(peer,), daemon=True).start()
        threading.Thread(target=self._heartbeat, daemon=True).start()
        log(f"rank {self.rank}: all {self.nnodes} ranks joined")

    def _accept(self, port: int) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", port))
        server.listen(self.nnodes)
        server.settimeout(self.timeout)
        log(f"rank 0: listening on port {port}, waiting for {self.nnodes - 1} other rank(s)")
        joined: set[int] = set()
        while len(joined) < self.nnodes - 1:
            try:
                conn, peer_addr = server.accept()
            except TimeoutError:
                fail(
                    f"rank 0: only {len(joined)} of {self.nnodes - 1} ranks joined in "
                    f"{self.timeout:g}s (torch.distributed timeout)"
                )
            conn.settimeout(PEER_TIMEOUT_SECONDS)
            hello = _read_line(conn)
            if not hello or not hello.startswith("rank "):
                conn.close()
                continue
            rank = int(hello.split()[1])
            log(f"rank 0: rank {rank} joined from {peer_addr[0]}")
            joined.add(rank)
            self.peers.append(conn)
        server.close()
        for peer in self.peers:
            peer.sendall(b"go\n")

    def _resolve(self, host: str, port: int) -> tuple[str, int]:
        infos = socket.getaddrinfo(host, port, socket.AF_INET, socket.SOCK_STREAM)
        address: tuple[str, int] = infos[0][4][:2]
        return address

    def _connect(self, host: str, port: int) -> None:
        try:
            address = self._resolve(host, port)
        except socket.gaierror as err:
            fail(f"rank {self.rank}: cannot resolve --dist-init-addr host {host}: {err}")
        log(f"rank {self.rank}: {host} is {address[0]}; connecting to rank 0")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                conn = socket.create_connection(address, timeout=5)
                break
            except OSError as err:
                if time.monotonic() > deadline:
                    fail(f"rank {self.rank}: rank 0 at {host}:{port} unreachable: {err}")
                time.sleep(1)
                # After a group restart the name can still answer with the old rank 0's
                # address for a DNS TTL: resolve again on every attempt, as torch's TCPStore
                # client does, or this rank waits on a pod that no longer exists.
                with contextlib.suppress(OSError):
                    address = self._resolve(host, port)
        conn.sendall(f"rank {self.rank}\n".encode())
        conn.settimeout(self.timeout)
        if _read_line(conn) != "go":
            fail(f"rank {self.rank}: rank 0 closed the rendezvous")
        conn.settimeout(PEER_TIMEOUT_SECONDS)
        self.peers.append(conn)

    def _heartbeat(self) -> None:
        while True:
            with self._lock:
                for peer in self.peers:
                    # A failed send is the peer's watcher's to report.
                    with contextlib.suppress(OSError):
                        peer.sendall(b"\n")
            time.sleep(HEARTBEAT_SECONDS)

    def _watch(self, peer: socket.socket) -> None:
        who = "rank 0" if self.rank else "a rank >= 1"
        while True:
            try:
                data = peer.recv(64)
            except OSError as err:
                data, reason = b"", str(err)
            else:
                reason = "connection closed"
            if b"shutdown" in data:
                log(f"rank {self.rank}: rank 0 shut down; exiting")
                os._exit(0)
            if not data:
                if self.shutting_down:
                    return
                fail(
                    f"rank {self.rank}: {who} went away ({reason}); the group is broken, "
                    "exiting (SGLang's watchdog)"
                )

    def shutdown(self) -> None:
        """Rank 0's orderly exit: tells every other rank first."""
        self.shutting_down = True
        with self._lock:
            for peer in self.peers:
                with contextlib.suppress(OSError):
                    peer.sendall(b"shutdown\n")


def _read_line(conn: socket.socket) -> str | None:
    data = b""
    while not data.endswith(b"\n"):
        try:
            chunk = conn.recv(1)
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk
    return data.decode().strip()


def handle_sigterm(group: Group) -> None:
    """Rank 0 exits on SIGTERM after telling the others; ranks >= 1 wait for that broadcast,
    as SGLang's do (a container's PID 1 has no default SIGTERM action at all)."""

    def on_sigterm(_signum: int, _frame: Any) -> None:
        if group.rank == 0:
            log("SIGTERM: shutting down")
            group.shutdown()
            time.sleep(0.2)
            os._exit(0)
        log(
            f"SIGTERM received on node_rank {group.rank}; waiting for the rank-0 shutdown broadcast"
        )

    signal.signal(signal.SIGTERM, on_sigterm)
    signal.signal(signal.SIGINT, on_sigterm)


# ---- HTTP -----------------------------------------------------------------------------------


class State:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.served_model_name = args.served_model_name or args.model_path
        self.ready = False
        self.requests = 0
        self.generated_tokens = 0
        self.started = time.time()
        self._lock = threading.Lock()

    def count(self, tokens: int) -> None:
        with self._lock:
            self.requests += 1
            self.generated_tokens += tokens


def _authorized(method: str, path: str, header: str | None, api_key: str | None) -> bool:
    """SGLang's decide_request_auth for its normal endpoints: health, readiness and metrics
    paths (by prefix) and OPTIONS never need the key; everything else needs
    `Authorization: Bearer <key>` when --api-key is set."""
    if method == "OPTIONS" or path.startswith(("/health", "/ready", "/metrics")):
        return True
    if not api_key:
        return True
    scheme, _, token = (header or "").partition(" ")
    return scheme.lower() == "bearer" and token == api_key


def _text(tokens: int) -> list[str]:
    return [WORDS[i % len(WORDS)] + " " for i in range(tokens)]


def _prompt_tokens(prompt: Any) -> int:
    if isinstance(prompt, list):
        return (
            len(prompt)
            if all(isinstance(t, int) for t in prompt)
            else sum(_prompt_tokens(p) for p in prompt)
        )
    return len(str(prompt or "").split())


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sglang-standin"
    state: State
    rank0: bool

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, body: Any = None, content_type: str = "application/json") -> None:
        data = (
            b""
            if body is None
            else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        )
        self.send_response(status)
        if body is not None:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, events: Sequence[Any]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        for event in events:
            payload = event if isinstance(event, str) else json.dumps(event)
            self.wfile.write(f"data: {payload}\n\n".encode())
            self.wfile.flush()

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        return body if isinstance(body, dict) else {}

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _dispatch(self, method: str) -> None:
        path = self.path.split("?", 1)[0]
        routes = self._rank0_routes() if self.rank0 else self._dummy_routes()
        if self.rank0 and not _authorized(
            method, path, self.headers.get("Authorization"), self.state.args.api_key
        ):
            self._send(401, {"error": "Unauthorized"})
            return
        handler = routes.get(path)
        if handler is None and path.startswith("/v1/models/") and self.rank0:
            handler = self._model
        if handler is None:
            self._send(404, {"detail": "Not Found"})
            return
        handler()

    # -- ranks >= 1: SGLang's dummy health server
    def _dummy_routes(self) -> dict[str, Callable[[], None]]:
        routes = {p: (lambda: self._send(200)) for p in ("/ping", "/health", "/health_generate")}
        if self.state.args.enable_metrics:
            routes["/metrics"] = self._metrics
        return routes

    # -- rank 0
    def _rank0_routes(self) -> dict[str, Callable[[], None]]:
        s = self.state
        ok = lambda: self._send(200 if s.ready else 503)  # noqa: E731
        routes: dict[str, Callable[[], None]] = {
            "/ready": ok,
            "/ping": ok,
            "/health": ok,
            "/health_generate": ok,
            "/v1/models": self._models,
            "/v1/completions": self._completions,
            "/v1/chat/completions": self._chat,
            "/generate": self._generate,
            "/server_info": self._server_info,
            "/get_server_info": self._server_info,
            "/model_info": self._model_info,
            "/get_model_info": self._model_info,
        }
        if s.args.enable_metrics:
            routes["/metrics"] = self._metrics
        return routes

    def _card(self, model: str) -> dict[str, Any]:
        return {
            "id": model,
            "object": "model",
            "created": int(self.state.started),
            "owned_by": "sglang",
            "root": model,
            "max_model_len": _int_or_none(self.state.args.context_length),
        }

    def _models(self) -> None:
        self._send(200, {"object": "list", "data": [self._card(self.state.served_model_name)]})

    def _model(self) -> None:
        model = self.path.split("?", 1)[0][len("/v1/models/") :]
        if model != self.state.served_model_name:
            self._send(
                404,
                {
                    "object": "error",
                    "message": f"The model `{model}` does not exist.",
                    "type": "NotFoundError",
                    "code": 404,
                },
            )
            return
        self._send(200, self._card(model))

    def _model_info(self) -> None:
        a = self.state.args
        self._send(
            200,
            {
                "model_path": a.model_path,
                "tokenizer_path": a.model_path,
                "is_generation": True,
                "served_model_name": self.state.served_model_name,
            },
        )

    def _server_info(self) -> None:
        info = {k: v for k, v in vars(self.state.args).items() if k != "api_key"}
        info["version"] = "stand-in"
        info["stand_in"] = "no model runs: images/sglang-standin/README.md"
        self._send(200, info)

    def _metrics(self) -> None:
        s = self.state
        name = s.served_model_name
        lines = [
            "# TYPE sglang:num_requests_total counter",
            f'sglang:num_requests_total{{model_name="{name}"}} {s.requests}',
            "# TYPE sglang:generation_tokens_total counter",
            f'sglang:generation_tokens_total{{model_name="{name}"}} {s.generated_tokens}',
        ]
        if self.rank0:
            self._send(200, "\n".join(lines) + "\n", "text/plain; version=0.0.4")
        else:
            self._send(200, "", "text/plain; version=0.0.4")

    def _max_tokens(self, body: dict[str, Any], *keys: str) -> int:
        for key in keys:
            value = body.get(key)
            if value is not None:
                return max(int(value), 0)
        return 16

    def _completions(self) -> None:
        body = self._body()
        tokens = self._max_tokens(body, "max_tokens")
        words = _text(tokens)
        prompt = _prompt_tokens(body.get("prompt"))
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": tokens,
            "total_tokens": prompt + tokens,
        }
        base = {
            "id": f"cmpl-{time.time_ns()}",
            "object": "text_completion",
            "created": int(time.time()),
            "model": self.state.served_model_name,
        }
        self.state.count(tokens)
        if body.get("stream"):
            events: list[Any] = [
                {**base, "choices": [{"index": 0, "text": w, "finish_reason": None}]} for w in words
            ]
            events.append(
                {
                    **base,
                    "choices": [{"index": 0, "text": "", "finish_reason": "length"}],
                    "usage": usage,
                }
            )
            self._stream([*events, "[DONE]"])
            return
        self._send(
            200,
            {
                **base,
                "choices": [{"index": 0, "text": "".join(words), "finish_reason": "length"}],
                "usage": usage,
            },
        )

    def _chat(self) -> None:
        body = self._body()
        tokens = self._max_tokens(body, "max_completion_tokens", "max_tokens")
        words = _text(tokens)
        prompt = sum(
            _prompt_tokens(m.get("content"))
            for m in body.get("messages") or []
            if isinstance(m, dict)
        )
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": tokens,
            "total_tokens": prompt + tokens,
        }
        base = {
            "id": f"chatcmpl-{time.time_ns()}",
            "created": int(time.time()),
            "model": self.state.served_model_name,
        }
        self.state.count(tokens)
        if body.get("stream"):
            chunk = {**base, "object": "chat.completion.chunk"}
            events: list[Any] = [
                {
                    **chunk,
                    "choices": [
                        {
                            "index": 0,
                            "delta": {"role": "assistant", "content": ""},
                            "finish_reason": None,
                        }
                    ],
                }
            ]
            events += [
                {**chunk, "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}
                for w in words
            ]
            events.append(
                {
                    **chunk,
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
                    "usage": usage,
                }
            )
            self._stream([*events, "[DONE]"])
            return
        message = {"role": "assistant", "content": "".join(words)}
        self._send(
            200,
            {
                **base,
                "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "finish_reason": "length"}],
                "usage": usage,
            },
        )

    def _generate(self) -> None:
        body = self._body()
        params = body.get("sampling_params") or {}
        tokens = self._max_tokens(params, "max_new_tokens")
        words = _text(tokens)
        prompt = _prompt_tokens(body.get("text") or body.get("input_ids"))
        self.state.count(tokens)

        def out(n: int) -> dict[str, Any]:
            finished = {"type": "length", "length": tokens} if n == tokens else None
            return {
                "text": "".join(words[:n]),
                "meta_info": {
                    "prompt_tokens": prompt,
                    "completion_tokens": n,
                    "finish_reason": finished,
                },
            }

        if body.get("stream"):
            self._stream([*(out(n) for n in range(1, tokens + 1)), "[DONE]"])
            return
        self._send(200, out(tokens))


def serve(state: State, rank0: bool) -> ThreadingHTTPServer:
    """Starts the HTTP server on --host:--port in a thread; rank 0's API or the dummy one."""
    handler = type("BoundHandler", (Handler,), {"state": state, "rank0": rank0})
    server = ThreadingHTTPServer((state.args.host, state.args.port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    what = "API server" if rank0 else "dummy health check server"
    log(f"rank {state.args.node_rank}: {what} on {state.args.host}:{state.args.port}")
    return server


def dist_timeout(args: argparse.Namespace) -> float:
    value = getattr(args, "dist_timeout", None)
    return float(value) if value else float(DEFAULT_DIST_TIMEOUT_SECONDS)


def start_group(args: argparse.Namespace) -> tuple[Group, bytearray]:
    """Rendezvous, then 'load the model' (SGLang loads weights once the group has formed)."""
    group = Group(args.nnodes, args.node_rank, args.dist_init_addr, dist_timeout(args))
    handle_sigterm(group)
    group.join()
    return group, load_model(args)


def sample_lengths(args: argparse.Namespace) -> list[tuple[int, int]]:
    """(input, output) lengths per prompt, drawn as SGLang's random dataset draws them:
    uniformly from [len * ratio, len], with --seed."""
    rng = random.Random(args.seed)
    ratio = args.random_range_ratio

    def draw(length: int) -> int:
        return rng.randint(max(int(length * ratio), 1), length)

    return [
        (draw(args.random_input_len), draw(args.random_output_len)) for _ in range(args.num_prompts)
    ]


def wait_forever() -> None:
    while True:
        time.sleep(3600)


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
