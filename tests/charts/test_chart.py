"""The chart offline: lint, render every ci/ value set, validate every object, and the behaviour
each value promises (Airflow-chart style: render, then read fields)."""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.charts.chart import (
    CI_SETS,
    RELEASE,
    RenderError,
    by_kind,
    ci_values,
    jmespath,
    one,
    render_chart,
    validate,
)
from tests.charts.kube import CHART, KUBE_VERSION, helm
from tests.observability.rules import alerts, rule_records
from tests.observability.test_rules import promtool
from wavecom.settings import Settings

FULL = f"{RELEASE}-wavecom-notify"
URLS: dict[str, Any] = {
    "secrets": {
        "amqpUrl": "amqp://u:p@rabbit-0:5672/vh,amqp://u:p@rabbit-1:5672/vh",
        "mongodbUrl": "mongodb://mongo:27017/",
        "rabbitmqManagementUrl": "http://u:p@rabbit:15672/vh",
    }
}
# set per worker Deployment (workers.<channel>.*), not in the shared ConfigMap
PER_WORKER = {"PREFETCH", "BATCH_SIZE", "BATCH_WAIT_MS", "MAX_BATCHES_IN_FLIGHT"}
DEPLOYMENTS = {f"{FULL}-api", f"{FULL}-worker-email", f"{FULL}-worker-sms", f"{FULL}-worker-push"}


def merged(*parts: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for part in parts:
        for k, v in part.items():
            out[k] = merged(out.get(k, {}), v) if isinstance(v, dict) and v else v
    return out


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    spec = doc["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


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


# file paths of the mounted CA and client certificate, in each container's env when tls.* sets
# them (tests/charts/test_tls.py)
TLS_FILES = {
    f"{prefix}_{what}_FILE" for prefix in ("AMQP", "MONGODB_TLS") for what in ("CA", "CERT", "KEY")
}


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


def test_changed_settings_roll_the_pods() -> None:
    def checksum(values: dict[str, Any]) -> str:
        api = one(render_chart(values), "Deployment", f"{FULL}-api")
        return str(api["spec"]["template"]["metadata"]["annotations"]["checksum/config"])

    assert checksum(URLS) != checksum(merged(URLS, {"config": {"logLevel": "DEBUG"}}))


def test_monitoring_needs_the_prometheus_operator_api() -> None:
    prod = [ci_values("production")]
    with_api = render_chart(values_files=prod)
    assert {d["metadata"]["name"] for d in by_kind(with_api, "ServiceMonitor")} == {
        f"{FULL}-api",
        f"{FULL}-worker-email",
        f"{FULL}-worker-sms",
        f"{FULL}-worker-push",
        f"{FULL}-callbacks",
        f"{FULL}-rabbitmq",
    }
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


def test_production_spreads_and_isolates() -> None:
    docs = render_chart(values_files=[ci_values("production")])
    for name in DEPLOYMENTS:
        pod = one(docs, "Deployment", name)["spec"]["template"]["spec"]
        (spread,) = pod["topologySpreadConstraints"]
        assert spread["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] in name
        assert pod["priorityClassName"] == "wavecom-notify"
    policies = {d["metadata"]["name"]: d for d in by_kind(docs, "NetworkPolicy")}
    assert set(policies) == {
        f"{FULL}-api",
        f"{FULL}-workers",
        f"{FULL}-operator",
        f"{FULL}-callbacks",
    }
    to_apiserver = {
        p["port"] for rule in policies[f"{FULL}-operator"]["spec"]["egress"] for p in rule["ports"]
    }
    assert {443, 6443, 27017} <= to_apiserver
    egress_ports = {
        p["port"] for rule in policies[f"{FULL}-workers"]["spec"]["egress"] for p in rule["ports"]
    }
    assert {53, 5672, 27017, 587, 443} <= egress_ports
    assert one(docs, "Ingress", f"{FULL}-api")["spec"]["tls"][0]["secretName"] == "notify-tls"
    assert one(docs, "HorizontalPodAutoscaler", f"{FULL}-api")["spec"]["minReplicas"] == 3


def test_setup_hook_runs_before_install_and_upgrade_and_cleans_up() -> None:
    docs = render_chart(URLS)
    job = one(docs, "Job", f"{FULL}-setup")
    ann = job["metadata"]["annotations"]
    assert ann["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "hook-succeeded" in ann["helm.sh/hook-delete-policy"]
    # its settings and ServiceAccount are hooks too, created first: the release's own do not
    # exist yet at pre-install
    for kind in ("ConfigMap", "Secret", "ServiceAccount"):
        hook = one(docs, kind, f"{FULL}-setup")
        assert int(hook["metadata"]["annotations"]["helm.sh/hook-weight"]) < 0
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == f"{FULL}-setup"
    # the image's dispatcher runs `python -m wavecom.admin setup` (tests/test_admin.py runs it)
    assert containers(job)[0]["args"] == ["admin", "setup"]


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
