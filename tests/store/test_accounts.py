"""``wavecom.store.accounts`` on the real database: provider account documents, who owns each
(a source: the seed, the admin CLI, an operator namespace), and the revision the workers poll.
(What an account's fields mean and how they are checked is tests/providers/test_accounts.py's.)
"""

from __future__ import annotations

import asyncio
from datetime import datetime

import pytest

from wavecom.store import OwnedElsewhere, Store
from wavecom.store.accounts import SEED_SOURCE

EMAIL = {"channel": "EMAIL", "driver": "mock", "priority": 10}
SMS = {"channel": "SMS", "driver": "mock", "priority": 10}


async def test_put_creates_then_replaces_bumping_the_account_and_the_configuration(
    store: Store,
) -> None:
    assert await store.accounts.revision() == 0  # nothing configured yet
    created = await store.accounts.put("relay", EMAIL, "admin")
    assert (created["_id"], created["revision"], created["source"]) == ("relay", 1, "admin")
    assert await store.accounts.revision() == 1
    replaced = await store.accounts.put("relay", {**EMAIL, "priority": 3}, "admin")
    assert (replaced["revision"], replaced["priority"]) == (2, 3)
    assert await store.accounts.revision() == 2
    stored = await store.accounts.get("relay")
    assert stored is not None
    assert (stored["revision"], stored["priority"], stored["source"]) == (2, 3, "admin")
    assert await store.accounts.get("absent") is None


async def test_an_account_of_another_source_is_refused_and_left_as_it_was(store: Store) -> None:
    await store.accounts.put("relay", EMAIL, "operator/bank")
    with pytest.raises(OwnedElsewhere) as refused:
        await store.accounts.put("relay", {**EMAIL, "priority": 1}, "admin")
    assert refused.value.owner == "operator/bank"
    assert "managed by operator/bank" in str(refused.value)
    stored = await store.accounts.get("relay")
    assert stored is not None
    assert (stored["priority"], stored["revision"], stored["source"]) == (10, 1, "operator/bank")
    assert await store.accounts.revision() == 1  # the refusal changed nothing workers reload
    assert not await store.accounts.remove("relay", source="admin")
    assert await store.accounts.get("relay") is not None


async def test_a_seeded_account_is_taken_over_by_the_first_source_that_writes_it(
    store: Store,
) -> None:
    assert await store.accounts.seed("EMAIL", [{"_id": "mock-email", **EMAIL}])
    taken = await store.accounts.put("mock-email", {**EMAIL, "priority": 5}, "operator/bank")
    assert (taken["source"], taken["revision"]) == ("operator/bank", 2)
    with pytest.raises(OwnedElsewhere):  # now it is the operator's
        await store.accounts.put("mock-email", EMAIL, "admin")


async def test_two_writers_of_one_source_creating_an_account_at_once_both_land(
    store: Store,
) -> None:
    await asyncio.gather(
        store.accounts.put("relay", {**EMAIL, "priority": 1}, "admin"),
        store.accounts.put("relay", {**EMAIL, "priority": 2}, "admin"),
    )
    stored = await store.accounts.get("relay")
    assert stored is not None
    assert stored["revision"] == 2  # one created it, the other replaced it
    assert stored["priority"] in (1, 2)
    assert await store.accounts.revision() == 2


async def test_two_sources_creating_an_account_at_once_one_wins(store: Store) -> None:
    results = await asyncio.gather(
        store.accounts.put("relay", EMAIL, "admin"),
        store.accounts.put("relay", EMAIL, "operator/bank"),
        return_exceptions=True,
    )
    refused = [r for r in results if isinstance(r, OwnedElsewhere)]
    assert len(refused) == 1
    stored = await store.accounts.get("relay")
    assert stored is not None
    assert stored["revision"] == 1
    assert refused[0].owner == stored["source"]


async def test_reseal_replaces_credentials_only_at_the_revision_it_read(store: Store) -> None:
    await store.accounts.put("relay", {**EMAIL, "credentials": {"k1": "old"}}, "admin")
    assert not await store.accounts.reseal("relay", 7, {"k2": "new"})  # a stale read
    assert await store.accounts.revision() == 1
    assert await store.accounts.reseal("relay", 1, {"k2": "new"})
    stored = await store.accounts.get("relay")
    assert stored is not None
    assert (stored["credentials"], stored["revision"]) == ({"k2": "new"}, 2)
    assert await store.accounts.revision() == 2
    assert not await store.accounts.reseal("relay", 1, {"k3": "newer"})  # it moved on


async def test_remove_deletes_for_its_owner_or_for_anyone_and_bumps_once(store: Store) -> None:
    await store.accounts.put("a", EMAIL, "admin")
    await store.accounts.put("b", EMAIL, "operator/bank")
    assert await store.accounts.revision() == 2
    assert await store.accounts.remove("a", source="admin")
    assert await store.accounts.remove("b")  # no source named: whoever owns it
    assert await store.accounts.revision() == 4
    assert not await store.accounts.remove("a")  # already gone: no bump
    assert await store.accounts.revision() == 4
    assert await store.accounts.all() == []


async def test_all_filters_by_channel_sorted_by_name_and_listed_hides_credentials(
    store: Store,
) -> None:
    await store.accounts.put("zeta", {**EMAIL, "credentials": {"k1": "sealed"}}, "admin")
    await store.accounts.put("alpha", EMAIL, "admin")
    await store.accounts.put("texter", SMS, "admin")
    assert [d["_id"] for d in await store.accounts.all()] == ["alpha", "texter", "zeta"]
    assert [d["_id"] for d in await store.accounts.all("EMAIL")] == ["alpha", "zeta"]
    listed = {a["name"]: a for a in await store.accounts.listed()}
    assert list(listed) == ["alpha", "texter", "zeta"]
    zeta = listed["zeta"]
    assert "credentials" not in zeta
    assert "_id" not in zeta
    assert "sealed" not in str(listed)
    assert (zeta["hasCredentials"], listed["alpha"]["hasCredentials"]) == (True, False)
    assert (zeta["channel"], zeta["source"], zeta["revision"]) == ("EMAIL", "admin", 1)
    assert isinstance(datetime.fromisoformat(zeta["updatedAt"]), datetime)


async def test_a_channel_is_seeded_once_and_never_again_after_its_accounts_are_deleted(
    store: Store,
) -> None:
    seeds = [{"_id": "mock-a", "driver": "mock"}, {"_id": "mock-b", "driver": "mock"}]
    assert await store.accounts.seed("EMAIL", seeds)
    accounts = await store.accounts.all("EMAIL")
    assert [(d["_id"], d["source"], d["revision"]) for d in accounts] == [
        ("mock-a", SEED_SOURCE, 1),
        ("mock-b", SEED_SOURCE, 1),
    ]
    assert await store.accounts.revision() == 1
    assert not await store.accounts.seed("EMAIL", seeds)  # the next start
    for d in seeds:
        await store.accounts.remove(str(d["_id"]))
    assert not await store.accounts.seed("EMAIL", seeds)  # an operator emptied it on purpose
    assert await store.accounts.all("EMAIL") == []
    assert await store.accounts.seed("SMS", [{"_id": "mock-sms", "driver": "mock"}])


async def test_a_channel_with_accounts_is_not_seeded(store: Store) -> None:
    await store.accounts.put("own-sms", SMS, "admin")
    assert not await store.accounts.seed("SMS", [{"_id": "mock-sms", "driver": "mock"}])
    assert [d["_id"] for d in await store.accounts.all("SMS")] == ["own-sms"]


async def test_processes_seeding_at_once_write_each_account_once(store: Store) -> None:
    seeds = [{"_id": f"mock-{i}", "driver": "mock"} for i in range(5)]
    await asyncio.gather(*(store.accounts.seed("EMAIL", seeds) for _ in range(3)))
    accounts = await store.accounts.all("EMAIL")
    assert [(d["_id"], d["revision"]) for d in accounts] == [(f"mock-{i}", 1) for i in range(5)]
    assert not await store.accounts.seed("EMAIL", seeds)
