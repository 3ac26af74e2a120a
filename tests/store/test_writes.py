"""``wavecom.store.writes`` on the real database: the batched writes every repository uses go a
chunk per round trip and count what matched; a write the database refuses is StoreUnavailable;
and ``bulk_unless_taken`` applies an update refused only because the value it sets is taken
under the named unique index again with that value moved to ``<field>Taken``, while any other
refusal stays an error. (Its use for provider message ids is tests/store/test_receipts.py's.)"""

from __future__ import annotations

import pytest
from pymongo import ASCENDING, IndexModel, InsertOne, UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from tests.support.commands import Commands
from wavecom.core.errors import StoreUnavailable
from wavecom.store import Doc, Store, writes
from wavecom.store.writes import bulk, bulk_unless_taken, insert_all

UNIQUE = "code_unique"


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(writes, "CHUNK", 2)
    return 2


async def coded(store: Store) -> AsyncCollection[Doc]:
    """A collection with a unique index on ``code`` (strings only), as the product makes them."""
    coll = store.db["scratch"]
    await coll.create_indexes(
        [
            IndexModel(
                [("code", ASCENDING)],
                name=UNIQUE,
                unique=True,
                partialFilterExpression={"code": {"$type": "string"}},
            )
        ]
    )
    return coll


async def test_insert_all_and_bulk_go_a_chunk_per_round_trip_and_count_the_matches(
    watched_store: Store, commands: Commands, small_chunks: int
) -> None:
    coll = watched_store.db["scratch"]
    await insert_all(coll, [{"_id": i, "n": 0} for i in range(5)])
    assert commands.seen[("insert", "scratch")] == 3  # 2 + 2 + 1
    assert await coll.count_documents({}) == 5
    ops: list[UpdateOne | InsertOne[Doc]] = [
        UpdateOne({"_id": i}, {"$inc": {"n": 1}})
        for i in range(7)  # 5 and 6 match nothing
    ]
    assert await bulk(coll, ops) == 5
    assert commands.seen[("update", "scratch")] == 4  # 7 ops in chunks of 2
    assert sorted([d["n"] async for d in coll.find({})]) == [1] * 5


async def test_bulk_inserts_too_and_nothing_is_no_round_trip(
    watched_store: Store, commands: Commands
) -> None:
    coll = watched_store.db["scratch"]
    assert await bulk(coll, []) == 0
    await insert_all(coll, [])
    assert commands.seen == {}
    assert await bulk(coll, [InsertOne({"_id": 1}), InsertOne({"_id": 2})]) == 0  # none matched
    assert await coll.count_documents({}) == 2


async def test_a_write_the_database_refuses_is_store_unavailable(store: Store) -> None:
    coll = store.db["scratch"]
    await insert_all(coll, [{"_id": 1}])
    with pytest.raises(StoreUnavailable, match="scratch"):
        await insert_all(coll, [{"_id": 2}, {"_id": 1}])
    with pytest.raises(StoreUnavailable, match="scratch"):
        await bulk(coll, [InsertOne({"_id": 1})])
    # unordered: what could be written was
    assert sorted([d["_id"] async for d in coll.find({})]) == [1, 2]


async def test_an_update_setting_a_taken_value_keeps_it_aside_and_the_rest_applies(
    store: Store, small_chunks: int
) -> None:
    coll = await coded(store)
    await coll.insert_many([{"_id": i, "state": "waiting"} for i in range(4)])
    await coll.insert_one({"_id": 9, "code": "taken"})
    ops = [
        UpdateOne({"_id": 0}, {"$set": {"state": "done", "code": "c0"}}),
        UpdateOne({"_id": 1}, {"$set": {"state": "done", "code": "taken"}}),
        UpdateOne({"_id": 2}, {"$set": {"state": "done", "code": "c2"}}),
        UpdateOne({"_id": 3}, {"$set": {"state": "done", "code": "c2"}}),  # taken by the one before
    ]
    assert await bulk_unless_taken(coll, ops, ("code",), UNIQUE) == 4
    docs = {d["_id"]: d async for d in coll.find({"_id": {"$lt": 9}})}
    assert all(d["state"] == "done" for d in docs.values())  # no update left undone
    assert (docs[0]["code"], docs[2]["code"]) == ("c0", "c2")
    for aside in (1, 3):
        assert "code" not in docs[aside]
    assert (docs[1]["codeTaken"], docs[3]["codeTaken"]) == ("taken", "c2")
    assert await coll.count_documents({"code": "taken"}) == 1


async def test_a_refusal_under_another_unique_index_stays_an_error(store: Store) -> None:
    coll = await coded(store)
    await coll.create_indexes(
        [IndexModel([("other", ASCENDING)], name="other_unique", unique=True)]
    )
    await coll.insert_many([{"_id": 1, "other": "x"}, {"_id": 2, "other": "y"}])
    refused = [UpdateOne({"_id": 2}, {"$set": {"other": "x", "code": "c"}})]
    with pytest.raises(StoreUnavailable, match="scratch"):
        await bulk_unless_taken(coll, refused, ("code",), UNIQUE)
    assert await coll.find_one({"_id": 2}) == {"_id": 2, "other": "y"}
