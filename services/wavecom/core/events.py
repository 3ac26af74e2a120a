"""Status changes, for the live streams: best-effort messages on a topic exchange.

Whoever changes a notification's status publishes the change to ``wavecom.events``, routed by
tenant: the API when it accepts, cancels or replays, the relay when a scheduled notification
falls due, a worker when it claims a round and when it stores the round's outcome. One message
carries the changes of one batch (one publish per batch, not per notification), without
confirms and not persisted: events are hints for screens, not records. The documents are the
truth, and a stream that may have missed events tells its client to read them again
(``wavecom.api.live``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import aio_pika
import orjson
from aio_pika.abc import AbstractExchange, AbstractRobustConnection, DeliveryMode

from wavecom.core.constants import EVENTS_EXCHANGE, Status
from wavecom.core.messages import DeliveryJob
from wavecom.store import Doc, Outcome

log = logging.getLogger("wavecom.events")

Event = dict[str, Any]
_CHUNK = 500
_MAX_IN_FLIGHT = 64


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
        "type": job.type.value,
        "priority": job.priority.value,
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

    def __init__(self, exchange: AbstractExchange | None) -> None:
        self.exchange = exchange
        self._in_flight: set[asyncio.Task[None]] = set()
        self.dropped = 0

    @classmethod
    async def open(cls, connection: AbstractRobustConnection) -> EventPublisher:
        channel = await connection.channel(publisher_confirms=False)
        exchange = await channel.declare_exchange(
            EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        return cls(exchange)

    def emit(self, events: Iterable[tuple[str, Event]]) -> None:
        if self.exchange is None:
            return
        by_tenant: dict[str, list[Event]] = defaultdict(list)
        for tenant, event in events:
            by_tenant[tenant].append(event)
        for tenant, items in by_tenant.items():
            for i in range(0, len(items), _CHUNK):
                if len(self._in_flight) >= _MAX_IN_FLIGHT:  # the broker is slow: screens wait
                    self.dropped += len(items) - i
                    break
                task = asyncio.create_task(self._send(tenant, items[i : i + _CHUNK]))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)

    async def _send(self, tenant: str, events: list[Event]) -> None:
        assert self.exchange is not None
        try:
            await self.exchange.publish(
                aio_pika.Message(
                    orjson.dumps(events),
                    content_type="application/json",
                    delivery_mode=DeliveryMode.NOT_PERSISTENT,
                    expiration=60,
                ),
                routing_key=tenant,
                # nobody streaming this tenant means no queue is bound for it: the broker drops
                # the event, rather than returning it to be logged and dropped here
                mandatory=False,
            )
        except Exception as exc:  # best effort: a lost event costs a screen one refresh
            self.dropped += len(events)
            log.debug("status events for %s not published: %r", tenant, exc)

    async def close(self) -> None:
        if self._in_flight:
            await asyncio.wait(self._in_flight, timeout=2)


NO_EVENTS = EventPublisher(None)
