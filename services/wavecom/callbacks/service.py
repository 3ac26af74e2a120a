"""The callbacks process: turns status changes into stored callbacks and runs a lane per endpoint.

Where changes come from, and why none is lost:
1. the live status events (``wavecom.events``, routed by tenant): a durable queue of this
   process is bound to the tenants that have enabled endpoints, and only to them, so the broker
   drops every other tenant's events as before (no cost for a tenant without endpoints). Each
   event names a notification; its document is read and every callback step in its timeline
   that an endpoint is owed is stored (``owed``). The events are hints (published without
   confirms, not persisted), which is why there is
2. the repair scan: every CALLBACK_REPAIR_S, the notifications of those tenants whose status
   is one a callback exists for and that changed since the previous scan (less
   CALLBACK_REPAIR_OVERLAP_S) are read again and any step without a record gets one. The
   records' ``_id`` (endpoint, webhook-id) makes the second offer of a step a no-op.

Storing a record comes before delivering it, so a callback exists as soon as either source saw
the change, and a crash after that only delays it (the lanes find due records in the
database). Endpoints are re-read within CALLBACK_POLL_S of a change (their revision).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from datetime import timedelta

import aio_pika
import orjson
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustConnection,
)
from bson import ObjectId
from bson.errors import InvalidId

from wavecom.callbacks import metrics
from wavecom.callbacks.endpoints import Endpoint, open_endpoint
from wavecom.callbacks.owed import owed
from wavecom.callbacks.payload import EVENT_TYPES
from wavecom.callbacks.sender import Lane
from wavecom.core import tls
from wavecom.core.broker import connect
from wavecom.core.constants import EVENTS_EXCHANGE
from wavecom.core.errors import ProviderConfigError
from wavecom.core.periodic import Periodic
from wavecom.core.settings import Settings
from wavecom.providers.credentials import Cipher
from wavecom.store import Doc, Store, utcnow

log = logging.getLogger("wavecom.callbacks")

EVENTS_QUEUE = "wavecom.callbacks.events"
# events wait at most this long for a stopped process (the repair covers older changes), and
# at most this many: a long outage must not grow the queue without bound
EVENTS_TTL_MS = 600_000
EVENTS_MAX = 200_000
_STATUSES = frozenset(s.value for s in EVENT_TYPES)
_FULL_RELOAD_S = 60.0  # a rotated secret's grace period ends without a revision
BACKLOG_SAMPLE_S = 10.0  # how often the backlog gauges are read from the database


class CallbackService:
    """Follows the endpoints, stores owed callbacks, and runs one lane per enabled endpoint."""

    def __init__(
        self, settings: Settings, store: Store, connection: AbstractRobustConnection | None
    ) -> None:
        self.settings = settings
        self.store = store
        self.connection = connection
        self.cipher = Cipher.of(settings)
        self.by_tenant: dict[str, list[Endpoint]] = {}
        self.lanes: dict[str, Lane] = {}
        self.revision = -1
        self._loaded_at = 0.0
        self._queue: AbstractQueue | None = None
        self._exchange: AbstractExchange | None = None
        self._bound: set[str] = set()
        self._stopping = asyncio.Event()
        self._sampled: set[tuple[str, str]] = set()  # (tenant, endpoint) of the backlog gauges
        self.ready = False

    @classmethod
    async def start(cls, settings: Settings) -> CallbackService:
        store = Store.connect(
            settings.mongodb_url, settings.mongodb_database, tls=tls.mongodb_options(settings)
        )
        await store.ensure_indexes()
        connection = await connect(
            settings.amqp_url, name="callbacks", ssl_context=tls.amqp_context(settings)
        )
        service = cls(settings, store, connection)
        try:
            channel = await connection.channel()
            await channel.set_qos(prefetch_count=32)
            exchange = await channel.declare_exchange(
                EVENTS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
            )
            service._queue = await channel.declare_queue(
                EVENTS_QUEUE,
                durable=True,
                arguments={
                    "x-queue-type": "classic",
                    "x-message-ttl": EVENTS_TTL_MS,
                    "x-max-length": EVENTS_MAX,
                },
            )
            service._exchange = exchange
            await service.follow_endpoints()
        except BaseException:
            await connection.close()
            await store.close()
            raise
        return service

    def readiness(self) -> str | None:
        if self._stopping.is_set():
            return "stopping"
        if not self.ready:
            return "starting"
        if self.connection is not None and self.connection.is_closed:
            return "no broker connection"
        return None

    # --- endpoints ------------------------------------------------------------------------------

    async def follow_endpoints(self) -> None:
        """Reload the endpoints when their revision moved (or a minute passed): start a lane
        for a new one, stop the lane of a removed or disabled one, and bind the events queue
        to exactly the tenants with an enabled endpoint."""
        revision = await self.store.endpoints.revision()
        stale = time.monotonic() - self._loaded_at > _FULL_RELOAD_S
        if revision == self.revision and not stale:
            return
        now = utcnow()
        enabled: dict[str, Endpoint] = {}
        for doc in await self.store.endpoints.all():
            if not doc.get("enabled"):
                continue
            try:
                enabled[doc["_id"]] = open_endpoint(doc, self.cipher, now, revision)
            except ProviderConfigError as exc:  # a secret no key opens: say so, skip it
                log.error("callback endpoint %s not used: %s", doc["_id"], exc)
        for endpoint_id in set(self.lanes) - set(enabled):
            await self.lanes.pop(endpoint_id).stop()
        by_tenant: dict[str, list[Endpoint]] = defaultdict(list)
        for endpoint in enabled.values():
            by_tenant[endpoint.tenant].append(endpoint)
            lane = self.lanes.get(endpoint.id)
            if lane is None:
                lane = self.lanes[endpoint.id] = Lane(endpoint, self.store, self.settings)
                lane.start()
                for result in metrics.RESULTS:  # a first parked one is an increase from 0
                    metrics.CALLBACKS.labels(endpoint.tenant, result)
            else:
                lane.endpoint = endpoint  # a new URL or secret applies from the next POST
        self.by_tenant = dict(by_tenant)
        await self._bind(set(self.by_tenant))
        metrics.ENDPOINTS.set(len(enabled))
        if revision != self.revision:
            log.info("callbacks: %d endpoints (revision %d)", len(enabled), revision)
        self.revision = revision
        self._loaded_at = time.monotonic()

    async def _bind(self, tenants: set[str]) -> None:
        if self._queue is None or self._exchange is None:
            return
        for tenant in tenants - self._bound:
            await self._queue.bind(self._exchange, routing_key=tenant)
            self._bound.add(tenant)
        for tenant in self._bound - tenants:
            await self._queue.unbind(self._exchange, routing_key=tenant)
            self._bound.discard(tenant)

    # --- sources of changes ---------------------------------------------------------------------

    async def on_events(self, message: AbstractIncomingMessage) -> None:
        """Store the callbacks the notifications named by one events message owe. A message
        this cannot act on (the database is away) is dropped: the repair scan covers it."""
        try:
            events = orjson.loads(message.body)
            ids = {
                ObjectId(e["_id"])
                for e in events
                if isinstance(e, dict) and e.get("status") in _STATUSES
            }
            if ids:
                docs = await self.store.notifications.get_many(list(ids))
                await self._store(docs, "event")
        except (orjson.JSONDecodeError, InvalidId, KeyError, TypeError) as exc:
            log.warning("an events message not understood: %r", exc)
        except Exception as exc:
            log.warning("callbacks of an events message left to the repair: %r", exc)
        finally:
            with contextlib.suppress(Exception):
                await message.ack()

    async def repair(self) -> int:
        """Store the callbacks a lost event left out; how many were missing."""
        started = utcnow()
        tenants = sorted(self.by_tenant)
        if not tenants:
            await self.store.endpoints.set_repaired_to(started)
            return 0
        # the first scan ever goes back to the oldest endpoint's start: the events of a tenant
        # registered before this process first ran were bound to no queue
        oldest = min(e.owed_from for endpoints in self.by_tenant.values() for e in endpoints)
        since = await self.store.endpoints.repaired_to() or oldest
        since -= timedelta(seconds=self.settings.callback_repair_overlap_s)
        found = 0
        changed = self.store.callbacks.changed_since(tenants, sorted(_STATUSES), since)
        async for batch in changed:
            found += await self._store(batch, "repair")
        await self.store.endpoints.set_repaired_to(started)
        if found:
            log.warning("callbacks: the repair scan found %d callbacks no event had queued", found)
        return found

    async def _store(self, docs: list[Doc], source: str) -> int:
        records = owed(docs, self.by_tenant, utcnow())
        added = await self.store.callbacks.add(records)
        if added:
            metrics.CALLBACKS_QUEUED.labels(source).inc(added)
            for endpoint_id in {r["endpointId"] for r in records}:
                lane = self.lanes.get(endpoint_id)
                if lane is not None:
                    lane.wake.set()
        return added

    async def sample_backlog(self) -> None:
        """Set each enabled endpoint's backlog gauges (callbacks_pending,
        callback_oldest_due_seconds) from the database; drop those of endpoints gone since.
        Every replica reports the same numbers (the alert takes their max)."""
        now = utcnow()
        seen: set[tuple[str, str]] = set()
        for endpoint_id, lane in list(self.lanes.items()):
            pending, waited = await self.store.callbacks.backlog(endpoint_id, now)
            labels = (lane.endpoint.tenant, endpoint_id)
            metrics.CALLBACKS_PENDING.labels(*labels).set(pending)
            metrics.CALLBACK_OLDEST_DUE.labels(*labels).set(waited)
            seen.add(labels)
        for labels in self._sampled - seen:
            for gauge in (metrics.CALLBACKS_PENDING, metrics.CALLBACK_OLDEST_DUE):
                with contextlib.suppress(KeyError):
                    gauge.remove(*labels)
        self._sampled = seen

    # --- the process ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Until ``stop()``: follow the endpoints, consume the events, repair, deliver."""
        s = self.settings
        follower = Periodic("callback endpoints", self.follow_endpoints, s.callback_poll_s)
        repairer = Periodic("callback repair", self.repair, s.callback_repair_s)
        sampler = Periodic("callback backlog", self.sample_backlog, BACKLOG_SAMPLE_S)
        follower.start()
        repairer.start()
        sampler.start()
        tag = await self._queue.consume(self.on_events) if self._queue else None
        self.ready = True
        await self._stopping.wait()
        log.info("callbacks stopping: %d lanes", len(self.lanes))
        if tag and self._queue is not None:
            with contextlib.suppress(Exception):
                await self._queue.cancel(tag)
        await follower.stop()
        await repairer.stop()
        await sampler.stop()
        await asyncio.gather(*(lane.stop() for lane in self.lanes.values()))
        self.lanes.clear()
        if self.connection is not None:
            await self.connection.close()
        await self.store.close()

    def stop(self) -> None:
        self._stopping.set()
