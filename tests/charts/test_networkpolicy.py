"""The NetworkPolicies: what each component may reach and who may reach it, in production
and for every ci/ value set with monitoring switched on (every scrape endpoint admitted
from the monitoring namespace, and only from there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.charts.chart import (
    CI_SETS,
    FULL,
    NAMESPACE,
    by_kind,
    ci_values,
    merged,
    one,
    render_chart,
)
from tests.charts.kube import CHART

DEFAULTS = yaml.safe_load((CHART / "values.yaml").read_text())
# monitoring and the NetworkPolicies on, whatever the value set says: the check is never vacuous
LOCKED_DOWN = {
    "monitoring": {"serviceMonitor": {"enabled": True}},
    "networkPolicy": {"enabled": True},
}
Doc = dict[str, Any]


def pod_labels(docs: list[Doc]) -> list[tuple[Doc, dict[str, str]]]:
    """Each workload's pod template and its labels (the pods it makes)."""
    return [
        (d["spec"]["template"], d["spec"]["template"]["metadata"].get("labels", {}))
        for d in docs
        if d["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job")
    ]


def matches(selector: Doc, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels, matchExpressions In/NotIn/Exists) against labels."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for e in selector.get("matchExpressions", []):
        key, op, values = e["key"], e["operator"], e.get("values", [])
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and labels.get(key) in values)
            or (op == "Exists" and key not in labels)
            or (op == "DoesNotExist" and key in labels)
        ):
            return False
    return True


def container_port(template: Doc, name: str | int) -> int | None:
    if isinstance(name, int):
        return name
    for c in template["spec"]["containers"]:
        for p in c.get("ports", []):
            if p.get("name") == name:
                return int(p["containerPort"])
    return None


def scraped(docs: list[Doc]) -> list[tuple[str, Doc, dict[str, str], int]]:
    """(what, pod template, pod labels, container port) of every ServiceMonitor and PodMonitor
    endpoint that reaches one of the release's pods."""
    out = []
    pods = pod_labels(docs)
    services = by_kind(docs, "Service")
    for sm in by_kind(docs, "ServiceMonitor"):
        names = sm["spec"].get("namespaceSelector", {}).get("matchNames", [NAMESPACE])
        if NAMESPACE not in names:
            continue  # another namespace's Service (RabbitMQ's): not the release's pods
        for svc in services:
            if not matches(sm["spec"]["selector"], svc["metadata"].get("labels", {})):
                continue
            for ep in sm["spec"]["endpoints"]:
                (port,) = [p for p in svc["spec"]["ports"] if p.get("name") == ep["port"]]
                for template, labels in pods:
                    if matches({"matchLabels": svc["spec"]["selector"]}, labels):
                        number = container_port(template, port.get("targetPort", port["port"]))
                        assert number, f"{sm['metadata']['name']}: {port} names no container port"
                        what = f"ServiceMonitor/{sm['metadata']['name']} {ep.get('path')}"
                        out.append((what, template, labels, number))
    for pm in by_kind(docs, "PodMonitor"):
        for ep in pm["spec"]["podMetricsEndpoints"]:
            for template, labels in pods:
                if matches(pm["spec"]["selector"], labels):
                    number = container_port(template, ep["port"])
                    assert number, f"PodMonitor/{pm['metadata']['name']}: no port {ep['port']}"
                    out.append((f"PodMonitor/{pm['metadata']['name']}", template, labels, number))
    return out


def admitted(policies: list[Doc], labels: dict[str, str], port: int, namespace: str) -> bool:
    """Whether a pod with ``labels`` admits TCP ``port`` from any pod of ``namespace``, under
    the NetworkPolicies (Kubernetes semantics: no policy selecting it for Ingress admits all;
    otherwise the union of the selecting policies' rules)."""
    selecting = [
        p
        for p in policies
        if "Ingress" in p["spec"].get("policyTypes", ["Ingress"])
        and matches(p["spec"]["podSelector"], labels)
    ]
    if not selecting:
        return True
    ns_labels = {"kubernetes.io/metadata.name": namespace}
    for policy in selecting:
        for rule in policy["spec"].get("ingress", []):
            ports = rule.get("ports")
            if ports and not any(p.get("port") == port for p in ports):
                continue
            peers = rule.get("from")
            if not peers:
                return True
            for peer in peers:
                if "ipBlock" in peer:
                    continue
                ns_ok = "namespaceSelector" in peer and matches(
                    peer["namespaceSelector"], ns_labels
                )
                pod_ok = not peer.get("podSelector")  # Prometheus's own labels are not known
                if ns_ok and pod_ok:
                    return True
    return False


def test_production_isolates_every_component() -> None:
    docs = render_chart(values_files=[ci_values("production")])
    policies = {d["metadata"]["name"]: d for d in by_kind(docs, "NetworkPolicy")}
    assert set(policies) == {f"{FULL}-{c}" for c in ("api", "workers", "operator", "callbacks")}
    to_apiserver = {
        p["port"] for rule in policies[f"{FULL}-operator"]["spec"]["egress"] for p in rule["ports"]
    }
    assert {443, 6443, 27017} <= to_apiserver
    egress_ports = {
        p["port"] for rule in policies[f"{FULL}-workers"]["spec"]["egress"] for p in rule["ports"]
    }
    assert {53, 5672, 27017, 587, 443} <= egress_ports


@pytest.mark.parametrize("ci", CI_SETS)
@pytest.mark.parametrize("locked_down", [False, True], ids=["as-is", "locked-down"])
def test_every_scrape_endpoint_is_admitted_by_the_policies_of_its_pods(
    ci: str, locked_down: bool, tmp_path: Path
) -> None:
    """Each ServiceMonitor/PodMonitor endpoint of each value set (as it is, and with monitoring
    and the NetworkPolicies switched on) reaches a port that the NetworkPolicies selecting its
    pods admit from the monitoring namespace, and never the API's port the Ingress uses."""
    values_set = yaml.safe_load(ci_values(ci).read_text()) or {}
    docs = render_chart(LOCKED_DOWN if locked_down else None, values_files=[ci_values(ci)])
    monitoring_ns = merged(DEFAULTS, values_set)["networkPolicy"]["monitoringNamespace"]
    policies = by_kind(docs, "NetworkPolicy")
    endpoints = scraped(docs)
    if locked_down or values_set.get("monitoring", {}).get("serviceMonitor", {}).get("enabled"):
        assert {w.split()[0] for w, *_ in endpoints} >= {
            f"ServiceMonitor/{FULL}-api",
            f"ServiceMonitor/{FULL}-worker-email",
        }
    api_port = merged(DEFAULTS, values_set)["api"]["port"]
    for what, _, labels, port in endpoints:
        assert admitted(policies, labels, port, monitoring_ns or "monitoring"), (
            f"{ci}: {what} scrapes port {port} of {labels['app.kubernetes.io/component']}, "
            f"which the NetworkPolicies do not admit from namespace {monitoring_ns!r}"
        )
        if labels["app.kubernetes.io/component"] == "api":
            assert port != api_port, f"{what}: metrics on the port the Ingress routes"
    if policies and monitoring_ns:
        # and the metrics ports admit nobody else (the API's port is apiIngressFrom's)
        for _, _, labels, port in endpoints:
            assert not admitted(policies, labels, port, "somebody-else"), port


def test_production_admits_the_monitoring_namespace_only_to_the_metrics_ports() -> None:
    docs = render_chart(values_files=[ci_values("production")])
    api = one(docs, "NetworkPolicy", f"{FULL}-api")["spec"]["ingress"]
    assert api[0]["ports"] == [{"port": 8000, "protocol": "TCP"}]
    assert api[0]["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "ingress-nginx"
    }
    assert api[1] == {
        "ports": [{"port": 9100, "protocol": "TCP"}],
        "from": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ],
    }
    deployment = one(docs, "Deployment", f"{FULL}-api")["spec"]["template"]["spec"]
    api_container = deployment["containers"][0]
    assert api_container["args"] == ["api", "--metrics-port", "9100", "--metrics-host", "0.0.0.0"]
    assert {"name": "metrics", "containerPort": 9100, "protocol": "TCP"} in api_container["ports"]
    # the Ingress routes the API's own port, never the metrics one
    (rule,) = one(docs, "Ingress", f"{FULL}-api")["spec"]["rules"]
    backend = rule["http"]["paths"][0]["backend"]["service"]
    assert backend["port"] in ({"name": "http"}, {"number": 80})
