"""The workers: one Deployment per enabled channel, probed and scraped on its metrics port,
draining before it is killed, and scaled by KEDA on both lanes of its queue (or, without
KEDA, fixed replicas or a CPU autoscaler)."""

from __future__ import annotations

import re

import pytest

from tests.charts.chart import (
    DEPLOYMENTS,
    FULL,
    URLS,
    RenderError,
    by_kind,
    ci_values,
    containers,
    jmespath,
    merged,
    one,
    render_chart,
)


def test_one_worker_per_enabled_channel_with_its_own_channel() -> None:
    docs = render_chart(merged(URLS, {"workers": {"push": {"enabled": False}}}))
    workers = {d["metadata"]["name"]: d for d in by_kind(docs, "Deployment")}
    assert set(workers) == {
        f"{FULL}-api",
        f"{FULL}-worker-email",
        f"{FULL}-worker-sms",
        f"{FULL}-operator",
        f"{FULL}-callbacks",
    }
    for ch in ("email", "sms"):
        c = workers[f"{FULL}-worker-{ch}"]["spec"]["template"]["spec"]["containers"][0]
        assert c["args"][:3] == ["worker", "--channel", ch]
    assert [s["metadata"]["name"] for s in by_kind(docs, "ScaledObject")] == [
        f"{FULL}-worker-email",
        f"{FULL}-worker-sms",
    ]


def test_workers_are_probed_and_scraped_on_their_metrics_port() -> None:
    docs = render_chart(URLS)
    for ch in ("email", "sms", "push"):
        worker = containers(one(docs, "Deployment", f"{FULL}-worker-{ch}"))[0]
        args = worker["args"]
        assert args[:3] == ["worker", "--channel", ch]
        # bound to every interface: the kubelet and Prometheus come from outside the pod
        assert args[args.index("--metrics-host") + 1] == "0.0.0.0"
        assert worker["ports"] == [{"name": "metrics", "containerPort": 9102, "protocol": "TCP"}]
        assert worker["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
        assert worker["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    off = render_chart(merged(URLS, {"workers": {"sms": {"metricsPort": 0}}}))
    sms = containers(one(off, "Deployment", f"{FULL}-worker-sms"))[0]
    assert sms["args"] == ["worker", "--channel", "sms"]
    assert not {"ports", "startupProbe", "livenessProbe", "readinessProbe"} & set(sms)


def test_worker_grace_outlasts_shutdown_grace() -> None:
    docs = render_chart(URLS)
    for name in DEPLOYMENTS:
        grace = one(docs, "Deployment", name)["spec"]["template"]["spec"][
            "terminationGracePeriodSeconds"
        ]
        assert grace > 20
    with pytest.raises(RenderError, match=r"must be longer than config\.shutdownGraceS"):
        render_chart(merged(URLS, {"config": {"shutdownGraceS": 45}}))
    # the API's grace covers its preStop sleep and then the drain
    with pytest.raises(RenderError, match=r"api: terminationGracePeriodSeconds"):
        render_chart(merged(URLS, {"api": {"preStopSleepSeconds": 15}}))
    docs = render_chart(merged(URLS, {"api": {"preStopSleepSeconds": 12}}))
    api = containers(one(docs, "Deployment", f"{FULL}-api"))[0]
    assert api["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "12"]


def test_keda_scaledobject_reads_both_lanes_through_the_management_api() -> None:
    docs = render_chart(values_files=[ci_values("production")])
    so = one(docs, "ScaledObject", f"{FULL}-worker-sms")
    trigger = jmespath(so, "spec.triggers[0]")
    assert len(so["spec"]["triggers"]) == 1
    assert trigger["type"] == "rabbitmq"
    meta = trigger["metadata"]
    assert meta["protocol"] == "http"
    assert meta["mode"] == "QueueLength"
    assert meta["useRegex"] == "true"
    assert meta["operation"] == "sum"
    lanes = re.compile(meta["queueName"])
    assert lanes.fullmatch("wavecom.sms.high")
    assert lanes.fullmatch("wavecom.sms.standard")
    assert not lanes.fullmatch("wavecom.email.high")
    assert not lanes.fullmatch("wavecom.smsx.high")
    assert meta["value"] == "500"  # the channel's own value over keda.value
    assert jmespath(so, "spec.minReplicaCount") == 1
    assert jmespath(so, "spec.scaleTargetRef.name") == f"{FULL}-worker-sms"
    behavior = jmespath(so, "spec.advanced.horizontalPodAutoscalerConfig.behavior")
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert jmespath(so, "spec.fallback.replicas") == 2
    assert jmespath(one(docs, "ScaledObject", f"{FULL}-worker-email"), "spec.maxReplicaCount") == 40
    assert jmespath(one(docs, "ScaledObject", f"{FULL}-worker-push"), "spec.minReplicaCount") == 2
    # KEDA owns the worker replica counts
    for ch in ("email", "sms", "push"):
        assert "replicas" not in one(docs, "Deployment", f"{FULL}-worker-{ch}")["spec"]


def test_keda_disabled_renders_no_keda_objects_and_fixed_replicas_or_a_cpu_hpa() -> None:
    docs = render_chart(values_files=[ci_values("keda-disabled")])
    assert by_kind(docs, "ScaledObject") == []
    assert by_kind(docs, "TriggerAuthentication") == []
    hpas = {d["metadata"]["name"] for d in by_kind(docs, "HorizontalPodAutoscaler")}
    assert hpas == {f"{FULL}-worker-email"}
    assert "replicas" not in one(docs, "Deployment", f"{FULL}-worker-email")["spec"]
    assert one(docs, "Deployment", f"{FULL}-worker-sms")["spec"]["replicas"] == 2
    assert [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"].endswith("push")] == []
