"""The database, one module per concern behind one facade, :class:`Store`.

The API and the workers share only this (besides the message types and the names):
- ``documents``: notification documents and timeline entries (pure functions)
- ``notifications``: the documents (each with its timeline), the API's reads, cancel and replay
- ``rounds``: a worker's claim of a delivery round and the outcome it stores
- ``expiries``: notifications whose validity ended before a provider had them (EXPIRED)
- ``receipts``: provider receipts that move a SENT notification on, and those held
- ``pending``: the outbox and the schedule, which the relay works through
- ``counters``: per-tenant statistics (``$inc``)
- ``breakers``: the circuit breaker states workers report
- ``accounts``: provider accounts and the revision the workers poll to reload them
- ``indexes``: every index, created at start-up
- ``recipients``: the keyed hash recipients are looked up by
- ``callbacks``: tenants' callback endpoints and the callbacks each is owed
- ``keys``, ``tenants``, ``quotas``, ``idempotency``: API keys, per-tenant settings, rate-limit
  state and ``Idempotency-Key`` records (the API's modules of the same names give them meaning)
- ``leases``: one holder at a time of a singleton job (the sweeper)
- ``overdue``: the sweeper's scan for waiting notifications whose message was lost, and its mark
- ``books``: reconciliation's counts, stuck scan and ledger ids

Only what MongoDB and FerretDB v2 both support is used: single-document atomic updates
(conditional ``update``, ``find_one_and_update``, ``$inc``), unique inserts and bulk writes;
no transactions and no change streams.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from wavecom.core.constants import (
    API_KEYS,
    IDEMPOTENCY,
    INSTALLATION,
    LEASES,
    NOTIFICATIONS,
    OUTBOX,
    PROVIDER_ACCOUNTS,
    PROVIDERS,
    QUOTAS,
    RECEIPTS,
    REVISIONS,
    SCHEDULE,
    STATS,
    TENANTS,
)
from wavecom.core.errors import StoreUnavailable
from wavecom.store.accounts import OwnedElsewhere, ProviderAccounts
from wavecom.store.books import Books
from wavecom.store.breakers import Breakers
from wavecom.store.callbacks import CALLBACKS, ENDPOINTS, Callbacks, Endpoints
from wavecom.store.commands import CommandCounter
from wavecom.store.counters import Counters, TenantStats
from wavecom.store.documents import Doc, job_of, log_entry, new_notification, traced, utcnow
from wavecom.store.expiries import Expiries
from wavecom.store.idempotency import IdempotencyKeys
from wavecom.store.indexes import ensure_indexes
from wavecom.store.keys import ApiKeys
from wavecom.store.leases import Leases
from wavecom.store.notifications import ListQuery, Notifications, Page
from wavecom.store.overdue import Overdue
from wavecom.store.pending import Outbox, Schedule
from wavecom.store.quotas import Quotas
from wavecom.store.receipts import Receipts
from wavecom.store.recipients import RecipientHasher
from wavecom.store.rounds import Outcome, Rounds
from wavecom.store.tenants import TenantSettings

__all__ = [
    "Doc",
    "ListQuery",
    "Outcome",
    "OwnedElsewhere",
    "Page",
    "RecipientHasher",
    "Store",
    "TenantStats",
    "job_of",
    "log_entry",
    "new_notification",
    "traced",
    "utcnow",
]


class Store:
    """One per process, created at start-up; each concern is an attribute."""

    def __init__(self, client: AsyncMongoClient[Doc], database: str) -> None:
        self.client = client
        self.db: AsyncDatabase[Doc] = client[database]
        self.counters = Counters(self.db[STATS])
        self.notifications = Notifications(self.db[NOTIFICATIONS], self.counters, self.db[SCHEDULE])
        self.rounds = Rounds(self.notifications)
        self.expiries = Expiries(self.db[NOTIFICATIONS], self.counters, self.db[SCHEDULE])
        self.receipts = Receipts(self.notifications, self.db[RECEIPTS])
        self.outbox = Outbox(self.db[OUTBOX])
        self.schedule = Schedule(self.db[SCHEDULE], self.notifications)
        self.breakers = Breakers(self.db[PROVIDERS])
        self.accounts = ProviderAccounts(self.db[PROVIDER_ACCOUNTS], self.db[REVISIONS])
        self.endpoints = Endpoints(self.db[ENDPOINTS], self.db[REVISIONS])
        self.callbacks = Callbacks(self.db[CALLBACKS], self.db[NOTIFICATIONS])
        self.api_keys = ApiKeys(self.db[API_KEYS])
        self.tenants = TenantSettings(self.db[TENANTS])
        self.quotas = Quotas(self.db[QUOTAS])
        self.idempotency = IdempotencyKeys(self.db[IDEMPOTENCY])
        self.leases = Leases(self.db[LEASES])
        self.overdue = Overdue(self.db[NOTIFICATIONS])
        self.books = Books(self.db[NOTIFICATIONS])
        self._hasher: RecipientHasher | None = None

    @classmethod
    def connect(
        cls,
        url: str,
        database: str,
        *,
        timeout_ms: int = 5000,
        tls: Mapping[str, Any] | None = None,
    ) -> Store:
        """A client of ``url``; ``tls`` adds PyMongo's tls* options (``wavecom.core.tls``)."""
        client: AsyncMongoClient[Doc] = AsyncMongoClient(
            url,
            tz_aware=True,
            serverSelectionTimeoutMS=timeout_ms,
            connectTimeoutMS=timeout_ms,
            socketTimeoutMS=max(timeout_ms * 6, 30_000),
            maxPoolSize=50,
            appname="wavecom",
            event_listeners=[CommandCounter()],
            **(tls or {}),
        )
        return cls(client, database)

    async def recipient_hasher(self) -> RecipientHasher:
        """The installation's recipient hash (its key read once per process)."""
        if self._hasher is None:
            self._hasher = await RecipientHasher.load(self.db[INSTALLATION])
        return self._hasher

    async def close(self) -> None:
        await self.client.close()

    async def ping(self) -> None:
        try:
            await self.db.command("ping")
        except PyMongoError as exc:
            raise StoreUnavailable(f"database unreachable: {exc}") from exc

    async def ensure_indexes(self) -> None:
        """Every index the queries need (see ``indexes``); idempotent."""
        try:
            await ensure_indexes(self.db)
        except PyMongoError as exc:
            raise StoreUnavailable(f"could not create indexes: {exc}") from exc
