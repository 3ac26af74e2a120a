"""A real Kubernetes control plane for the chart: the one services/devstack/kube.sh builds and
starts on loopback (etcd, kube-apiserver, controller-manager, scheduler, KWOK nodes, KEDA's
operator and metrics adapter), or the cluster KUBECONFIG points at when it answers.

There is no cluster network: the pods are simulated by KWOK and never run; the product's own
processes run here, on 127.0.0.1, when a test needs them (the KEDA test)."""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.charts.kube import KUBE_SH, ROOT, helm, paths

T = TypeVar("T")
COMPONENTS = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kubectl",
    "kwok",
    "helm",
    "share",
)
KEDA = ("keda-operator", "keda-adapter")


def wait_until(
    check: Callable[[], T | None], *, within: float, what: str, interval: float = 0.5
) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)  # polling interval of a deadline-bounded wait
    pytest.fail(f"timed out after {within}s waiting for {what} (last: {last!r})")


@dataclass
class Cluster:
    kubeconfig: Path
    local: bool  # our own control plane (KEDA runs here and reaches 127.0.0.1)
    keda: bool  # KEDA's operator and adapter run (on an external cluster: assumed)

    @property
    def env(self) -> dict[str, str]:
        return {"KUBECONFIG": str(self.kubeconfig)}

    def kubectl(
        self, *args: str, check: bool = True, stdin: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        res = subprocess.run(  # noqa: S603 - the kubectl this checkout built
            [str(paths().tool("kubectl")), "--kubeconfig", str(self.kubeconfig), *args],
            capture_output=True,
            text=True,
            input=stdin,
            timeout=timeout,
            check=False,
        )
        if check and res.returncode != 0:
            pytest.fail(f"kubectl {' '.join(args)}: {res.stderr.strip()}")
        return res

    def get(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)

    def helm(
        self, *args: str, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        res = helm(*args, check=False, env=self.env, timeout=timeout)
        if check and res.returncode != 0:
            pytest.fail(f"helm {' '.join(args[:2])}: {res.stderr.strip()}")
        return res

    def apply(self, manifest: str) -> None:
        self.kubectl("apply", "-f", "-", stdin=manifest)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """Start (or reuse) the control plane; it is left running, like `make stack`'s services
    (`make down` stops it)."""
    external = os.environ.get("KUBECONFIG")
    p = paths()
    missing = [c for c in COMPONENTS if c in p.missing]
    if missing:
        pytest.skip(
            f"the control plane is not built yet ({', '.join(missing)} missing): `make kube` "
            f"builds it once into {p.bin.parent}"
        )
    # KEDA's operator is the longest build: without it the install tests still run
    keda = not [c for c in KEDA if c in p.missing]
    env = {**os.environ} if keda else {**os.environ, "KUBE_NO_KEDA": "1"}
    res = subprocess.run(  # noqa: S603 - our own script, fixed arguments
        ["/bin/bash", str(KUBE_SH), "up"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        cwd=ROOT,
        env=env,
    )
    if res.returncode != 0:
        pytest.fail(f"kube.sh up failed:\n{res.stderr[-4000:]}")
    if external and "using that cluster" in res.stderr:
        yield Cluster(Path(external), local=False, keda=True)
    else:
        yield Cluster(p.kubeconfig, local=True, keda=keda)


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    """A fresh namespace, deleted afterwards."""
    name = f"wcn-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
