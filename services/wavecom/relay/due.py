"""The relay, run in each API process: publishes SCHEDULED notifications when they fall due,
and stored notifications whose publish was never confirmed (the outbox).

(It was ``scheduler.py``; its tick interval keeps the setting's name, SCHEDULER_INTERVAL_S.)"""

from __future__ import annotations

from bson import ObjectId

from wavecom.core.broker import Publisher
from wavecom.core.constants import Status
from wavecom.core.events import NO_EVENTS, EventPublisher, doc_event
from wavecom.store import Store, job_of, utcnow


class Relay:
    """Moves due notifications from SCHEDULED to QUEUED and publishes them.

    Several API processes may run it at once: the move is a conditional update, and a
    notification published twice is still delivered once (workers claim before sending).
    A schedule entry is removed only after its publish was confirmed.
    """

    def __init__(
        self, store: Store, publisher: Publisher, events: EventPublisher = NO_EVENTS
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.events = events

    async def tick(self, limit: int = 500) -> int:
        """Publish what is due now; return how many notifications were published."""
        published = 0
        due = await self.store.schedule.due(utcnow(), limit)
        if due:
            ids = [e["_id"] for e in due]
            await self.store.schedule.release(ids)
            # also re-publishes any that an earlier tick released but did not get confirmed
            published += await self._publish_queued(ids)
            await self.store.schedule.remove(ids)
        for entry in await self.store.outbox.due(utcnow(), limit):
            # a request whose publish was never confirmed (its API died, or the broker did
            # not answer): publish what is still waiting; claims drop any copy that got through
            published += await self._publish_queued(entry["ids"])
            await self.store.outbox.forget(entry["_id"])
        return published

    async def _publish_queued(self, ids: list[ObjectId]) -> int:
        docs = [
            d
            for d in await self.store.notifications.get_many(ids)
            if d["status"] == Status.QUEUED.value
        ]
        await self.publisher.publish_jobs([job_of(d) for d in docs])
        self.events.emit(doc_event(d) for d in docs)
        return len(docs)
