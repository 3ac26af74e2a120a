"""``wavecom.api.live``: a tenant's status changes, coalesced, to its open streams.

A subscription keeps the newest state per notification (an older one arriving late changes
nothing), clears and says ``resync`` when more than its limit wait or when the broker
connection was lost; the hub, on the real broker, binds its queue to a tenant only while a
stream of it is open, hands each tenant's events to its subscriptions only and drops what is
not a list of events; a stream starts with ``ready``, then sends ``resync`` before the changes
and ends when the hub closes; a new stream is told to read again once the publishers' quiet
for a tenant nobody listened to has passed. (tests/api/routes/test_events.py serves it over
HTTP.)"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractExchange, AbstractRobustConnection

from tests.support.wait import wait_for
from wavecom.api.live import CAUGHT_UP, EventHub, Subscription, stream
from wavecom.core.broker import connect
from wavecom.core.constants import EVENTS_EXCHANGE
from wavecom.core.settings import Settings


def event(nid: str, status: str, at: str) -> dict[str, Any]:
    return {"_id": nid, "status": status, "updatedAt": at}


def test_the_newest_state_of_each_notification_is_kept() -> None:
    sub = Subscription("acme")
    sub.offer([event("a", "PROCESSING", "2026-01-01T00:00:01.000Z")])
    sub.offer([event("a", "SENT", "2026-01-01T00:00:02.000Z"), event("b", "QUEUED", "t1")])
    sub.offer([event("a", "PROCESSING", "2026-01-01T00:00:01.500Z")])  # late, from another process
    assert sub.wake.is_set()
    events, resync = sub.take()
    assert sorted((e["_id"], e["status"]) for e in events) == [("a", "SENT"), ("b", "QUEUED")]
    assert resync == ""
    assert not sub.wake.is_set()
    assert sub.take() == ([], "")


def test_more_changes_than_the_limit_are_replaced_by_a_resync() -> None:
    sub = Subscription("acme", limit=3)
    sub.offer([event(str(i), "SENT", "t") for i in range(3)])
    assert len(sub.pending) == 3
    sub.offer([event("3", "SENT", "t")])
    assert sub.take() == ([], "more than 3 changes waited for one flush")


def test_a_lost_connection_is_a_resync() -> None:
    sub = Subscription("acme")
    sub.offer([event("a", "SENT", "t")])
    sub.lost("reconnected")
    assert sub.wake.is_set()
    assert sub.take() == ([], "reconnected")


@pytest.fixture
async def connection(settings: Settings) -> AsyncIterator[AbstractRobustConnection]:
    conn = await connect(settings.amqp_url, name="test-live")
    yield conn
    await conn.close()


@pytest.fixture
async def hub(connection: AbstractRobustConnection) -> AsyncIterator[EventHub]:
    h = EventHub(quiet_s=3600)  # no catch-up resync within a test (its own test below)
    await h.start(connection)
    yield h
    h.close()


@pytest.fixture
async def exchange(connection: AbstractRobustConnection) -> AbstractExchange:
    channel = await connection.channel()
    return await channel.declare_exchange(
        EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )


async def publish(exchange: AbstractExchange, tenant: str, body: Any) -> None:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    await exchange.publish(aio_pika.Message(raw), routing_key=tenant)


async def test_the_queue_is_bound_to_a_tenant_only_while_it_streams(hub: EventHub) -> None:
    assert hub.bound == frozenset()
    async with hub.subscribe("acme"), hub.subscribe("acme"), hub.subscribe("globex"):
        assert hub.bound == {"acme", "globex"}
    assert hub.bound == frozenset()


async def test_each_tenant_gets_its_own_events_and_what_is_not_events_is_dropped(
    hub: EventHub, exchange: AbstractExchange
) -> None:
    async with hub.subscribe("acme") as acme, hub.subscribe("globex") as globex:
        await publish(exchange, "acme", b"not json")
        await publish(exchange, "acme", {"not": "a list"})
        await publish(exchange, "acme", [{"no": "id"}, event("a1", "SENT", "t1")])
        await publish(exchange, "globex", [event("g1", "QUEUED", "t1")])
        await publish(exchange, "acme", [event("a2", "FAILED", "t2")])  # the last one sent

        async def acme_has_both() -> bool:
            return set(acme.pending) == {"a1", "a2"}

        await wait_for(acme_has_both, what="acme's two events")
        await wait_for(lambda: _has(globex, "g1"), what="globex's event")
        events, _ = acme.take()
        assert sorted(e["_id"] for e in events) == ["a1", "a2"]
        assert set(globex.pending) == {"g1"}


async def _has(sub: Subscription, nid: str) -> bool:
    return nid in sub.pending


def frames(raw: bytes) -> list[tuple[str, Any]]:
    out = []
    for block in raw.decode().split("\n\n"):
        lines = dict(
            line.split(": ", 1) for line in block.splitlines() if line.startswith(("event", "data"))
        )
        if "event" in lines:
            out.append((lines["event"], orjson.loads(lines["data"])))
    return out


async def test_a_stream_says_ready_then_resync_before_the_changes_and_ends_on_close(
    hub: EventHub, exchange: AbstractExchange
) -> None:
    body = stream(hub, "acme", flush_ms=10)
    first = await anext(body)
    assert first.startswith(b"retry: 3000\n")
    assert frames(first) == [("ready", {"tenantId": "acme", "flushMs": 10})]
    assert hub.bound == {"acme"}
    [sub] = hub._subs["acme"]
    sub.offer([event("a", "SENT", "t1")])
    sub.lost("the broker went away")
    sub.offer([event("b", "SENT", "t2"), event("b", "DELIVERED", "t3")])
    assert frames(await anext(body)) == [("resync", {"reason": "the broker went away"})]
    assert frames(await anext(body)) == [("notification", [event("b", "DELIVERED", "t3")])]
    await publish(exchange, "acme", [event("c", "SENT", "t4")])
    assert frames(await anext(body)) == [("notification", [event("c", "SENT", "t4")])]
    hub.close()
    with pytest.raises(StopAsyncIteration):
        await anext(body)
    assert hub._subs == {}


async def test_a_new_stream_reads_again_once_the_publishers_quiet_has_passed(
    connection: AbstractRobustConnection, exchange: AbstractExchange
) -> None:
    hub = EventHub(quiet_s=2.0)  # longer than a busy machine takes to bring the first frame
    await hub.start(connection)
    body = stream(hub, "acme", flush_ms=10)
    assert frames(await anext(body)) == [("ready", {"tenantId": "acme", "flushMs": 10})]
    bound = time.monotonic()
    await publish(exchange, "acme", [event("a", "SENT", "t1")])
    assert frames(await anext(body)) == [("notification", [event("a", "SENT", "t1")])]
    # what a publisher held back in its quiet is read again: one resync, past the quiet
    assert frames(await anext(body)) == [("resync", {"reason": CAUGHT_UP})]
    assert time.monotonic() - bound >= 2.0
    # a second stream of a tenant bound longer than that is not told to
    async with hub.subscribe("acme") as second:
        assert second.resync == ""
        assert second.catching_up is None
    hub.close()
    with pytest.raises(StopAsyncIteration):
        await anext(body)
