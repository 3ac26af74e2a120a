"""k8s/ on a real control plane.

k8s/loadtest/ is applied as its README says: every object passes the apiserver's validation,
the master, its workers and the gated Job's pod reach Running on KWOK nodes, the workers scale,
and deleting the namespace leaves nothing. (The pods are simulated: locust itself runs in `make
test`'s smoke run and in `make loadtest`, not here.) k8s/dev/'s RabbitMQ and MongoDB need
volumes that KWOK cannot provide, so they pass server-side validation (a dry run) only."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.charts.kube import ROOT
from tests.cluster.conftest import Cluster, wait_until

NAMESPACE = "wavecom-loadtest"
MANIFESTS = ROOT / "k8s" / "loadtest"
DEV = ROOT / "k8s" / "dev"
pytestmark = pytest.mark.timeout(600)


def running(cluster: Cluster) -> Counter[str]:
    """Locust pods on a node by component and phase ("master Running", "gate Succeeded")."""
    pods = cluster.get("-n", NAMESPACE, "pods", "-l", "app.kubernetes.io/name=locust")["items"]
    return Counter(
        f"{p['metadata']['labels']['app.kubernetes.io/component']} {p['status'].get('phase')}"
        for p in pods
        if p["spec"].get("nodeName") and p["metadata"].get("deletionTimestamp") is None
    )


def gone(cluster: Cluster, namespace: str = NAMESPACE) -> bool:
    res = cluster.kubectl("get", "namespace", namespace, "-o", "name", check=False)
    return res.returncode != 0 and "NotFound" in res.stderr


def test_the_dev_manifests_pass_server_side_validation(cluster: Cluster) -> None:
    namespace = "wavecom-dev"
    if not gone(cluster, namespace):
        pytest.skip(f"namespace {namespace} exists on this cluster: not ours to touch")
    cluster.kubectl("apply", "-f", str(DEV / "namespace.yaml"))
    try:
        res = cluster.kubectl(
            "apply", "--dry-run=server", "-f", str(DEV / "rabbitmq.yaml"),
            "-f", str(DEV / "mongodb.yaml"), "-o", "name",
        )  # fmt: skip
        names = set(res.stdout.split())
        assert {"statefulset.apps/rabbitmq", "statefulset.apps/mongodb"} <= names
        assert {"service/rabbitmq", "service/mongodb", "configmap/rabbitmq"} <= names
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_the_locust_manifests_install_scale_and_go_away(cluster: Cluster) -> None:
    cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")
    wait_until(lambda: gone(cluster), within=120, what="an earlier run's namespace to go")

    def apply(*names: str) -> None:
        files = [arg for n in names for arg in ("-f", str(MANIFESTS / n))]
        cluster.kubectl("apply", "--server-side", "--field-manager=test", *files)

    try:
        # the README's order: namespace, the key's Secret, settings and locustfile, then runs
        apply("namespace.yaml")
        cluster.kubectl(
            "-n", NAMESPACE, "create", "secret", "generic", "wavecom-loadtest",
            "--from-literal=api-key=wcn_test_only",
        )  # fmt: skip
        apply("settings.yaml", "locustfile.yaml")
        apply("gate-job.yaml", "master.yaml", "workers.yaml")
        # KWOK runs a Deployment's pods and lets a Job's pod exit 0 at once: the gate "passes"
        # here only in the sense that its pod was admitted, scheduled and ran
        want = Counter({"master Running": 1, "worker Running": 4, "gate Succeeded": 1})
        wait_until(lambda: running(cluster) == want or None, within=180, what=f"pods {want}")
        job = wait_until(
            lambda: (
                (j := cluster.get("-n", NAMESPACE, "job", "locust-gate"))["status"].get("succeeded")
                and j
            ),
            within=60,
            what="the Job controller to count the gate's pod",
        )
        assert job["spec"]["backoffLimit"] == 0

        cluster.kubectl("-n", NAMESPACE, "scale", "deploy/locust-worker", "--replicas=8")
        want = Counter({"master Running": 1, "worker Running": 8, "gate Succeeded": 1})
        wait_until(lambda: running(cluster) == want or None, within=180, what=f"pods {want}")

        service = cluster.get("-n", NAMESPACE, "service", "locust-master")
        assert {p["name"] for p in service["spec"]["ports"]} == {"web", "master"}
    finally:
        cluster.kubectl("delete", "namespace", NAMESPACE, "--ignore-not-found", "--wait=false")
    wait_until(lambda: gone(cluster), within=180, what="the namespace and its objects to go")
