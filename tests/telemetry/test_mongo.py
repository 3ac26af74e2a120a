"""MongoDB command spans with PyMongo's async API: each nests under the span current in the task
that awaits the command, even when many tasks run commands on one client at once."""

from __future__ import annotations

import asyncio

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pymongo import AsyncMongoClient, InsertOne
from pymongo.errors import OperationFailure

from tests.support.services import MONGODB_URL
from tests.telemetry.conftest import Finished
from tests.telemetry.spans import by_id, named


async def test_command_spans_nest_under_the_awaiting_tasks_span(
    provider: tuple[TracerProvider, InMemorySpanExporter], finished: Finished, database: str
) -> None:
    tracer = provider[0].get_tracer("test")
    # the provider fixture registered the listener for every client, as telemetry.setup does
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(MONGODB_URL)
    try:
        collection = client[database]["things"]
        await collection.insert_one({"_id": "warm-up"})  # connect outside any span

        async def work(i: int) -> None:
            with tracer.start_as_current_span(f"task {i}"):
                await collection.insert_one({"_id": f"t{i}"})
                await asyncio.sleep(0)  # let the other tasks interleave their commands
                await collection.find_one({"_id": f"t{i}"})
                await collection.bulk_write([InsertOne({"_id": f"t{i}-{n}"}) for n in range(3)])
                await collection.update_many({"_id": f"t{i}"}, {"$set": {"seen": True}})

        await asyncio.gather(*(work(i) for i in range(8)))
    finally:
        await client.close()

    spans = finished()
    index = by_id(spans)
    for i in range(8):
        [task] = named(spans, f"task {i}")
        commands = [s for s in spans if s.parent_id == task.span_id]
        assert sorted(s.name for s in commands) == [
            "find things",
            "insert things",
            "insert things",
            "update things",
        ]
        for command in commands:
            assert command.kind == "CLIENT"
            assert command.trace_id == task.trace_id
            assert command.attributes["db.system.name"] == "mongodb"
            assert command.attributes["db.namespace"] == database
            assert command.attributes["db.collection.name"] == "things"
            # the command's body (recipients, messages) is never recorded
            assert not any("statement" in key for key in command.attributes)
    [warm_up, *_] = [s for s in spans if s.name == "insert things"]
    assert warm_up.parent_id == ""  # outside any span: a root, not some other task's child
    assert all(s.parent_id == "" or s.parent_id in index for s in spans)


async def test_a_failed_command_is_an_error_span(
    provider: tuple[TracerProvider, InMemorySpanExporter], finished: Finished, database: str
) -> None:
    tracer = provider[0].get_tracer("test")
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(MONGODB_URL)
    try:
        with tracer.start_as_current_span("refused"), pytest.raises(OperationFailure):
            await client[database].command("noSuchCommand")
    finally:
        await client.close()
    spans = finished()
    [parent] = named(spans, "refused")
    [failed] = [s for s in spans if s.parent_id == parent.span_id]
    assert failed.name == f"noSuchCommand {database}"
    assert failed.status_error
    assert failed.attributes["error.type"]
