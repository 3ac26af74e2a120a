"""Live streams: every status change of a tenant, coalesced, to its open ``GET /api/events``.

Each API process consumes ``wavecom.events`` through its own exclusive queue, bounded at
10,000 messages (the oldest are dropped when the process falls behind), and hands each message
to the subscriptions of its tenant. The queue is bound to a tenant's routing key only while
that tenant has a stream open on this process: with nobody watching, the broker routes status
events to no queue and returns them, and their publishers send none of that tenant's for
``QUIET_S`` (``wavecom.core.events``). So a new stream may miss changes made in its first
``QUIET_S``: once that has passed since its tenant was bound, it is told to ``resync`` (read
again what it shows), and every change after it is streamed. A subscription keeps only the
newest state per notification until its stream flushes, at most once per ``EVENTS_FLUSH_MS``:
at 1,000 changes a second a client still gets two messages a second. A subscription that
overflows, or that was open while the broker connection was lost, is told to ``resync`` too.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)

from wavecom.core import metrics
from wavecom.core.constants import EVENTS_EXCHANGE
from wavecom.core.events import QUIET_S, Event

log = logging.getLogger("wavecom.api.live")

KEEPALIVE_S = 15.0
# past QUIET_S after the binding, this much more before a new stream is told to read again
CATCH_UP_MARGIN_S = 0.25
CAUGHT_UP = "changes made while the stream was set up may not have been streamed: read again"


class Subscription:
    """One stream's pending changes, newest state per notification."""

    def __init__(self, tenant: str, limit: int = 5000) -> None:
        self.tenant = tenant
        self.limit = limit
        self.pending: dict[str, Event] = {}
        self.resync = ""
        self.wake = asyncio.Event()
        # the read-again due once the publishers' quiet has passed (None: not needed)
        self.catching_up: asyncio.TimerHandle | None = None

    def offer(self, events: list[Event]) -> None:
        for event in events:
            current = self.pending.get(event["_id"])
            # changes of one notification come from several processes: keep the newest
            if current is None or current["updatedAt"] <= event["updatedAt"]:
                self.pending[event["_id"]] = event
        if len(self.pending) > self.limit:
            self.pending.clear()
            self.resync = f"more than {self.limit} changes waited for one flush"
        self.wake.set()

    def catch_up(self) -> None:
        """Read again: what was published before the binding reached every publisher may
        not have been streamed (a resync already pending says so too)."""
        if not self.resync:
            self.resync = CAUGHT_UP
        self.wake.set()

    def lost(self, reason: str) -> None:
        self.pending.clear()
        self.resync = reason
        self.wake.set()

    def take(self) -> tuple[list[Event], str]:
        events, reason = list(self.pending.values()), self.resync
        self.pending, self.resync = {}, ""
        self.wake.clear()
        return events, reason


class EventHub:
    """The process's consumer of status events and its open subscriptions."""

    def __init__(self, quiet_s: float = QUIET_S) -> None:
        self.quiet_s = quiet_s  # the publishers' (wavecom.core.events)
        self._subs: dict[str, set[Subscription]] = {}
        self.closing = asyncio.Event()
        self._queue: AbstractQueue | None = None
        self._exchange: AbstractExchange | None = None
        # tenants whose routing key the queue is bound to, and when each was (monotonic)
        self._bound: dict[str, float] = {}
        self._binding = asyncio.Lock()  # binds and unbinds, one at a time, in order

    async def start(self, connection: AbstractRobustConnection) -> None:
        channel = await connection.channel()
        self._exchange = await channel.declare_exchange(
            EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        self._queue = await channel.declare_queue(
            f"wavecom.events.{uuid.uuid4().hex[:12]}",
            exclusive=True,
            auto_delete=True,
            arguments={"x-max-length": 10_000, "x-overflow": "drop-head"},
        )
        await self._queue.consume(self._on_message, no_ack=True)
        connection.reconnect_callbacks.add(self._on_reconnect)

    @property
    def bound(self) -> frozenset[str]:
        """The tenants this process receives status events of now."""
        return frozenset(self._bound)

    async def _rebind(self) -> None:
        """Bind the queue to exactly the tenants with an open stream (the robust queue
        restores its bindings after a reconnect)."""
        async with self._binding:
            if self._queue is None or self._exchange is None:
                return
            wanted = set(self._subs)
            for tenant in sorted(wanted - self._bound.keys()):
                await self._queue.bind(self._exchange, tenant)
                self._bound[tenant] = time.monotonic()
            for tenant in sorted(self._bound.keys() - wanted):
                await self._queue.unbind(self._exchange, tenant)
                del self._bound[tenant]

    def _on_reconnect(self, *_: Any) -> None:
        # the queue and its bindings are declared again: publishers that found nobody
        # listening meanwhile publish again only QUIET_S later, so each stream reads again now
        # and once more after that (a late call on a stream that ended changes nothing)
        loop, now = asyncio.get_running_loop(), time.monotonic()
        for tenant in self._bound:
            self._bound[tenant] = now
        for subs in self._subs.values():
            for sub in subs:
                sub.lost("the API reconnected to the broker; changes may have been missed")
                loop.call_later(self.quiet_s + CATCH_UP_MARGIN_S, sub.catch_up)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        subs = self._subs.get(message.routing_key or "")
        if not subs:
            return
        try:
            events = orjson.loads(message.body)
        except orjson.JSONDecodeError:
            log.warning("dropping a status event that is not JSON")
            return
        if not isinstance(events, list):
            return
        events = [e for e in events if isinstance(e, dict) and "_id" in e and "updatedAt" in e]
        for sub in subs:
            sub.offer(events)

    @asynccontextmanager
    async def subscribe(self, tenant: str) -> AsyncIterator[Subscription]:
        """A subscription to ``tenant``'s changes, entered once the broker routes them here."""
        sub = Subscription(tenant)
        self._subs.setdefault(tenant, set()).add(sub)
        metrics.LIVE_STREAMS.inc()
        try:
            if tenant not in self._bound:
                await self._rebind()
            bound_for = time.monotonic() - self._bound.get(tenant, 0.0)
            if bound_for < self.quiet_s + CATCH_UP_MARGIN_S:
                sub.catching_up = asyncio.get_running_loop().call_later(
                    self.quiet_s + CATCH_UP_MARGIN_S - bound_for, sub.catch_up
                )
            yield sub
        finally:
            if sub.catching_up is not None:
                sub.catching_up.cancel()
            metrics.LIVE_STREAMS.dec()
            subs = self._subs.get(tenant)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[tenant]
                    if not self.closing.is_set():
                        await self._unbind_later()

    async def _unbind_later(self) -> None:
        # shielded: a stream ends when its client goes away, which cancels this generator
        try:
            await asyncio.shield(self._rebind())
        except Exception as exc:  # an unbind that failed only leaves events flowing here
            log.debug("could not unbind status events: %r", exc)

    def close(self) -> None:
        """End every stream (the process is shutting down; clients reconnect elsewhere)."""
        self.closing.set()
        for subs in self._subs.values():
            for sub in subs:
                sub.wake.set()


def _frame(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def stream(hub: EventHub, tenant: str, flush_ms: int) -> AsyncIterator[bytes]:
    """The body of one ``GET /api/events``: a ready event, then coalesced changes."""
    flush_s = flush_ms / 1000
    async with hub.subscribe(tenant) as sub:
        yield b"retry: 3000\n" + _frame("ready", {"tenantId": tenant, "flushMs": flush_ms})
        last_flush = 0.0
        while not hub.closing.is_set():
            try:
                await asyncio.wait_for(sub.wake.wait(), KEEPALIVE_S)
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
            if hub.closing.is_set():
                break
            # at most one flush per flush_s: changes arriving meanwhile are coalesced
            await asyncio.sleep(max(0.0, last_flush + flush_s - time.monotonic()))
            last_flush = time.monotonic()
            events, resync = sub.take()
            if resync:
                metrics.LIVE_RESYNCS.inc()
                yield _frame("resync", {"reason": resync})
            if events:
                metrics.LIVE_EVENTS.inc(len(events))
                yield _frame("notification", events)
