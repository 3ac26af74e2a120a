"""Status changes, for the live streams: best-effort messages on a topic exchange.

Whoever changes a notification's status publishes the change to ``wavecom.events``, routed by
tenant: the API when it accepts, cancels or replays, the relay when a scheduled notification
falls due, a worker when it claims a round and when it stores the round's outcome. One message
carries the changes of one batch (one publish per batch, not per notification), not persisted:
events are hints for screens, not records. The documents are the truth, and a stream that may
have missed events tells its client to read them again (``wavecom.api.live``).

Published only while somebody listens: a tenant's events reach a queue only while one of its
live streams is open (or the callbacks process follows it), and a publisher learns that nobody
does when the broker returns the message (``mandatory``). It then publishes none of that
tenant's events for ``QUIET_S``, counted from when it emitted the returned one, and tries
again. With nobody watching, a process sends one message per tenant every ``QUIET_S`` instead
of one per batch. What a stream misses that way comes before ``QUIET_S`` after its binding,
so the hub tells it to read again once that has passed (``wavecom.api.live``); the callbacks
process has its repair scan. The returns need publisher confirms on this channel (aiormq
matches a returned message to its publish through them); the publish does not wait for
anything else.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import aio_pika
import aiormq.abc
import orjson
from aio_pika.abc import AbstractExchange, AbstractRobustConnection, DeliveryMode

from wavecom.core.constants import EVENTS_EXCHANGE, Status
from wavecom.core.messages import DeliveryJob
from wavecom.store import Doc, Outcome

log = logging.getLogger("wavecom.events")

Event = dict[str, Any]
_CHUNK = 500
_MAX_IN_FLIGHT = 64
# a tenant whose event the broker returned (no queue bound: nobody listens) is not published
# again for this long after that event was emitted; a new stream reads again once past it
QUIET_S = 2.0


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def doc_event(doc: Doc) -> tuple[str, Event]:
    """(tenant, event) of a notification document as it is now."""
    return doc["tenantId"], {
        "_id": str(doc["_id"]),
        "status": doc["status"],
        "type": doc["type"],
        "priority": doc["priority"],
        "attempts": doc.get("retryCount", 0),
        "provider": doc.get("provider"),
        "updatedAt": _iso(doc["updatedAt"]),
    }


def job_event(
    job: DeliveryJob,
    status: Status,
    at: datetime,
    *,
    provider: str | None = None,
    attempts: int | None = None,
) -> tuple[str, Event]:
    return job.tenant_id, {
        "_id": job.id,
        "status": status.value,
        "type": job.kind[0],
        "priority": job.kind[1],
        "attempts": job.attempt if attempts is None else attempts,
        "provider": provider,
        "updatedAt": _iso(at),
    }


def outcome_event(outcome: Outcome) -> tuple[str, Event]:
    return job_event(
        outcome.job,
        outcome.status,
        outcome.finished_at,
        provider=outcome.provider,
        attempts=outcome.retry_count,
    )


class EventPublisher:
    """Publishes (tenant, event) pairs grouped per tenant; never blocks, never raises."""

    def __init__(self, exchange: AbstractExchange | None, quiet_s: float = QUIET_S) -> None:
        self.exchange = exchange
        self.quiet_s = quiet_s
        self._in_flight: set[asyncio.Task[None]] = set()
        # tenant -> monotonic time before which its events are not published (nobody listens)
        self._quiet: dict[str, float] = {}
        self.dropped = 0  # not published: the broker was slow or failed
        self.skipped = 0  # not published: nobody listened to the tenant a moment ago

    @classmethod
    async def open(
        cls, connection: AbstractRobustConnection, quiet_s: float = QUIET_S
    ) -> EventPublisher:
        # confirms, so that a returned message reaches its publish (see the module's doc)
        channel = await connection.channel(publisher_confirms=True, on_return_raises=False)
        exchange = await channel.declare_exchange(
            EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        return cls(exchange, quiet_s)

    def listened(self, tenant: str) -> bool:
        """False while the broker's last word on ``tenant`` is that nobody listens."""
        until = self._quiet.get(tenant)
        if until is None:
            return True
        if until > time.monotonic():
            return False
        del self._quiet[tenant]
        return True

    def emit(self, events: Iterable[tuple[str, Event]]) -> None:
        if self.exchange is None:
            return
        by_tenant: dict[str, list[Event]] = defaultdict(list)
        for tenant, event in events:
            by_tenant[tenant].append(event)
        at = time.monotonic()
        for tenant, items in by_tenant.items():
            if not self.listened(tenant):
                self.skipped += len(items)
                continue
            for i in range(0, len(items), _CHUNK):
                if len(self._in_flight) >= _MAX_IN_FLIGHT:  # the broker is slow: screens wait
                    self.dropped += len(items) - i
                    break
                task = asyncio.create_task(self._send(tenant, items[i : i + _CHUNK], at))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)

    async def _send(self, tenant: str, events: list[Event], at: float) -> None:
        assert self.exchange is not None
        try:
            answer = await self.exchange.publish(
                aio_pika.Message(
                    orjson.dumps(events),
                    content_type="application/json",
                    delivery_mode=DeliveryMode.NOT_PERSISTENT,
                    expiration=60,
                ),
                routing_key=tenant,
                # returned when no queue is bound for the tenant: nobody listens to it
                mandatory=True,
                timeout=10,
            )
        except Exception as exc:  # best effort: a lost event costs a screen one refresh
            self.dropped += len(events)
            log.debug("status events for %s not published: %r", tenant, exc)
            return
        if isinstance(answer, aiormq.abc.DeliveredMessage):  # returned: nobody listens
            self._quiet[tenant] = max(self._quiet.get(tenant, 0.0), at + self.quiet_s)
            self.skipped += len(events)

    async def close(self) -> None:
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=2)


NO_EVENTS = EventPublisher(None)
