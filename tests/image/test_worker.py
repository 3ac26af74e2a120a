"""`worker --channel sms` from the built image against the host's RabbitMQ and database: it
consumes and delivers each notification exactly once (the mock provider's ledger), and on
SIGTERM it drains within the grace period, losing and repeating nothing."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.image.conftest import Containers, container_env
from tests.support.image import READ_ONLY
from tests.support.notifications import ledger, sms, statuses
from tests.support.processes import serve
from tests.support.wait import wait_for
from wavecom.core.settings import Settings
from wavecom.store import Store

pytestmark = pytest.mark.e2e

GRACE_S = 10


async def publish(settings: Settings, n: int) -> list[str]:
    """``n`` sms notifications accepted by a local API (in-process, the same vhost/database)."""
    ids: list[str] = []
    async with serve(settings) as http:
        for start in range(0, n, 100):
            items = [sms(i) for i in range(start, min(n, start + 100))]
            r = await http.post("/api/notifications/batch", json={"notifications": items})
            assert r.status_code == 201, r.text
            ids += [x["data"]["_id"] for x in r.json()["data"]["results"]]
    return ids


async def sent_count(ledger_dir: Path) -> int:
    return sum(ledger(ledger_dir).values())


async def test_the_worker_delivers_each_notification_exactly_once(
    containers: Containers, settings: Settings, store: Store, ledger_dir: Path
) -> None:
    ids = await publish(settings, 60)
    worker = containers(
        "worker", "--channel", "sms", env=container_env(settings), options=READ_ONLY
    )
    await worker.start()

    async def all_sent() -> bool:
        assert await worker.running(), f"the worker exited: {await worker.logs()}"
        s = await statuses(store, ids)
        return all(v == "SENT" for v in s.values())

    await wait_for(all_sent, within=60, what="60 notifications SENT by the worker container")
    sent = ledger(ledger_dir)
    assert sorted(sent) == sorted(ids)
    assert set(sent.values()) == {1}


async def test_sigterm_drains_the_worker_within_the_grace_period(
    containers: Containers, settings: Settings, store: Store, ledger_dir: Path
) -> None:
    n = 300
    ids = await publish(settings, n)
    # slow sends in small batches, so that SIGTERM lands with a backlog and sends in flight
    slow = orjson.dumps([{"name": "textwave", "latencyMs": 200}]).decode()
    env = container_env(
        settings,
        PROVIDERS_SMS=slow,
        BATCH_SIZE="10",
        MAX_BATCHES_IN_FLIGHT="2",
        SHUTDOWN_GRACE_S=str(GRACE_S),
    )
    first = containers("worker", "--channel", "sms", env=env, options=READ_ONLY)
    await first.start()
    await wait_for(lambda: _more_than(ledger_dir, 20), within=60, what="20 sends")
    await first.signal("TERM")

    async def exited() -> bool:
        return not await first.running()

    # each poll is a podman inspect, slow on a busy machine: exit code 0 is the proof that
    # it drained and left by itself
    await wait_for(exited, within=GRACE_S + 5, interval=0.1, what="the worker to exit on SIGTERM")
    assert await first.exit_code() == 0, await first.logs()
    drained = await sent_count(ledger_dir)
    assert drained < n, "the backlog was gone before SIGTERM: nothing was drained"
    # what the first left in the queue, a second worker delivers; nothing is sent twice
    second = containers("worker", "--channel", "sms", env=env, options=READ_ONLY)
    await second.start()

    async def all_sent() -> bool:
        s = await statuses(store, ids)
        return all(v == "SENT" for v in s.values())

    await wait_for(all_sent, within=90, what=f"{n} notifications SENT")
    sent = ledger(ledger_dir)
    assert sorted(sent) == sorted(ids)
    assert set(sent.values()) == {1}, [i for i, c in sent.items() if c != 1]


async def _more_than(ledger_dir: Path, n: int) -> bool:
    return await sent_count(ledger_dir) > n
