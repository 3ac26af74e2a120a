"""Monitoring: the ServiceMonitors and PrometheusRule (only where the prometheus-operator's API
is served, or `assumePrometheusOperator`), the alert rules the PrometheusRule ships,
RabbitMQ's per-queue metrics, and traces to the collector."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml  # type: ignore[import-untyped]

from tests.charts.chart import (
    FULL,
    NAMESPACE,
    URLS,
    by_kind,
    ci_values,
    merged,
    one,
    render_chart,
    validate,
)
from tests.observability.prometheus import rabbitmq_detailed
from tests.observability.rules import alerts, rule_records
from tests.support.promtool import promtool

# the ServiceMonitors of the production value set: each process's and RabbitMQ's
MONITORS = {
    f"{FULL}-{name}"
    for name in ("api", "worker-email", "worker-sms", "worker-push", "callbacks", "rabbitmq")
}


def test_monitoring_needs_the_prometheus_operator_api() -> None:
    prod = [ci_values("production")]
    with_api = render_chart(values_files=prod)
    assert {d["metadata"]["name"] for d in by_kind(with_api, "ServiceMonitor")} == MONITORS
    rule = one(with_api, "PrometheusRule", FULL)
    assert rule["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    without = render_chart(values_files=prod, api_versions=["keda.sh/v1alpha1"])
    assert by_kind(without, "ServiceMonitor") == []
    assert by_kind(without, "PrometheusRule") == []


def test_the_prometheus_rule_ships_the_repositorys_alert_rules(tmp_path: Path) -> None:
    """Every alert of dashboards/prometheus/rules/ with its expression, ``for``, labels and
    annotation templates unchanged (Helm does not expand them), runbook URLs prefixed, and
    promtool accepts the groups as rendered. Off by default."""
    base = "https://git.example/wavecom-notify/blob/main/"
    on = {"monitoring": {"prometheusRule": {"enabled": True, "runbookBaseUrl": base}}}
    rule = one(render_chart(merged(URLS, on)), "PrometheusRule", FULL)
    groups = rule["spec"]["groups"]
    shipped = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    records = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    assert records == {r["record"] for r in rule_records()}
    for name, source in alerts().items():
        got = shipped[name]
        assert got["expr"] == source["expr"], name
        assert got.get("for") == source.get("for"), name
        assert got["labels"] == source["labels"], name
        notes = dict(source["annotations"], runbook_url=base + source["annotations"]["runbook_url"])
        assert got["annotations"] == notes, name
    if shutil.which("promtool"):
        rendered = tmp_path / "rendered.yml"
        rendered.write_text(yaml.safe_dump({"groups": groups}))
        done = promtool("check", "rules", rendered)
        assert done.returncode == 0, done.stdout + done.stderr
    assert by_kind(render_chart(URLS), "PrometheusRule") == []


def test_helm_template_renders_the_monitors_when_told_the_operator_is_there() -> None:
    """`helm template` (Argo CD, Flux) has no cluster to ask: without the explicit value no
    ServiceMonitor or PrometheusRule renders, with it they all do and are valid."""
    prod = [ci_values("production")]
    bare: list[str] = []  # the API versions `helm template` knows without a cluster
    assert by_kind(render_chart(values_files=prod, api_versions=bare), "ServiceMonitor") == []
    forced = render_chart(
        {"monitoring": {"assumePrometheusOperator": True}}, values_files=prod, api_versions=bare
    )
    names = {d["metadata"]["name"] for d in by_kind(forced, "ServiceMonitor")}
    assert names == MONITORS
    assert one(forced, "PrometheusRule", FULL)
    validate(by_kind(forced, "ServiceMonitor") + by_kind(forced, "PrometheusRule"))


def test_rabbitmq_per_queue_metrics_are_scraped_where_the_live_test_reads_them() -> None:
    """The RabbitMQ ServiceMonitor scrapes the endpoint that the live-Prometheus test
    (tests/observability) scrapes: one source, the chart's values."""
    on = {"monitoring": {"serviceMonitor": {"enabled": True}, "rabbitmq": {"enabled": True}}}
    sm = one(render_chart(merged(URLS, on)), "ServiceMonitor", f"{FULL}-rabbitmq")
    validate([sm])
    path, params = rabbitmq_detailed()
    assert params == {"family": ["queue_coarse_metrics"]}
    endpoints = {e["path"]: e for e in sm["spec"]["endpoints"]}
    assert set(endpoints) == {"/metrics", path}
    assert endpoints[path]["params"] == params
    assert endpoints[path]["port"] == "prometheus"
    assert sm["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    assert sm["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "rabbitmq"}
    monitors = by_kind(
        render_chart(merged(URLS, {"monitoring": on["monitoring"] | {"rabbitmq": {}}})),
        "ServiceMonitor",
    )
    assert f"{FULL}-rabbitmq" not in {d["metadata"]["name"] for d in monitors}, "off by default"


def test_traces_reach_the_collector_through_the_policies() -> None:
    """OTEL_* in every process's ConfigMap and an egress rule to the collector in the API's and
    the workers' NetworkPolicies; neither without an endpoint."""
    collector = [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "otel"}}}]
    tracing = {
        "tracing": {
            "otlpEndpoint": "http://collector.otel:4318",
            "samplerArg": "0.25",
            "resourceAttributes": "deployment.environment=prod",
            "extraEnv": {"OTEL_EXPORTER_OTLP_TIMEOUT": 5000},
            "collectorTo": collector,
        },
        "networkPolicy": {"enabled": True},
    }
    docs = render_chart(merged(URLS, tracing))
    validate(docs)
    config = one(docs, "ConfigMap", FULL)["data"]
    assert {k: v for k, v in config.items() if k.startswith("OTEL_")} == {
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector.otel:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.25",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "5000",
    }
    for name in (f"{FULL}-api", f"{FULL}-workers"):
        egress = one(docs, "NetworkPolicy", name)["spec"]["egress"]
        assert {"ports": [{"port": 4318, "protocol": "TCP"}], "to": collector} in egress, name
    off = render_chart(merged(URLS, {"networkPolicy": {"enabled": True}}))
    assert not [k for k in one(off, "ConfigMap", FULL)["data"] if k.startswith("OTEL_")]
    for policy in by_kind(off, "NetworkPolicy"):
        assert not [r for r in policy["spec"]["egress"] if r.get("to") == collector]
        assert not [
            r for r in policy["spec"]["egress"] if {"port": 4318, "protocol": "TCP"} in r["ports"]
        ]


def test_a_process_the_chart_runs_alerts_when_none_of_its_pods_is_scraped() -> None:
    """WavecomApiDown and WavecomCallbacksDown ask for the job Prometheus gives the process's
    ServiceMonitor (the Service's name); the callbacks' only when the chart runs them."""
    on = {"monitoring": {"prometheusRule": {"enabled": True}}}
    for enabled in (True, False):
        docs = render_chart(merged(URLS, on, {"callbacks": {"enabled": enabled}}))
        rule = one(docs, "PrometheusRule", FULL)
        shipped = {
            r["alert"]: r for g in rule["spec"]["groups"] for r in g["rules"] if "alert" in r
        }
        services = {d["metadata"]["name"] for d in by_kind(docs, "Service")}
        want = {"WavecomApiDown": f"{FULL}-api"}
        if enabled:
            want["WavecomCallbacksDown"] = f"{FULL}-callbacks"
        else:
            assert "WavecomCallbacksDown" not in shipped
        for alert, job in want.items():
            assert job in services, (alert, services)
            assert shipped[alert]["expr"] == (
                f'absent(up{{job="{job}",namespace="{NAMESPACE}"}} == 1)'
            ), alert
            assert shipped[alert]["labels"] == {"severity": "critical"}
