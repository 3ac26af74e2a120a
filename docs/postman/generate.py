"""Generate the Postman collection (v2.1) and its environment from the API's OpenAPI spec.

``python docs/postman/generate.py`` writes ``docs/postman/wavecom-notify.postman_collection.json``
and ``docs/postman/wavecom-notify.postman_environment.json`` from ``create_app(...).openapi()``;
``--check`` exits 1 when either differs from what the spec gives now (tests/docs/test_postman.py
runs the same comparison). One folder per OpenAPI tag, one request per operation, the
operation's summary as its name and its description as the request's; path parameters are
Postman variables, query parameters are listed (disabled unless required), request bodies are
the schema's first example. The collection authenticates with ``Authorization: Bearer
{{apiKey}}`` (health and metrics without); ``{{baseUrl}}`` and ``{{apiKey}}`` come from the
environment file: import both, select the environment, paste a key (``.state/api-key``).
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "services"))

HERE = Path(__file__).resolve().parent
COLLECTION = HERE / "wavecom-notify.postman_collection.json"
ENVIRONMENT = HERE / "wavecom-notify.postman_environment.json"
SCHEMA = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
NAMESPACE = uuid.UUID("6f2d1c3e-8a43-4b7e-9d6a-1f0c2b3a4d5e")  # stable ids from names
BASE_URL = "http://127.0.0.1:8000"
# values for path parameters, as collection variables a user overwrites
PATH_VARIABLES = {"notification_id": "{{notificationId}}", "key_id": "{{keyId}}"}


def openapi() -> dict[str, Any]:
    """The spec the API serves at /openapi.json."""
    from wavecom.api.app import create_app  # noqa: PLC0415 - after sys.path is set
    from wavecom.core.settings import Settings  # noqa: PLC0415

    spec: dict[str, Any] = create_app(Settings()).openapi()
    return spec


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = spec["components"]["schemas"][name]
    return node


def example(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    """The schema's first example, else one built from its required properties."""
    schema = _resolve(spec, schema)
    if schema.get("examples"):
        return schema["examples"][0]
    if "example" in schema:
        return schema["example"]
    if "default" in schema:
        return schema["default"]
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    for union in ("oneOf", "anyOf"):  # a union's first variant that is not null
        if union in schema:
            return example(spec, next(s for s in schema[union] if s.get("type") != "null"))
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: example(spec, props[k]) for k in schema.get("required", []) if k in props}
    if kind == "array":
        return [example(spec, schema.get("items", {}))]
    return {"integer": 1, "number": 1.0, "boolean": True}.get(str(kind), "string")


def _request(spec: dict[str, Any], path: str, method: str, op: dict[str, Any]) -> dict[str, Any]:
    segments = [s for s in path.split("/") if s]
    postman_path = [f":{s[1:-1]}" if s.startswith("{") else s for s in segments]
    query, variables, headers = [], [], []
    for p in op.get("parameters", []):
        desc = p.get("description", "")
        value = example(spec, p.get("schema", {}))
        if p["in"] == "path":
            variables.append(
                {"key": p["name"], "value": PATH_VARIABLES.get(p["name"], ""), "description": desc}
            )
        elif p["in"] == "query":
            query.append(
                {
                    "key": p["name"],
                    "value": str(value),
                    "description": desc,
                    "disabled": not p.get("required", False),
                }
            )
        elif p["in"] == "header":
            headers.append(
                {
                    "key": p["name"],
                    "value": "{{$guid}}" if p["name"] == "Idempotency-Key" else str(value),
                    "description": desc,
                    "disabled": not p.get("required", False),
                }
            )
    enabled = "&".join(f"{q['key']}={q['value']}" for q in query if not q["disabled"])
    url: dict[str, Any] = {
        "raw": "{{baseUrl}}/" + "/".join(postman_path) + (f"?{enabled}" if enabled else ""),
        "host": ["{{baseUrl}}"],
        "path": postman_path,
    }
    if query:
        url["query"] = query
    if variables:
        url["variable"] = variables
    request: dict[str, Any] = {
        "method": method.upper(),
        "header": headers,
        "url": url,
        "description": op.get("description") or op.get("summary", ""),
    }
    body = op.get("requestBody", {}).get("content", {}).get("application/json")
    if body is not None:
        headers.append({"key": "Content-Type", "value": "application/json"})
        request["body"] = {
            "mode": "raw",
            "raw": json.dumps(example(spec, body["schema"]), indent=2),
            "options": {"raw": {"language": "json"}},
        }
    if not op.get("security"):
        request["auth"] = {"type": "noauth"}
    return {
        "name": op.get("summary") or f"{method.upper()} {path}",
        "id": str(uuid.uuid5(NAMESPACE, f"{method} {path}")),
        "request": request,
        "response": [],
    }


def collection(spec: dict[str, Any]) -> dict[str, Any]:
    folders: dict[str, list[dict[str, Any]]] = {}
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            tag = (op.get("tags") or ["other"])[0]
            folders.setdefault(tag, []).append(_request(spec, path, method, op))
    info = spec["info"]
    return {
        "info": {
            "_postman_id": str(uuid.uuid5(NAMESPACE, "collection")),
            "name": info["title"],
            "description": f"{info.get('description', '')}\n\nGenerated from the OpenAPI spec "
            f"(version {info['version']}) by docs/postman/generate.py: do not edit.",
            "schema": SCHEMA,
        },
        "auth": {
            "type": "bearer",
            "bearer": [{"key": "token", "value": "{{apiKey}}", "type": "string"}],
        },
        "variable": [
            {"key": "notificationId", "value": "", "type": "string"},
            {"key": "keyId", "value": "", "type": "string"},
        ],
        "item": [
            {"name": tag, "id": str(uuid.uuid5(NAMESPACE, f"tag {tag}")), "item": items}
            for tag, items in folders.items()
        ],
    }


def environment() -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(NAMESPACE, "environment")),
        "name": "WaveCom Notify (local)",
        "values": [
            {"key": "baseUrl", "value": BASE_URL, "type": "default", "enabled": True},
            {"key": "apiKey", "value": "", "type": "secret", "enabled": True},
        ],
        "_postman_variable_scope": "environment",
    }


def render(spec: dict[str, Any] | None = None) -> dict[Path, str]:
    """The two files' contents, from ``spec`` (default: the app's)."""
    spec = spec or openapi()

    def dump(obj: dict[str, Any]) -> str:
        return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"

    return {COLLECTION: dump(collection(spec)), ENVIRONMENT: dump(environment())}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python docs/postman/generate.py", description=__doc__)
    p.add_argument("--check", action="store_true", help="exit 1 if a file is out of date")
    a = p.parse_args(argv)
    stale = []
    for path, text in render().items():
        if a.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    if stale:
        print(f"stale: {', '.join(stale)}; run python docs/postman/generate.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
