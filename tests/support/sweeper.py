"""The sweeper's helpers: a takeover, ageing and purging documents."""

from __future__ import annotations

from datetime import timedelta

import aio_pika
from bson import ObjectId

from wavecom.core.settings import Settings
from wavecom.relay.sweeper import Sweeper
from wavecom.store import Store, utcnow


class TakingOver(Sweeper):
    """A sweeper that takes the lease from the in-process API's own sweeper before each tick
    (that one holds it from its first tick, and sweeps every 15 s)."""

    async def tick(self) -> int:
        await self.lease.collection.update_many({}, {"$set": {"expiresAt": utcnow()}})
        return await super().tick()


async def _age(store: Store, ids: list[str], seconds: float) -> None:
    """Make notifications look as if they were queued ``seconds`` ago."""
    await store.notifications.collection.update_many(
        {"_id": {"$in": [ObjectId(i) for i in ids]}},
        {"$set": {"updatedAt": utcnow() - timedelta(seconds=seconds)}},
    )


async def _purge(settings: Settings, queue: str) -> None:
    """The broker loses the queue's messages."""
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await connection.channel()
        q = await channel.get_queue(queue, ensure=True)
        await q.purge()
    finally:
        await connection.close()
