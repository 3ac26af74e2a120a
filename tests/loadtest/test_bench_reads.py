"""``loadtest.bench_reads``' seeded documents are the ones the pipeline writes.

The seed builds each document with intake's ``new_notification`` and the update documents of
a worker's claims and outcomes, a receipt, a cancel and an expiry, applied in memory. Here a
real create through the API, a real worker's delivery (or failure, or expiry), a real receipt
and a real cancel write documents to the database, and each is compared, field by field and
timeline step by timeline step, with what the seed makes of the same request and path: a
field the pipeline adds (or a step it writes differently) fails this test instead of silently
leaving the benchmark timing other documents.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import orjson
from bson import ObjectId

from loadtest import bench_reads
from tests.support.notifications import email, put_mock_account, sms
from tests.support.processes import RunWorker
from tests.support.wait import wait_for
from wavecom.core.constants import Channel, Status
from wavecom.store import Store
from wavecom.store.receipts import ProviderReceipt, Result


def test_the_seed_makes_every_status_of_its_mix_and_each_document_counts_once() -> None:
    rng = random.Random(7)
    now = datetime.now(UTC)
    docs = [bench_reads._document(rng, "t", now - timedelta(seconds=i)) for i in range(4000)]
    statuses = Counter(d["status"] for d in docs)
    assert set(statuses) == {s.value for s in bench_reads.STATUS_MIX}
    for d in docs:
        plan = bench_reads.plan_of(d)
        assert plan is not None, d["timeline"]
        assert plan.status.value == d["status"]
        # what the lookups and the lists read is there, of the pipeline's types
        assert len(d["recipientHash"]) == 32
        assert d["createdAt"] == d["timeline"][0]["timestamp"]
        assert d["_id"].generation_time <= d["createdAt"]
        if d["status"] in ("SENT", *(s.value for s in bench_reads.RECEIPTS)):
            assert d["providerMessageId"].startswith(d["provider"] + "_")
        if d["status"] == "FAILED":
            assert d["deadLetter"]["reason"] in bench_reads.REASONS
    assert len({d["reference"] for d in docs if "reference" in d}) == sum(
        "reference" in d for d in docs
    )


async def test_seeded_documents_have_the_shape_of_a_real_create_and_delivery(
    api: httpx.AsyncClient, store: Store, run_worker: RunWorker
) -> None:
    async def create(body: dict[str, object]) -> str:
        r = await api.post("/api/notifications", json=body)
        assert r.status_code == 201, r.text
        return str(r.json()["data"]["_id"])

    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    delivered = await create({**email(1), "reference": "order-1", "ttlSeconds": 600})
    sent = await create(sms(2))
    bounced = await create(email(3, domain="bounce.example"))
    expired = await create({**sms(4), "ttlSeconds": 1})
    cancelled = await create({**email(5), "scheduledAt": later, "reference": "order-5"})
    queued = await create({**sms(6), "scheduledAt": later})
    r = await api.post(f"/api/notifications/{cancelled}/cancel")
    assert r.status_code == 200, r.text

    async def lapsed() -> bool:  # the SMS's second of validity passes before any worker runs
        doc = await store.notifications.collection.find_one(
            {"_id": ObjectId(expired)}, {"expiresAt": 1}
        )
        return doc is not None and doc["expiresAt"] < datetime.now(UTC)

    await wait_for(lapsed, what="the SMS's validity to pass")
    await put_mock_account(store, "textwave", Channel.SMS, latencyMs=2, latencySigma=0)
    await run_worker(Channel.EMAIL)
    await run_worker(Channel.SMS)
    ids = [delivered, sent, bounced, expired]
    final = await wait_for(lambda: _final(store, ids), what="the deliveries")
    assert final == {delivered: "SENT", sent: "SENT", bounced: "FAILED", expired: "EXPIRED"}
    doc = await store.notifications.collection.find_one({"_id": ObjectId(delivered)})
    assert doc is not None
    receipt = ProviderReceipt(
        provider=doc["provider"],
        message_id=doc["providerMessageId"],
        status=Status.DELIVERED,
        at=datetime.now(UTC),
        code="250",
        source="mailgun",
    )
    assert (await store.receipts.apply(receipt)).result is Result.APPLIED

    docs = await store.notifications.get_many(
        [ObjectId(i) for i in (delivered, sent, bounced, expired, cancelled, queued)]
    )
    check = bench_reads.compare(docs, await store.recipient_hasher())
    assert check["mismatches"] == [], orjson.dumps(check["mismatches"]).decode()
    assert check["same"]
    assert set(check["kinds"]) == {
        "EMAIL/SENT/DELIVERED/reference/ttl",
        "SMS/SENT",
        "EMAIL/FAILED",
        "SMS/EXPIRED/ttl",
        "EMAIL/CANCELLED/reference/scheduled",
        "SMS/scheduled",
    }


async def _final(store: Store, ids: list[str]) -> dict[str, str] | None:
    docs = await store.notifications.get_many([ObjectId(i) for i in ids])
    statuses = {str(d["_id"]): d["status"] for d in docs}
    if len(statuses) == len(ids) and all(
        s in {"SENT", "FAILED", "EXPIRED"} for s in statuses.values()
    ):
        return statuses
    return None
