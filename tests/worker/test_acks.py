"""Settling deliveries on the real broker: one ``multiple`` ack for a batch that is the oldest
of its channel, one frame a message for a batch that finished ahead of an older one, never a
second frame for a settled tag (the broker would close the channel)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aio_pika
import pytest
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection

from tests.support.wait import wait_for
from wavecom.core.settings import Settings
from wavecom.worker.acks import Acks

QUEUE = "acks-test"


@dataclass
class Consumer:
    """A channel consuming QUEUE, counting each delivery in ``acks`` as the worker does."""

    connection: AbstractRobustConnection
    channel: AbstractChannel
    acks: Acks = field(default_factory=Acks)
    got: list[AbstractIncomingMessage] = field(default_factory=list)

    async def handle(self, message: AbstractIncomingMessage) -> None:
        self.acks.delivered(message)
        self.got.append(message)

    async def received(self, n: int) -> list[AbstractIncomingMessage]:
        await wait_for(lambda: _true(len(self.got) >= n), what=f"{n} deliveries")
        return self.got[:n]

    async def left_in_queue(self) -> int:
        """Messages in QUEUE once this channel is closed (what it did not ack comes back: a
        classic queue requeues them before the broker answers the close)."""
        await self.channel.close()
        other = await self.connection.channel()
        queue = await other.declare_queue(QUEUE, passive=True)
        return int(queue.declaration_result.message_count or 0)


async def _true(value: bool) -> bool:
    return value


@pytest.fixture
async def consumer(settings: Settings) -> AsyncIterator[Consumer]:
    connection = await aio_pika.connect_robust(settings.amqp_url)
    channel = await connection.channel()
    await channel.set_qos(prefetch_count=5000)
    queue = await channel.declare_queue(QUEUE, durable=True)
    c = Consumer(connection, channel)
    await queue.consume(c.handle)
    yield c
    await connection.close()


async def publish(c: Consumer, n: int) -> None:
    channel = await c.connection.channel()  # publisher confirms: every publish is confirmed
    for start in range(0, n, 100):  # in order, 100 in flight at a time
        await asyncio.gather(
            *(
                channel.default_exchange.publish(aio_pika.Message(str(i).encode()), QUEUE)
                for i in range(start, min(n, start + 100))
            )
        )
    await channel.close()


async def test_the_oldest_batch_is_one_frame_and_a_batch_that_finished_first_one_a_message(
    consumer: Consumer,
) -> None:
    c = consumer
    await publish(c, 30)
    m = await c.received(30)
    # the middle batch finishes first: the ten before it are still held, so one frame each
    assert await c.acks.ack(m[10:20]) == 10
    # the oldest batch: one multiple ack (the ten after it were settled already: not again)
    assert await c.acks.ack(m[0:10]) == 1
    # the last batch, in any order: everything before it is settled, so one frame
    assert await c.acks.ack(reversed(m[20:30])) == 1
    assert c.acks.unsettled() == 0
    assert not c.channel.is_closed
    assert await c.left_in_queue() == 0  # every one acked, none given back on close


async def test_a_batch_partly_the_oldest_is_one_frame_for_that_run_and_one_for_each_other(
    consumer: Consumer,
) -> None:
    c = consumer
    await publish(c, 10)
    m = await c.received(10)
    # 0-3 are the oldest, 7 and 9 come after 4-6 and 8, which are still held
    assert await c.acks.ack([m[0], m[1], m[2], m[3], m[7], m[9]]) == 3
    assert c.acks.unsettled() == 4
    assert await c.acks.ack([m[4], m[5], m[6], m[8]]) == 1
    assert await c.left_in_queue() == 0


async def test_nacked_messages_come_back_and_a_settled_one_is_not_settled_again(
    consumer: Consumer,
) -> None:
    c = consumer
    await publish(c, 5)
    m = await c.received(5)
    assert await c.acks.ack(m[0:2]) == 1
    # m[1] is acked already: a nack of it would close the channel; only 2 and 3 go back
    await c.acks.nack(m[1:4])
    assert await c.acks.ack([m[4], m[0]]) == 1  # m[0] again: nothing; m[4]: its own frame
    again = await c.received(7)
    assert sorted(x.body for x in again[5:]) == sorted([m[2].body, m[3].body])
    assert all(x.redelivered for x in again[5:])
    assert not c.channel.is_closed
    assert await c.acks.ack(again[5:]) == 1
    assert await c.left_in_queue() == 0


async def test_what_a_closed_channel_delivered_is_left_to_the_broker(
    consumer: Consumer,
) -> None:
    """A channel that went away cannot settle anything: its messages are handed out again
    (to this consumer, on the robust connection's next channel, or to another)."""
    c = consumer
    await publish(c, 3)
    m = await c.received(3)
    await c.channel.close()
    assert await c.acks.ack(m) == 0
    await c.acks.nack(m)  # nothing to send, nothing raised
    assert c.acks.unsettled() == 0
    other = await c.connection.channel()

    async def back() -> int:
        queue = await other.declare_queue(QUEUE, passive=True)
        return int(queue.declaration_result.message_count or 0)

    assert await wait_for(back, what="the three back in the queue") == 3


async def test_concurrent_batches_behind_a_full_write_queue_settle_each_tag_once(
    consumer: Consumer,
) -> None:
    """Batches finishing at once while the connection's write queue is full (a publisher on
    the same connection floods it): a later batch's multiple ack must not overtake an earlier
    one's, or the earlier frame names a tag the broker has settled already and the broker
    closes the channel (PRECONDITION_FAILED, which a benchmark at 2,000/s hit)."""
    c = consumer
    n, size = 2000, 10
    await publish(c, n)
    m = await c.received(n)
    flood = await c.connection.channel(publisher_confirms=False)
    await flood.declare_queue("acks-flood", auto_delete=True)
    done = asyncio.Event()

    async def keep_the_write_queue_full() -> None:
        while not done.is_set():
            for _ in range(50):
                await flood.default_exchange.publish(aio_pika.Message(b"x" * 64), "acks-flood")
            await asyncio.sleep(0)

    async def finish(batch: list[AbstractIncomingMessage], turns: int) -> int:
        for _ in range(turns):
            await asyncio.sleep(0)
        return await c.acks.ack(batch)

    rng = random.Random(7)
    flooding = asyncio.create_task(keep_the_write_queue_full())
    try:
        frames = await asyncio.wait_for(
            asyncio.gather(*(finish(m[i : i + size], rng.randrange(4)) for i in range(0, n, size))),
            60,
        )
    finally:
        done.set()
        await asyncio.wait_for(flooding, 30)
    assert sum(frames) < n  # most batches were the oldest when they finished: one frame each
    assert c.acks.unsettled() == 0
    # a round trip: the channel is still open (closed, this raises or never answers)
    await asyncio.wait_for(c.channel.declare_queue(QUEUE, passive=True), 30)
    assert not c.channel.is_closed
    assert await c.left_in_queue() == 0
