"""k8s/loadtest/: locust's master, workers and gated Job are valid Kubernetes 1.37 objects, wired to
each other, and the ConfigMap's locustfile is loadtest/locustfile.py byte for byte."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from loadtest import manifests
from tests.charts.chart import by_kind, one, validate
from tests.charts.kube import ROOT, load_all

DIR = ROOT / "k8s" / "loadtest"
FILES = sorted(DIR.glob("*.yaml"))
NAMESPACE = "wavecom-loadtest"


def docs() -> list[dict[str, Any]]:
    return [d for f in FILES for d in load_all(f.read_text())]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_every_manifest_is_a_valid_object_in_the_namespace(path: Path) -> None:
    objects = load_all(path.read_text())
    assert objects
    validate(objects)
    for doc in objects:
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == NAMESPACE, path.name


def test_the_configmap_holds_the_locustfile_as_it_is() -> None:
    (cm,) = load_all(manifests.CONFIGMAP.read_text())
    assert cm["data"]["locustfile.py"] == manifests.LOCUSTFILE.read_text(encoding="utf-8"), (
        "k8s/loadtest/locustfile.yaml is stale: run python -m loadtest.manifests"
    )
    assert manifests.main(["--check"]) == 0


def _pods() -> dict[str, dict[str, Any]]:
    all_docs = docs()
    return {
        d["metadata"]["name"]: d["spec"]["template"]["spec"]
        for d in [*by_kind(all_docs, "Deployment"), *by_kind(all_docs, "Job")]
    }


def test_every_pod_runs_the_configmaps_locustfile_with_the_settings_and_the_key() -> None:
    pods = _pods()
    assert set(pods) == {"locust-master", "locust-worker", "locust-gate"}
    for name, pod in pods.items():
        (container,) = pod["containers"]
        assert container["image"] == "locustio/locust:2.47.0", name  # the pinned version
        assert container["args"][:2] == ["-f", "/mnt/locust/locustfile.py"], name
        (mount,) = container["volumeMounts"]
        (volume,) = pod["volumes"]
        assert mount["mountPath"] == "/mnt/locust", name
        assert mount["name"] == volume["name"], name
        assert volume["configMap"]["name"] == "locustfile", name
        assert container["envFrom"] == [{"configMapRef": {"name": "locust-settings"}}], name
        (key,) = container["env"]
        assert key["name"] == "WAVECOM_API_KEY", name
        assert key["valueFrom"]["secretKeyRef"] == {"name": "wavecom-loadtest", "key": "api-key"}


def test_the_workers_reach_the_master_through_its_service() -> None:
    all_docs = docs()
    svc = one(all_docs, "Service", "locust-master")
    master = one(all_docs, "Deployment", "locust-master")
    labels = master["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= labels.items()
    ports = {
        p["name"]: p["containerPort"]
        for p in master["spec"]["template"]["spec"]["containers"][0]["ports"]
    }
    assert ports == {"web": 8089, "master": 5557}
    assert {p["targetPort"] for p in svc["spec"]["ports"]} == set(ports)
    worker_args = _pods()["locust-worker"]["containers"][0]["args"]
    assert "--worker" in worker_args
    assert worker_args[worker_args.index("--master-host") + 1] == svc["metadata"]["name"]
    assert "--master" in _pods()["locust-master"]["containers"][0]["args"]


def test_the_gated_job_runs_headless_once_and_its_status_is_the_gate() -> None:
    job = one(docs(), "Job", "locust-gate")
    assert job["spec"]["backoffLimit"] == 0  # a failed gate is not retried into a pass
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert "--headless" in pod["containers"][0]["args"]


def test_every_setting_is_one_the_locustfile_reads() -> None:
    settings = one(docs(), "ConfigMap", "locust-settings")["data"]
    source = manifests.LOCUSTFILE.read_text()
    read = set(re.findall(r'_env\("(WAVECOM_[A-Z0-9_]+)"', source))
    for name in settings:
        if name.startswith("WAVECOM_"):
            assert name in read, f"{name} is not read by loadtest/locustfile.py"
    assert settings["LOCUST_HOST"].startswith("http://notify-wavecom-notify-api.wavecom.svc")
