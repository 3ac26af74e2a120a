"""Fault injection with real processes: what the system does when something breaks."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest
from bson import ObjectId

from tests.support.notifications import all_terminal, create, email, ledger, push, sms
from tests.support.processes import RunWorker
from tests.support.system import ROOT, System
from tests.support.wait import wait_for
from wavecom.core.constants import Channel
from wavecom.core.settings import Settings
from wavecom.store import Store

pytestmark = pytest.mark.e2e


@pytest.fixture
async def system(settings: Settings) -> AsyncIterator[System]:
    async with System(settings) as s:
        s.env.update(
            {"PUBLISH_TIMEOUT_S": "1", "OUTBOX_GRACE_S": "2", "SCHEDULER_INTERVAL_S": "0.2"}
        )
        yield s


async def test_e_the_api_killed_between_write_and_publish_is_covered_by_the_sweeper(
    system: System, store: Store, ledger_dir: Path
) -> None:
    # no outbox entry on the happy path: a stored notification without a message is the
    # sweeper's, SWEEP_AFTER_S after it was queued (short here; 120 s by default)
    system.env.update({"SWEEP_AFTER_S": "2", "SWEEP_INTERVAL_S": "0.5"})
    await system.spawn_worker("email")
    await system.spawn_api("doomed-api", EXIT_BEFORE_PUBLISH="true")
    async with system.client(timeout=10) as http:
        with pytest.raises(httpx.TransportError):
            await http.post("/api/notifications", json=email(1))
    assert await system.procs["doomed-api"].wait() == 137
    [doc] = await store.notifications.collection.find({}).to_list()
    assert doc["status"] == "QUEUED"  # stored, never published, never answered
    assert await store.outbox.collection.count_documents({}) == 0

    await system.spawn_api()  # its sweeper finds the notification without a message
    nid = str(doc["_id"])

    async def sent() -> bool:
        d = await store.notifications.collection.find_one({"_id": ObjectId(nid)})
        return d is not None and d["status"] == "SENT"

    await wait_for(sent, within=30, what="the sweeper to publish and the worker to send")
    assert ledger(ledger_dir) == {nid: 1}
    d = await store.notifications.collection.find_one({"_id": ObjectId(nid)})
    assert d is not None
    assert "Re-queued: no message found" in [e["message"] for e in d["timeline"]]


async def test_a_workers_killed_again_and_again_lose_nothing_and_send_nothing_twice(
    system: System, store: Store, ledger_dir: Path
) -> None:
    system.env["CLAIM_TTL_S"] = "3"  # a dead worker's rounds are retaken after 3 s
    # small batches, one at a time, slow providers: deliveries are in flight whenever a
    # worker is killed (400 per channel take about 12 s)
    system.env.update({"BATCH_SIZE": "10", "MAX_BATCHES_IN_FLIGHT": "1"})
    for channel, names in (("EMAIL", "mailgrid"), ("SMS", "textwave"), ("PUSH", "pushfire")):
        system.env[f"PROVIDERS_{channel}"] = orjson.dumps(
            [{"name": names, "latencyMs": 300, "latencySigma": 0}]
        ).decode()
    channels = ("email", "sms", "push")
    for channel in channels:
        await system.spawn_worker(channel)
    await system.spawn_api()
    # make test: 1,200 notifications; make test-faults: FAULT_NOTIFICATIONS=5000
    per_channel = int(os.environ.get("FAULT_NOTIFICATIONS", "1200")) // 3
    items = [make(i) for i in range(per_channel) for make in (email, sms, push)]
    ids: list[str] = []
    async with system.client(timeout=30) as http:
        for start in range(0, len(items), 200):
            r = await http.post(
                "/api/notifications/batch", json={"notifications": items[start : start + 200]}
            )
            assert r.status_code == 201, r.text
            ids += [x["data"]["_id"] for x in r.json()["data"]["results"]]

    # kill -9 a random worker every 1.5 s for 9 s, restarting it at once (as Kubernetes would)
    rng = random.Random(1)
    kills = 0
    deadline = asyncio.get_running_loop().time() + 9
    while asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(1.5)  # pace: the kill cadence, not a wait for work
        victim = rng.choice(channels)
        system.procs[victim].kill()
        await system.procs[victim].wait()
        kills += 1
        await system.spawn_worker(victim)
    assert kills >= 5

    final = await wait_for(
        lambda: all_terminal(store, ids),
        within=60 + len(ids) / 25,
        what=f"{len(ids)} notifications after {kills} kills",
    )
    assert set(final.values()) == {"SENT"}
    sent = ledger(ledger_dir)
    assert set(sent) == set(ids)
    assert max(sent.values()) == 1, {k: v for k, v in sent.items() if v > 1}
    # the kills did interrupt deliveries: some rounds were retaken from a dead worker
    assert await store.notifications.collection.count_documents({"round": {"$gt": 0}}) > 0


RABBIT_NODE = os.environ.get("RABBITMQ_NODENAME", "wavecom@localhost")


async def _rabbitmqctl(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        "rabbitmqctl",
        "-n",
        RABBIT_NODE,
        *args,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        _, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()


@pytest.mark.skipif(shutil.which("rabbitmqctl") is None, reason="needs the local RabbitMQ node")
async def test_b_a_broker_restart_mid_run_loses_nothing(
    system: System, store: Store, ledger_dir: Path
) -> None:
    for channel in ("email", "sms", "push"):
        await system.spawn_worker(channel)
    await system.spawn_api()
    accepted: list[str] = []
    statuses: list[int] = []

    async def client(batches: int) -> None:
        """A well-behaved client: one Idempotency-Key per batch, retried until 201."""
        async with system.client(timeout=15) as http:
            for b in range(batches):
                body = {"notifications": [sms(b * 20 + i) for i in range(20)]}
                key = {"Idempotency-Key": f"batch-{b}"}
                for _ in range(200):
                    try:
                        r = await http.post("/api/notifications/batch", json=body, headers=key)
                    except httpx.TransportError:
                        r = None
                    if r is not None:
                        statuses.append(r.status_code)
                    if r is not None and r.status_code == 201:
                        accepted.extend(x["data"]["_id"] for x in r.json()["data"]["results"])
                        break
                    await asyncio.sleep(0.25)  # the client's retry pace
                else:
                    pytest.fail(f"batch {b} never accepted: {statuses[-5:]}")

    sending = asyncio.create_task(client(40))
    await wait_for(lambda: _at_least(accepted, 100), what="the run to get going")
    await _rabbitmqctl("stop_app")
    await _rabbitmqctl("start_app")
    await asyncio.wait_for(sending, 120)

    assert len(accepted) == 800
    final = await wait_for(
        lambda: all_terminal(store, accepted),
        within=90,
        what="every accepted notification after the restart",
    )
    assert set(final.values()) == {"SENT"}
    assert ledger(ledger_dir) == dict.fromkeys(accepted, 1)
    assert await store.notifications.collection.count_documents({}) == 800  # nothing created twice


async def _at_least(items: list[str], n: int) -> bool:
    return len(items) >= n


async def test_d_a_provider_outage_opens_its_breaker_failover_carries_it_and_it_closes(
    worker_settings: Settings,
    api: httpx.AsyncClient,
    store: Store,
    run_worker: RunWorker,
    tmp_path: Path,
    ledger_dir: Path,
) -> None:
    outage = tmp_path / "textwave-down"
    providers = orjson.dumps(
        [
            {"name": "textwave", "latencyMs": 5, "outageFile": str(outage)},
            {"name": "smsly", "latencyMs": 5},
        ]
    ).decode()
    await run_worker(
        Channel.SMS,
        providers_sms=providers,
        breaker_fail_max=5,
        breaker_reset_s=1.0,
        breaker_report_s=0.2,
        batch_size=10,
        max_batches_in_flight=1,
    )

    async def breaker(name: str, state: str) -> bool:
        stats = (await api.get("/api/notifications/stats/system")).json()["data"]
        return bool(stats["providers"].get(name, {}).get("state") == state)

    outage.touch()  # textwave goes down
    during = await create(api, [sms(i) for i in range(60)])
    final = await wait_for(lambda: all_terminal(store, during), what="delivery during the outage")
    assert set(final.values()) == {"SENT"}
    docs = await store.notifications.get_many([ObjectId(i) for i in during])
    assert {d["provider"] for d in docs} == {"smsly"}  # failover carried all of it
    await wait_for(lambda: breaker("textwave", "open"), what="textwave's breaker to open")

    outage.unlink()  # textwave recovers; after the reset timeout a trial call closes it
    after: list[str] = []

    async def back_on_textwave() -> bool:
        after.extend(await create(api, [sms(1000 + len(after))]))
        await wait_for(lambda: all_terminal(store, after[-1:]), what="a send after recovery")
        doc = await store.notifications.collection.find_one({"_id": ObjectId(after[-1])})
        return doc is not None and doc["provider"] == "textwave"

    await wait_for(back_on_textwave, within=30, interval=0.3, what="traffic back on textwave")
    await wait_for(lambda: breaker("textwave", "closed"), what="textwave's breaker to close")
    assert max(ledger(ledger_dir).values()) == 1


FERRET_PID = ROOT / ".state" / "ferretdb" / "ferretdb.pid"


@pytest.mark.skipif(not FERRET_PID.exists(), reason="needs the FerretDB that stack.sh started")
async def test_c_the_database_stopped_for_10_s_answers_503_then_recovers_with_nothing_lost(
    system: System, store: Store, ledger_dir: Path
) -> None:
    for channel in ("email", "sms", "push"):
        await system.spawn_worker(channel)
    await system.spawn_api()
    async with system.client(timeout=15) as http:
        before = await http.post(
            "/api/notifications/batch", json={"notifications": [email(i) for i in range(100)]}
        )
        assert before.status_code == 201
        ids = [x["data"]["_id"] for x in before.json()["data"]["results"]]

        os.kill(int(FERRET_PID.read_text()), signal.SIGKILL)  # the database goes away
        down = asyncio.get_running_loop().time()
        codes: list[int] = []
        while asyncio.get_running_loop().time() - down < 10:
            r = await http.post("/api/notifications", json=sms(1))
            codes.append(r.status_code)
            await asyncio.sleep(0.5)  # the client's pace while it is down
        restart = await asyncio.create_subprocess_exec(
            str(ROOT / "services" / "devstack" / "stack.sh"),
            "up",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        assert await restart.wait() == 0
        assert codes
        assert set(codes) == {503}, codes  # never a 201 while nothing can be stored

        async def accepted_again() -> str | None:
            r = await http.post("/api/notifications", json=sms(2))
            return str(r.json()["data"]["_id"]) if r.status_code == 201 else None

        ids.append(
            await wait_for(accepted_again, within=30, interval=0.5, what="the API to accept again")
        )
    final = await wait_for(
        lambda: all_terminal(store, ids),
        within=90,
        what="everything accepted to be delivered after the outage",
    )
    assert set(final.values()) == {"SENT"}
    assert ledger(ledger_dir) == dict.fromkeys(ids, 1)
