"""Server-side dry runs against the real API server: an SGLangDeployment as `kubectl apply`
sends it (strict field validation), and every child the operator would write for it, as the
operator writes it (server-side apply). Nothing is stored; the API server validates, defaults
and runs admission as for real."""

from __future__ import annotations

import json
from typing import Any

from kubernetes.client import ApiClient

from sglang_operator import API_GROUP, API_VERSION, PLURAL, cli
from sglang_operator.api import SGLangDeploymentSpec
from sglang_operator.kube import yaml_safe_json

_PLURALS = {
    "ConfigMap": "configmaps",
    "Pod": "pods",
    "Job": "jobs",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "Service": "services",
    "StatefulSet": "statefulsets",
}


def _call(
    api: ApiClient, method: str, path: str, *, query: dict[str, str], body: Any, content_type: str
) -> tuple[int, str]:
    data = yaml_safe_json(body)
    _, url, headers, _, _ = api.param_serialize(
        method=method,
        resource_path=path,
        query_params=list(query.items()),
        header_params={"Content-Type": content_type, "Accept": "application/json"},
        auth_settings=["BearerToken"],
    )
    response = api.rest_client.pool_manager.request(
        method, url, body=data, headers=headers, timeout=30, preload_content=True
    )
    return response.status, response.data.decode("utf-8", errors="replace")


def _message(status: int, text: str) -> str:
    try:
        return f"{status} {json.loads(text).get('message', text)}"
    except ValueError:
        return f"{status} {text[:2000]}"


def create_sgld(api: ApiClient, namespace: str, name: str, spec: dict[str, Any]) -> tuple[int, str]:
    """POSTs the resource with dryRun=All and strict field validation: (status, message)."""
    body = {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "SGLangDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    status, text = _call(
        api,
        "POST",
        f"/apis/{API_GROUP}/{API_VERSION}/namespaces/{namespace}/{PLURAL}",
        query={"dryRun": "All", "fieldValidation": "Strict"},
        body=body,
        content_type="application/json",
    )
    return status, _message(status, text)


def apply_child(api: ApiClient, obj: dict[str, Any]) -> str | None:
    """Server-side apply of one child with dryRun=All: None if accepted, else the refusal."""
    meta = obj["metadata"]
    prefix = "/api/v1" if obj["apiVersion"] == "v1" else f"/apis/{obj['apiVersion']}"
    path = f"{prefix}/namespaces/{meta['namespace']}/{_PLURALS[obj['kind']]}/{meta['name']}"
    status, text = _call(
        api,
        "PATCH",
        path,
        query={"dryRun": "All", "fieldManager": "sglang-operator", "force": "true"},
        body=obj,
        content_type="application/apply-patch+yaml",
    )
    if status < 300:
        return None
    return f"{obj['kind']} {meta['name']}: {_message(status, text)}"


def children(spec: SGLangDeploymentSpec, name: str, namespace: str) -> list[dict[str, Any]]:
    """Everything the operator may write for the spec (`sglang-operator render`'s objects)."""
    return cli.all_objects(spec, name, namespace, 1)


def apply_children(api: ApiClient, objects: list[dict[str, Any]]) -> list[str]:
    """The refusals of a server-side dry-run apply of each object (empty: all accepted)."""
    return [refusal for obj in objects if (refusal := apply_child(api, obj))]


def create(api: ApiClient, obj: dict[str, Any]) -> str | None:
    """A create (POST) with dryRun=All, admission included: None if admitted, else why not."""
    meta = obj["metadata"]
    prefix = "/api/v1" if obj["apiVersion"] == "v1" else f"/apis/{obj['apiVersion']}"
    status, text = _call(
        api,
        "POST",
        f"{prefix}/namespaces/{meta['namespace']}/{_PLURALS[obj['kind']]}",
        query={"dryRun": "All"},
        body=obj,
        content_type="application/json",
    )
    return None if status < 300 else _message(status, text)
