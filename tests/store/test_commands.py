"""``wavecom.store.commands``: every command a store sends is counted by name."""

from __future__ import annotations

import pytest
from bson import ObjectId
from prometheus_client import REGISTRY
from pymongo.errors import OperationFailure

from wavecom.store import Store


def _count(command: str, collection: str = "commands_counted") -> float:
    labels = {"command": command, "collection": collection}
    return REGISTRY.get_sample_value("database_commands_total", labels) or 0.0


async def test_each_command_the_store_sends_is_counted_once_by_its_collection(
    store: Store,
) -> None:
    inserts, finds, deletes = _count("insert"), _count("find"), _count("delete")
    more, others = _count("getMore"), _count("insert", "commands_other")
    collection = store.db["commands_counted"]
    await collection.insert_one({"_id": ObjectId()})
    await collection.insert_many([{"_id": ObjectId()} for _ in range(3)])  # one command
    await store.db["commands_other"].insert_one({"_id": ObjectId()})
    assert await collection.find({}).to_list() != []
    assert len(await collection.find({}, batch_size=2).to_list()) == 4  # find, then getMore
    await collection.delete_many({})
    await store.db["commands_other"].drop()
    assert _count("insert") - inserts == 2
    assert _count("insert", "commands_other") - others == 1
    assert _count("find") - finds == 2
    assert _count("getMore") - more == 1
    assert _count("delete") - deletes == 1


async def test_a_command_the_database_refuses_is_counted_as_a_failure(store: Store) -> None:
    def failures() -> float:
        return (
            REGISTRY.get_sample_value(
                "database_command_failures_total", {"command": "noSuchCommand"}
            )
            or 0.0
        )

    before = failures()
    with pytest.raises(OperationFailure):
        await store.db.command("noSuchCommand")
    assert failures() - before == 1
    assert _count("noSuchCommand", "") >= 1  # it names no collection
