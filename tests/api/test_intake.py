"""Group commit of the intake, against the real broker and database: concurrent requests
share one write, each is answered for its own notifications, a full lane refuses only its
own requests, and nothing is stored twice or left half-written."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import httpx
from prometheus_client import REGISTRY

from tests.support.api import admission_refused
from tests.support.commands import Commands
from tests.support.documents import doc
from tests.support.notifications import email, sms
from tests.support.processes import serve
from wavecom.api.intake import MAX_COMMITS, Accepted, Intake
from wavecom.core.broker import Publisher, QueueShape, connect
from wavecom.core.constants import NOTIFICATIONS, OUTBOX, Channel, Lane, lane_queue
from wavecom.core.settings import Settings
from wavecom.store import Doc, Store


def _commits() -> float:
    return REGISTRY.get_sample_value("api_intake_group_notifications_count") or 0.0


async def test_concurrent_single_requests_share_commits_and_each_is_stored_once(
    client: httpx.AsyncClient, store: Store, queue_depth: Callable[[str], Awaitable[int]]
) -> None:
    # at once, within one API process's admission bound (ADMISSION_MAX_IN_FLIGHT, 200)
    N = 90
    before = _commits()
    answers = await asyncio.gather(
        *(client.post("/api/notifications", json=sms(i)) for i in range(N))
    )
    assert [r.status_code for r in answers] == [201] * N, answers[0].text
    ids = {r.json()["data"]["_id"] for r in answers}
    assert len(ids) == N  # each request got its own notification
    commits = _commits() - before
    assert 1 <= commits < N, commits  # they were written together, not one by one
    assert await store.notifications.collection.count_documents({}) == N
    assert await queue_depth(lane_queue(Channel.SMS, Lane.STANDARD)) == N
    docs = await store.notifications.collection.find({}, {"recipient": 1}).to_list(None)
    assert sorted(d["recipient"] for d in docs) == sorted(sms(i)["recipient"] for i in range(N))


async def test_a_full_lane_refuses_only_its_own_requests_of_a_group(
    settings: Settings, store: Store, queue_depth: Callable[[str], Awaitable[int]]
) -> None:
    """The SMS lane at its bound (x-max-length, reject-publish): in a group with e-mails, the
    SMS requests are refused (retryable, nothing stored) and the e-mails are accepted."""
    bounded = settings.model_copy(update={"queue_max_length": 1000})
    async with serve(bounded) as http:
        fill = {"notifications": [sms(i) for i in range(1000)]}
        assert (await http.post("/api/notifications/batch", json=fill)).status_code == 201
        lane = lane_queue(Channel.SMS, Lane.STANDARD)
        assert await queue_depth(lane) == 1000
        # a quorum queue's leader enforces its bound a little after the fact: a burst that
        # arrives before it has applied the fill can get in (on a busy machine, all of it).
        # Top the lane up one request at a time until the leader refuses one: full for sure.
        topped = 0
        deadline = time.monotonic() + 60
        while True:
            one = await http.post("/api/notifications", json=sms(5000 + topped))
            if one.status_code != 201:
                assert one.status_code in (429, 503), one.text
                break
            topped += 1
            assert time.monotonic() < deadline, f"the full lane took {topped} more"
        bodies: list[dict[str, Any]] = [
            sms(2000 + i) if i % 2 else email(2000 + i) for i in range(40)
        ]
        answers = await asyncio.gather(*(http.post("/api/notifications", json=b) for b in bodies))
    codes: dict[str, list[int]] = {"SMS": [], "EMAIL": []}
    for body, r in zip(bodies, answers, strict=True):
        codes[body["type"]].append(r.status_code)
        if r.status_code != 201:
            assert r.status_code in (429, 503), r.text
            assert r.json()["success"] is False
            assert "retry-after" in r.headers
    assert codes["EMAIL"] == [201] * 20, codes
    # a quorum queue's bound is enforced by its leader a little after the fact (a few
    # publishes in flight get in); every SMS refused is one that was not stored
    accepted_sms = codes["SMS"].count(201)
    assert accepted_sms < 20, codes
    # (a refused group may leave copies that the lane confirmed before it refused the rest:
    # their notifications are not stored, so a worker's claim drops them)
    assert await queue_depth(lane) >= 1000 + topped + accepted_sms
    assert await store.notifications.collection.count_documents({"type": "SMS"}) == (
        1000 + topped + accepted_sms
    )
    assert await store.notifications.collection.count_documents({"type": "EMAIL"}) == 20


async def test_a_request_that_waited_past_the_deadline_is_refused_and_not_stored(
    settings: Settings, store: Store
) -> None:
    """Requests that wait longer than ADMISSION_QUEUE_DEADLINE_S for a group commit are
    answered 503 OVERLOADED with Retry-After, and none of them is stored."""
    hurried = settings.model_copy(update={"admission_queue_deadline_s": 0.001})
    late = admission_refused("queue_deadline")
    async with serve(hurried) as http:
        answers = await asyncio.gather(
            *(http.post("/api/notifications", json=sms(i)) for i in range(80))
        )
    codes = [r.status_code for r in answers]
    assert set(codes) <= {201, 503}, codes
    assert 201 in codes  # the first group never waits
    assert 503 in codes, codes
    assert admission_refused("queue_deadline") - late == codes.count(503)
    for r in answers:
        if r.status_code == 503:
            assert r.json()["error"]["code"] == "OVERLOADED"
            assert r.headers["retry-after"] == "1"
    accepted = {r.json()["data"]["_id"] for r in answers if r.status_code == 201}
    stored = await store.notifications.collection.find({}, {"_id": 1}).to_list(None)
    assert {str(d["_id"]) for d in stored} == accepted


async def _commits_at_once(intake: Intake, requests: list[list[Doc]]) -> int:
    """Accept ``requests`` through ``intake``, each arriving after the loop ran what the
    previous one started (its commit under way); the most commits under way together."""
    commit, now, most = intake.commit, 0, 0

    async def counted(docs: Sequence[Doc]) -> Accepted:
        nonlocal now, most
        now += 1
        most = max(most, now)
        try:
            return await commit(docs)
        finally:
            now -= 1

    intake.commit = counted  # type: ignore[method-assign]
    accepting = []
    for docs in requests:
        accepting.append(asyncio.create_task(intake.accept(docs)))
        await asyncio.sleep(0)
    answers = await asyncio.gather(*accepting)
    assert all(a.confirmed and not a.taken for a in answers)
    return most


async def test_one_commit_at_a_time_until_more_than_a_group_waits_then_they_overlap(
    settings: Settings, store: Store
) -> None:
    """Singles arriving together wait for the next commit of the one under way; a burst of
    batches larger than a group per commit starts more commits (at most MAX_COMMITS)."""
    connection = await connect(settings.amqp_url, name="intake-test")
    try:
        publisher = await Publisher.open(connection, timeout_s=10, shape=QueueShape.of(settings))
        # the tests' deadline (30 s), not the production 0.5 s: on a busy machine the last
        # batches of the burst can wait behind three commits longer than that (this tests
        # the commits' overlap; the deadline is tested on its own above)
        intake = Intake(
            store,
            publisher,
            settle_linger_s=0,
            queue_deadline_s=settings.admission_queue_deadline_s,
        )
        singles = [[doc(i)] for i in range(80)]
        assert await _commits_at_once(intake, singles) == 1
        burst = [[doc(1000 + 100 * b + i) for i in range(100)] for b in range(12)]
        assert 2 <= await _commits_at_once(intake, burst) <= MAX_COMMITS
        await intake.close()
    finally:
        await connection.close()
    assert await store.notifications.collection.count_documents({}) == 80 + 1200
    assert (await store.counters.of("acme")).total == 80 + 1200


async def test_a_commit_is_a_tally_and_an_insert_and_its_counters_settle_after_the_answer(
    settings: Settings, watched_store: Store, commands: Commands
) -> None:
    """No outbox entry on the happy path (the sweeper covers a process that dies before the
    broker confirms): before its answer a commit sends the counters' tally and the insert;
    the settle follows, one for every commit answered within the linger."""
    connection = await connect(settings.amqp_url, name="intake-test")
    try:
        publisher = await Publisher.open(connection, timeout_s=10, shape=QueueShape.of(settings))
        # the three commits are answered within the linger even on a busy machine
        intake = Intake(watched_store, publisher, settle_linger_s=2)
        commits = [[doc(10 * n + i) for i in range(n)] for n in (1, 2, 3)]
        commands.seen.clear()
        for docs in commits:
            assert (await intake.commit(docs)).confirmed
        # answered: per commit one tally (an update of the stats) and one insert, nothing else
        assert commands.seen[("insert", NOTIFICATIONS)] == 3
        assert sum(n for (cmd, _), n in commands.seen.items() if cmd == "update") == 3
        assert not any(coll == OUTBOX for (_, coll) in commands.seen)
        await intake.close()
    finally:
        await connection.close()
    # then one settle for the three commits, and nothing left pending
    assert sum(n for (cmd, _), n in commands.seen.items() if cmd == "update") == 4
    assert (await watched_store.db["stats"].find_one({"_id": "acme"}) or {}).get("pending") == {}
    assert (await watched_store.counters.of("acme")).total == 6
    assert await watched_store.db[OUTBOX].count_documents({}) == 0


async def test_a_publish_the_broker_does_not_confirm_in_time_is_left_to_the_relay(
    settings: Settings, store: Store
) -> None:
    """The confirm's deadline passes (here a deadline no broker meets): the notifications
    are accepted, unconfirmed, and recorded in the outbox for the relay; counted as stored."""
    connection = await connect(settings.amqp_url, name="intake-test")
    try:
        hurried = await Publisher.open(connection, timeout_s=1e-6, shape=QueueShape.of(settings))
        intake = Intake(store, hurried, outbox_grace_s=30, settle_linger_s=0)
        docs = [doc(i) for i in range(3)]
        accepted = await intake.commit(docs)
        await intake.close()
    finally:
        await connection.close()
    assert not accepted.confirmed
    [entry] = await store.db[OUTBOX].find({}).to_list(None)
    assert entry["ids"] == [d["_id"] for d in docs]
    assert await store.notifications.collection.count_documents({}) == 3
    assert (await store.counters.of("acme")).total == 3
