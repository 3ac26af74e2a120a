"""k8s/ (the kind development setup) and the Tiltfile, offline: the manifests are valid
Kubernetes 1.37 objects, the chart accepts the dev values, every path the Tiltfile names exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped]

from tests.charts.chart import by_kind, render_chart, validate
from tests.charts.kube import ROOT, load_all

K8S = ROOT / "k8s"
MANIFESTS = sorted(p for p in (K8S / "dev").glob("*.yaml") if p.name != "values-kind.yaml")


@pytest.mark.parametrize("path", MANIFESTS, ids=lambda p: p.name)
def test_dev_manifests_are_valid(path: Path) -> None:
    docs = load_all(path.read_text())
    assert docs
    validate(docs)
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "wavecom-dev"


def test_the_dev_rabbitmq_serves_what_keda_and_prometheus_read() -> None:
    docs = load_all((K8S / "dev" / "rabbitmq.yaml").read_text())
    (cm,) = by_kind(docs, "ConfigMap")
    assert "rabbitmq_management" in cm["data"]["enabled_plugins"]
    assert "rabbitmq_prometheus" in cm["data"]["enabled_plugins"]
    (svc,) = by_kind(docs, "Service")
    assert {p["port"] for p in svc["spec"]["ports"]} == {5672, 15672, 15692}


def test_the_chart_accepts_the_kind_values() -> None:
    docs = render_chart(values_files=[K8S / "dev" / "values-kind.yaml"])
    validate(docs)
    cm = next(
        d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == "wcn-wavecom-notify"
    )
    assert cm["data"]["QUEUE_TYPE"] == "classic"
    # the URLs name the k8s/dev Services
    values = yaml.safe_load((K8S / "dev" / "values-kind.yaml").read_text())
    assert "rabbitmq.wavecom-dev.svc:5672" in values["secrets"]["amqpUrl"]
    assert "mongodb.wavecom-dev.svc:27017" in values["secrets"]["mongodbUrl"]


def test_the_kind_configs_parse() -> None:
    ctlptl = load_all((K8S / "kind" / "ctlptl.yaml").read_text())
    assert [d["kind"] for d in ctlptl] == ["Registry", "Cluster"]
    assert ctlptl[1]["name"] == "kind-wavecom"
    assert ctlptl[0]["port"] == 5001
    kind = yaml.safe_load((K8S / "kind" / "cluster.yaml").read_text())
    assert kind["apiVersion"] == "kind.x-k8s.io/v1alpha4"


def test_every_path_the_tiltfile_names_exists() -> None:
    tiltfile = (ROOT / "Tiltfile").read_text()
    paths = set(re.findall(r'"((?:k8s|charts|services|frontend)/[^"]*)"', tiltfile))
    assert len(paths) >= 6
    for p in paths:
        assert (ROOT / p).exists(), p
    assert 'allow_k8s_contexts("kind-wavecom")' in tiltfile
    # the chart's resources Tilt names are the Deployments the chart renders for release notify
    docs = render_chart(values_files=[K8S / "dev" / "values-kind.yaml"], release="notify")
    names = {d["metadata"]["name"] for d in by_kind(docs, "Deployment")}
    assert "notify-wavecom-notify-api" in names
    for channel in ("email", "sms", "push"):
        assert f"notify-wavecom-notify-worker-{channel}" in names
