"""``wavecom.api.receipts.handling``: a verified receipt applied, counted and announced.

On the real database and broker: a receipt for a sent notification moves it on, counts as
``applied`` and publishes the new status on ``wavecom.events`` for its tenant; a repeat is
``ignored`` and announces nothing; a receipt that came before its notification's outcome is
``held`` and the sweep applies it once the message id is known; one held past the hold time
is dropped as ``unknown``. (tests/api/receipts/test_end_to_end.py takes it through the
providers' endpoints.)"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aio_pika
import orjson
import pytest
from aio_pika.abc import AbstractQueue
from bson import ObjectId

from tests.support.documents import doc
from wavecom.api.receipts.handling import ReceiptHandler
from wavecom.core import metrics
from wavecom.core.broker import connect
from wavecom.core.constants import EVENTS_EXCHANGE, Status
from wavecom.core.events import EventPublisher
from wavecom.core.settings import Settings
from wavecom.store import Store
from wavecom.store.documents import provider_key
from wavecom.store.receipts import ProviderReceipt, Result


class Announced:
    """The status events published for tenant acme, read from a queue bound to them."""

    def __init__(self, queue: AbstractQueue, events: EventPublisher) -> None:
        self.queue = queue
        self.events = events

    async def until_marker(self) -> list[dict[str, Any]]:
        """Every event published before a marker emitted now (the publisher keeps order)."""
        self.events.emit([("acme", {"_id": "marker", "updatedAt": "-"})])
        seen: list[dict[str, Any]] = []
        async with self.queue.iterator(timeout=30) as messages:
            async for message in messages:
                await message.ack()
                for event in orjson.loads(message.body):
                    if event["_id"] == "marker":
                        return seen
                    seen.append(event)
        raise AssertionError("the stream of events ended")


@pytest.fixture
async def announced(settings: Settings) -> AsyncIterator[Announced]:
    connection = await connect(settings.amqp_url, name="test-receipts")
    channel = await connection.channel()
    exchange = await channel.declare_exchange(
        EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
    )
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, "acme")
    events = await EventPublisher.open(connection)
    yield Announced(queue, events)
    await events.close()
    await connection.close()


@pytest.fixture
def account() -> str:
    """An account name of this test only (the receipts metric is the process's)."""
    return f"gw-{uuid.uuid4().hex[:8]}"


def receipt(account: str, message_id: str = "gw_1") -> ProviderReceipt:
    return ProviderReceipt(
        provider=account,
        message_id=message_id,
        status=Status.DELIVERED,
        at=datetime.now(UTC),
        code="0",
        source="webhook",
    )


async def sent(store: Store, account: str, message_id: str = "gw_1") -> str:
    d = {
        **doc(1),
        "status": "SENT",
        "provider": account,
        "providerMessageId": message_id,
        "providerKey": provider_key(message_id, account),
    }
    await store.notifications.insert([d])
    return str(d["_id"])


def counted(account: str, result: Result) -> float:
    return float(metrics.RECEIPTS.labels(account, "DELIVERED", "0", result.value)._value.get())


async def status_of(store: Store, nid: str) -> str:
    got = await store.notifications.get("acme", ObjectId(nid))
    assert got is not None
    return str(got["status"])


async def test_a_receipt_moves_its_notification_on_and_announces_it(
    store: Store, announced: Announced, account: str
) -> None:
    nid = await sent(store, account)
    handler = ReceiptHandler(store, announced.events, hold_s=60)
    assert await handler.take(receipt(account)) is Result.APPLIED
    assert await status_of(store, nid) == "DELIVERED"
    assert counted(account, Result.APPLIED) == 1
    [event] = await announced.until_marker()
    assert (event["_id"], event["status"], event["provider"]) == (nid, "DELIVERED", account)


async def test_a_repeat_is_ignored_and_announces_nothing(
    store: Store, announced: Announced, account: str
) -> None:
    await sent(store, account)
    handler = ReceiptHandler(store, announced.events, hold_s=60)
    assert await handler.take(receipt(account)) is Result.APPLIED
    assert len(await announced.until_marker()) == 1
    assert await handler.take(receipt(account)) is Result.IGNORED
    assert await announced.until_marker() == []
    assert counted(account, Result.IGNORED) == 1


async def test_a_held_receipt_is_applied_by_the_sweep_once_its_notification_is_known(
    store: Store, announced: Announced, account: str
) -> None:
    handler = ReceiptHandler(store, announced.events, hold_s=60)
    assert await handler.take(receipt(account)) is Result.HELD
    assert await handler.sweep() == 0  # still unknown, not yet held for long
    nid = await sent(store, account)
    assert await handler.sweep() == 1
    assert await status_of(store, nid) == "DELIVERED"
    assert counted(account, Result.HELD) == counted(account, Result.APPLIED) == 1
    assert [e["_id"] for e in await announced.until_marker()] == [nid]
    assert await store.receipts.held_count() == 0


async def test_a_receipt_held_past_the_hold_time_is_dropped_as_unknown(
    store: Store, announced: Announced, account: str
) -> None:
    handler = ReceiptHandler(store, announced.events, hold_s=0)
    assert await handler.take(receipt(account, "never-sent")) is Result.HELD
    assert await handler.sweep() == 1
    assert counted(account, Result.UNKNOWN) == 1
    assert await store.receipts.held_count() == 0
    assert await announced.until_marker() == []
