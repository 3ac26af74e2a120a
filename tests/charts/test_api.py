"""The API's Deployment: its command, probes, resources, preStop, PodDisruptionBudget and
Service, and in production its TLS Ingress and CPU autoscaler."""

from __future__ import annotations

from tests.charts.chart import FULL, URLS, ci_values, containers, one, render_chart


def test_api_probes_resources_and_pdb() -> None:
    docs = render_chart(URLS)
    api = containers(one(docs, "Deployment", f"{FULL}-api"))[0]
    assert api["args"] == ["api", "--metrics-port", "9100", "--metrics-host", "0.0.0.0"]
    # readiness is what the pod itself can do, not its dependencies (issue 27, item 5)
    assert api["startupProbe"]["httpGet"]["path"] == "/api/ready"
    assert api["readinessProbe"]["httpGet"]["path"] == "/api/ready"
    assert api["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "5"]
    assert "tcpSocket" in api["livenessProbe"]
    assert api["resources"]["requests"]["cpu"] == "250m"
    assert one(docs, "PodDisruptionBudget", f"{FULL}-api")["spec"]["minAvailable"] == 1
    assert one(docs, "Service", f"{FULL}-api")["spec"]["ports"][0]["targetPort"] == "http"


def test_production_serves_the_api_over_tls_and_scales_it_on_cpu() -> None:
    docs = render_chart(values_files=[ci_values("production")])
    assert one(docs, "Ingress", f"{FULL}-api")["spec"]["tls"][0]["secretName"] == "notify-tls"
    assert one(docs, "HorizontalPodAutoscaler", f"{FULL}-api")["spec"]["minReplicas"] == 3
