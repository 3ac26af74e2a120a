"""``wavecom.relay.due``: what falls due is published, on the real database and the real broker.

A tick publishes the SCHEDULED notifications whose time has come (they become QUEUED and their
schedule entry goes once the broker confirmed), and the QUEUED notifications of requests whose
publish was never confirmed (the outbox); anything not due is left, and nothing is published
twice by ticks that follow.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractQueue

from tests.support.documents import doc, scheduled
from tests.support.wait import wait_for
from wavecom.core.broker import Publisher, QueueShape, connect
from wavecom.core.constants import EVENTS_EXCHANGE, Channel, Lane, Status, lane_queue
from wavecom.core.events import EventPublisher
from wavecom.core.settings import Settings
from wavecom.relay.due import Relay
from wavecom.store import Store, utcnow

LANE = lane_queue(Channel.SMS, Lane.HIGH)  # where tests.support.documents' notifications go


@pytest.fixture
async def connection(settings: Settings) -> AsyncIterator[aio_pika.abc.AbstractRobustConnection]:
    c = await connect(settings.amqp_url, name="relay-test")
    yield c
    await c.close()


@pytest.fixture
async def relay(
    settings: Settings, store: Store, connection: aio_pika.abc.AbstractRobustConnection
) -> Relay:
    publisher = await Publisher.open(connection, timeout_s=10, shape=QueueShape.of(settings))
    return Relay(store, publisher)


@pytest.fixture
async def lane(connection: aio_pika.abc.AbstractRobustConnection, relay: Relay) -> AbstractQueue:
    """The lane queue the relay's publishes land in (declared by its publisher's topology)."""
    channel = await connection.channel()
    return await channel.get_queue(LANE)


async def published(lane: AbstractQueue) -> list[str]:
    """Take every message off the lane: their ids (``<notification>:<attempt>``)."""
    ids: list[str] = []
    while (message := await lane.get(fail=False, timeout=10)) is not None:
        await message.ack()
        ids.append(str(message.message_id))
    return ids


async def status(store: Store, d: dict[str, Any]) -> str:
    found = await store.notifications.get("acme", d["_id"])
    assert found is not None
    return str(found["status"])


async def test_a_due_scheduled_notification_is_published_once_and_one_not_due_is_left(
    relay: Relay, store: Store, lane: AbstractQueue
) -> None:
    due, later = await scheduled(store, -1, 3600)
    assert await relay.tick() == 1
    assert await published(lane) == [f"{due['_id']}:0"]
    assert await status(store, due) == Status.QUEUED.value
    assert await status(store, later) == Status.SCHEDULED.value
    # confirmed: off the schedule; the later one stays on it
    remaining = await store.schedule.due(utcnow() + timedelta(hours=2), 10)
    assert [e["_id"] for e in remaining] == [later["_id"]]
    assert await relay.tick() == 0  # ticks that follow publish nothing again
    assert await published(lane) == []
    stats = await store.counters.of("acme")
    assert stats.by_status == {"SCHEDULED": 1, "QUEUED": 1}


async def test_one_released_by_a_tick_that_died_before_its_publish_is_published_next_tick(
    relay: Relay, store: Store, lane: AbstractQueue
) -> None:
    [d] = await scheduled(store, -1)
    await store.schedule.release([d["_id"]])  # that tick's move; its API died before publishing
    assert await relay.tick() == 1
    assert await published(lane) == [f"{d['_id']}:0"]
    assert await store.schedule.due(utcnow(), 10) == []
    stats = await store.counters.of("acme")
    assert stats.by_status == {"SCHEDULED": 0, "QUEUED": 1}  # moved and counted once


async def test_a_due_one_cancelled_before_its_time_is_not_published(
    relay: Relay, store: Store, lane: AbstractQueue
) -> None:
    cancelled, due = await scheduled(store, -1, -1)
    await store.notifications.cancel("acme", cancelled["_id"])
    assert await relay.tick() == 1
    assert await published(lane) == [f"{due['_id']}:0"]
    assert await status(store, cancelled) == Status.CANCELLED.value


async def test_an_unconfirmed_requests_queued_notifications_are_published_after_the_grace(
    relay: Relay, store: Store, lane: AbstractQueue
) -> None:
    lost = [doc(i) for i in range(3)]
    young = [doc(10)]
    lost_entry = await store.outbox.add(lost, timedelta(seconds=-1))  # its API died
    await store.outbox.add(young, timedelta(seconds=3600))  # its API may still confirm
    await store.notifications.insert(lost + young)
    await store.notifications.count_intake(lost + young)
    await store.notifications.cancel("acme", lost[2]["_id"])  # no longer waiting to be sent
    assert await relay.tick() == 2
    assert sorted(await published(lane)) == sorted(f"{d['_id']}:0" for d in lost[:2])
    left = await store.outbox.due(utcnow() + timedelta(hours=2), 10)
    assert lost_entry not in [e["_id"] for e in left]  # forgotten once published
    assert len(left) == 1
    assert await relay.tick() == 0
    assert await published(lane) == []


async def test_each_published_notification_is_announced_as_queued_to_its_tenant(
    relay: Relay,
    store: Store,
    connection: aio_pika.abc.AbstractRobustConnection,
    lane: AbstractQueue,
) -> None:
    channel = await connection.channel()
    listener = await channel.declare_queue(exclusive=True)
    events = await EventPublisher.open(connection)
    await listener.bind(EVENTS_EXCHANGE, routing_key="acme")
    relay = Relay(store, relay.publisher, events)
    due, _ = await scheduled(store, -1, 3600)
    assert await relay.tick() == 1
    await events.close()

    async def announced() -> list[Any] | None:
        message = await listener.get(fail=False, timeout=10)
        return orjson.loads(message.body) if message is not None else None

    [event] = await wait_for(announced, what="the status event")
    assert (event["_id"], event["status"], event["type"]) == (str(due["_id"]), "QUEUED", "SMS")
    assert await published(lane) == [f"{due['_id']}:0"]
