"""The sweeper: notifications whose message the broker lost are published again, once."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aio_pika
import httpx
import pytest
from bson import ObjectId
from prometheus_client import REGISTRY

from tests.support.notifications import all_terminal, create, email, ledger
from tests.support.rabbit_cluster import INSTALLED, NOT_INSTALLED, SOLO
from tests.support.sweeper import TakingOver, _age, _purge
from tests.support.system import System
from tests.support.wait import wait_for
from wavecom.core.broker import Publisher, QueueShape, connect
from wavecom.core.constants import LEASES, Status
from wavecom.core.settings import Settings
from wavecom.relay.sweeper import REQUEUED_MESSAGE, Sweeper
from wavecom.store import Store, utcnow


def requeued(type_: str = "EMAIL", status: str = "QUEUED") -> float:
    value = REGISTRY.get_sample_value(
        "wavecom_sweeper_requeued_total", {"type": type_, "status": status}
    )
    return value or 0.0


async def test_one_process_holds_the_lease_until_it_expires_or_is_released(store: Store) -> None:
    a = store.leases.lease("sweeper", ttl_s=30)
    b = store.leases.lease("sweeper", ttl_s=30)
    assert await a.hold()
    assert not await b.hold()
    assert await a.hold()  # renewed by its holder
    await a.release()
    assert await b.hold()
    assert not await a.hold()
    # b dies without releasing: once its lease has expired, a takes over
    await store.db[LEASES].update_one({"_id": "sweeper"}, {"$set": {"expiresAt": utcnow()}})
    assert await a.hold()


@pytest.fixture
async def sweeper(settings: Settings, store: Store) -> AsyncIterator[Sweeper]:
    connection = await connect(settings.amqp_url, name="sweeper-test")
    publisher = await Publisher.open(connection, timeout_s=5, shape=QueueShape.of(settings))
    yield TakingOver(store, publisher, await connection.channel(), settings)
    await connection.close()


async def test_a_queued_notification_whose_message_was_lost_is_published_again_once(
    api: httpx.AsyncClient, settings: Settings, store: Store, sweeper: Sweeper
) -> None:
    [lost, fresh] = await create(api, [email(1), email(2)])
    await _purge(settings, "wavecom.email.standard")
    await _age(store, [lost], settings.sweep_after_s + 5)
    before = requeued()

    assert await sweeper.tick() == 1  # the fresh one is within its threshold
    assert requeued() == before + 1
    doc = await store.notifications.collection.find_one({"_id": ObjectId(lost)})
    assert doc is not None
    assert doc["status"] == Status.QUEUED.value
    assert doc["timeline"][-1]["message"] == REQUEUED_MESSAGE
    assert (utcnow() - doc["updatedAt"]).total_seconds() < 5  # not picked again at once
    assert await sweeper.tick() == 0
    assert [e["message"] for e in doc["timeline"]].count(REQUEUED_MESSAGE) == 1
    # the job is on its lane again
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.get_queue("wavecom.email.standard")
        message = await queue.get(timeout=5)
        assert message is not None
        assert message.message_id == f"{lost}:0"
        assert fresh != lost
    finally:
        await connection.close()


async def test_a_backlog_is_not_swept_and_a_claimed_round_is_never_requeued(
    api: httpx.AsyncClient, settings: Settings, store: Store, sweeper: Sweeper
) -> None:
    ids = await create(api, [email(i) for i in range(3)])
    await _age(store, ids, settings.sweep_after_s + 5)
    # their messages are still in the queue (no worker runs): slow, not lost
    assert await sweeper.tick() == 0
    await _purge(settings, "wavecom.email.standard")
    # one of them is being delivered by a worker: claimed, so not the sweeper's
    await store.notifications.collection.update_one(
        {"_id": ObjectId(ids[0])}, {"$set": {"status": Status.PROCESSING.value}}
    )
    assert await sweeper.tick() == 2


async def test_a_retrying_notification_is_swept_only_once_its_retry_is_long_overdue(
    api: httpx.AsyncClient, settings: Settings, store: Store, sweeper: Sweeper
) -> None:
    [nid] = await create(api, [email(1)])
    await _purge(settings, "wavecom.email.standard")
    past = utcnow() - timedelta(seconds=settings.sweep_after_s + 60)
    # it failed an attempt long ago and waits for a retry due in a minute: its delayed
    # message is in a delay queue, not lost
    await store.notifications.collection.update_one(
        {"_id": ObjectId(nid)},
        {
            "$set": {
                "status": Status.RETRYING.value,
                "retryCount": 1,
                "updatedAt": past,
                "nextAttemptAt": utcnow() + timedelta(seconds=60),
            }
        },
    )
    before = requeued(status="RETRYING")
    assert await sweeper.tick() == 0
    await store.notifications.collection.update_one(
        {"_id": ObjectId(nid)}, {"$set": {"nextAttemptAt": past}}
    )
    assert await sweeper.tick() == 1
    assert requeued(status="RETRYING") == before + 1


@pytest.mark.e2e
@pytest.mark.skipif(not INSTALLED, reason=NOT_INSTALLED)
@pytest.mark.timeout(300)
async def test_b_the_broker_loses_everything_and_the_sweeper_requeues_each_once(
    settings: Settings, store: Store, ledger_dir: Path
) -> None:
    """A single node of the tests' own: 2,000 queued while no worker runs; the node is stopped,
    its data directory deleted, and it starts again empty."""
    await SOLO.wipe()
    await SOLO.start()
    try:
        await _lose_everything_and_requeue(settings, store, ledger_dir)
    finally:
        await SOLO.stop()  # never left running for the next test or session


async def _lose_everything_and_requeue(settings: Settings, store: Store, ledger_dir: Path) -> None:
    solo = settings.model_copy(update={"amqp_url": SOLO.url()})
    async with System(solo) as system:
        system.env.update({"SWEEP_AFTER_S": "3", "SWEEP_INTERVAL_S": "0.5", "SWEEP_LIMIT": "1000"})
        await system.spawn_api()
        ids: list[str] = []
        async with system.client(timeout=30) as http:
            for start in range(0, 2000, 500):
                ids += await create(http, [email(i) for i in range(start, start + 500)])
        assert len(ids) == 2000
        await SOLO.wipe()  # stopped, its data directory deleted: everything queued is gone
        lost_at = utcnow()
        await SOLO.start()
        await system.spawn_worker("email")

        final = await wait_for(
            lambda: all_terminal(store, ids), within=150, what="the sweeper to re-queue 2,000"
        )
        recovered = (utcnow() - lost_at).total_seconds()
        print(f"\n2,000 lost messages re-queued and sent {recovered:.1f}s after the loss")
        assert set(final.values()) == {"SENT"}
        assert ledger(ledger_dir) == dict.fromkeys(ids, 1)
        marked = await store.notifications.collection.count_documents(
            {"timeline.message": REQUEUED_MESSAGE}
        )
        assert marked == 2000  # each one re-queued, and its timeline says so
        async with httpx.AsyncClient(base_url=system.metrics_url) as http:
            text = (await http.get("/metrics")).text
        [line] = [t for t in text.splitlines() if t.startswith("wavecom_sweeper_requeued_total{")]
        assert float(line.split()[-1]) >= 2000
