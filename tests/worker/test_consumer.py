"""A channel worker in-process, on the real broker and database, with mock providers."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path

import aio_pika
import httpx
from bson import ObjectId

from tests.support.notifications import all_terminal, create, email, ledger, sms
from tests.support.processes import RunWorker
from tests.support.services import delete_vhost, free_port, put_vhost
from tests.support.system import System
from tests.support.wait import queue_empty, wait_for
from wavecom.core.constants import DLQ, WORK_EXCHANGE, Channel, Lane, lane_key, lane_queue
from wavecom.core.settings import Settings
from wavecom.store import Store


async def test_happy_path_sends_each_once_with_the_full_timeline(
    api: httpx.AsyncClient, store: Store, run_worker: RunWorker, ledger_dir: Path
) -> None:
    worker = await run_worker()
    ids = await create(api, [email(i) for i in range(30)])
    final = await wait_for(lambda: all_terminal(store, ids), what="30 emails to finish")
    assert set(final.values()) == {"SENT"}

    async def all_settled() -> bool:
        return worker.acks.unsettled() == 0

    await wait_for(all_settled, what="every delivery acked")
    assert ledger(ledger_dir) == Counter(dict.fromkeys(ids, 1))
    doc = (await api.get(f"/api/notifications/{ids[0]}")).json()["data"]
    n = doc["notification"]
    assert n["provider"] == "alpha"
    assert n["providerMessageId"].startswith("alpha_")
    assert n["processingTimeMs"] >= 0
    assert "sentAt" in n
    assert [e["status"] for e in doc["logs"]] == ["PENDING", "QUEUED", "PROCESSING", "SENT"]
    stored = await store.notifications.collection.find_one({"_id": ObjectId(ids[0])})
    assert stored is not None
    assert [e["status"] for e in stored["timeline"]] == ["PENDING", "QUEUED", "PROCESSING", "SENT"]
    stats = (await api.get("/api/notifications/stats/system")).json()["data"]
    assert stats["byStatus"]["SENT"] == 30
    assert stats["byStatus"]["QUEUED"] == 0
    assert stats["byStatus"]["PROCESSING"] == 0
    assert stats["successRate"] == 100.0


async def test_transient_failures_retry_with_backoff_then_fail_into_the_dlq(
    api: httpx.AsyncClient,
    store: Store,
    run_worker: RunWorker,
    ledger_dir: Path,
    queue_depth: Callable[[str], Awaitable[int]],
) -> None:
    await run_worker()
    [nid] = await create(api, [email(1, domain="flaky.example")])
    await wait_for(lambda: all_terminal(store, [nid]), what="the flaky email to fail")
    doc = (await api.get(f"/api/notifications/{nid}")).json()["data"]
    n = doc["notification"]
    assert n["status"] == "FAILED"
    assert n["retryCount"] == 3
    assert "retries exhausted after 4 attempts" in n["error"]
    steps = [e["status"] for e in doc["logs"]]
    assert steps.count("RETRYING") == 3
    assert steps.count("PROCESSING") == 4
    assert steps[-1] == "FAILED"
    # backoff grows: each wait is longer than the one before
    times = [e["timestamp"] for e in doc["logs"] if e["status"] == "PROCESSING"]
    assert times == sorted(times)
    assert await wait_for(lambda: queue_depth(DLQ), what="the dead letter") == 1
    assert ledger(ledger_dir)[nid] == 0


async def test_permanent_failure_fails_at_once(
    api: httpx.AsyncClient,
    store: Store,
    run_worker: RunWorker,
    queue_depth: Callable[[str], Awaitable[int]],
) -> None:
    await run_worker()
    [nid] = await create(api, [email(1, domain="bounce.example")])
    await wait_for(lambda: all_terminal(store, [nid]), what="the bounce to fail")
    n = (await api.get(f"/api/notifications/{nid}")).json()["data"]["notification"]
    assert n["status"] == "FAILED"
    assert n["retryCount"] == 0
    assert "invalid recipient" in n["error"]
    assert await wait_for(lambda: queue_depth(DLQ), what="the dead letter") == 1


async def test_a_transient_failure_fails_over_to_the_next_provider(
    api: httpx.AsyncClient, store: Store, run_worker: RunWorker, ledger_dir: Path
) -> None:
    await run_worker()
    [nid] = await create(api, [email(1, domain="alpha-down.example")])
    final = await wait_for(lambda: all_terminal(store, [nid]), what="the failover")
    assert final[nid] == "SENT"
    n = (await api.get(f"/api/notifications/{nid}")).json()["data"]["notification"]
    assert n["provider"] == "beta"
    assert n["retryCount"] == 0
    assert ledger(ledger_dir) == Counter({nid: 1})


async def test_a_poison_message_is_dead_lettered_and_the_worker_goes_on(
    api: httpx.AsyncClient,
    store: Store,
    run_worker: RunWorker,
    worker_settings: Settings,
    queue_depth: Callable[[str], Awaitable[int]],
) -> None:
    await run_worker()
    connection = await aio_pika.connect(worker_settings.amqp_url)
    channel = await connection.channel()
    exchange = await channel.get_exchange(WORK_EXCHANGE)
    await exchange.publish(
        aio_pika.Message(b"\x00garbage"), routing_key=lane_key(Channel.EMAIL, Lane.STANDARD)
    )
    assert await wait_for(lambda: queue_depth(DLQ), what="the poison message") == 1
    dlq = await channel.declare_queue(DLQ, passive=True)
    dead = await dlq.get(no_ack=True)
    assert dead is not None
    assert dead.headers["x-reason"] == "poison"
    assert "not JSON" in str(dead.headers["x-error"])
    await connection.close()
    ids = await create(api, [email(2)])
    assert (await wait_for(lambda: all_terminal(store, ids)))[ids[0]] == "SENT"


async def test_a_duplicate_message_is_not_sent_twice(
    api: httpx.AsyncClient,
    store: Store,
    run_worker: RunWorker,
    worker_settings: Settings,
    queue_depth: Callable[[str], Awaitable[int]],
    ledger_dir: Path,
) -> None:
    [nid] = await create(api, [email(1)])
    # the same job queued a second time (a publisher retry, a redelivery)
    doc = await store.notifications.collection.find_one({"_id": ObjectId(nid)})
    assert doc is not None
    from wavecom.store import job_of  # noqa: PLC0415 - local to the one test that needs it

    connection = await aio_pika.connect(worker_settings.amqp_url)
    channel = await connection.channel()
    exchange = await channel.get_exchange(WORK_EXCHANGE)
    await exchange.publish(
        aio_pika.Message(job_of(doc).encode()), routing_key=lane_key(Channel.EMAIL, Lane.STANDARD)
    )
    await connection.close()
    await run_worker()
    await wait_for(lambda: all_terminal(store, [nid]))
    queue = lane_queue(Channel.EMAIL, Lane.STANDARD)
    await wait_for(lambda: queue_empty(queue_depth, queue), what="both copies consumed")
    assert ledger(ledger_dir) == Counter({nid: 1})


async def test_critical_overtakes_a_backlog_of_low(
    api: httpx.AsyncClient, store: Store, run_worker: RunWorker
) -> None:
    low: list[str] = []
    for chunk in range(3):
        low += await create(api, [{**sms(chunk * 500 + i), "priority": "LOW"} for i in range(500)])
    [critical] = await create(api, [{**sms(9999), "priority": "CRITICAL"}])
    # two batches of 50 in flight at most: the backlog drains in about 15 rounds
    await run_worker(Channel.SMS, batch_size=50, max_batches_in_flight=2, prefetch=200)
    await wait_for(
        lambda: all_terminal(store, [*low, critical]), within=90, what="the backlog to drain"
    )
    docs = await store.notifications.get_many([ObjectId(i) for i in [*low, critical]])
    sent = {str(d["_id"]): d["sentAt"] for d in docs}
    ahead = sum(1 for i in low if sent[i] < sent[critical])
    # at most what was already in flight when it arrived (two batches), not 1,500 LOW
    assert ahead < 100, f"{ahead} LOW notifications went out before the CRITICAL one"


async def test_a_scheduled_notification_is_delivered_when_due(
    api: httpx.AsyncClient, store: Store, run_worker: RunWorker
) -> None:
    from datetime import UTC, datetime, timedelta  # noqa: PLC0415

    await run_worker(Channel.SMS)
    at = datetime.now(UTC) + timedelta(seconds=5)  # still ahead when a busy API answers
    r = await api.post("/api/notifications", json={**sms(1), "scheduledAt": at.isoformat()})
    nid = r.json()["data"]["_id"]
    assert r.json()["data"]["status"] == "SCHEDULED"
    await wait_for(lambda: all_terminal(store, [nid]), what="the scheduled SMS")
    doc = await store.notifications.collection.find_one({"_id": ObjectId(nid)})
    assert doc is not None
    assert doc["status"] == "SENT"
    assert doc["sentAt"] >= at
    assert [e["status"] for e in doc["timeline"]] == [
        "PENDING",
        "SCHEDULED",
        "QUEUED",
        "PROCESSING",
        "SENT",
    ]


async def test_a_send_rate_cap_slows_delivery_instead_of_failing_it(
    api: httpx.AsyncClient, store: Store, run_worker: RunWorker
) -> None:
    capped = '[{"name": "textwave", "latencyMs": 1, "latencySigma": 0, "rateLimitPerSec": 20}]'
    await run_worker(Channel.SMS, providers_sms=capped)
    ids = await create(api, [sms(i) for i in range(50)])
    await wait_for(lambda: all_terminal(store, ids), what="50 SMS at 20/s")
    docs = await store.notifications.get_many([ObjectId(i) for i in ids])
    assert {d["status"] for d in docs} == {"SENT"}
    assert {d["retryCount"] for d in docs} == {0}  # no 429 turned into a retry
    sent = sorted(d["sentAt"] for d in docs)
    # a burst of 18, then 18 a second (90 % of the cap): the last 32 take about 1.8 s
    assert (sent[-1] - sent[0]).total_seconds() >= 1.3


async def test_a_worker_process_is_ready_only_while_it_consumes(
    worker_settings: Settings, vhost: str
) -> None:
    """/readyz follows the broker connection (the vhost deleted and re-created under a running
    worker), /healthz only the event loop, and SIGTERM still ends the process cleanly."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    async def probe(path: str) -> httpx.Response | None:
        try:
            async with httpx.AsyncClient(timeout=5) as http:
                return await http.get(url + path)
        except httpx.TransportError:
            return None

    async def answer(path: str, status: int, text: str) -> bool:
        r = await probe(path)
        return r is not None and r.status_code == status and text in r.text

    async with System(worker_settings) as system:
        await system.spawn(
            "email", ["-m", "wavecom.worker", "--channel", "email", "--metrics-port", str(port)], {}
        )
        await wait_for(lambda: answer("/readyz", 200, "ready"), within=60, what="ready")

        delete_vhost(vhost)  # the broker closes the worker's connection
        await wait_for(
            lambda: answer("/readyz", 503, "broker connection lost"), within=30, what="not ready"
        )
        assert await answer("/healthz", 200, "ok")
        put_vhost(vhost)
        await wait_for(
            lambda: answer("/readyz", 200, "ready"), within=60, what="ready after the reconnect"
        )

        worker = system.procs["email"]
        worker.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.wait(), 30) == 0


async def test_a_lane_whose_channel_the_broker_closes_is_consumed_again(
    api: httpx.AsyncClient, store: Store, run_worker: RunWorker
) -> None:
    """A channel-level error (here an ack of a tag the broker never delivered) closes the lane's
    channel; aio-pika's robust channel reopens it and starts its consumer again, so what arrives
    afterwards is delivered. (With deliveries in flight at 2,000/s, a benchmark once saw a lane
    that was not consumed again after such an error: docs/benchmarks.md, 2026-12-07.)"""
    worker = await run_worker()
    [first] = await create(api, [email(1)])
    await wait_for(lambda: all_terminal(store, [first]), what="the first email")
    lane = worker._queues[Lane.STANDARD]
    underlay = await lane.channel.get_underlay_channel()
    await underlay.basic_ack(1_000_000)  # PRECONDITION_FAILED: the broker closes the channel
    await wait_for(lambda: _closed(underlay), what="the broker to close the lane's channel")
    ids = await create(api, [email(i) for i in range(2, 12)])
    final = await wait_for(
        lambda: all_terminal(store, ids), within=60, what="the lane to be consumed again"
    )
    assert set(final.values()) == {"SENT"}


async def _closed(channel: object) -> bool:
    return bool(getattr(channel, "is_closed", False))


async def test_a_lane_whose_channel_stays_closed_gets_a_new_one(
    api: httpx.AsyncClient, store: Store, run_worker: RunWorker
) -> None:
    """A lane's channel that is closed and not reopened (here closed by hand: a robust channel
    does not reopen what was closed on purpose) makes the worker not ready, saying why; a poll
    later it opens a new channel for the lane and consumes it again."""
    worker = await run_worker()
    [first] = await create(api, [email(1)])
    await wait_for(lambda: all_terminal(store, [first]), what="the first email")
    lane = worker._queues[Lane.STANDARD]
    await lane.channel.close()
    assert f"the channel of {lane.name} is closed" in (worker.readiness() or "")
    ids = await create(api, [email(i) for i in range(2, 12)])
    final = await wait_for(
        lambda: all_terminal(store, ids), within=60, what="the lane consumed on a new channel"
    )
    assert set(final.values()) == {"SENT"}
    assert worker._queues[Lane.STANDARD] is not lane
    assert worker.readiness() is None
