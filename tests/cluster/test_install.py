"""`helm install` of every ci/ value set on a real control plane: server-side validation of every
object (CRDs included), every Deployment's Pods Running on KWOK nodes, `helm upgrade` rolling
them, `helm uninstall` leaving none of our objects behind."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from tests.charts.chart import CI_SETS, ci_values
from tests.charts.kube import CHART
from tests.cluster.conftest import Cluster, wait_until

RELEASE = "wcn"
# every kind the chart can render, for the "nothing left behind" check
KINDS = (
    "deployments,replicasets,pods,services,configmaps,secrets,serviceaccounts,jobs,roles,rolebindings,"
    "poddisruptionbudgets,horizontalpodautoscalers,networkpolicies,ingresses,"
    "scaledobjects.keda.sh,triggerauthentications.keda.sh,"
    "servicemonitors.monitoring.coreos.com,prometheusrules.monitoring.coreos.com"
)
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def priority_class(cluster: Cluster) -> Iterator[None]:
    """production-values.yaml asks for priorityClassName wavecom-notify."""
    cluster.apply(
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata:\n"
        "  name: wavecom-notify\nvalue: 100000\nglobalDefault: false\n"
    )
    yield
    cluster.kubectl("delete", "priorityclass", "wavecom-notify", check=False)


def production_secret(cluster: Cluster, namespace: str) -> None:
    """The Secret production-values.yaml names (created before the install, by External
    Secrets or Vault in a real cluster), with the chart's default key names."""
    cluster.kubectl(
        "-n",
        namespace,
        "create",
        "secret",
        "generic",
        "wavecom-notify-connections",
        "--from-literal=AMQP_URL=amqp://u:p@rabbitmq:5672/wavecom",
        "--from-literal=MONGODB_URL=mongodb://mongodb:27017/",
        "--from-literal=RABBITMQ_MANAGEMENT_URL=http://u:p@rabbitmq:15672/wavecom",
        "--from-literal=CREDENTIALS_KEY=" + base64.b64encode(bytes(range(32))).decode(),
    )


def existing_secret(cluster: Cluster, namespace: str) -> None:
    """The Secret existing-secrets-values.yaml names, with its own key names."""
    cluster.kubectl(
        "-n",
        namespace,
        "create",
        "secret",
        "generic",
        "wavecom-connections",
        "--from-literal=amqp-url=amqp://u:p@rabbitmq:5672/wavecom",
        "--from-literal=mongodb-url=mongodb://mongodb:27017/",
        "--from-literal=rabbitmq-management-url=http://u:p@rabbitmq:15672/wavecom",
    )


def deployments(cluster: Cluster, namespace: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cluster.get(
        "-n", namespace, "deployments", "-l", f"app.kubernetes.io/instance={RELEASE}"
    )["items"]
    return items


def rolled_out(cluster: Cluster, namespace: str) -> dict[str, list[str]] | None:
    """Deployment -> its pods' node names, once every Deployment has all its replicas updated
    and ready and each of its pods is Running on a KWOK node (old ReplicaSets' pods gone)."""
    out: dict[str, list[str]] = {}
    pods = cluster.get("-n", namespace, "pods", "-l", f"app.kubernetes.io/instance={RELEASE}")
    for d in deployments(cluster, namespace):
        want = d["spec"].get("replicas", 1)
        st = d["status"]
        if d["metadata"]["generation"] != st.get("observedGeneration"):
            return None
        if not (st.get("updatedReplicas") == st.get("readyReplicas") == st.get("replicas") == want):
            return None
        component = d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"]
        mine = [
            p
            for p in pods["items"]
            if p["metadata"]["labels"].get("app.kubernetes.io/component") == component
        ]
        if len(mine) != want or any(p["status"].get("phase") != "Running" for p in mine):
            return None
        out[d["metadata"]["name"]] = [p["spec"].get("nodeName", "") for p in mine]
    return out or None


def template_hashes(cluster: Cluster, namespace: str) -> dict[str, str]:
    pods = cluster.get("-n", namespace, "pods", "-l", f"app.kubernetes.io/instance={RELEASE}")
    return {
        p["metadata"]["name"]: p["metadata"]["labels"]["pod-template-hash"]
        for p in pods["items"]
        if "pod-template-hash" in p["metadata"]["labels"]
    }


def leftovers(cluster: Cluster, namespace: str) -> list[str]:
    res = cluster.kubectl(
        "-n", namespace, "get", KINDS, "-o", "name", "-l", f"app.kubernetes.io/instance={RELEASE}"
    )
    hooks = cluster.kubectl("-n", namespace, "get", "jobs,configmaps,secrets", "-o", "name")
    ours = [n for n in hooks.stdout.split() if f"{RELEASE}-wavecom-notify" in n]
    return sorted(set(res.stdout.split()) | set(ours))


@pytest.mark.usefixtures("priority_class")
@pytest.mark.parametrize("ci", CI_SETS)
def test_install_upgrade_uninstall(cluster: Cluster, namespace: str, ci: str) -> None:
    if ci == "existing-secrets":
        existing_secret(cluster, namespace)
    if ci == "production":
        production_secret(cluster, namespace)
    values = str(ci_values(ci))
    # --wait: helm waits for the pre-install hook Job (KWOK completes its pod) and the Deployments
    cluster.helm(
        "install",
        RELEASE,
        str(CHART),
        "-n",
        namespace,
        "--values",
        values,
        "--wait",
        "--timeout",
        "5m",
    )
    nodes = wait_until(
        lambda: rolled_out(cluster, namespace),
        within=180,
        what=f"{ci}: every Deployment's pods Running",
    )
    expected = {
        f"{RELEASE}-wavecom-notify-{c}" for c in ("api", "worker-email", "worker-sms", "operator")
    }
    assert expected <= set(nodes)
    assert all(n.startswith("kwok-node-") for names in nodes.values() for n in names), nodes
    # the server accepted every object the chart renders (helm would have failed otherwise),
    # and the setup hook ran and was deleted on success
    assert (
        cluster.kubectl(
            "-n", namespace, "get", "job", f"{RELEASE}-wavecom-notify-setup", check=False
        ).returncode
        != 0
    )
    # helm created the CRD (crds/) before the templates; it outlives the release, as Helm's
    # CRDs do
    assert cluster.get("crd", "notificationproviders.notify.wavecom.io")["spec"]["group"] == (
        "notify.wavecom.io"
    )
    if ci in ("minimal", "production"):
        sos = cluster.get("-n", namespace, "scaledobjects.keda.sh")["items"]
        assert {s["metadata"]["name"] for s in sos} == {
            f"{RELEASE}-wavecom-notify-worker-{c}" for c in ("email", "sms", "push")
        }
    if ci == "production":
        sms = cluster.get("-n", namespace, "servicemonitors.monitoring.coreos.com")["items"]
        # the API, three workers, the callbacks process, and RabbitMQ's (monitoring.rabbitmq)
        assert {m["metadata"]["name"].removeprefix(f"{RELEASE}-wavecom-notify-") for m in sms} == {
            "api",
            "callbacks",
            "worker-email",
            "worker-sms",
            "worker-push",
            "rabbitmq",
        }

    before = template_hashes(cluster, namespace)
    cluster.helm(
        "upgrade",
        RELEASE,
        str(CHART),
        "-n",
        namespace,
        "--values",
        values,
        "--set",
        "config.logLevel=DEBUG",
        "--wait",
        "--timeout",
        "5m",
    )
    wait_until(
        lambda: (
            rolled_out(cluster, namespace)
            and not set(template_hashes(cluster, namespace).values()) & set(before.values())
        ),
        within=180,
        what=f"{ci}: the upgrade to roll every Deployment",
    )
    cm = cluster.get("-n", namespace, "configmap", f"{RELEASE}-wavecom-notify")
    assert cm["data"]["LOG_LEVEL"] == "DEBUG"

    cluster.helm("uninstall", RELEASE, "-n", namespace, "--wait", "--timeout", "5m")
    # what KEDA created (its HPAs) goes by garbage collection, a moment later
    wait_until(
        lambda: leftovers(cluster, namespace) == [],
        within=120,
        what=f"{ci}: nothing of the release left (last seen {leftovers(cluster, namespace)})",
    )
    hpas = cluster.get("-n", namespace, "horizontalpodautoscalers")["items"]
    assert hpas == []
