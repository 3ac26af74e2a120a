"""docs/postman/: the collection is what docs/postman/generate.py makes of the API's current
OpenAPI spec, it has every operation once, its bodies are valid requests, and every variable
it uses is defined by the collection or the environment file."""

from __future__ import annotations

import importlib.util
import json
import re
from types import ModuleType
from typing import Any

import jsonschema  # type: ignore[import-untyped]

from tests.support.system import ROOT

GENERATOR = ROOT / "docs" / "postman" / "generate.py"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("postman_generate", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = _generator()


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "docs" / "postman" / name).read_text())
    return data


def _requests(collection: dict[str, Any]) -> list[dict[str, Any]]:
    return [item for folder in collection["item"] for item in folder["item"]]


def test_the_committed_files_are_what_the_current_spec_generates() -> None:
    for path, text in GEN.render().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"docs/postman/{path.name} is stale: run python docs/postman/generate.py"
        )


def test_every_operation_of_the_spec_is_in_the_collection_once() -> None:
    spec = GEN.openapi()
    operations = sorted(
        (m.upper(), re.sub(r"\{(\w+)\}", r":\1", p))
        for p, ops in spec["paths"].items()
        for m in ops
    )
    collection = _load("wavecom-notify.postman_collection.json")
    assert collection["info"]["schema"].endswith("/collection/v2.1.0/collection.json")
    found = sorted(
        (r["request"]["method"], "/" + "/".join(r["request"]["url"]["path"]))
        for r in _requests(collection)
    )
    assert found == operations


def test_every_body_is_a_valid_request_of_its_operation() -> None:
    spec = GEN.openapi()
    collection = _load("wavecom-notify.postman_collection.json")
    checked = 0
    for r in _requests(collection):
        req = r["request"]
        if "body" not in req:
            continue
        path = "/" + "/".join(
            "{" + s[1:] + "}" if s.startswith(":") else s for s in req["url"]["path"]
        )
        op = spec["paths"][path][req["method"].lower()]
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        body = json.loads(req["body"]["raw"])
        try:
            jsonschema.Draft202012Validator({**schema, "components": spec["components"]}).validate(
                body
            )
        except jsonschema.ValidationError as exc:
            raise AssertionError(f"{r['name']}: {exc.message}") from exc
        checked += 1
    assert checked >= 4  # create, batch, replay, key creation


def test_every_variable_is_defined_and_the_key_is_a_secret_of_the_environment() -> None:
    collection = _load("wavecom-notify.postman_collection.json")
    env = {v["key"]: v for v in _load("wavecom-notify.postman_environment.json")["values"]}
    assert env["baseUrl"]["value"] == "http://127.0.0.1:8000"
    assert env["apiKey"]["type"] == "secret"
    assert env["apiKey"]["value"] == ""  # no key is committed
    defined = set(env) | {v["key"] for v in collection["variable"]}
    used = set(re.findall(r"\{\{([^}]+)\}\}", json.dumps(collection)))
    assert {u for u in used if not u.startswith("$")} <= defined
    assert collection["auth"]["bearer"][0]["value"] == "{{apiKey}}"
    no_auth = {r["name"] for r in _requests(collection) if r["request"].get("auth")}
    # health and readiness need no key; provider receipts are signed by their providers
    assert no_auth == {
        r["name"]
        for r in _requests(collection)
        if r["request"]["url"]["path"][-1] in ("health", "ready", "metrics")
        or r["request"]["url"]["path"][:2] == ["api", "receipts"]
    }
