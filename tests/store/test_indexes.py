"""Every query the API, its relay and a worker send is answered through an index.

A command listener records every command the product sends while the test drives each endpoint
(and a worker delivers, retries and dead-letters) over a database seeded with thousands of
documents in many tenants, so the planner has a real choice. Each recorded filter is then
explained, and the test fails on a collection scan: ``COLLSCAN`` on MongoDB, ``Seq Scan`` on
FerretDB v2 (whose ``explain`` is PostgreSQL's plan).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from bson import ObjectId
from pymongo import ASCENDING, IndexModel

from tests.support.indexes import Recorder, explained, seed
from tests.support.notifications import all_terminal, create, email
from tests.support.processes import RunWorker
from tests.support.wait import wait_for
from wavecom.core.broker import Publisher, QueueShape, connect
from wavecom.core.constants import LEASES, NOTIFICATIONS, Channel, Priority, Status
from wavecom.core.settings import Settings
from wavecom.relay.sweeper import Sweeper
from wavecom.store import Store, utcnow
from wavecom.store.documents import new_notification
from wavecom.store.indexes import BY_REFERENCE, INDEXES, is_documentdb
from wavecom.store.receipts import ProviderReceipt

# commands that carry a query, and where their filter is
_READS = {"find": "filter", "aggregate": "pipeline", "count": "query", "distinct": "query"}


async def sweep(store: Store, settings: Settings) -> None:
    """One tick of the sweeper's scan for lost messages, of its own: the API's sweeper holds
    the lease, and its first tick may precede the recording."""
    await store.db[LEASES].delete_many({})
    connection = await connect(settings.amqp_url, name="test-sweeper")
    try:
        publisher = await Publisher.open(connection, timeout_s=5, shape=QueueShape.of(settings))
        # at most one re-queued per status: seeded waiting notifications are overdue
        one = settings.model_copy(update={"sweep_limit": 1})
        sweeper = Sweeper(store, publisher, await connection.channel(), one)
        await sweeper.tick()
        await sweeper.close()
    finally:
        await connection.close()


async def receipts(api: httpx.AsyncClient, sent: dict[str, Any]) -> None:
    """Provider receipts: one that matches a sent notification, one held, and the sweep."""
    handler = api.app.state.receipts  # type: ignore[attr-defined]
    for message_id in (sent["providerMessageId"], "unknown-id"):
        await handler.take(
            ProviderReceipt(sent["provider"], message_id, Status.DELIVERED, datetime.now(UTC))
        )
    await handler.sweep()


async def test_every_query_the_product_sends_uses_an_index(
    api: httpx.AsyncClient,
    store: Store,
    run_worker: RunWorker,
    recording: Recorder,
    worker_settings: Settings,
) -> None:
    await seed(store)
    await run_worker()
    ids = await create(
        api,
        [email(1), email(2, domain="bounce.example"), email(3, domain="flaky.example")],
    )
    single = await api.post("/api/notifications", json=email(4), headers={"Idempotency-Key": "k1"})
    assert single.status_code == 201
    again = await api.post("/api/notifications", json=email(4), headers={"Idempotency-Key": "k1"})
    assert again.status_code == 201
    at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    scheduled = await api.post("/api/notifications", json={**email(5), "scheduledAt": at})
    assert scheduled.status_code == 201
    referenced = await api.post("/api/notifications", json={**email(6), "reference": "order-6"})
    assert referenced.status_code == 201
    assert (
        await api.post("/api/notifications", json={**email(7), "reference": "order-6"})
    ).status_code == 409
    await wait_for(lambda: all_terminal(store, ids), within=60, what="the batch to finish")
    sent = await store.notifications.collection.find_one({"_id": ObjectId(ids[0])})
    assert sent is not None
    first = (await api.get("/api/notifications?limit=5")).json()["data"]["nextCursor"]
    since = quote((datetime.now(UTC) - timedelta(minutes=5)).isoformat())

    for query in (
        "?recipient=USER1@example.com",
        "?reference=order-6",
        f"?providerMessageId={sent['providerMessageId']}",
        f"?createdFrom={since}",
        f"?createdFrom={since}&status=SENT",
        f"?after={first}&limit=5",
        f"?after={first}&status=SENT",
        "",
        "?status=SENT",
        "?type=EMAIL",
        "?priority=HIGH",
        "?status=FAILED&type=EMAIL&priority=MEDIUM",
        "?page=3&limit=5",
    ):
        r = await api.get(f"/api/notifications{query}")
        assert r.status_code == 200, r.text
    for path in (
        f"/api/notifications/{ids[0]}",
        "/api/notifications/stats/system",
        "/api/dlq",
        "/api/dlq?type=EMAIL&reason=permanent",
        "/api/admin/reconcile",
        "/api/admin/keys",
        "/api/admin/providers",
        "/api/auth/me",
    ):
        r = await api.get(path)
        assert r.status_code == 200, (path, r.text)
    assert (
        await api.post(f"/api/notifications/{scheduled.json()['data']['_id']}/cancel")
    ).status_code == 200
    assert (await api.post("/api/dlq/replay", json={"ids": [ids[1]]})).status_code == 200
    assert (await api.post("/api/dlq/replay", json={"type": "EMAIL"})).status_code == 200
    assert (await api.post(f"/api/notifications/{ids[2]}/retry")).status_code in (200, 409)

    # the sweeper's scan for lost messages, and provider receipts (applied, held, swept)
    await asyncio.gather(sweep(store, worker_settings), receipts(api, sent))
    assert any(q[0] == "notifications" and "$expr" in q[1] for q in recording.queries)

    seen, offenders = explained(recording)
    assert len(seen) >= 15, seen  # the workload did reach the queries
    assert not offenders, "\n".join(offenders)


async def test_documentdb_indexes_have_one_composite_term_and_changed_ones_are_rebuilt(
    store: Store,
) -> None:
    documentdb = await is_documentdb(store.db)
    coll = store.db[NOTIFICATIONS]
    await coll.drop_indexes()
    # as an installation made before composite terms has it: same name, per-field terms
    await coll.create_indexes(INDEXES[NOTIFICATIONS][:1])
    await store.ensure_indexes()

    info = await coll.index_information()
    for model in INDEXES[NOTIFICATIONS]:
        name = model.document["name"]
        assert info[name]["key"] == list(model.document["key"].items())
        # FerretDB names the option in the index; MongoDB would refuse it, so it never gets it
        assert bool(info[name].get("enableCompositeTerm")) is documentdb
    await store.ensure_indexes()  # idempotent: nothing to rebuild the second time
    assert await coll.index_information() == info


async def test_an_upgrade_fills_the_reference_keys_and_drops_the_compound_index(
    store: Store,
) -> None:
    """An installation from before the joined keys: its notifications with a reference have no
    ``referenceKey`` and its unique index is on (tenantId, reference). The upgrade fills the
    keys, builds the one-field index, drops the old one; a reference used before the upgrade
    stays taken."""
    coll = store.db[NOTIFICATIONS]
    await coll.drop_indexes()
    await coll.create_indexes(
        [
            IndexModel(
                [("tenantId", ASCENDING), ("reference", ASCENDING)],
                name="tenant_reference",
                unique=True,
                partialFilterExpression={"reference": {"$type": "string"}},
            )
        ]
    )
    old = [
        {"_id": ObjectId(), "tenantId": "acme", "reference": "order-1"},
        {"_id": ObjectId(), "tenantId": "globex", "reference": "order-1"},
        {"_id": ObjectId(), "tenantId": "acme"},  # none given
    ]
    await coll.insert_many(old)
    await store.ensure_indexes()

    docs = {d["_id"]: d async for d in coll.find({})}
    assert [docs[d["_id"]].get("referenceKey") for d in old] == [
        "acme:order-1",
        "globex:order-1",
        None,
    ]
    info = await coll.index_information()
    assert "tenant_reference" not in info
    assert info[BY_REFERENCE]["unique"] is True
    again = new_notification(
        tenant_id="acme",
        channel=Channel.SMS,
        recipient="+2348000000001",
        subject=None,
        message="hi",
        priority=Priority.HIGH,
        metadata={},
        max_retries=3,
        scheduled_at=None,
        now=utcnow(),
        recipient_hash="h",
        reference="order-1",
    )
    assert await store.notifications.insert([again]) == {again["_id"]}  # taken
    assert (await store.notifications.by_reference("acme", "order-1") or {})["_id"] == old[0]["_id"]
