"""``wavecom.worker.outcome_writes``: a batch's outcomes stored as they arrive, on the real
database.

Each outcome is written as soon as no write is under way (not when the batch is done), those
that arrive during a write go together in the next one, the counters settle with them, an
outcome written again changes nothing in its document nor in its counters, and
a database that is away is waited for rather than the sends being forgotten."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from bson import ObjectId

from tests.support.commands import Commands
from tests.support.documents import doc
from tests.support.services import free_port
from tests.support.wait import wait_for
from wavecom.core.constants import NOTIFICATIONS, STATS, Status
from wavecom.core.messages import DeliveryJob
from wavecom.core.settings import Settings
from wavecom.store import Outcome, Store, job_of
from wavecom.worker.outcome_writes import OutcomeWriter

CLAIM = "batch-1"  # the batch's claim token


async def claimed(store: Store, n: int) -> list[DeliveryJob]:
    """``n`` notifications stored, counted and claimed by the batch ``CLAIM``."""
    docs = [doc(i) for i in range(n)]
    await store.notifications.insert(docs)
    await store.notifications.count_intake(docs)
    jobs = [job_of(d) for d in docs]
    assert await store.rounds.claim(jobs, CLAIM) == {j.id for j in jobs}
    return jobs


def sent(job: DeliveryJob) -> Outcome:
    end = datetime.now(UTC)
    return Outcome(
        job,
        Status.SENT,
        end - timedelta(milliseconds=30),
        end,
        "Sent",
        provider="sms-a",
        provider_message_id=f"msg-{job.id}",
    )


def failed(job: DeliveryJob) -> Outcome:
    end = datetime.now(UTC)
    return Outcome(
        job, Status.FAILED, end, end, "Rejected", provider="sms-a", dead_reason="permanent"
    )


async def statuses(store: Store, jobs: list[DeliveryJob]) -> list[str]:
    docs = {str(d["_id"]): d for d in await store.notifications.get_many([doc_id(j) for j in jobs])}
    return [docs[j.id]["status"] for j in jobs]


def doc_id(job: DeliveryJob) -> ObjectId:
    return ObjectId(job.id)


async def pending_tallies(store: Store) -> dict[str, Any]:
    return dict(((await store.db[STATS].find_one({"_id": "acme"})) or {}).get("pending") or {})


async def test_outcomes_land_in_their_documents_and_the_counters_settle(store: Store) -> None:
    jobs = await claimed(store, 5)
    writer = OutcomeWriter(store.rounds, CLAIM)
    for j in jobs[:4]:
        writer.add(sent(j))
    writer.add(failed(jobs[4]))
    await writer.close()
    assert await statuses(store, jobs) == ["SENT"] * 4 + ["FAILED"]
    stored = await store.notifications.get("acme", doc_id(jobs[0]))
    assert stored is not None
    assert stored["providerMessageId"] == f"msg-{jobs[0].id}"
    assert "claim" not in stored
    assert stored["timeline"][-1]["status"] == "SENT"
    stats = await store.counters.of("acme")
    assert stats.by_status == {"QUEUED": 0, "PROCESSING": 0, "SENT": 4, "FAILED": 1}
    assert stats.processing_count == 4  # SENT outcomes carry their processing time
    assert await pending_tallies(store) == {}


async def test_an_outcome_is_stored_as_it_arrives_not_when_the_batch_closes(
    store: Store,
) -> None:
    jobs = await claimed(store, 3)
    writer = OutcomeWriter(store.rounds, CLAIM)
    writer.add(sent(jobs[0]))  # the rest of the batch is still with the provider

    async def first_stored() -> bool:
        return await statuses(store, jobs) == ["SENT", "PROCESSING", "PROCESSING"]

    await wait_for(first_stored, what="the first outcome, before close()")
    for j in jobs[1:]:
        writer.add(sent(j))
    await writer.close()
    assert await statuses(store, jobs) == ["SENT"] * 3


async def test_outcomes_arriving_during_a_write_go_together_in_the_next_one(
    watched_store: Store, commands: Commands
) -> None:
    store = watched_store
    jobs = await claimed(store, 5)
    commands.seen.clear()
    writer = OutcomeWriter(store.rounds, CLAIM)
    writer.add(sent(jobs[0]))
    await asyncio.sleep(0)  # one turn of the loop: the write of the first has begun
    for j in jobs[1:]:
        writer.add(sent(j))  # arrive while it is under way
    await writer.close()
    assert commands.seen[("update", NOTIFICATIONS)] == 2  # two bulk writes, not five
    assert await statuses(store, jobs) == ["SENT"] * 5
    assert (await store.counters.of("acme")).by_status["SENT"] == 5


async def test_told_its_batch_a_write_waits_a_little_for_the_rest_of_it(
    watched_store: Store, commands: Commands
) -> None:
    store = watched_store
    jobs = await claimed(store, 4)
    commands.seen.clear()
    writer = OutcomeWriter(store.rounds, CLAIM, expected=4, linger_s=30)
    writer.add(sent(jobs[0]))
    for j in jobs[1:]:
        for _ in range(5):  # turns of the loop: without the linger, the first write begins
            await asyncio.sleep(0)
        writer.add(sent(j))
    await writer.close()  # the last one came: no waiting out the 30 s
    assert commands.seen[("update", NOTIFICATIONS)] == 1  # one bulk write for the batch
    assert await statuses(store, jobs) == ["SENT"] * 4


async def test_a_write_waits_no_longer_than_its_linger_for_an_answer_that_does_not_come(
    store: Store,
) -> None:
    jobs = await claimed(store, 2)
    writer = OutcomeWriter(store.rounds, CLAIM, expected=2, linger_s=0.05)
    writer.add(sent(jobs[0]))  # the other send never answers (its task died)

    async def first_stored() -> bool:
        return await statuses(store, jobs) == ["SENT", "PROCESSING"]

    await wait_for(first_stored, what="the first outcome, once the linger is over")
    await writer.close()


async def stored_twice(store: Store) -> DeliveryJob:
    """One outcome stored, then written again under the same claim token: what
    ``OutcomeWriter._store`` does when a write landed but its answer was lost."""
    [job] = await claimed(store, 1)
    writer = OutcomeWriter(store.rounds, CLAIM)
    writer.add(sent(job))
    await writer.close()
    again = OutcomeWriter(store.rounds, CLAIM)
    again.add(sent(job))
    await again.close()
    return job


async def test_an_outcome_written_again_leaves_its_document_as_it_was(store: Store) -> None:
    job = await stored_twice(store)
    stored = await store.notifications.get("acme", doc_id(job))
    assert stored is not None
    assert stored["status"] == "SENT"
    assert [e["status"] for e in stored["timeline"]].count("SENT") == 1  # no second step


async def test_an_outcome_in_a_group_twice_is_counted_once(store: Store) -> None:
    [job] = await claimed(store, 1)
    writer = OutcomeWriter(store.rounds, CLAIM)
    writer.add(sent(job))
    writer.add(sent(job))  # before the write begins: one group
    await writer.close()
    stats = await store.counters.of("acme")
    assert stats.by_status == {"QUEUED": 0, "PROCESSING": 0, "SENT": 1}
    assert await pending_tallies(store) == {}


async def test_an_outcome_written_again_is_counted_once(store: Store) -> None:
    await stored_twice(store)
    stats = await store.counters.of("acme")
    assert stats.by_status == {"QUEUED": 0, "PROCESSING": 0, "SENT": 1}
    assert stats.processing_count == 1


async def test_close_with_nothing_added_returns(store: Store) -> None:
    await asyncio.wait_for(OutcomeWriter(store.rounds, CLAIM).close(), 30)


@pytest.fixture
async def away(settings: Settings) -> AsyncIterator[Store]:
    """A store whose database is not there (nothing listens on its port)."""
    s = Store.connect(
        f"mongodb://127.0.0.1:{free_port()}/", settings.mongodb_database, timeout_ms=200
    )
    yield s
    await s.close()


async def test_a_write_the_database_refuses_is_retried_until_it_is_stored(
    store: Store, away: Store, caplog: pytest.LogCaptureFixture
) -> None:
    jobs = await claimed(store, 2)
    writer = OutcomeWriter(away.rounds, CLAIM)  # the database is away when the answers arrive
    with caplog.at_level(logging.WARNING, logger="wavecom.outcome_writes"):
        for j in jobs:
            writer.add(sent(j))

        async def retrying() -> bool:
            return any("storing 2 outcomes failed" in r.getMessage() for r in caplog.records)

        await wait_for(retrying, what="a failed write, logged")
        assert await statuses(store, jobs) == ["PROCESSING"] * 2
        writer.rounds = store.rounds  # it is back
        await asyncio.wait_for(writer.close(), 60)
    assert await statuses(store, jobs) == ["SENT"] * 2
    assert (await store.counters.of("acme")).by_status["SENT"] == 2
