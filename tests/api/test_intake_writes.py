"""``wavecom.api.intake_writes``: what intake writes after its answers, on the real database."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from tests.support.commands import Commands
from tests.support.documents import doc
from wavecom.api.intake_writes import IntakeWriter
from wavecom.core.constants import NOTIFICATIONS, OUTBOX
from wavecom.store import Doc, Store


def notifications(n: int) -> list[Doc]:
    return [doc(i) for i in range(n)]


async def test_commits_answered_together_share_one_write_of_each_kind(
    watched_store: Store, commands: Commands
) -> None:
    store = watched_store
    commits = [notifications(n) for n in (1, 2, 3)]
    grace = timedelta(seconds=30)
    entries = [await store.outbox.add(docs, grace) for docs in commits]
    tallies = [await store.notifications.intend_intake(docs) for docs in commits]
    unconfirmed = await store.outbox.add(notifications(1), grace)
    for docs in commits:
        await store.notifications.insert(docs)
    commands.seen.clear()

    records = IntakeWriter(store, linger_s=0.5)  # long enough for three commits to meet
    for docs, entry, tally in zip(commits, entries, tallies, strict=True):
        records.add(docs, entry, tally)
        await asyncio.sleep(0)  # each commit answered on its own turn of the loop
    await records.close()

    # one counters update (the three commits' tallies settled together) and one outbox
    # delete for all three; the notifications' timelines are in their documents, so nothing
    # else is written
    assert commands.seen[("delete", OUTBOX)] == 1
    assert sum(n for (cmd, coll), n in commands.seen.items() if cmd == "update") == 1
    assert sum(n for (cmd, coll), n in commands.seen.items() if cmd == "insert") == 0
    assert not any(coll == NOTIFICATIONS for (cmd, coll) in commands.seen)
    assert (await store.db["stats"].find_one({"_id": "acme"}) or {}).get("pending") == {}
    ids = [d["_id"] for docs in commits for d in docs]
    stats = await store.counters.of("acme")
    assert stats.total == len(ids)
    left = [e["_id"] async for e in store.db[OUTBOX].find({})]
    assert left == [unconfirmed]  # what the broker did not confirm stays for the relay


async def test_close_writes_what_was_added_last(store: Store) -> None:
    records = IntakeWriter(store, linger_s=0.05)
    first, second = notifications(2), notifications(3)
    tallies = [await store.notifications.intend_intake(d) for d in (first, second)]
    await store.notifications.insert(first + second)
    records.add(first, None, tallies[0])
    await asyncio.sleep(0)
    records.add(second, None, tallies[1])
    await records.close()
    assert (await store.counters.of("acme")).total == 5
