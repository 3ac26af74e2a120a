"""Accepting notifications: store them, then queue them with confirms (or schedule them)."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from datetime import timedelta

from wavecom import metrics
from wavecom.broker import Publisher
from wavecom.constants import Status
from wavecom.errors import BrokerUnavailable, DependencyUnavailable, PublishRejected
from wavecom.events import NO_EVENTS, EventPublisher, doc_event, job_event
from wavecom.store import Doc, Store, job_of, utcnow

log = logging.getLogger("wavecom.intake")


class Intake:
    """The API's only write path."""

    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        *,
        outbox_grace_s: float = 30.0,
        exit_before_publish: bool = False,
        events: EventPublisher = NO_EVENTS,
    ) -> None:
        self.store = store
        self.events = events
        self.publisher = publisher
        self.outbox_grace = timedelta(seconds=outbox_grace_s)
        self.exit_before_publish = exit_before_publish

    async def accept(self, docs: Sequence[Doc]) -> bool:
        """Store ``docs`` (one round trip) and queue or schedule them.

        Immediate notifications are first recorded in the outbox, then stored, then published
        with confirms, then cleared from the outbox. Returns True when the broker confirmed
        every one, False when the publish ended without an answer (timeout, lost connection):
        then they stay recorded and the relay (``Scheduler``) publishes them once the outbox
        grace has passed (a copy that did reach the broker is dropped by the claims). They are
        accepted either way. Raises DependencyUnavailable, with nothing left behind, when
        the broker is known to be down before anything is written, when the database fails,
        or when the broker refuses the publish (a nack: it certainly holds no copy).
        """
        if not docs:
            return True
        if not self.publisher.ready:
            raise BrokerUnavailable("RabbitMQ is not connected")
        immediate = [d for d in docs if d["status"] == Status.QUEUED.value]
        scheduled = [d for d in docs if d["status"] == Status.SCHEDULED.value]
        entry = await self.store.outbox.add(immediate, self.outbox_grace)
        try:
            await self.store.schedule.add(scheduled)
            await self.store.notifications.insert(docs)
        except DependencyUnavailable:
            await self._undo(docs, entry)
            raise
        if self.exit_before_publish:  # fault injection: die between the write and the publish
            log.critical("EXIT_BEFORE_PUBLISH is set: exiting after storing %d", len(docs))
            os._exit(137)
        confirmed = True
        try:
            await self.publisher.publish_jobs([job_of(d) for d in immediate])
        except PublishRejected:
            await self._undo(docs, entry)
            raise
        except BrokerUnavailable as exc:
            log.warning(
                "publish of %d unconfirmed (%s): the relay will publish them", len(immediate), exc
            )
            confirmed = False
        # unconfirmed: the outbox entry stays for the relay
        await asyncio.gather(
            self._record(docs), self.store.outbox.forget(entry if confirmed else None)
        )
        for d in docs:
            metrics.CREATED.labels(d["type"], d["priority"]).inc()
        self.events.emit(doc_event(d) for d in docs)
        return confirmed

    async def replay(self, docs: Sequence[Doc]) -> list[str]:
        """Queue FAILED notifications again with fresh attempts; return the ids replayed.

        Each is replayed at most once per call and only while FAILED, so replaying twice does
        not send twice. If the broker does not confirm, they are FAILED again and the error
        propagates.
        """
        jobs = [job for d in docs if (job := await self.store.notifications.replay(d)) is not None]
        try:
            await self.publisher.publish_jobs(jobs)
        except DependencyUnavailable as exc:
            for job in jobs:
                await self.store.notifications.unreplay(
                    job, f"replay not confirmed by the broker: {exc}"
                )
            raise
        now = utcnow()
        self.events.emit(job_event(j, Status.QUEUED, now) for j in jobs)
        return [j.id for j in jobs]

    async def _undo(self, docs: Sequence[Doc], entry: str | None) -> None:
        ids = [d["_id"] for d in docs]
        try:
            await self.store.notifications.delete(ids)
            await self.store.schedule.remove(ids)
            await self.store.outbox.forget(entry)
        except Exception:
            # what stays behind is in the outbox: the relay publishes it, claims dedupe it
            log.exception("could not remove %d notifications after a failed publish", len(ids))

    async def _record(self, docs: Sequence[Doc]) -> None:
        """Audit logs and counters; the notifications are already queued, so retry, then warn."""
        for delay in (0.0, 0.2, 1.0):
            await asyncio.sleep(delay)
            try:
                await self.store.notifications.record_intake(docs)
                return
            except Exception as exc:  # they are queued already: never fail the request now
                log.warning("recording intake of %d notifications failed: %s", len(docs), exc)
        log.error("intake logs and counters of %d notifications were not recorded", len(docs))
