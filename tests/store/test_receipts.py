"""Provider receipts on the real database: transitions, idempotence, holding, the unique id."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, IndexModel

from tests.support.documents import doc
from wavecom.core.constants import Status
from wavecom.store import Outcome, Store, job_of
from wavecom.store.indexes import BY_PROVIDER_MESSAGE, is_documentdb
from wavecom.store.receipts import ProviderReceipt, Result


async def sent(store: Store, d: dict[str, Any], message_id: str, provider: str = "sms-a") -> None:
    """Store ``d`` and deliver it as a worker does: claim, then the SENT outcome."""
    await store.notifications.insert([d])
    await store.notifications.count_intake([d])
    job = job_of(d)
    assert await store.rounds.claim([job], "t") == {job.id}
    now = datetime.now(UTC)
    await store.rounds.record_outcomes(
        [
            Outcome(
                job,
                Status.SENT,
                now,
                now,
                "sent",
                provider=provider,
                provider_message_id=message_id,
            )
        ],
        "t",
    )


def receipt(
    message_id: str, status: Status, provider: str = "sms-a", code: str | None = None
) -> ProviderReceipt:
    return ProviderReceipt(provider, message_id, status, datetime.now(UTC), code=code)


async def test_a_receipt_moves_sent_on_once_and_counts_it(store: Store) -> None:
    d = doc(1)
    await sent(store, d, "SM1")
    first = await store.receipts.apply(receipt("SM1", Status.DELIVERED))
    assert first.result is Result.APPLIED
    assert first.previous == "SENT"
    repeat = await store.receipts.apply(receipt("SM1", Status.DELIVERED))
    assert repeat.result is Result.IGNORED
    after = await store.notifications.get("acme", d["_id"])
    assert after is not None
    assert after["status"] == "DELIVERED"
    assert [e["status"] for e in after["timeline"]][-2:] == ["SENT", "DELIVERED"]
    assert after["timeline"][-1]["_id"] == f"{d['_id']}:receipt:sms-a:SM1:DELIVERED"
    stats = await store.counters.of("acme")
    assert (stats.by_status["SENT"], stats.by_status["DELIVERED"]) == (0, 1)


async def test_never_backwards_and_never_out_of_a_state_the_pipeline_ended_badly(
    store: Store,
) -> None:
    d = doc(2)
    await sent(store, d, "SM2")
    assert (await store.receipts.apply(receipt("SM2", Status.UNDELIVERED))).result is (
        Result.APPLIED
    )
    for status in (Status.DELIVERED, Status.BOUNCED, Status.COMPLAINED):
        assert (await store.receipts.apply(receipt("SM2", status))).result is Result.IGNORED
    # an email reported delivered may still bounce or be reported as spam, never the reverse
    e = doc(3)
    await sent(store, e, "<m3@bank>", provider="mail-a")
    for status, expected in (
        (Status.DELIVERED, Result.APPLIED),
        (Status.BOUNCED, Result.APPLIED),
        (Status.DELIVERED, Result.IGNORED),
        (Status.COMPLAINED, Result.IGNORED),
    ):
        r = await store.receipts.apply(receipt("<m3@bank>", status, provider="mail-a"))
        assert r.result is expected, status
    # FAILED, CANCELLED, EXPIRED: nothing a receipt may move
    for final in ("FAILED", "CANCELLED", "EXPIRED"):
        f = doc(4)
        await sent(store, f, f"SM-{final}")
        await store.notifications.collection.update_one(
            {"_id": f["_id"]}, {"$set": {"status": final}}
        )
        r = await store.receipts.apply(receipt(f"SM-{final}", Status.DELIVERED))
        assert r.result is Result.IGNORED
        now = await store.notifications.get("acme", f["_id"])
        assert now is not None
        assert now["status"] == final


async def test_a_receipt_before_the_outcome_is_held_and_the_sweep_applies_it(
    store: Store,
) -> None:
    d = doc(5)
    early = await store.receipts.apply(receipt("SM5", Status.DELIVERED, code="0"))
    assert early.result is Result.HELD
    again = await store.receipts.apply(receipt("SM5", Status.DELIVERED, code="0"))
    assert again.result is Result.HELD
    assert await store.receipts.held_count() == 1
    assert await store.receipts.sweep(hold_s=900) == []  # still unknown: kept
    await sent(store, d, "SM5")
    ((r, applied),) = await store.receipts.sweep(hold_s=900)
    assert (r.message_id, applied.result) == ("SM5", Result.APPLIED)
    assert await store.receipts.held_count() == 0
    now = await store.notifications.get("acme", d["_id"])
    assert now is not None
    assert (now["status"], now["receipt"]["code"]) == ("DELIVERED", "0")


async def test_receipts_racing_each_other_apply_once(store: Store) -> None:
    d = doc(6)
    await sent(store, d, "SM6")
    results = await asyncio.gather(
        *(store.receipts.apply(receipt("SM6", Status.DELIVERED)) for _ in range(8))
    )
    assert sorted(r.result.value for r in results) == ["applied"] + ["ignored"] * 7
    stats = await store.counters.of("acme")
    assert stats.by_status["DELIVERED"] == 1


async def test_a_message_id_is_unique_per_account_and_a_reused_one_never_strands_a_send(
    store: Store,
) -> None:
    a, b, c = doc(7), doc(8), doc(9)
    await sent(store, a, "same", provider="gw-1")
    await sent(store, b, "same", provider="gw-2")  # another account: its own id space
    await sent(store, c, "same", provider="gw-1")  # the gateway gave the id out twice
    docs = {d["_id"]: d for d in await store.notifications.get_many([a["_id"], b["_id"], c["_id"]])}
    assert [docs[x["_id"]]["status"] for x in (a, b, c)] == ["SENT"] * 3
    assert docs[b["_id"]]["providerMessageId"] == "same"
    assert "providerMessageId" not in docs[c["_id"]] or docs[c["_id"]]["providerMessageId"] is None
    assert docs[c["_id"]]["providerMessageIdTaken"] == "same"
    r = await store.receipts.apply(receipt("same", Status.DELIVERED, provider="gw-1"))
    assert r.doc is not None
    assert r.doc["_id"] == a["_id"]


async def test_an_upgrade_sets_repeated_ids_aside_to_make_them_unique_per_account(
    store: Store,
) -> None:
    """Before the unique index, a gateway could hand one id out twice: the upgrade fills the
    joined key (message id and account) of the documents stored without it, keeps it on the
    oldest notification and sets the repeats aside, builds the index, and drops the index of
    the version before (on the id alone, by the retired name)."""
    coll = store.notifications.collection
    await coll.drop_index(BY_PROVIDER_MESSAGE)
    old = IndexModel(
        [("providerMessageId", ASCENDING)],
        name="provider_message",
        partialFilterExpression={"providerMessageId": {"$type": "string"}},
    )
    documentdb = await is_documentdb(store.db)
    await coll.create_indexes(
        [IndexModel(old.document["key"].items(), **_old_options(old, documentdb))]
    )
    a, b, c, d = doc(10), doc(11), doc(12), doc(13)
    for d_, (mid, provider) in zip(
        (a, b, c, d),
        (("dup", "gw-1"), ("dup", "gw-1"), ("dup", "gw-2"), ("x", "gw-1")),
        strict=True,
    ):
        d_.update(status="SENT", providerMessageId=mid, provider=provider)
    await store.notifications.insert([a, b, c, d])
    await store.ensure_indexes()
    docs = {x["_id"]: x for x in await coll.find({}).to_list()}
    assert (docs[a["_id"]]["providerMessageId"], docs[a["_id"]]["providerKey"]) == (
        "dup",
        "dup:gw-1",
    )
    assert "providerMessageId" not in docs[b["_id"]]
    assert "providerKey" not in docs[b["_id"]]
    assert docs[b["_id"]]["providerMessageIdTaken"] == "dup"
    assert docs[b["_id"]]["providerKeyTaken"] == "dup:gw-1"
    assert docs[c["_id"]]["providerKey"] == "dup:gw-2"  # another account's id space
    assert docs[d["_id"]]["providerKey"] == "x:gw-1"
    info = await coll.index_information()
    assert info[BY_PROVIDER_MESSAGE]["unique"] is True
    assert "provider_message" not in info  # retired
    r = await store.receipts.apply(receipt("dup", Status.DELIVERED, provider="gw-1"))
    assert r.doc is not None
    assert r.doc["_id"] == a["_id"]


def _old_options(model: IndexModel, documentdb: bool) -> dict[str, Any]:
    options = {k: v for k, v in model.document.items() if k != "key"}
    return {**options, "enableCompositeTerm": True} if documentdb else options
