"""Traces in-process (the SDK's in-memory exporter) on the real broker and database: one trace
from the API request to the outcome, every attempt included; a replay's link; and nothing at
all when tracing is off."""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import httpx
from bson import ObjectId

from tests.support.notifications import all_terminal, create, email
from tests.support.processes import RunWorker
from tests.support.wait import wait_for
from tests.telemetry.conftest import Finished
from tests.telemetry.spans import Span, ancestors, in_trace, named, one, tree
from wavecom.core.constants import Channel, Lane, lane_queue
from wavecom.core.settings import Settings
from wavecom.store import Store


async def _trace_of(api: httpx.AsyncClient, nid: str) -> tuple[str, dict[str, Any]]:
    data = (await api.get(f"/api/notifications/{nid}")).json()["data"]
    trace_id = data["notification"]["traceId"]
    assert isinstance(trace_id, str)
    assert len(trace_id) == 32
    return trace_id, data


async def test_one_trace_runs_from_the_request_through_every_attempt_to_the_outcome(
    traced_api: httpx.AsyncClient, store: Store, run_worker: RunWorker, finished: Finished
) -> None:
    await run_worker()
    r = await traced_api.post("/api/notifications", json=email(1, domain="flaky.example"))
    assert r.status_code == 201, r.text
    nid = r.json()["data"]["_id"]
    await wait_for(lambda: all_terminal(store, [nid]), what="the flaky email to fail for good")
    trace_id, data = await _trace_of(traced_api, nid)
    assert r.json()["data"]["traceId"] == trace_id  # the create's answer names it already

    async def attempts_ended() -> list[Span] | None:
        spans = in_trace(finished(), trace_id)
        consumed = named(spans, "process wavecom.email.standard")
        return spans if len(consumed) == 4 else None  # the first attempt and 3 retries

    spans = await wait_for(attempts_ended, what="four attempts' spans in the trace")
    outline = tree(spans)
    server = one(spans, "POST /api/notifications")
    assert server.kind == "SERVER"
    assert server.parent_id == ""
    accept = one(spans, "intake.accept")
    assert accept.parent_id == server.span_id
    first = one(spans, "publish wavecom.work")
    assert first.kind == "PRODUCER"
    assert first.parent_id == accept.span_id, outline
    assert first.attributes["messaging.rabbitmq.destination.routing_key"] == "email.standard"

    consumers = named(spans, "process wavecom.email.standard")
    assert [c.attributes["wavecom.attempt"] for c in consumers] == [0, 1, 2, 3], outline
    assert all(c.kind == "CONSUMER" for c in consumers)
    assert consumers[0].parent_id == first.span_id
    delays = named(spans, "publish wavecom.delay")
    assert len(delays) == 3, outline
    for consumer, delayed, retry in zip(consumers, delays, consumers[1:], strict=False):
        # a retry is published under the attempt that failed and consumed under that publish
        assert delayed.parent_id == consumer.span_id, outline
        assert retry.parent_id == delayed.span_id, outline
    assert [c.attributes["wavecom.outcome"] for c in consumers] == [
        "RETRYING",
        "RETRYING",
        "RETRYING",
        "FAILED",
    ]
    sends = named(spans, "send ")
    assert len(sends) == 8, outline  # each attempt fails over from alpha to beta
    for send in sends:
        assert send.kind == "CLIENT"
        assert send.attributes["wavecom.outcome"] == "transient"
        assert send.attributes["wavecom.channel"] == "EMAIL"
        assert send.attributes["wavecom.provider.account"] in {"alpha", "beta"}
        assert send.status_error
        assert ancestors(send, spans)[0].startswith("process wavecom.email")
    assert {s.attributes["wavecom.attempt"] for s in sends} == {0, 1, 2, 3}
    for write in named(spans, "outcome.write"):
        assert ancestors(write, spans)[0] == "process wavecom.email.standard"

    # every step of the timeline names the trace, so the API's answer leads to it
    assert [e["status"] for e in data["logs"]][-1] == "FAILED"
    assert {e.get("traceId") for e in data["logs"]} == {trace_id}
    stored = await store.notifications.collection.find_one({"_id": ObjectId(nid)})
    assert stored is not None
    assert {e.get("traceId") for e in stored["timeline"]} == {trace_id}


async def test_group_commits_batches_and_outcome_writes_link_to_each_notification(
    traced_api: httpx.AsyncClient, store: Store, run_worker: RunWorker, finished: Finished
) -> None:
    answers = await asyncio.gather(
        *(traced_api.post("/api/notifications", json=email(i)) for i in range(5))
    )
    ids = [r.json()["data"]["_id"] for r in answers]
    await run_worker(batch_wait_ms=200)  # all five in one batch
    await wait_for(lambda: all_terminal(store, ids), what="5 emails to be sent")
    traces = [(await _trace_of(traced_api, nid))[0] for nid in ids]
    assert len(set(traces)) == 5  # a trace per request

    async def outcomes_stored() -> list[Span] | None:
        spans = finished()
        done = named(spans, "process wavecom.email.standard")
        return spans if len(done) == 5 and named(spans, "outcomes.write") else None

    spans = await wait_for(outcomes_stored, what="the five deliveries' spans")
    outline = tree(spans)
    commits = named(spans, "intake.commit")
    assert all(c.parent_id == "" and c.trace_id not in traces for c in commits)
    batches = named(spans, "process email batch")
    writes = named(spans, "outcomes.write")
    for trace_id in traces:
        mine = in_trace(spans, trace_id)
        accept = one(mine, "intake.accept")
        # the commit that carried the request links to its span, and is not in its trace
        assert sum((trace_id, accept.span_id) in c.links for c in commits) == 1, outline
        consumer = one(mine, "process wavecom.email.standard")
        assert any((trace_id, consumer.parent_id) in b.links for b in batches), outline
        write = one(mine, "outcome.write")
        assert any((trace_id, write.span_id) in w.links for w in writes), outline
    # the group's database commands are the group's spans' children
    for insert in named(spans, "insert notifications"):
        assert ancestors(insert, spans)[:1] == ["intake.commit"], outline
    claims = [s for s in named(spans, "update notifications") if s.trace_id not in traces]
    assert any(ancestors(c, spans)[:1] == ["process email batch"] for c in claims), outline
    assert any(ancestors(c, spans)[:1] == ["outcomes.write"] for c in claims), outline


async def test_a_replay_from_the_dlq_is_a_new_trace_linking_to_the_first(
    traced_api: httpx.AsyncClient, store: Store, run_worker: RunWorker, finished: Finished
) -> None:
    worker = await run_worker()
    [nid] = await create(traced_api, [email(1, domain="bounce.example")])
    await wait_for(lambda: all_terminal(store, [nid]), what="the bounce to fail")
    first, _ = await _trace_of(traced_api, nid)
    await run_worker.stop(worker)
    r = await traced_api.post("/api/dlq/replay", json={"ids": [nid]})
    assert r.status_code == 200, r.text
    await run_worker()
    await wait_for(lambda: all_terminal(store, [nid]), what="the replay to fail again")
    second, data = await _trace_of(traced_api, nid)
    assert second != first

    async def replayed() -> list[Span] | None:
        spans = in_trace(finished(), second)
        return spans if named(spans, "process wavecom.email.standard") else None

    spans = await wait_for(replayed, what="the replay's delivery in its trace")
    replay = one(spans, "intake.replay")
    assert ancestors(replay, spans) == ["POST /api/dlq/replay"]
    assert [lk[0] for lk in replay.links] == [first]
    publish = one(spans, "publish wavecom.work")
    assert publish.parent_id == replay.span_id
    assert one(spans, "process wavecom.email.standard").parent_id == publish.span_id
    trace_ids = [e.get("traceId") for e in data["logs"]]
    assert trace_ids[:2] == [first, first]  # created, queued
    assert trace_ids[-2:] == [second, second]  # the replay's PROCESSING and FAILED


async def test_without_an_exporter_nothing_is_traced_or_propagated(
    client: httpx.AsyncClient, settings: Settings, store: Store
) -> None:
    r = await client.post("/api/notifications", json=email(1))
    assert r.status_code == 201, r.text
    nid = r.json()["data"]["_id"]
    doc = await store.notifications.get_many([ObjectId(nid)])
    assert "traceparent" not in doc[0]
    assert all("traceId" not in e for e in doc[0]["timeline"])
    assert "traceId" not in r.json()["data"]
    connection = await aio_pika.connect(settings.amqp_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(lane_queue(Channel.EMAIL, Lane.STANDARD), passive=True)
        message = await queue.get(timeout=5)
        assert message is not None
        assert "traceparent" not in message.headers
        assert "baggage" not in message.headers
        await message.ack()
    finally:
        await connection.close()
