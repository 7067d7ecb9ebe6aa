"""The `sglang-operator` console script.

Each subcommand is one function registered with `@subcommand`: its name, help, argparse
arguments and a body taking the parsed namespace and returning the exit code.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml
from pydantic import ValidationError

from sglang_operator import (
    API_GROUP,
    API_VERSION,
    KIND,
    advice,
    apidocs,
    benchmark,
    crd,
    kubeyaml,
    metrics,
    naming,
    podtemplate,
    refdocs,
)
from sglang_operator.api import SGLangDeploymentSpec, parse_spec, validation_problems
from sglang_operator.builders import desired_objects
from sglang_operator.generated import GeneratedFile
from sglang_operator.leader import (
    DEFAULT_LEASE_DURATION,
    DEFAULT_LEASE_NAME,
    DEFAULT_RENEW_DEADLINE,
    DEFAULT_RETRY_PERIOD,
    ElectionSettings,
    LeaderElector,
    own_namespace,
)
from sglang_operator.podvalidation import DNS_SUBDOMAIN_RE, MAX_NAME

Body = Callable[[argparse.Namespace], int]
Argument = tuple[tuple[str, ...], dict[str, Any]]


@dataclass
class Subcommand:
    name: str
    help: str
    body: Body
    arguments: list[Argument] = field(default_factory=list)


SUBCOMMANDS: dict[str, Subcommand] = {}


def subcommand(name: str, help: str, *arguments: Argument) -> Callable[[Body], Body]:
    """Register the decorated function as `sglang-operator <name>`."""

    def register(body: Body) -> Body:
        SUBCOMMANDS[name] = Subcommand(name, help, body, list(arguments))
        return body

    return register


def arg(*flags: str, **options: Any) -> Argument:
    """One argparse argument of a subcommand: the flags and add_argument's options."""
    return flags, options


class UsageError(Exception):
    """Bad input the user can fix; printed without a traceback, exit code 1."""


def _load_documents(path: str, stdin: TextIO) -> list[Any]:
    """The documents of a manifest file (`-`: stdin) as kubectl reads them (kubeyaml: YAML
    1.1 scalars, `enabled: y` a boolean)."""
    text = stdin.read() if path == "-" else Path(path).read_text()
    try:
        return kubeyaml.load_all(text)
    except kubeyaml.NotJSONError as error:
        raise UsageError(f"{path}: {error}") from error


def all_objects(
    spec: SGLangDeploymentSpec, name: str, namespace: str, generation: int
) -> list[dict[str, Any]]:
    """Everything the operator may create for a deployment, as `helm template` would show it:
    the server objects, and the run objects (offline Jobs; the benchmark Job, which the
    operator creates only once the server is Ready)."""
    objects = desired_objects(spec, name, namespace)
    runs: list[dict[str, Any]] = []
    if spec.mode == "offline":
        for group in range(spec.replicas):
            runs.append(benchmark.offline_service(spec, name, namespace, group))
            runs.append(benchmark.offline_job(spec, name, namespace, group, generation))
    elif spec.benchmark.enabled:
        runs.append(benchmark.benchmark_job(spec, name, namespace, generation))
    if runs:
        objects.append(benchmark.reporter_configmap(name, namespace))
    return objects + runs


def render_documents(
    documents: list[Any], namespace: str | None, warn: Callable[[str], None] | None = None
) -> list[dict[str, Any]]:
    """The objects for every SGLangDeployment in documents.

    As `kubectl apply -f` takes a file, a document of another kind is passed over (`warn`
    says which) and a `kind: List` (or `<Kind>List`) stands for its items. Raises UsageError
    on bad input, with every problem of every SGLangDeployment, one a line, prefixed with its
    name (or the document's number when it has none). `warn` also gets each deployment's
    advice (`advice.advice`: valid, but slower or more fragile than likely meant), one line
    each, prefixed the same way."""
    objects: list[dict[str, Any]] = []
    problems: list[str] = []
    for number, doc in _deployments(documents, warn):
        found, spec = _check_document(doc, namespace)
        metadata = (doc.get("metadata") or {}) if isinstance(doc, dict) else {}
        name = metadata.get("name")
        label = name if isinstance(name, str) and name else f"document {number}"
        problems += [f"{label}: {line}" for line in found]
        if spec is None or problems:
            continue
        if warn:
            for line in advice.advice(spec):
                warn(f"{label}: {line}")
        generation = int(metadata.get("generation") or 1)
        own_namespace = metadata.get("namespace")
        # Without problems, label is the name.
        objects += all_objects(spec, label, own_namespace or namespace or "default", generation)
    if problems:
        raise UsageError("\n".join(problems))
    return objects


def _deployments(
    documents: list[Any], warn: Callable[[str], None] | None
) -> Iterator[tuple[str, Any]]:
    """(number, document) of each SGLangDeployment among `documents` and their lists' items
    (numbered 2.1, 2.2, ... in a list), and of each document that is no Kubernetes object."""
    for number, doc in enumerate(documents, 1):
        kind = doc.get("kind") if isinstance(doc, dict) else None
        if isinstance(kind, str) and kind.endswith("List") and isinstance(doc.get("items"), list):
            for item, member in enumerate(doc["items"], 1):
                yield from _deployments_of(f"{number}.{item}", member, warn)
        else:
            yield from _deployments_of(str(number), doc, warn)


def _deployments_of(
    number: str, doc: Any, warn: Callable[[str], None] | None
) -> Iterator[tuple[str, Any]]:
    if isinstance(doc, dict) and doc.get("kind") != KIND:
        if warn:
            name = (doc.get("metadata") or {}).get("name")
            what = " ".join(str(w) for w in (doc.get("kind"), name) if w) or "an object"
            warn(f"document {number}: skipped {what} (not an {KIND})")
        return
    yield number, doc


def _field(problem: str) -> str:
    """The field a problem line names."""
    return problem.split(": ", 1)[0]


def _check_document(
    doc: Any, namespace: str | None
) -> tuple[list[str], SGLangDeploymentSpec | None]:
    """Every problem of one document, and its parsed spec when it has none."""
    if not isinstance(doc, dict):
        return ["every YAML document must be a Kubernetes object"], None
    api_version = f"{API_GROUP}/{API_VERSION}"
    if doc.get("apiVersion") != api_version:
        return [
            f"expected apiVersion {api_version} for kind {KIND}; got {doc.get('apiVersion')}"
        ], None
    found = []
    metadata = doc.get("metadata") or {}
    name = metadata.get("name")
    if not name:
        found.append("metadata.name is required")
    elif not isinstance(name, str) or len(name) > MAX_NAME or not re.match(DNS_SUBDOMAIN_RE, name):
        found.append(
            f"metadata.name: {name!r} is not a lowercase RFC 1123 subdomain (a-z, 0-9, '-' "
            f"and '.', at most {MAX_NAME} characters), as Kubernetes requires"
        )
    elif (taken := naming.name_problem(name)) is not None:
        found.append(taken)
    own_namespace = metadata.get("namespace")
    if namespace and own_namespace and namespace != own_namespace:
        found.append(
            f"the namespace from the manifest ({own_namespace}) does not match -n {namespace}"
        )
    raw = crd.without_nulls(doc.get("spec") or {})
    if not isinstance(raw, dict):
        return [*found, "spec: must be of type object"], None
    # As the API server checks: the CRD's schema (which alone knows the pod template's
    # Kubernetes types) and the rules; each field once, in the schema's (kubectl's) words.
    schema_problems = crd.spec_problems(raw)
    found += schema_problems
    try:
        spec = parse_spec(raw)
    except ValidationError as error:
        named = {_field(line) for line in schema_problems}
        found += [p for p in validation_problems(error) if _field(p) not in named]
        return found, None
    return found, spec


@subcommand(
    "render",
    "print the Kubernetes objects for SGLangDeployment manifests, as a YAML stream (advice "
    "on stderr)",
    arg("-f", "--filename", required=True, help="manifest file, or - for stdin"),
    arg("-n", "--namespace", help="namespace for manifests that name none (default: default)"),
)
def _render(args: argparse.Namespace) -> int:
    objects = render_documents(
        _load_documents(args.filename, sys.stdin),
        args.namespace,
        warn=lambda line: print(f"warning: {line}", file=sys.stderr),
    )
    sys.stdout.write(yaml.safe_dump_all(objects, sort_keys=False, width=100))
    return 0


def _write_generated(file: GeneratedFile) -> Body:
    """The body of a subcommand that writes a generated file: printed with `-`, else written to
    the given path or its place in the checkout."""

    def body(args: argparse.Namespace) -> int:
        if args.path == "-":
            sys.stdout.write(file.render())
        else:
            print(file.write(Path(args.path) if args.path else None))
        return 0

    return body


for _name, _what, _file in (
    ("crd", "the CustomResourceDefinition", crd.FILE),
    ("api-docs", "the API reference generated from the models", apidocs.FILE),
    (
        "reference-docs",
        "the status, names and flags reference generated from the code",
        refdocs.FILE,
    ),
):
    subcommand(
        _name,
        f"write {_what} (to {_file.relative_path} of the checkout, or print it with -)",
        arg("path", nargs="?", help="output file; - prints to stdout"),
    )(_write_generated(_file))


@subcommand(
    "pod-template-schema",
    "regenerate spec.podTemplate's schema from Kubernetes' OpenAPI (in the Go module cache)",
    arg("--openapi", help="api__v1_openapi.json to read; default: downloaded with `go mod`"),
)
def _pod_template_schema(args: argparse.Namespace) -> int:
    print(podtemplate.write(openapi=Path(args.openapi) if args.openapi else None))
    return 0


@subcommand(
    "run",
    "run the operator (kopf) against the cluster of the kubeconfig or the pod's service account",
    arg(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch only this namespace (repeatable); default: all namespaces",
    ),
    arg("--all-namespaces", action="store_true", help="watch all namespaces (the default)"),
    arg(
        "--liveness",
        metavar="URL",
        help="serve kopf's liveness probe, e.g. http://0.0.0.0:8081/healthz",
    ),
    arg(
        "--log-level",
        choices=("debug", "info", "warning", "error"),
        default="info",
        help="info: one line per decision; debug adds one line per API request",
    ),
    arg("--log-format", choices=("text", "json"), default="text", help="log line format"),
    arg(
        "--standalone",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run without kopf peering (one replica); --no-standalone to coordinate replicas",
    ),
    arg(
        "--metrics-bind-address",
        metavar="ADDRESS",
        default="0",
        help="serve Prometheus metrics on /metrics at HOST:PORT, or :PORT on every interface "
        "(the chart uses :8080); 0, the default as in kubebuilder's operators, serves none",
    ),
    arg(
        "--leader-elect",
        action="store_true",
        help="reconcile only while holding a coordination.k8s.io Lease (run several replicas, "
        "one active)",
    ),
    arg(
        "--leader-election-namespace",
        metavar="NAMESPACE",
        help="namespace of the Lease; default: $POD_NAMESPACE or the pod's own namespace",
    ),
    arg(
        "--leader-election-id",
        metavar="NAME",
        default=DEFAULT_LEASE_NAME,
        help=f"name of the Lease (default {DEFAULT_LEASE_NAME})",
    ),
    arg(
        "--leader-elect-lease-duration",
        type=int,
        metavar="SECONDS",
        default=DEFAULT_LEASE_DURATION,
        help="how long a standby waits after the last renewal before taking over "
        f"(default {DEFAULT_LEASE_DURATION})",
    ),
    arg(
        "--leader-elect-renew-deadline",
        type=int,
        metavar="SECONDS",
        default=DEFAULT_RENEW_DEADLINE,
        help=f"how long the leader keeps trying to renew before it exits "
        f"(default {DEFAULT_RENEW_DEADLINE})",
    ),
    arg(
        "--leader-elect-retry-period",
        type=int,
        metavar="SECONDS",
        default=DEFAULT_RETRY_PERIOD,
        help=f"time between renewals and attempts (default {DEFAULT_RETRY_PERIOD})",
    ),
)
def _run(args: argparse.Namespace) -> int:
    if args.all_namespaces and args.namespace:
        raise UsageError("--all-namespaces and --namespace exclude each other")
    try:
        metrics.serve(args.metrics_bind_address)
    except ValueError as error:
        raise UsageError(str(error)) from error
    # Imported here so that render and crd work without cluster libraries being configured.
    from sglang_operator.controller import configure_logging, run  # noqa: PLC0415

    configure_logging(args.log_level, args.log_format)
    elector = _elector(args) if args.leader_elect else None
    if elector:
        elector.wait_until_leading(args.liveness)
    try:
        run(namespaces=args.namespace, liveness_endpoint=args.liveness, standalone=args.standalone)
    finally:
        if elector:
            elector.release()
    return 0


def _elector(args: argparse.Namespace) -> LeaderElector:
    from sglang_operator.kube import load_client_config  # noqa: PLC0415

    namespace = args.leader_election_namespace or own_namespace()
    if not namespace:
        raise UsageError("--leader-elect needs --leader-election-namespace outside a pod")
    settings = ElectionSettings(
        namespace=namespace,
        name=args.leader_election_id,
        lease_duration=args.leader_elect_lease_duration,
        renew_deadline=args.leader_elect_renew_deadline,
        retry_period=args.leader_elect_retry_period,
    )
    try:
        settings.check()
    except ValueError as error:
        raise UsageError(str(error)) from error
    # The election's client uses the default configuration, which this loads.
    load_client_config()
    return LeaderElector(settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sglang-operator",
        description="Run SGLang inference on Kubernetes: the operator and its tools.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in SUBCOMMANDS.values():
        sub = commands.add_parser(command.name, help=command.help, description=command.help)
        for flags, options in command.arguments:
            sub.add_argument(*flags, **options)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return SUBCOMMANDS[args.command].body(args)
    except (UsageError, OSError, yaml.YAMLError) as error:
        for line in str(error).splitlines():
            print(f"error: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
