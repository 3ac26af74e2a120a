"""The chart's TLS with a private CA (tls.*) and what it does not foresee (extraEnv,
extraVolumes, extraVolumeMounts): in every Deployment and the setup Job, and in KEDA's
TriggerAuthentication."""

from __future__ import annotations

from typing import Any

import pytest

from tests.charts.chart import FULL, RenderError, by_kind, one, render_chart, validate
from wavecom.core.settings import Settings

URLS: dict[str, Any] = {
    "secrets": {
        "amqpUrl": "amqps://u:p@rabbit-0:5671/vh,amqps://u:p@rabbit-1:5671/vh",
        "mongodbUrl": "mongodb://mongo:27017/",
        "rabbitmqManagementUrl": "https://u:p@rabbit:15671/vh",
    }
}
CA = "/etc/wavecom/tls/ca/ca.crt"
CERT = "/etc/wavecom/tls/client/tls.crt"
KEY = "/etc/wavecom/tls/client/tls.key"
TMP = "/tmp"  # noqa: S108 (the pods' emptyDir, not a file of the test)
EVERYTHING: dict[str, Any] = {
    **URLS,
    "tracing": {"otlpEndpoint": "https://otel-collector.observability:4318"},
    "tls": {
        "ca": {"secretName": "bank-ca", "key": "bundle.pem"},
        "clientCertificate": {"secretName": "wavecom-client"},
        "amqp": True,
        "mongodb": True,
        "otlp": True,
        "keda": True,
    },
    "extraEnv": [
        {"name": "HTTPS_PROXY", "value": "http://proxy:3128"},
        {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}},
    ],
    "extraVolumes": [{"name": "policy", "configMap": {"name": "bank-policy"}}],
    "extraVolumeMounts": [{"name": "policy", "mountPath": "/etc/bank", "readOnly": True}],
}


def workloads(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every Deployment and Job of the chart."""
    found = by_kind(docs, "Deployment") + by_kind(docs, "Job")
    names = {d["metadata"]["name"] for d in found}
    assert {f"{FULL}-api", f"{FULL}-worker-email", f"{FULL}-operator", f"{FULL}-setup"} <= names
    return found


def test_every_pod_mounts_the_ca_and_client_certificate_and_names_them_for_each_connection() -> (
    None
):
    docs = render_chart(EVERYTHING)
    validate(docs)
    for doc in workloads(docs):
        spec = doc["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["tls-ca"]["secret"] == {
            "secretName": "bank-ca",
            "items": [{"key": "bundle.pem", "path": "ca.crt"}],
        }
        client = volumes["tls-client"]["secret"]
        assert client["secretName"] == "wavecom-client"
        assert client["defaultMode"] == 0o440  # the key: the pods' group (fsGroup) only
        assert volumes["policy"] == {"name": "policy", "configMap": {"name": "bank-policy"}}
        for container in spec["containers"]:
            mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
            assert set(mounts) == {
                TMP,
                "/etc/wavecom/tls/ca",
                "/etc/wavecom/tls/client",
                "/etc/bank",
            }
            assert all(mounts[p]["readOnly"] for p in mounts if p != TMP)
            env = {e["name"]: e for e in container["env"]}
            files = {n: e["value"] for n, e in env.items() if "value" in e}
            assert {k: files[k] for k in files if k.endswith(("_FILE", "CERTIFICATE", "KEY"))} == {
                "AMQP_CA_FILE": CA,
                "AMQP_CERT_FILE": CERT,
                "AMQP_KEY_FILE": KEY,
                "MONGODB_TLS_CA_FILE": CA,
                "MONGODB_TLS_CERT_FILE": CERT,
                "MONGODB_TLS_KEY_FILE": KEY,
                "OTEL_EXPORTER_OTLP_CERTIFICATE": CA,
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": CERT,
                "OTEL_EXPORTER_OTLP_CLIENT_KEY": KEY,
            }, doc["metadata"]["name"]
            assert env["HTTPS_PROXY"]["value"] == "http://proxy:3128"
            assert env["FROM_SECRET"]["valueFrom"] == {"secretKeyRef": {"name": "s", "key": "k"}}
    # the product reads every one of those names (the OTEL_* ones are the SDK's own)
    fields = {name.upper() for name in Settings.model_fields}
    assert {"AMQP_CA_FILE", "AMQP_CERT_FILE", "AMQP_KEY_FILE"} <= fields
    assert {"MONGODB_TLS_CA_FILE", "MONGODB_TLS_CERT_FILE", "MONGODB_TLS_KEY_FILE"} <= fields


def test_keda_reaches_the_management_api_over_tls_with_the_ca() -> None:
    docs = render_chart(EVERYTHING)
    auth = one(docs, "TriggerAuthentication", f"{FULL}-rabbitmq")
    refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    assert refs == {
        "host": (FULL, "RABBITMQ_MANAGEMENT_URL"),
        "tls": (f"{FULL}-keda-tls", "tls"),
        "ca": ("bank-ca", "bundle.pem"),
        "cert": ("wavecom-client", "tls.crt"),
        "key": ("wavecom-client", "tls.key"),
    }
    assert one(docs, "Secret", f"{FULL}-keda-tls")["stringData"] == {"tls": "enable"}


def test_a_ca_from_a_configmap_and_one_connection_only() -> None:
    values = {**URLS, "tls": {"ca": {"configMapName": "bank-ca"}, "mongodb": True}}
    docs = render_chart(values)
    validate(docs)
    for doc in workloads(docs):
        spec = doc["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert volumes["tls-ca"]["configMap"]["name"] == "bank-ca"
        assert "tls-client" not in volumes
        env = {e["name"] for e in spec["containers"][0]["env"]}
        assert "MONGODB_TLS_CA_FILE" in env
        assert not env & {"AMQP_CA_FILE", "MONGODB_TLS_CERT_FILE", "OTEL_EXPORTER_OTLP_CERTIFICATE"}
    auth = one(docs, "TriggerAuthentication", f"{FULL}-rabbitmq")
    assert [r["parameter"] for r in auth["spec"]["secretTargetRef"]] == ["host"]


def test_without_tls_values_nothing_is_mounted_or_set() -> None:
    docs = render_chart(URLS)
    for doc in workloads(docs):
        spec = doc["spec"]["template"]["spec"]
        assert [v["name"] for v in spec["volumes"]] == ["tmp"]
        for container in spec["containers"]:
            assert [m["mountPath"] for m in container["volumeMounts"]] == [TMP]
            names = {e["name"] for e in container["env"]}
            assert not any("TLS" in n or n.endswith(("CA_FILE", "CERTIFICATE")) for n in names)
    assert [d for d in by_kind(docs, "Secret") if d["metadata"]["name"].endswith("-keda-tls")] == []


@pytest.mark.parametrize(
    ("tls", "message"),
    [
        ({"amqp": True}, "tls.amqp: set tls.ca"),
        ({"ca": {"configMapName": "c"}, "keda": True}, "KEDA reads a CA only from a Secret"),
        ({"ca": {"secretName": "s", "configMapName": "c"}}, "not both"),
    ],
)
def test_tls_values_that_cannot_work_are_refused(tls: dict[str, Any], message: str) -> None:
    with pytest.raises(RenderError, match=message):
        render_chart({**URLS, "tls": tls})
