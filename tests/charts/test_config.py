"""The settings every process reads: the ConfigMap (every Settings field, the product's own
defaults) and the Secret (the connection URLs), or an existing Secret instead."""

from __future__ import annotations

import base64

import yaml  # type: ignore[import-untyped]

from tests.charts.chart import FULL, URLS, by_kind, ci_values, containers, merged, one, render_chart
from wavecom.core.settings import Settings

# file paths of the mounted CA and client certificate, in each container's env when tls.* sets
# them (tests/charts/test_tls.py)
TLS_FILES = {
    f"{prefix}_{what}_FILE" for prefix in ("AMQP", "MONGODB_TLS") for what in ("CA", "CERT", "KEY")
}
# set per worker Deployment (workers.<channel>.*), not in the shared ConfigMap
PER_WORKER = {"PREFETCH", "BATCH_SIZE", "BATCH_WAIT_MS", "MAX_BATCHES_IN_FLIGHT"}


def test_the_configmap_carries_every_setting() -> None:
    docs = render_chart(URLS, show_only=["templates/configmap.yaml"])
    data = docs[0]["data"]
    # in the Secret; a fault-injection switch that must never reach a cluster; PROVIDER_SEED only
    # when set
    elsewhere = (
        {
            "AMQP_URL",
            "MONGODB_URL",
            "CREDENTIALS_KEY",
            "CREDENTIALS_PREVIOUS_KEY",
            "EXIT_BEFORE_PUBLISH",
            "PROVIDER_SEED",
        }
        | PER_WORKER
        | TLS_FILES
    )
    fields = {name.upper() for name in Settings.model_fields}
    assert fields - elsewhere - set(data) == set(), "settings the chart cannot set"
    assert set(data) - fields == set(), "ConfigMap keys Settings does not read"
    assert set(data) & PER_WORKER == set()
    worker = one(render_chart(URLS), "Deployment", f"{FULL}-worker-sms")
    env = {e["name"]: e.get("value") for e in containers(worker)[0]["env"]}
    assert {k: env[k] for k in PER_WORKER} == {
        "PREFETCH": "400",
        "BATCH_SIZE": "200",
        "BATCH_WAIT_MS": "50",
        "MAX_BATCHES_IN_FLIGHT": "4",
    }
    # the values are the product's own defaults, as strings
    fields_by_env = {name.upper(): f for name, f in Settings.model_fields.items()}
    assert data["QUEUE_TYPE"] == fields_by_env["QUEUE_TYPE"].default == "quorum"
    # every value is the product's own default (a chart default that drifts is a bug), but for
    # what a pod needs: production, listening on the pod's address, the image's dashboard
    differ = {
        "ENVIRONMENT": "production",
        "API_HOST": "0.0.0.0",
        "DASHBOARD_DIR": "/app/frontend/out",
    }
    for key, value in data.items():
        default = fields_by_env[key].default
        if key in differ:
            assert value == differ[key], key
        elif isinstance(default, (int, float)):
            assert float(value) == float(default), key
        else:
            assert value == str(default), key
    assert data["API_HOST"] == "0.0.0.0"
    # and Settings accepts all of it
    Settings(**{k.lower(): v for k, v in data.items()}, amqp_url=URLS["secrets"]["amqpUrl"])


def test_queue_type_and_delivery_limit_reach_the_configmap() -> None:
    docs = render_chart(
        merged(URLS, {"config": {"queueType": "classic", "queueDeliveryLimit": 7}}),
        show_only=["templates/configmap.yaml"],
    )
    assert docs[0]["data"]["QUEUE_TYPE"] == "classic"
    assert docs[0]["data"]["QUEUE_DELIVERY_LIMIT"] == "7"


def test_every_node_of_the_amqp_url_reaches_the_secret() -> None:
    docs = render_chart(URLS, show_only=["templates/secret.yaml"])
    got = base64.b64decode(docs[0]["data"]["AMQP_URL"]).decode()
    assert got == "amqp://u:p@rabbit-0:5672/vh,amqp://u:p@rabbit-1:5672/vh"


def test_existing_secret_renders_no_secret_and_uses_its_key_names() -> None:
    docs = render_chart(values_files=[ci_values("existing-secrets")])
    assert [d["metadata"]["name"] for d in by_kind(docs, "Secret")] == []
    api = one(docs, "Deployment", f"{FULL}-api")
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in containers(api)[0]["env"]}
    assert env["AMQP_URL"] == {"name": "wavecom-connections", "key": "amqp-url"}
    assert env["MONGODB_URL"] == {"name": "wavecom-connections", "key": "mongodb-url"}
    auth = one(docs, "TriggerAuthentication", f"{FULL}-rabbitmq")
    assert auth["spec"]["secretTargetRef"] == [
        {"parameter": "host", "name": "wavecom-connections", "key": "rabbitmq-management-url"}
    ]


def test_the_production_value_set_carries_no_secret() -> None:
    """Credentials come from a Secret the platform manages (`existingSecret`), never from a
    values file that lives in Git (issue 27, item 5)."""
    values = yaml.safe_load(ci_values("production").read_text())
    secrets = values["secrets"]
    assert secrets["existingSecret"]
    literal = {"amqpUrl", "mongodbUrl", "rabbitmqManagementUrl", "credentialsKey", "extra"}
    assert literal.isdisjoint(secrets), secrets
    docs = render_chart(values_files=[ci_values("production")])
    assert by_kind(docs, "Secret") == []
    api = containers(one(docs, "Deployment", f"{FULL}-api"))[0]
    key = next(e for e in api["env"] if e["name"] == "CREDENTIALS_KEY")
    assert key["valueFrom"]["secretKeyRef"]["name"] == "wavecom-notify-connections"
