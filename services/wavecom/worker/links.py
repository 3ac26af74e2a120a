"""What a worker process opens once, whichever channels it serves: the database (its indexes
ensured, its counters' settler), one broker connection, the confirmed publisher of retries and
dead letters, and the live events' exchange. One channel's worker owns its links; the workers
of several channels in one process (:mod:`wavecom.worker.channels`) share them."""

from __future__ import annotations

from dataclasses import dataclass

from aio_pika.abc import AbstractRobustConnection

from wavecom.core import tls
from wavecom.core.broker import Publisher, QueueShape, connect
from wavecom.core.errors import QueueMismatch
from wavecom.core.events import EventPublisher
from wavecom.core.settings import Settings
from wavecom.store import Store
from wavecom.store.settling import Settler


@dataclass(frozen=True, slots=True)
class Links:
    store: Store
    connection: AbstractRobustConnection
    publisher: Publisher
    events: EventPublisher

    @classmethod
    async def open(cls, settings: Settings, name: str) -> Links:
        """Connect to the database and the broker; ``name`` names the broker connection."""
        store = Store.connect(
            settings.mongodb_url, settings.mongodb_database, tls=tls.mongodb_options(settings)
        )
        await store.ensure_indexes()
        if settings.settle_linger_ms:
            store.rounds.settler = Settler(store.counters, settings.settle_linger_ms / 1000)
        connection = await connect(
            settings.amqp_url, name=name, ssl_context=tls.amqp_context(settings)
        )
        try:
            publisher = await Publisher.open(
                connection, timeout_s=settings.publish_timeout_s, shape=QueueShape.of(settings)
            )
        except QueueMismatch:
            await connection.close()
            await store.close()
            raise
        events = await EventPublisher.open(connection)
        return cls(store, connection, publisher, events)

    async def close(self) -> None:
        """The events' channel, the connection, the counters' last settle, the database."""
        await self.events.close()
        await self.connection.close()
        if self.store.rounds.settler is not None:
            await self.store.rounds.settler.close()
        await self.store.close()
