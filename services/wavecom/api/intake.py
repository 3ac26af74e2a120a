"""Accepting notifications: store them, then queue them with confirms (or schedule them).

Group commit: requests that arrive while a commit is under way wait for the next one, and
that commit writes all of them together (up to ``GROUP_LIMIT`` notifications): one tally
of their counters, one ``insert_many``, one burst of confirmed publishes;
the counters are settled after the answers, gathered across commits (a
:class:`~wavecom.store.settling.Settler`, ``SETTLE_LINGER_MS``). Under load, dozens of
single-notification requests share what one request used to pay; alone, a request pays what it
did before (the first commit starts at once, nothing waits on a timer). Each request is still
answered only after its own notifications are stored and confirmed by the broker, and the
group's guarantees are each request's: a failure fails every request of the group with
nothing of it left written, except a broker refusal (a lane at its bound), which is decided
per request by committing each member again alone.

One commit at a time while one commit can take what waits; more (up to ``max_commits``, 4)
only while more than a full group waits. With four at once always (until 2026-12-07), a
commit started for nearly every request at 250/s (an insert and a tally each: 0.94 inserts a
notification), and on this 2-core machine the commits under way contended for the CPU instead
of overlapping: one at a time cost the machine 0.4-0.7 ms a notification less and a third of
the p99 at 350 singles/s (docs/benchmarks.md). But one at a time always (2026-12-07 morning)
turned a burst of batches into a queue of full commits one after another: in the locust run
(100 users in step, a third of their requests batches of 100) a burst of ~3,000 notifications
waited past ``ADMISSION_QUEUE_DEADLINE_S`` and was refused while the machine was 60 % idle
(386/s delivered against 639/s with four). A second commit now starts when a request arrives
and more than a full group per commit under way is waiting: singles and a steady trickle of
batches never reach that, a burst does and overlaps its commits' database and broker waits.

No outbox entry before the insert: a process that dies between its insert and the broker's
confirm leaves QUEUED notifications without a message, and the sweeper
(:mod:`wavecom.relay.sweeper`) publishes them again ``SWEEP_AFTER_S`` later (120 s, plus up to
one ``SWEEP_INTERVAL_S``). The entry was a database insert and delete for every commit to cover
that rare case 90 s sooner. A publish that ends without an answer while the process lives (a
confirm timeout, a lost connection) is still written to the outbox then, and the relay
publishes it after ``OUTBOX_GRACE_S`` (30 s).

Traces: each request has its own ``intake.accept`` span (its wait and its commit, in the
request's trace), and its notifications' PRODUCER spans are children of it. A commit serves
many requests, so it is a span of its own trace, ``intake.commit``, linking to the
``intake.accept`` span of each request it carries; its database commands are its children.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from bson import ObjectId
from opentelemetry.trace import Link, Span

from wavecom.core import metrics, telemetry
from wavecom.core.broker import Publisher
from wavecom.core.constants import Status
from wavecom.core.errors import (
    BrokerUnavailable,
    DependencyUnavailable,
    Overloaded,
    PublishRejected,
)
from wavecom.core.events import NO_EVENTS, EventPublisher, doc_event, job_event
from wavecom.core.messages import DeliveryJob
from wavecom.store import Doc, Store, job_of, traced, utcnow
from wavecom.store.counters import Tally
from wavecom.store.settling import LINGER_S, Settler

log = logging.getLogger("wavecom.intake")

# at most this many notifications are committed together (insert_many chunks at 500 too)
GROUP_LIMIT = 500
# at most this many commits under way at once, the second and later only while a full group
# per commit under way is waiting (see the module)
MAX_COMMITS = 4


@dataclass(frozen=True, slots=True)
class Accepted:
    """A commit's answer: whether the broker confirmed the publish (unconfirmed ones are
    accepted too: the relay publishes them), and the notifications that were refused because
    their tenant already used their ``reference`` (not stored, nothing of them left)."""

    confirmed: bool = True
    taken: frozenset[ObjectId] = frozenset()


@dataclass
class _Request:
    docs: Sequence[Doc]
    link: Link | None = None  # to its intake.accept span, for the commit's span
    arrived: float = field(default_factory=time.monotonic)
    answer: asyncio.Future[Accepted] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


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
        queue_deadline_s: float = 0.5,
        retry_after_s: int = 1,
        max_commits: int = MAX_COMMITS,
        settle_linger_s: float = LINGER_S,
    ) -> None:
        self.store = store
        self.events = events
        self.publisher = publisher
        self.outbox_grace = timedelta(seconds=outbox_grace_s)
        self.exit_before_publish = exit_before_publish
        self._waiting: deque[_Request] = deque()
        self._waiting_docs = 0  # the notifications of the requests in _waiting
        self._committers: set[asyncio.Task[None]] = set()
        self.max_commits = max_commits
        self.queue_deadline_s = queue_deadline_s
        self.retry_after_s = retry_after_s
        self.settler = Settler(store.counters, settle_linger_s)

    async def accept(self, docs: Sequence[Doc]) -> Accepted:
        """Store ``docs`` and queue or schedule them, committed together with whatever other
        requests arrive meanwhile (see the module's doc); the answer is :meth:`commit`'s."""
        if not docs:
            return Accepted()
        if not self.publisher.ready:
            raise BrokerUnavailable("RabbitMQ is not connected")
        with telemetry.span(
            "intake.accept", attributes={"wavecom.notifications": len(docs)}
        ) as span:
            return await self._accept(docs, span)

    async def _accept(self, docs: Sequence[Doc], span: Span) -> Accepted:
        request = _Request(docs)
        if telemetry.enabled():
            request.link = telemetry.link_to(span)
            for d in docs:
                traced(d, telemetry.traceparent(span))
        self._waiting.append(request)
        self._waiting_docs += len(docs)
        if self._another_commit():
            committer = asyncio.create_task(self._commit_waiting())
            self._committers.add(committer)
            committer.add_done_callback(self._committers.discard)
        # shielded: a request that is cancelled (its client went away) does not cancel the
        # commit its notifications may already be part of
        accepted = await asyncio.shield(request.answer)
        accepted_in = time.monotonic() - request.arrived
        for channel, priority in {(d["type"], d["priority"]) for d in docs}:
            metrics.labelled(metrics.ACCEPT_LATENCY, channel, priority).observe(accepted_in)
        return accepted

    def _another_commit(self) -> bool:
        """Whether to start a commit now: none is under way, or more than a full group for
        each one under way is waiting (a burst: then they overlap their database's and
        broker's waits); otherwise the commits under way take what gathers into their next
        group (see the module)."""
        running = len(self._committers)
        return running == 0 or (
            running < self.max_commits and self._waiting_docs > GROUP_LIMIT * running
        )

    async def close(self) -> None:
        """Finish the commit under way and what follows the answers (at shutdown, after the
        server stopped taking requests)."""
        await asyncio.gather(*self._committers, return_exceptions=True)
        await self.settler.close()

    async def _commit_waiting(self) -> None:
        group: list[_Request] = []
        try:
            while self._waiting:
                group, size = [], 0
                late = time.monotonic() - self.queue_deadline_s
                while self._waiting and (
                    not group or size + len(self._waiting[0].docs) <= GROUP_LIMIT
                ):
                    request = self._waiting.popleft()
                    self._waiting_docs -= len(request.docs)
                    if request.arrived < late:
                        # it waited longer than a commit should take: under this load its
                        # client is better served by a refusal now than an answer much later
                        metrics.labelled(metrics.ADMISSION_REFUSED, "queue_deadline").inc()
                        _answer(request, self._late(request))
                        continue
                    group.append(request)
                    size += len(request.docs)
                if group:
                    await self._commit_group(group)
        except asyncio.CancelledError:
            # the process stops: nobody waits for an answer that will not come
            for request in (*group, *self._waiting):
                _answer(request, BrokerUnavailable("the API is shutting down"))
            self._waiting.clear()
            self._waiting_docs = 0
            raise

    def _late(self, request: _Request) -> Overloaded:
        waited = time.monotonic() - request.arrived
        return Overloaded(
            f"this API process could not start storing the request within "
            f"{self.queue_deadline_s:g}s (it waited {waited:.1f}s behind others)",
            self.retry_after_s,
        )

    async def _commit_group(self, group: list[_Request]) -> None:
        docs = [d for r in group for d in r.docs]
        metrics.INTAKE_GROUP.observe(len(docs))
        span = telemetry.start_root(
            "intake.commit",
            [r.link for r in group if r.link is not None],
            attributes={"wavecom.requests": len(group), "wavecom.notifications": len(docs)},
        )
        with telemetry.current(span):
            error = await self._commit_members(group, docs)
        telemetry.end(span, error)

    async def _commit_members(self, group: list[_Request], docs: list[Doc]) -> Exception | None:
        """Commit ``docs`` and answer every request of ``group``; the group's error, if any."""
        try:
            accepted = await self.commit(docs)
        except PublishRejected as exc:
            if len(group) == 1:
                _answer(group[0], exc)
                return exc
            # a lane at its bound refused part of it, and all of it was undone: decide each
            # request alone, so that only the requests for a full lane are refused
            for request in group:
                try:
                    _answer(request, await self.commit(request.docs))
                except Exception as alone:  # it is the request's answer
                    _answer(request, alone)
            return exc
        except Exception as exc:  # every request of the group gets it
            for request in group:
                _answer(request, exc)
            return exc
        for request in group:
            _answer(request, accepted)
        return None

    async def commit(self, docs: Sequence[Doc]) -> Accepted:
        """Store ``docs`` and queue or schedule them.

        Their counters' tally is recorded, then they are stored (one ``insert_many``), then the
        immediate ones are published with confirms; the tally is settled after the answer. The
        answer is ``confirmed`` when the broker confirmed every one, not when the publish ended
        without an answer (a timeout, a lost connection): then they are recorded in the outbox
        and the relay (``relay.Relay``) publishes them once the outbox grace has passed (a copy
        that did reach the broker is dropped by the claims; if even that record fails, the
        sweeper publishes them). They are accepted either way. A notification whose
        ``reference`` its tenant already used is not stored (the unique index decides, also
        between two commits racing), is left out of the publish, and is named in the answer's
        ``taken``. Raises DependencyUnavailable, with nothing left behind, when the broker is
        known to be down before anything is written, when the database fails, or when the
        broker refuses the publish (a nack: it certainly holds no copy).
        """
        if not docs:
            return Accepted()
        if not self.publisher.ready:
            raise BrokerUnavailable("RabbitMQ is not connected")
        immediate = [d for d in docs if d["status"] == Status.QUEUED.value]
        scheduled = [d for d in docs if d["status"] == Status.SCHEDULED.value]
        tally = await self.store.notifications.intend_intake(docs)  # wavecom.store.counters
        try:
            await self.store.schedule.add(scheduled)
            taken = await self.store.notifications.insert(docs)
            if taken:
                await self.store.schedule.remove(taken)
        except DependencyUnavailable:
            await self._undo(docs, tally)
            raise
        if taken:  # not stored: nothing of them is published, counted or streamed
            docs = [d for d in docs if d["_id"] not in taken]
            immediate = [d for d in immediate if d["_id"] not in taken]
        if self.exit_before_publish:  # fault injection: die between the write and the publish
            log.critical("EXIT_BEFORE_PUBLISH is set: exiting after storing %d", len(docs))
            os._exit(137)
        confirmed = True
        try:
            await self.publisher.publish_jobs([job_of(d) for d in immediate])
        except PublishRejected:
            await self._undo(docs, tally)
            raise
        except BrokerUnavailable as exc:
            confirmed = False
            await self._unconfirmed(immediate, exc)
        for d in docs:
            metrics.labelled(metrics.CREATED, d["type"], d["priority"]).inc()
        self.events.emit(doc_event(d) for d in docs)
        # after the answer, not before it, together with other commits' (see the module)
        self.settler.add(tally, {str(d["_id"]) for d in docs})
        return Accepted(confirmed, frozenset(taken))

    async def _unconfirmed(self, docs: Sequence[Doc], exc: Exception) -> None:
        """The broker did not answer the publish of ``docs``: the relay publishes them after
        the outbox grace (or, if this record fails too, the sweeper later)."""
        log.warning("publish of %d unconfirmed (%s): the relay will publish them", len(docs), exc)
        try:
            await self.store.outbox.add(docs, self.outbox_grace)
        except DependencyUnavailable as failed:
            log.error(
                "%d unconfirmed notifications not recorded for the relay (%s): the sweeper "
                "publishes them",
                len(docs),
                failed,
            )

    async def replay(self, docs: Sequence[Doc]) -> list[str]:
        """Queue FAILED notifications again with fresh attempts; return the ids replayed.

        Each is replayed at most once per call and only while FAILED, so replaying twice does
        not send twice. If the broker does not confirm, they are FAILED again and the error
        propagates. Traced, each replay is an ``intake.replay`` span in the replaying request's
        trace that links to the notification's earlier trace; its new deliveries continue it.
        """
        jobs = [job for d in docs if (job := await self._replay(d)) is not None]
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

    async def _replay(self, doc: Doc) -> DeliveryJob | None:
        if not telemetry.enabled():
            return await self.store.notifications.replay(doc)
        earlier = telemetry.link(doc.get("traceparent", ""))
        span = telemetry.start_span(
            "intake.replay",
            links=[earlier] if earlier is not None else (),
            attributes={"wavecom.notification.id": str(doc["_id"])},
        )
        try:
            with telemetry.current(span):
                return await self.store.notifications.replay(doc, telemetry.traceparent(span))
        finally:
            span.end()

    async def _undo(self, docs: Sequence[Doc], tally: Tally) -> None:
        ids = [d["_id"] for d in docs]
        try:
            await self.store.notifications.delete(ids)
            await self.store.schedule.remove(ids)
        except Exception:
            # what stays behind is QUEUED without a message: the sweeper publishes it, claims
            # dedupe it; the tally stays too, and the counters' repair counts what is left
            log.exception("could not remove %d notifications after a failed publish", len(ids))
            return
        # nothing of them is stored (a request committed again alone has a tally of its own)
        await self.store.counters.settle(tally, ())


def _answer(request: _Request, outcome: Accepted | BaseException) -> None:
    if request.answer.done():
        return
    if isinstance(outcome, BaseException):
        request.answer.set_exception(outcome)
        request.answer.exception()  # retrieved: a request that gave up must not warn about it
    else:
        request.answer.set_result(outcome)
