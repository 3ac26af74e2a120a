"""``wavecom.store.leases`` on the real database: the lease document a holder writes (owner,
expiry one ttl on), its renewal by the holder only, the race for a lease nobody holds (one
winner, whether the document exists or not), a lease that expired taken over, and a release
that only its holder can make. Expiries are the times the holders wrote (a ttl of 0, or an
``expiresAt`` set in the past), never a wait. (The sweeper's use of it is
tests/relay/test_sweeper.py's.)"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from wavecom.core.constants import LEASES
from wavecom.store import Doc, Store, utcnow


async def stored(store: Store, name: str = "job") -> Doc:
    doc = await store.db[LEASES].find_one({"_id": name})
    assert doc is not None
    return doc


async def test_a_held_lease_names_its_owner_until_one_ttl_after_its_renewal(store: Store) -> None:
    lease = store.leases.lease("job", ttl_s=30)
    assert await lease.hold()
    doc = await stored(store)
    assert doc["owner"] == lease.owner
    assert doc["expiresAt"] - doc["renewedAt"] == timedelta(seconds=30)
    assert await store.db[LEASES].count_documents({}) == 1


async def test_a_renewal_by_the_holder_moves_the_expiry_on_and_keeps_one_document(
    store: Store,
) -> None:
    lease = store.leases.lease("job", ttl_s=30)
    assert await lease.hold()
    first = await stored(store)
    assert await lease.hold()
    renewed = await stored(store)
    assert renewed["owner"] == lease.owner
    assert renewed["renewedAt"] >= first["renewedAt"]
    assert renewed["expiresAt"] - renewed["renewedAt"] == timedelta(seconds=30)
    assert await store.db[LEASES].count_documents({}) == 1


async def test_another_process_neither_takes_nor_releases_a_live_lease(
    store: Store, other_store: Store
) -> None:
    holder = store.leases.lease("job", ttl_s=30)
    other = other_store.leases.lease("job", ttl_s=30)
    assert holder.owner != other.owner  # each handle is its own owner
    assert await holder.hold()
    before = await stored(store)
    assert not await other.hold()
    await other.release()
    await store.leases.lease("never-held", ttl_s=30).release()
    assert await stored(store) == before  # untouched by the refusal and the releases
    assert await store.db[LEASES].count_documents({}) == 1
    assert await holder.hold()


@pytest.mark.parametrize("exists", [False, True], ids=["never held", "expired"])
async def test_of_processes_racing_for_a_free_lease_exactly_one_holds_it(
    store: Store, other_store: Store, exists: bool
) -> None:
    if exists:
        gone = store.leases.lease("job", ttl_s=0)  # expired as soon as written
        assert await gone.hold()
    racers = [s.leases.lease("job", ttl_s=30) for s in (store, other_store) for _ in range(3)]
    won = await asyncio.gather(*(r.hold() for r in racers))
    assert sum(won) == 1
    winner = racers[won.index(True)]
    assert (await stored(store))["owner"] == winner.owner
    assert await store.db[LEASES].count_documents({}) == 1


async def test_an_expired_lease_is_taken_over_and_its_old_holder_is_refused(
    store: Store, other_store: Store
) -> None:
    dead = store.leases.lease("job", ttl_s=30)
    assert await dead.hold()
    # its expiry passes (the holder died and wrote nothing since)
    doc = await stored(store)
    await store.db[LEASES].update_one(
        {"_id": "job"}, {"$set": {"expiresAt": doc["renewedAt"] - timedelta(seconds=1)}}
    )
    successor = other_store.leases.lease("job", ttl_s=30)
    assert await successor.hold()
    assert (await stored(store))["owner"] == successor.owner
    assert not await dead.hold()  # back, it finds the lease held by another


async def test_a_release_ends_the_expiry_now_and_keeps_the_document(store: Store) -> None:
    holder = store.leases.lease("job", ttl_s=3600)
    assert await holder.hold()
    await holder.release()
    doc = await stored(store)
    assert doc["owner"] == holder.owner
    assert doc["expiresAt"] - doc["renewedAt"] < timedelta(hours=1)
    assert doc["expiresAt"] <= utcnow()  # free already: no hour to wait


async def test_leases_of_different_names_are_held_independently(
    store: Store, other_store: Store
) -> None:
    a = store.leases.lease("sweep", ttl_s=30)
    b = other_store.leases.lease("other-job", ttl_s=30)
    assert await a.hold()
    assert await b.hold()
    assert (await stored(store, "sweep"))["owner"] == a.owner
    assert (await stored(store, "other-job"))["owner"] == b.owner
