"""``wavecom.store.idempotency`` on the real database: an ``Idempotency-Key`` record is stored
once (a unique insert that one of two racing requests wins), keeps the response it completes
with for the replays, and is forgotten on release so the key can be used again."""

from __future__ import annotations

import asyncio

from wavecom.core.constants import IDEMPOTENCY
from wavecom.store import Store


async def test_a_claimed_key_is_pending_with_the_requests_fingerprint(store: Store) -> None:
    assert await store.idempotency.get("acme:k1") is None
    assert await store.idempotency.claim("acme:k1", "fp-1")
    record = await store.idempotency.get("acme:k1")
    assert record is not None
    assert record["fingerprint"] == "fp-1"
    assert record["state"] == "pending"
    assert "createdAt" in record
    assert "body" not in record


async def test_a_key_is_stored_once_and_a_second_claim_is_refused(store: Store) -> None:
    assert await store.idempotency.claim("acme:k1", "fp-1")
    assert not await store.idempotency.claim("acme:k1", "fp-2")  # another request, same key
    record = await store.idempotency.get("acme:k1")
    assert record is not None
    assert record["fingerprint"] == "fp-1"  # the first request's, untouched
    assert await store.db[IDEMPOTENCY].count_documents({}) == 1


async def test_of_two_processes_racing_with_one_key_exactly_one_wins(
    store: Store, other_store: Store
) -> None:
    for n in range(5):
        won = await asyncio.gather(
            store.idempotency.claim(f"acme:race{n}", "fp-a"),
            other_store.idempotency.claim(f"acme:race{n}", "fp-b"),
        )
        assert sorted(won) == [False, True]
    assert await store.db[IDEMPOTENCY].count_documents({}) == 5


async def test_a_completed_key_answers_with_its_stored_response(store: Store) -> None:
    await store.idempotency.claim("acme:k1", "fp-1")
    await store.idempotency.complete("acme:k1", 201, '{"id": "n1"}')
    for _ in range(2):  # replayed as often as asked, from the one record
        assert not await store.idempotency.claim("acme:k1", "fp-1")
        record = await store.idempotency.get("acme:k1")
        assert record is not None
        assert (record["state"], record["status"], record["body"]) == ("done", 201, '{"id": "n1"}')
        assert record["fingerprint"] == "fp-1"


async def test_a_released_key_is_forgotten_and_can_be_claimed_again(store: Store) -> None:
    await store.idempotency.claim("acme:k1", "fp-1")
    await store.idempotency.claim("acme:k2", "fp-2")
    await store.idempotency.release("acme:k1")
    assert await store.idempotency.get("acme:k1") is None
    assert await store.idempotency.get("acme:k2") is not None  # only that key
    assert await store.idempotency.claim("acme:k1", "fp-3")
    record = await store.idempotency.get("acme:k1")
    assert record is not None
    assert (record["fingerprint"], record["state"]) == ("fp-3", "pending")


async def test_keys_are_per_record_id_so_tenants_do_not_share_them(store: Store) -> None:
    assert await store.idempotency.claim("acme:k1", "fp-1")
    assert await store.idempotency.claim("other:k1", "fp-1")
    await store.idempotency.complete("other:k1", 200, "{}")
    record = await store.idempotency.get("acme:k1")
    assert record is not None
    assert record["state"] == "pending"
