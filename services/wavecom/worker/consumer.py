"""A channel's worker (the process: :mod:`wavecom.worker.channels`).

It consumes both lanes of its channel (the high lane first), gathers messages into small
batches, and for each batch: claims the jobs in the database (conditional updates, so a
redelivered message is not sent twice), delivers them concurrently through the shared
pipeline, stores each outcome right after its answer (grouped writes, see
``outcomes``), publishes retries and dead letters with
confirms, and only then acks (one ``multiple`` ack when nothing delivered before the batch is
still held, see ``acks``). A crash anywhere before the ack redelivers the batch.

It consumes only while its channel has a usable provider account (:meth:`Worker.follow_accounts`):
with none, its notifications wait in their lanes and its readiness says why.

Traces: a batch is a CONSUMER span of its own trace, ``process <channel> batch``, linking to
the context each message carries (the claim, the retries' publishes and the dead letters are
its children). Each message gets a CONSUMER span continuing its own context,
``process <queue>``: its provider sends, its outcome's write and the publish of its retry are
children of it, so a notification's trace runs from the API request through every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import replace

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind

from wavecom.core import metrics, telemetry
from wavecom.core.broker import QueueShape, declare_topology
from wavecom.core.constants import (
    DELAY_LADDER_MS,
    Channel,
    Lane,
    Status,
    lane_queue,
    snap_to_ladder,
)
from wavecom.core.errors import (
    DependencyUnavailable,
    PoisonMessage,
)
from wavecom.core.events import job_event, outcome_event
from wavecom.core.messages import DeliveryJob
from wavecom.core.periodic import Periodic
from wavecom.core.settings import Settings
from wavecom.providers.registry import Registry
from wavecom.providers.routes import RouteTable
from wavecom.providers.seed import seed
from wavecom.store import utcnow
from wavecom.store.counters import Tally
from wavecom.worker.acks import Acks
from wavecom.worker.links import Links
from wavecom.worker.outcome_writes import OutcomeWriter
from wavecom.worker.pipeline import Attempted, Dispatcher

log = logging.getLogger("wavecom.worker")


class Worker:
    """Consumes one channel's lanes and runs each batch through the delivery pipeline."""

    def __init__(
        self, settings: Settings, channel: Channel, links: Links, *, owns_links: bool
    ) -> None:
        self.settings = settings
        # closed when the worker stops if its own, by their owner if shared
        self._own_links = links if owns_links else None
        self.events = links.events
        self.channel = channel
        self.store = links.store
        self.connection = links.connection
        self.publisher = links.publisher
        self.table = RouteTable([], settings)  # the channel's accounts, kept by the registry
        self.dispatcher = Dispatcher(self.table)
        self.registry = Registry(links.store, settings, channel, self.table)
        self.buffers: dict[Lane, deque[AbstractIncomingMessage]] = {
            Lane.HIGH: deque(),
            Lane.STANDARD: deque(),
        }
        self.acks = Acks()  # the deliveries not settled yet: a batch is acked in one frame
        self._arrived = asyncio.Event()
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._slots = asyncio.Semaphore(settings.max_batches_in_flight)
        self.processed = 0
        self._queues: dict[Lane, AbstractQueue] = {}  # declared, consumed or not
        self._consumers: dict[Lane, str] = {}  # consumer tags while consuming
        self._declared_once = False  # the queues are declared and the first gate ran
        self._closed_lanes: set[Lane] = set()  # lanes seen with their channel closed
        self._instance = uuid.uuid4().hex[:12]  # names this process in breaker reports

    @classmethod
    async def start(cls, settings: Settings, channel: Channel) -> Worker:
        """Connect to the database and the broker and declare what the worker needs."""
        links = await Links.open(settings, f"worker-{channel.slug}")
        return await cls.on(links, settings, channel, owns_links=True)

    @classmethod
    async def on(
        cls, links: Links, settings: Settings, channel: Channel, *, owns_links: bool
    ) -> Worker:
        """The channel's worker on ``links``: closed with the worker when it owns them (on a
        failed start too), by their owner otherwise."""
        worker = cls(settings, channel, links, owns_links=owns_links)
        try:
            # an empty installation's first accounts (mocks: never in production)
            await seed(links.store, settings, channel)
            await worker.registry.refresh()
        except BaseException:
            await worker.table.close()
            if owns_links:
                await links.close()
            raise
        return worker

    async def run(self) -> None:
        """Consume until ``stop()``; then finish what is held and give back the rest."""
        s = self.settings
        for lane in (Lane.HIGH, Lane.STANDARD):
            await self._open_lane(lane)
        await self._gate()
        batcher = asyncio.create_task(self._batch_loop())
        reporter = Periodic("breaker reports", self._report_breakers, s.breaker_report_s)
        reporter.start()
        reloader = Periodic("provider reloads", self.follow_accounts, s.providers_poll_s)
        reloader.start()
        await self._stopping.wait()

        log.info(
            "worker %s stopping: finishing %d batches", self.channel.slug, len(self._in_flight)
        )
        await reloader.stop()  # before the consumers go: it could start them again
        await self._stop_consuming()
        await reporter.stop()
        batcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await batcher
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=s.shutdown_grace_s)
        for buf in self.buffers.values():
            with contextlib.suppress(Exception):
                await self.acks.nack(buf)
            buf.clear()
        await self.table.close()
        if self._own_links is not None:
            await self._own_links.close()
        log.info("worker %s stopped after %d messages", self.channel.slug, self.processed)

    async def follow_accounts(self) -> None:
        """Reload the provider accounts; consume while at least one is usable, not otherwise.

        Why stop consuming rather than take the messages and hand them back: a message
        rejected with requeue comes straight back (to this worker or another idle one), so the
        loop would spin the CPU and the broker, and a quorum queue counts every return
        towards QUEUE_DELIVERY_LIMIT, past which it dead-letters the message; parking each
        one (a delay queue, no attempt used) would write every notification again every
        BREAKER_RESET_S. Not consuming costs nothing and loses nothing: the messages stay
        ready in their lanes, in order, nothing is claimed, SENT or FAILED, and the first
        usable account (seen within PROVIDERS_POLL_S) starts the consumers again. What this
        worker held when its last account went is parked by the pipeline without using an
        attempt (:meth:`wavecom.worker.pipeline.Dispatcher.deliver`).
        """
        await self.registry.refresh()
        await self._reopen_dead_lanes()
        await self._gate()

    async def _open_lane(self, lane: Lane) -> None:
        """A channel of the lane's own (its prefetch), the topology declared, its queue kept."""
        ch = await self.connection.channel()
        await ch.set_qos(prefetch_count=self.settings.prefetch)
        queues = await declare_topology(ch, QueueShape.of(self.settings))
        self._queues[lane] = queues[lane_queue(self.channel, lane)]

    async def _reopen_dead_lanes(self) -> None:
        """A lane whose channel is still closed a poll after it was first seen closed, while
        the connection is up, gets a new channel (``_gate`` then consumes it again).

        The robust channel reopens itself after a channel-level error (an ack of a tag the
        broker does not know, for one) within milliseconds; once a benchmark saw it not do so,
        and the lane was never consumed again while the worker said it was ready. The old
        channel is closed for good first, so that a late restore cannot add a consumer this
        worker does not know of."""
        if self.connection.is_closed or not self.connection.connected.is_set():
            self._closed_lanes.clear()  # the robust connection restores every channel itself
            return
        for lane, queue in list(self._queues.items()):
            if not queue.channel.is_closed or self._stopping.is_set():
                self._closed_lanes.discard(lane)
            elif lane not in self._closed_lanes:
                self._closed_lanes.add(lane)  # look again at the next poll
            else:
                log.error(
                    "worker %s: the channel of %s stayed closed: opening a new one",
                    self.channel.slug,
                    queue.name,
                )
                self._consumers.pop(lane, None)
                with contextlib.suppress(Exception):
                    await queue.channel.close()
                await self._open_lane(lane)
                self._closed_lanes.discard(lane)

    async def _gate(self) -> None:
        """Start the lanes' consumers if an account is usable, cancel them if none is."""
        usable = self.registry.usable > 0
        missing = [lane for lane in self._queues if lane not in self._consumers]
        if usable and missing and not self._stopping.is_set():
            for lane in missing:  # both lanes, or the one whose consume failed last time
                queue = self._queues[lane]
                self._consumers[lane] = await queue.consume(self._on_message(lane), no_ack=False)
            log.info(
                "worker %s consuming %s (providers: %s)",
                self.channel.slug,
                ", ".join(q.name for q in self._queues.values()),
                ", ".join(p.name for p in self.table.providers),
            )
        elif not usable and (self._consumers or not self._declared_once):
            await self._stop_consuming()
            log.error(
                "worker %s: no usable %s provider account: not consuming, its notifications "
                "wait in %s (apply an account: python -m wavecom.admin providers apply, or a "
                "NotificationProvider)",
                self.channel.slug,
                self.channel.value,
                ", ".join(q.name for q in self._queues.values()),
            )
        self._declared_once = True

    async def _stop_consuming(self) -> None:
        for lane, tag in list(self._consumers.items()):
            # a robust queue forgets the consumer before the call, so even a cancel that
            # fails on a lost connection is not restored by the reconnect
            with contextlib.suppress(Exception):
                await self._queues[lane].cancel(tag)
            del self._consumers[lane]

    async def _report_breakers(self) -> None:
        """Tell the API (through the database) how this worker sees its providers."""
        await self.store.breakers.report(
            self._instance, self.channel.value, self.table.breaker_states()
        )

    def stop(self) -> None:
        self._stopping.set()

    def readiness(self) -> str | None:
        """Why this worker is not consuming now (its readiness probe), or None when it is."""
        if self._stopping.is_set():
            return "stopping: finishing what it holds"
        if not self._declared_once:
            return "declaring its queues"
        if self.connection.is_closed or not self.connection.connected.is_set():
            return "broker connection lost: reconnecting"
        if not self._consumers:
            return (
                f"no usable {self.channel.value} provider account: not consuming, its "
                "notifications wait in the queue"
            )
        closed = [q.name for q in self._queues.values() if q.channel.is_closed]
        if closed:
            return f"the channel of {', '.join(closed)} is closed: reopening it"
        return None

    def _on_message(self, lane: Lane):  # type: ignore[no-untyped-def]
        async def handle(message: AbstractIncomingMessage) -> None:
            self.acks.delivered(message)
            self.buffers[lane].append(message)
            self._arrived.set()

        return handle

    def _take(self, n: int) -> list[AbstractIncomingMessage]:
        """Up to n buffered messages, the high lane first."""
        taken: list[AbstractIncomingMessage] = []
        for lane in (Lane.HIGH, Lane.STANDARD):
            buf = self.buffers[lane]
            while buf and len(taken) < n:
                taken.append(buf.popleft())
        return taken

    def _buffered(self) -> int:
        return sum(len(b) for b in self.buffers.values())

    async def _batch_loop(self) -> None:
        s = self.settings
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            await self._slots.acquire()
            # give a batch a moment to fill unless a full one is waiting already
            deadline = time.monotonic() + s.batch_wait_ms / 1000
            while self._buffered() < s.batch_size and (left := deadline - time.monotonic()) > 0:
                self._arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._arrived.wait(), left)
            batch = self._take(s.batch_size)
            if not batch:
                self._slots.release()
                continue
            if self._buffered():
                self._arrived.set()
            task = asyncio.create_task(self._run_batch(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)

    async def _run_batch(self, messages: list[AbstractIncomingMessage]) -> None:
        try:
            if telemetry.enabled():
                await self._process_traced(messages)
            else:
                await self._process(messages)
        except Exception:
            log.exception("batch of %d failed; returning it to the queue", len(messages))
            with contextlib.suppress(Exception):
                await self.acks.nack(messages)
        finally:
            self._slots.release()

    async def _process_traced(self, messages: list[AbstractIncomingMessage]) -> None:
        """:meth:`_process` inside the batch's span, each message inside its own."""
        contexts = [telemetry.extract(m.headers) for m in messages]
        links = [
            link
            for ctx in contexts
            if ctx is not None and (link := telemetry.link_to(trace.get_current_span(ctx)))
        ]
        batch = telemetry.start_root(
            f"process {self.channel.slug} batch",
            links,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "rabbitmq",
                "messaging.operation.type": "process",
                "messaging.batch.message_count": len(messages),
            },
        )
        spans: dict[int, Span] = {}
        for m, ctx in zip(messages, contexts, strict=True):
            queue = lane_queue(self.channel, _lane(m))
            spans[id(m)] = telemetry.start_span(
                f"process {queue}",
                kind=SpanKind.CONSUMER,
                parent=ctx,
                attributes={
                    "messaging.system": "rabbitmq",
                    "messaging.operation.type": "process",
                    "messaging.destination.name": queue,
                    "messaging.message.id": m.message_id or "",
                    "messaging.rabbitmq.destination.routing_key": m.routing_key or "",
                },
            )
        error: BaseException | None = None
        try:
            with telemetry.current(batch):
                await self._process(messages, spans)
        except BaseException as exc:
            error = exc
            raise
        finally:
            for span in spans.values():
                telemetry.end(span, error)
            telemetry.end(batch, error)

    async def _process(
        self, messages: list[AbstractIncomingMessage], spans: dict[int, Span] | None = None
    ) -> None:
        """Claim, deliver, store, publish what follows, ack. ``spans``: each message's span
        (by ``id`` of the message) when traced."""
        metrics.BATCH_SIZE.observe(len(messages))
        jobs, copies, poison = _decode(messages, spans)
        if poison:
            await self._dead_letter_poison(poison)

        token = uuid.uuid4().hex
        # the batch's outcomes are counted by one tally, recorded with its claims
        outcomes = Tally()
        try:
            claimed = await self.store.rounds.claim_rounds(
                [j for _, j in jobs], token, outcomes=outcomes
            )
        except DependencyUnavailable:
            # some claims may have landed though the answer was lost: hand those rounds back
            # (nothing was sent) so the redelivered messages can claim them at once, instead
            # of waiting CLAIM_TTL_S for a retake
            await self._release([j for _, j in jobs], token)
            raise
        won, expired = claimed.won, claimed.expired
        now = utcnow()
        self.events.emit(job_event(j, Status.PROCESSING, now) for _, j in jobs if j.id in won)
        # expired instead of claimed: never sent late (wavecom.store.expiries)
        self.events.emit(job_event(j, Status.EXPIRED, now) for _, j in jobs if j.id in expired)
        for where, count in Counter(expired.values()).items():
            metrics.labelled(metrics.EXPIRED, self.channel.value, where.value).inc(count)
        lost = [j for _, j in jobs if j.id not in won and j.id not in expired]
        retake, later = await self.store.rounds.examine_lost(lost, self.settings.claim_ttl_s)
        writer = OutcomeWriter(
            self.store.rounds,
            token,
            expected=len(won),
            linger_s=self.settings.outcome_linger_ms / 1000,
            tally=outcomes,
        )

        async def deliver(m: AbstractIncomingMessage, job: DeliveryJob) -> Attempted:
            span = spans[id(m)] if spans is not None else INVALID_SPAN
            with telemetry.current(span):
                attempted = await self.dispatcher.deliver(job)
                writer.add(attempted.outcome)  # stored right after the answer, grouped
            span.set_attribute("wavecom.outcome", attempted.outcome.status.value)
            return attempted

        attempted: Sequence[Attempted] = await asyncio.gather(
            *(deliver(m, j) for m, j in jobs if j.id in won)
        )
        self.table.flush()
        await writer.close()
        self.events.emit(outcome_event(a.outcome) for a in attempted)

        delayed = [
            (a.next_job, a.delay_rung_ms)
            for a in attempted
            if a.next_job is not None and a.delay_rung_ms is not None
        ]
        # a round held by a worker that may still deliver it: look again once it must be done
        delayed += [(j, snap_to_ladder(self.settings.claim_ttl_s * 1000)) for j in later]
        # a round whose claimer died: deliver under the next round (the provider's
        # idempotency key, the job id and attempt, keeps a send it already made from repeating)
        delayed += [(j, DELAY_LADDER_MS[0]) for j in retake]
        dead = [
            (
                a.outcome.job.encode(),
                {
                    "x-reason": a.dead_reason,
                    "x-error": a.outcome.error or "",
                    "x-notification-id": a.outcome.job.id,
                    # the trace the notification was delivered in, for whoever reads the DLQ
                    **({"traceparent": a.outcome.job.trace} if a.outcome.job.trace else {}),
                },
            )
            for a in attempted
            if a.dead_reason
        ]
        await asyncio.gather(
            self.publisher.publish_delayed(delayed), self.publisher.publish_dead(dead)
        )
        for reason, count in Counter(a.dead_reason for a in attempted if a.dead_reason).items():
            metrics.labelled(metrics.DEAD_LETTERED, reason).inc(count)
        # one frame for the batch when nothing delivered before it is still held (acks.py)
        await self.acks.ack([*(m for m, _ in jobs), *copies])
        self.processed += len(messages)

    async def _release(self, jobs: Sequence[DeliveryJob], token: str) -> None:
        """Give back what ``token`` may hold, retrying while the database is away (bounded by
        the claim TTL: past it, a retake covers whatever is still held)."""
        delay, deadline = 0.2, time.monotonic() + self.settings.claim_ttl_s
        while True:
            try:
                await self.store.rounds.release(jobs, token)
                return
            except DependencyUnavailable as exc:
                if time.monotonic() + delay > deadline:
                    log.error(
                        "could not release %d claims (%s): they will be retaken", len(jobs), exc
                    )
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _dead_letter_poison(self, poison: list[tuple[AbstractIncomingMessage, str]]) -> None:
        await self.publisher.publish_dead(
            [
                (
                    m.body,
                    {
                        "x-reason": "poison",
                        "x-error": reason,
                        "x-original-routing-key": m.routing_key or "",
                    },
                )
                for m, reason in poison
            ]
        )
        metrics.labelled(metrics.DEAD_LETTERED, "poison").inc(len(poison))
        for _, reason in poison:
            log.error("dead-lettered an undecodable message: %s", reason)
        await self.acks.ack(m for m, _ in poison)


def _decode(
    messages: list[AbstractIncomingMessage], spans: dict[int, Span] | None
) -> tuple[
    list[tuple[AbstractIncomingMessage, DeliveryJob]],
    list[AbstractIncomingMessage],
    list[tuple[AbstractIncomingMessage, str]],
]:
    """A batch's jobs, the second copies of a job in it, and what cannot be decoded (with why).

    Traced (``spans``), each job continues its message's span: its retry is published under it
    and its timeline entries name that trace.
    """
    jobs: list[tuple[AbstractIncomingMessage, DeliveryJob]] = []
    copies: list[AbstractIncomingMessage] = []
    poison: list[tuple[AbstractIncomingMessage, str]] = []
    seen: set[str] = set()
    for m in messages:
        try:
            job = DeliveryJob.decode(m.body)
        except PoisonMessage as exc:
            poison.append((m, str(exc)))
            continue
        if job.id in seen:
            copies.append(m)
            continue
        seen.add(job.id)
        if spans is not None:
            span = spans[id(m)]
            span.set_attribute("wavecom.notification.id", job.id)
            span.set_attribute("wavecom.attempt", job.attempt)
            job = replace(job, trace=telemetry.traceparent(span))
        jobs.append((m, job))
    return jobs, copies, poison


def _lane(m: AbstractIncomingMessage) -> Lane:
    """The lane a message came from, by its routing key (``<channel>.<lane>`` or
    ``delay.<ms>.<channel>.<lane>``)."""
    return Lane.HIGH if (m.routing_key or "").endswith(Lane.HIGH.value) else Lane.STANDARD
