"""KEDA for real: the chart's ScaledObjects read the local RabbitMQ's management API; a backlog of
email notifications published by the product's API scales the email worker Deployment up (and
only that one), the product's own email worker, run here, drains it, and the Deployment comes
back down once the scale-down stabilization window has passed. The pods are simulated by KWOK;
the replica counts are the real HPA controller's, on KEDA's real metrics."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml  # type: ignore[import-untyped]

from tests.charts.kube import CHART
from tests.cluster.conftest import Cluster
from tests.support.notifications import all_terminal, create, email
from tests.support.processes import RunWorker
from tests.support.services import MANAGEMENT_URL
from tests.support.wait import wait_for
from wavecom.core.constants import Channel
from wavecom.store import Store

RELEASE = "wcn"
VALUE = 5  # messages per replica
BACKLOG = 20  # -> 20 / 5 = 4 email workers
WINDOW = 20  # scale-down stabilization, seconds
HPA_SYNC = (
    5  # kube.sh starts the controller-manager with --horizontal-pod-autoscaler-sync-period=5s
)
pytestmark = pytest.mark.timeout(600)


def replicas(cluster: Cluster, namespace: str) -> dict[str, int]:
    """Channel -> the worker Deployment's replica count, as the HPA set it."""
    items = cluster.get(
        "-n", namespace, "deployments", "-l", f"app.kubernetes.io/instance={RELEASE}"
    )["items"]
    return {
        d["metadata"]["labels"]["wavecom.example/channel"]: d["spec"].get("replicas", 1)
        for d in items
        if "wavecom.example/channel" in d["metadata"]["labels"]
    }


def running_pods(cluster: Cluster, namespace: str, channel: str) -> int:
    pods = cluster.get("-n", namespace, "pods", "-l", f"wavecom.example/channel={channel}")
    return sum(
        1
        for p in pods["items"]
        if p["status"].get("phase") == "Running" and "deletionTimestamp" not in p["metadata"]
    )


def management_url(vhost: str) -> str:
    host = MANAGEMENT_URL.removeprefix("http://")
    return f"http://guest:guest@{host}/{vhost}"


class Watch:
    """Poll the replica counts, remembering every count each channel had."""

    def __init__(self, cluster: Cluster, namespace: str) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.seen: dict[str, set[int]] = {}

    async def now(self) -> dict[str, int]:
        r = await asyncio.to_thread(replicas, self.cluster, self.namespace)
        for ch, n in r.items():
            self.seen.setdefault(ch, set()).add(n)
        return r


async def lane_depth(vhost: str, channel: str) -> int:
    async with httpx.AsyncClient(base_url=MANAGEMENT_URL, auth=("guest", "guest")) as m:
        total = 0
        for lane in ("high", "standard"):
            r = await m.get(f"/api/queues/{vhost}/wavecom.{channel}.{lane}")
            r.raise_for_status()
            total += int(r.json().get("messages", 0))
        return total


async def test_keda_scales_only_the_backlogged_channel_up_and_back_down(
    cluster: Cluster,
    namespace: str,
    vhost: str,
    api: httpx.AsyncClient,
    run_worker: RunWorker,
    store: Store,
    tmp_path: Path,
) -> None:
    if not cluster.local:
        pytest.skip(
            "KEDA must reach this machine's RabbitMQ on 127.0.0.1: only on kube.sh's cluster"
        )
    if not cluster.keda:
        pytest.skip("KEDA's operator and adapter are not built yet (make kube builds them)")
    values: dict[str, Any] = {
        "secrets": {
            "amqpUrl": "amqp://guest:guest@127.0.0.1:5672/" + vhost,
            "mongodbUrl": "mongodb://127.0.0.1:27017/",
            "rabbitmqManagementUrl": management_url(vhost),
        },
        "setup": {"enabled": False},  # the API fixture declared the topology in the vhost
        "keda": {
            "pollingInterval": 2,
            "minReplicaCount": 1,
            "maxReplicaCount": 6,
            "value": VALUE,
            "scaleDownStabilizationSeconds": WINDOW,
            "scaleDownPercentPerMinute": 100,
        },
    }
    f = tmp_path / "values.yaml"
    f.write_text(yaml.safe_dump(values))
    await asyncio.to_thread(
        cluster.helm,
        "install",
        RELEASE,
        str(CHART),
        "-n",
        namespace,
        "--values",
        str(f),
        "--wait",
        "--timeout",
        "5m",
    )
    watch = Watch(cluster, namespace)
    await wait_for(
        lambda: _at(watch, {"email": 1, "sms": 1, "push": 1}),
        within=120,
        interval=1,
        what="every channel's worker at minReplicaCount",
    )

    # the backlog: email notifications on both lanes (HIGH rides the high lane, LOW standard)
    items = [{**email(i), "priority": "HIGH" if i % 2 else "LOW"} for i in range(BACKLOG)]
    ids = await create(api, items)
    await wait_for(
        lambda: _depth_is(vhost, "email", BACKLOG),
        within=30,
        interval=1,
        what="the backlog in the management API",
    )

    want = BACKLOG // VALUE
    await wait_for(
        lambda: _at(watch, {"email": want}),
        within=120,
        interval=1,
        what=f"KEDA to scale the email workers to {want}",
    )
    await wait_for(
        lambda: asyncio.to_thread(lambda: running_pods(cluster, namespace, "email") == want),
        within=60,
        interval=1,
        what=f"{want} email worker pods Running on KWOK nodes",
    )
    # the other channels had no backlog: they never moved
    assert watch.seen["sms"] == {1}
    assert watch.seen["push"] == {1}

    # the product's email worker drains the lanes; every notification is delivered
    await run_worker(Channel.EMAIL)
    done = await wait_for(lambda: all_terminal(store, ids), within=60, what="all delivered")
    assert set(done.values()) == {"SENT"}
    await wait_for(
        lambda: _depth_is(vhost, "email", 0),
        within=30,
        interval=1,
        what="the lanes empty in the management API",
    )
    drained = time.monotonic()

    await wait_for(
        lambda: _at(watch, {"email": 1}),
        within=WINDOW + 90,
        interval=1,
        what="the email workers back at minReplicaCount",
    )
    waited = time.monotonic() - drained
    # not before the stabilization window (less the HPA's sync period and the metric's lag)
    assert waited >= WINDOW - 2 * HPA_SYNC, waited
    assert watch.seen["sms"] == {1}
    assert watch.seen["push"] == {1}
    await asyncio.to_thread(cluster.helm, "uninstall", RELEASE, "-n", namespace, "--wait")


async def _at(watch: Watch, want: dict[str, int]) -> bool:
    now = await watch.now()
    return all(now.get(ch) == n for ch, n in want.items())


async def _depth_is(vhost: str, channel: str, n: int) -> bool:
    return await lane_depth(vhost, channel) == n
