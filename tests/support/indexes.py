"""Recording the database's queries and checking each one uses an index."""

from __future__ import annotations

import random
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId
from pymongo import MongoClient, monitoring

from loadtest.bench_reads import _document
from tests.support.services import MONGODB_URL
from wavecom.core.constants import (
    API_KEYS,
    IDEMPOTENCY,
    NOTIFICATIONS,
    OUTBOX,
    PROVIDERS,
    QUOTAS,
    SCHEDULE,
    STATS,
    TENANTS,
)
from wavecom.store import Store

_WRITES = {"update": "updates", "delete": "deletes"}
# the collections seed() fills with thousands of documents
SEEDED = frozenset(
    {NOTIFICATIONS, OUTBOX, SCHEDULE, PROVIDERS, API_KEYS, STATS, TENANTS, QUOTAS, IDEMPOTENCY}
)


class Recorder(monitoring.CommandListener):
    """Records (collection, filter, sort) of each query sent to one database."""

    def __init__(self) -> None:
        self.database = ""
        # (collection, filter, sort, command, hint)
        self.queries: list[tuple[str, dict[str, Any], dict[str, Any] | None, str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.database or event.database_name != self.database:
            return
        cmd = event.command
        name = event.command_name
        if name == "find":
            self.queries.append(
                (cmd["find"], cmd.get("filter") or {}, cmd.get("sort"), name, cmd.get("hint"))
            )
        elif name == "aggregate":
            stages = cmd.get("pipeline") or []
            match = stages[0].get("$match", {}) if stages else {}
            self.queries.append((cmd["aggregate"], match, None, name, cmd.get("hint")))
        elif name == "findAndModify":
            self.queries.append((cmd["findAndModify"], cmd.get("query") or {}, None, name, None))
        elif name in _WRITES:
            for stmt in cmd.get(_WRITES[name]) or []:
                self.queries.append((cmd[name], stmt.get("q") or {}, None, name, stmt.get("hint")))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


RECORDER = Recorder()
monitoring.register(RECORDER)  # clients created from now on report to it (inactive until set)


@pytest.fixture
def recording(database: str) -> Iterator[Recorder]:
    RECORDER.database = database
    RECORDER.queries.clear()
    yield RECORDER
    RECORDER.database = ""


def shape(value: Any) -> Any:
    """The shape of a filter: field names and operators, not values."""
    if isinstance(value, dict):
        return tuple(sorted((k, shape(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("list", shape(value[0]) if value else None)
    return type(value).__name__


def explained(recorder: Recorder) -> tuple[set[Any], list[str]]:
    """Explain each distinct shape of the queries ``recorder`` saw, as sent (with its sort,
    and its hint: a hinted query is planned through its index); returns the shapes and the
    queries planned with a collection scan (or, in a collection the seed filled, a walk of
    ``_id_``: in a handful of configuration documents that is as good a plan as any)."""
    client: MongoClient[dict[str, Any]] = MongoClient(MONGODB_URL)
    try:
        db = client[recorder.database]
        seen: set[Any] = set()
        offenders: list[str] = []
        for coll, flt, sort, cmd, hint in list(recorder.queries):
            key = (coll, shape(flt), shape(sort), cmd, shape(hint))
            if key in seen:
                continue
            seen.add(key)
            find: dict[str, Any] = {"find": coll, "filter": flt}
            if sort:
                find["sort"] = sort
            if hint:
                find["hint"] = hint
            plan = db.command({"explain": find, "verbosity": "queryPlanner"})
            found = scans(plan, id_walks=coll in SEEDED)
            if found:
                offenders.append(f"{cmd} {coll} {flt!r} sort={sort!r}: {found}")
    finally:
        client.close()
    return seen, offenders


# the key of DocumentDB's condition that walks a whole index, as it appears in a plan's
# BSONHEX literal: {field: {"fullScan": true}}
_FULL_SCAN = b"fullScan".hex()


def scans(plan: Any, *, id_walks: bool = False) -> list[str]:
    """The collection scans anywhere in an explain() answer, MongoDB's or PostgreSQL's, and
    DocumentDB's walks of a whole index that filter its rows (a hinted partial index whose
    condition the query does not state: ``Index Cond: document @<> {field: {fullScan:
    true}}`` and a ``Filter``; a walk in index order with nothing to filter, such as the
    receipts sweep's, is what it means to do). ``id_walks``: also DocumentDB's other disguise
    of a collection scan, ``_id_`` read end to end, its only condition the collection's
    constant shard key (``shard_key_value = …``), no ``object_id`` (what PostgreSQL may
    choose over a ``Seq Scan`` of the same rows)."""
    found: list[str] = []
    if isinstance(plan, dict):
        cond = str(plan.get("Index Cond", ""))
        if plan.get("stage") == "COLLSCAN" or plan.get("Node Type") == "Seq Scan":
            found.append(str(plan.get("Relation Name") or plan.get("stage")))
        if _FULL_SCAN in cond and "Filter" in plan:
            found.append(f"{plan.get('Index Name')} (every entry)")
        if (
            id_walks
            and plan.get("Index Name") == "_id_"
            and "shard_key_value" in cond
            and "object_id" not in cond
        ):
            found.append("_id_ (every document)")
        for v in plan.values():
            found += scans(v, id_walks=id_walks)
    elif isinstance(plan, list):
        for v in plan:
            found += scans(v, id_walks=id_walks)
    return found


async def seed(store: Store) -> None:
    """Thousands of documents in every collection the product queries, most of other tenants."""
    rng = random.Random(9)
    now = datetime.now(UTC)
    tenants = [f"t{i}" for i in range(9)] + ["acme"]
    docs = [_document(rng, tenants[i % 10], now - timedelta(seconds=5000 - i)) for i in range(5000)]
    await store.notifications.insert(docs)
    db = store.db
    later = now + timedelta(days=1)
    await db.outbox.insert_many(
        [{"_id": secrets.token_hex(8), "ids": [ObjectId()], "dueAt": later} for _ in range(2000)]
    )
    await db.schedule.insert_many(
        [{"_id": ObjectId(), "tenantId": "t1", "dueAt": later} for _ in range(2000)]
    )
    old = now - timedelta(hours=1)
    await db.providers.insert_many(
        [
            {
                "_id": f"p/{i}",
                "provider": "p",
                "channel": "EMAIL",
                "state": "closed",
                "updatedAt": old,
            }
            for i in range(2000)
        ]
    )
    await db.apikeys.insert_many(
        [
            {
                "_id": secrets.token_hex(8),
                "tenantId": f"t{i % 9}",
                "scopes": ["read"],
                "name": "",
                "hash": "0" * 64,
                "createdAt": old,
                "revokedAt": None,
            }
            for i in range(2000)
        ]
    )
    for name in ("stats", "tenants", "quotas", "idempotency"):
        await db[name].insert_many([{"_id": f"filler-{i}", "n": i} for i in range(2000)])
