"""The chart as a whole, offline: lint, render every ci/ value set and validate every object,
the pods' lockdown and spread, rolling on changed settings, a disabled feature renders
nothing, NOTES.txt. Each component has its own test_<component>.py (Airflow's helm_tests
split); chart.py is their shared render helper."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.charts.chart import (
    CI_SETS,
    DEPLOYMENTS,
    FULL,
    RELEASE,
    URLS,
    by_kind,
    ci_values,
    containers,
    merged,
    one,
    render_chart,
    validate,
)
from tests.charts.kube import CHART, KUBE_VERSION, helm


@pytest.mark.parametrize("ci", CI_SETS)
def test_lint_strict(ci: str) -> None:
    res = helm(
        "lint",
        "--strict",
        str(CHART),
        "--kube-version",
        KUBE_VERSION,
        "--values",
        str(ci_values(ci)),
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_ci_sets_are_the_four_the_issue_names() -> None:
    assert set(CI_SETS) == {"minimal", "production", "keda-disabled", "existing-secrets"}


@pytest.mark.parametrize("ci", CI_SETS)
def test_every_ci_set_renders_valid_objects(ci: str) -> None:
    docs = render_chart(values_files=[ci_values(ci)])
    assert docs
    validate(docs)
    for doc in docs:
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == RELEASE
        assert labels["app.kubernetes.io/managed-by"] == "Helm"
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # additionalLabels may well carry kube-prometheus-stack's `release`
        assert "release" not in labels
        assert "heritage" not in labels


@pytest.mark.parametrize("ci", CI_SETS)
def test_every_pod_is_locked_down(ci: str) -> None:
    docs = render_chart(values_files=[ci_values(ci)])
    workloads = by_kind(docs, "Deployment") + by_kind(docs, "Job")
    assert workloads
    for doc in workloads:
        pod = doc["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        # only the operator calls the Kubernetes API, under its own ServiceAccount
        operator = doc["metadata"]["name"] == f"{FULL}-operator"
        assert pod["automountServiceAccountToken"] is operator
        if operator:
            assert pod["serviceAccountName"] == f"{FULL}-operator"
        for c in containers(doc):
            sc = c["securityContext"]
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"]["drop"] == ["ALL"]
            assert sc["seccompProfile"]["type"] == "RuntimeDefault"
            # the only writable path
            assert [m["mountPath"] for m in c["volumeMounts"]] == ["/tmp"]  # noqa: S108 - the pod's emptyDir


def test_production_spreads_every_deployment_with_its_priority_class() -> None:
    docs = render_chart(values_files=[ci_values("production")])
    for name in DEPLOYMENTS:
        pod = one(docs, "Deployment", name)["spec"]["template"]["spec"]
        (spread,) = pod["topologySpreadConstraints"]
        assert spread["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] in name
        assert pod["priorityClassName"] == "wavecom-notify"


def test_changed_settings_roll_the_pods() -> None:
    def checksum(values: dict[str, Any]) -> str:
        api = one(render_chart(values), "Deployment", f"{FULL}-api")
        return str(api["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum(URLS) != checksum(merged(URLS, {"config": {"logLevel": "DEBUG"}}))


def test_disabled_features_render_nothing() -> None:
    off = merged(
        URLS,
        {
            "api": {"pdb": {"enabled": False}},
            "setup": {"enabled": False},
            "operator": {"enabled": False},
        },
    )
    for template in (
        "templates/api/ingress.yaml",
        "templates/api/hpa.yaml",
        "templates/api/pdb.yaml",
        "templates/networkpolicy.yaml",
        "templates/monitoring/servicemonitor.yaml",
        "templates/monitoring/prometheusrule.yaml",
        "templates/monitoring/dashboards.yaml",
        "templates/setup/job.yaml",
        "templates/workers/pdb.yaml",
        "templates/workers/hpa.yaml",
        "templates/operator/deployment.yaml",
        "templates/operator/rbac.yaml",
        "templates/operator/serviceaccount.yaml",
    ):
        assert render_chart(off, show_only=[template]) == [], template


def test_notes_tell_how_to_reach_the_api_and_make_the_first_key(tmp_path: Path) -> None:
    # helm template leaves NOTES.txt out: render a copy of the chart that carries it in a ConfigMap
    chart = tmp_path / "wavecom-notify"
    shutil.copytree(CHART, chart)
    notes = (chart / "templates" / "NOTES.txt").read_text()
    (chart / "templates" / "NOTES.txt").unlink()
    define = '{{- define "notes" -}}\n' + notes + "{{- end }}\n"
    (chart / "templates" / "_notes.tpl").write_text(define)
    (chart / "templates" / "notes.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: |\n"
        '    {{- include "notes" . | nindent 4 }}\n'
    )
    res = helm(
        "template",
        RELEASE,
        str(chart),
        "--namespace",
        "notify",
        "--kube-version",
        KUBE_VERSION,
        "--values",
        str(ci_values("minimal")),
        "--show-only",
        "templates/notes.yaml",
    )
    text = yaml.safe_load(res.stdout)["data"]["notes"]
    assert f"port-forward svc/{FULL}-api 8000:80" in text
    assert "python -m wavecom.admin keys create" in text
    assert f"deploy/{FULL}-api" in text
    assert "Workers: email sms push" in text
    assert "get nprov" in text
