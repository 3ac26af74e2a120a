"""The chart's callbacks process: a Deployment with probes and metrics like the workers', its
Service and ServiceMonitor, and a NetworkPolicy that lets it reach tenants' endpoints."""

from __future__ import annotations

from tests.charts.chart import FULL, URLS, by_kind, containers, merged, one, render_chart

MONITORED = {"monitoring": {"serviceMonitor": {"enabled": True}, "assumePrometheusOperator": True}}


def test_the_callbacks_process_runs_with_probes_and_metrics() -> None:
    docs = render_chart(merged(URLS, MONITORED, {"config": {"callbackConcurrency": 8}}))
    deployment = one(docs, "Deployment", f"{FULL}-callbacks")
    [c] = containers(deployment)
    # the image's dispatcher runs `python -m wavecom.callbacks`
    assert c["args"] == ["callbacks", "--metrics-port", "9104", "--metrics-host", "0.0.0.0"]
    assert c["ports"] == [{"name": "metrics", "containerPort": 9104, "protocol": "TCP"}]
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    config = one(docs, "ConfigMap", FULL)["data"]
    assert config["CALLBACK_CONCURRENCY"] == "8"
    assert config["CALLBACK_RETRY_WINDOW_S"] == "86400"
    assert {"configMapRef": {"name": FULL}} in c["envFrom"]
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    service = one(docs, "Service", f"{FULL}-callbacks")
    assert service["spec"]["ports"][0]["port"] == 9104
    monitor = one(docs, "ServiceMonitor", f"{FULL}-callbacks")
    assert monitor["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


def test_its_network_policy_admits_tenants_endpoints_and_the_backend() -> None:
    docs = render_chart(
        merged(URLS, {"networkPolicy": {"enabled": True, "callbackPorts": [443, 8443]}})
    )
    policy = one(docs, "NetworkPolicy", f"{FULL}-callbacks")
    egress = {p["port"] for rule in policy["spec"]["egress"] for p in rule["ports"]}
    assert {53, 5672, 27017, 443, 8443} <= egress
    assert policy["spec"]["ingress"][0]["ports"] == [{"port": 9104, "protocol": "TCP"}]


def test_disabled_it_renders_nothing() -> None:
    docs = render_chart(
        merged(
            URLS, MONITORED, {"callbacks": {"enabled": False}, "networkPolicy": {"enabled": True}}
        )
    )
    names = {d["metadata"]["name"] for d in docs}
    assert f"{FULL}-callbacks" not in names
    assert all("callbacks" not in d["metadata"]["name"] for d in by_kind(docs, "Deployment"))
