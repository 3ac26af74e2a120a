"""values.yaml against values.schema.json: every key typed, every schema object closed, bad
values refused at render time (schema, or a template's `fail`)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.charts.chart import RenderError, render_chart
from tests.charts.kube import CHART

SCHEMA = json.loads((CHART / "values.schema.json").read_text())
VALUES = yaml.safe_load((CHART / "values.yaml").read_text())
GOOD: dict[str, Any] = {
    "secrets": {
        "amqpUrl": "amqp://u:p@r:5672/vh",
        "mongodbUrl": "mongodb://m:27017/",
        "rabbitmqManagementUrl": "http://u:p@r:15672/vh",
    }
}


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].removeprefix("#/$defs/")
        node = SCHEMA["$defs"][name]
    return node


def _missing_from_schema(values: Any, node: dict[str, Any], path: str) -> list[str]:
    node = _resolve(node)
    if not isinstance(values, dict) or "properties" not in node:
        return []  # a leaf, or a free-form map (labels, resources, securityContext)
    out = []
    for key, value in values.items():
        sub = node["properties"].get(key)
        if sub is None:
            out.append(f"{path}{key}")
        else:
            out += _missing_from_schema(value, sub, f"{path}{key}.")
    return out


def _closed_objects(node: Any, path: str = "") -> list[str]:
    """Schema objects that list properties but would accept unknown ones."""
    out = []
    if isinstance(node, dict):
        if "properties" in node and node.get("additionalProperties") is not False:
            out.append(path or "/")
        for k, v in node.items():
            out += _closed_objects(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _closed_objects(v, f"{path}/{i}")
    return out


def test_every_values_key_is_in_the_schema() -> None:
    assert _missing_from_schema(VALUES, SCHEMA, "") == []


def test_every_schema_object_refuses_unknown_keys() -> None:
    # the if/then branches only add constraints to objects already closed
    open_ = [p for p in _closed_objects(SCHEMA) if "/then" not in p and "/if" not in p]
    assert open_ == []


def test_every_schema_key_is_in_values() -> None:
    def walk(node: dict[str, Any], values: Any, path: str) -> list[str]:
        node = _resolve(node)
        out = []
        for key, sub in node.get("properties", {}).items():
            if not isinstance(values, dict) or key not in values:
                out.append(f"{path}{key}")
            else:
                out += walk(sub, values[key], f"{path}{key}.")
        return out

    assert walk(SCHEMA, VALUES, "") == []


@pytest.mark.parametrize(
    ("values", "message"),
    [
        pytest.param({"secrets": {"amqpUrl": "", "mongodbUrl": ""}}, "amqpUrl", id="missing-urls"),
        pytest.param(
            {**GOOD, "secrets": {**GOOD["secrets"], "amqpUrl": "http://r:5672/"}},
            "amqpUrl",
            id="not-an-amqp-url",
        ),
        pytest.param(
            {**GOOD, "secrets": {**GOOD["secrets"], "amqpUrl": "amqp://a:5672/,redis://b:6379/"}},
            "amqpUrl",
            id="one-node-not-amqp",
        ),
        pytest.param(
            {**GOOD, "secrets": {**GOOD["secrets"], "rabbitmqManagementUrl": ""}},
            "rabbitmqManagementUrl",
            id="keda-without-management-url",
        ),
        pytest.param({**GOOD, "api": {"replicas": "two"}}, "replicas", id="wrong-type"),
        pytest.param({**GOOD, "workers": {"email": {"replicaz": 2}}}, "replicaz", id="unknown-key"),
        pytest.param({**GOOD, "unknownTopLevel": True}, "unknownTopLevel", id="unknown-top-key"),
        pytest.param({**GOOD, "config": {"queueType": "stream"}}, "queueType", id="queue-type"),
        pytest.param(
            {**GOOD, "config": {"queueDeliveryLimit": 0}}, "queueDeliveryLimit", id="delivery-limit"
        ),
        pytest.param({**GOOD, "keda": {"value": 0}}, "value", id="keda-value"),
        pytest.param(
            {**GOOD, "operator": {"watchNamespaces": ["Not_A_Label"]}},
            "watchNamespaces",
            id="operator-namespace",
        ),
        pytest.param(
            {**GOOD, "secrets": {**GOOD["secrets"], "credentialsKey": "change-me"}},
            "credentialsKey",
            id="credentials-key-not-32-bytes",
        ),
        pytest.param({**GOOD, "image": {"digest": "latest"}}, "digest", id="digest"),
    ],
)
def test_bad_values_fail_at_render(values: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError, match=message):
        render_chart(values)


def test_existing_secret_needs_no_urls() -> None:
    docs = render_chart({"secrets": {"existingSecret": "mine"}})
    assert docs
