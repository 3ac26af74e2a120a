"""The stats tell the truth (#25 target 6): after a worker or the API is killed -9 mid-run, the
per-tenant counters converge to the documents within 60 s, and reconcile (``make verify``)
agrees. Real processes on the shared stack, like ``test_faults``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.notifications import all_terminal, ledger, sms
from tests.support.processes import TENANT
from tests.support.system import System
from tests.support.wait import wait_for
from wavecom.core.constants import STATS
from wavecom.core.settings import Settings
from wavecom.relay.reconcile import Report, reconcile
from wavecom.store import Store, utcnow
from wavecom.store.counters import TALLY_AFTER_S

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]  # up to 12 + 8 process restarts

# the counters must agree with the documents this long after the run is delivered
CONVERGED_WITHIN_S = 60


@pytest.fixture
async def system(settings: Settings) -> AsyncIterator[System]:
    async with System(settings) as s:
        s.env.update(
            {
                "PUBLISH_TIMEOUT_S": "1",
                "OUTBOX_GRACE_S": "2",
                "SCHEDULER_INTERVAL_S": "0.2",
                # an API killed between its insert and the broker's confirm leaves QUEUED
                # notifications without a message: the sweeper publishes them (120 s shipped)
                "SWEEP_AFTER_S": "3",
                "SWEEP_INTERVAL_S": "0.5",
                "CLAIM_TTL_S": "3",  # a dead worker's rounds are retaken after 3 s
                # as shipped: counters settle together, 100 ms after the first (a kill
                # within it leaves tallies that only the repair settles)
                "SETTLE_LINGER_MS": "100",
                # small batches, one at a time, a fast provider: a worker spends much of its
                # time between a batch's document writes and its counters
                "BATCH_SIZE": "10",
                "MAX_BATCHES_IN_FLIGHT": "1",
                "PROVIDERS_SMS": orjson.dumps(
                    [{"name": "textwave", "latencyMs": 20, "latencySigma": 0}]
                ).decode(),
            }
        )
        yield s


async def orphans(store: Store, older_than_s: float = 1.0) -> int:
    """Tallies pending for longer than a live writer takes to settle one: what a kill left."""
    stats: dict[str, Any] = await store.db[STATS].find_one({"_id": TENANT}) or {}
    cutoff = utcnow() - timedelta(seconds=older_than_s)
    return sum(1 for e in (stats.get("pending") or {}).values() if e["at"] < cutoff)


async def orphaned(store: Store, within_s: float = 2.5) -> int:
    """The tallies a writer just killed left: looked for until they are old enough to tell
    from a live writer's (0 when the kill left none)."""
    deadline = time.monotonic() + within_s
    for _ in range(1000):
        if (n := await orphans(store)) or time.monotonic() > deadline:
            return n
        await asyncio.sleep(0.1)  # polling interval of a deadline-bounded look
    return 0


async def converged(store: Store, ledger_dir: Path) -> Report | None:
    """Reconcile's report once the counters equal the documents and the ledger balances. A
    tally may still be pending then: one whose writer was killed before its document writes
    has no step to find, and the repair keeps looking for them for 10 minutes (a slow writer
    may still write them); its counts are not applied meanwhile, so the counters are right."""
    report = await reconcile(store, ledger_dir=str(ledger_dir))
    if report.drift or not report.ok:
        return None
    return report


async def counted(store: Store) -> dict[str, int]:
    """The tenant's status counters, without the zeros."""
    return {k: v for k, v in (await store.counters.of(TENANT)).by_status.items() if v}


async def test_a_worker_killed_mid_run_leaves_counters_that_converge_to_the_documents(
    system: System, store: Store, ledger_dir: Path
) -> None:
    await system.spawn_worker("sms")
    await system.spawn_api()
    ids: list[str] = []
    async with system.client(timeout=30) as http:
        for start in range(0, 400, 100):
            r = await http.post(
                "/api/notifications/batch",
                json={"notifications": [sms(i) for i in range(start, start + 100)]},
            )
            assert r.status_code == 201, r.text
            ids += [x["data"]["_id"] for x in r.json()["data"]["results"]]

    async def sending() -> int | None:
        n = await store.notifications.collection.count_documents({"status": "SENT"})
        return n if n > sent else None

    # kill -9 the worker while it delivers, restart it, until a kill caught it between a
    # batch's document writes and its counters (at most 12 kills)
    kills, left = 0, 0
    sent = 0
    while kills < 12 and not left:
        sent = await wait_for(sending, within=30, what="the worker to deliver")
        if sent >= len(ids):
            break
        system.procs["sms"].kill()
        await system.procs["sms"].wait()
        kills += 1
        left = await orphaned(store)
        await system.spawn_worker("sms")
    assert left, f"no kill of {kills} caught a batch between its writes and its counters"

    await _sent_and_converged(store, ledger_dir, ids)
    assert max(ledger(ledger_dir).values()) == 1


async def test_the_api_killed_mid_intake_leaves_counters_that_converge_to_the_documents(
    system: System, store: Store, ledger_dir: Path
) -> None:
    await system.spawn_worker("sms")
    await system.spawn_api()
    accepted: list[str] = []
    stop = asyncio.Event()

    async def client(k: int) -> None:
        """Single creates, one after another, until the API goes away."""
        async with system.client(timeout=10) as http:
            i = 0
            while not stop.is_set():
                try:
                    r = await http.post("/api/notifications", json=sms(k * 10_000 + i))
                except httpx.TransportError:
                    return
                if r.status_code == 201:
                    accepted.append(r.json()["data"]["_id"])
                i += 1

    # kill -9 the API mid-intake (eight clients sending), restart it, until a kill caught a
    # group commit between its tally and its settle (at most 8 kills)
    kills, left, rounds = 0, 0, 0
    while kills < 8 and not left:
        stop.clear()
        clients = [asyncio.create_task(client(rounds * 8 + k)) for k in range(8)]
        rounds += 1
        want = len(accepted) + 150
        await wait_for(partial(_at_least, accepted, want), within=60, what=f"{want} accepted")
        system.procs["api"].kill()
        await system.procs["api"].wait()
        kills += 1
        stop.set()
        await asyncio.gather(*clients)
        left = await orphaned(store)
        await system.spawn_api()  # its counters repair settles what the dead one left
    assert left, f"no kill of {kills} left an intake tally unsettled"

    # what the documents say: every stored one (answered or not) delivered
    stored = [str(d["_id"]) async for d in store.notifications.collection.find({}, {"_id": 1})]
    assert set(accepted) <= set(stored)
    await _sent_and_converged(store, ledger_dir, stored)
    stats = await store.counters.of(TENANT)
    assert stats.total == len(stored)
    assert TALLY_AFTER_S < CONVERGED_WITHIN_S


async def _at_least(items: list[str], n: int) -> bool:
    return len(items) >= n


async def _sent_and_converged(store: Store, ledger_dir: Path, ids: list[str]) -> None:
    """Every one of ``ids`` ends SENT, and the counters converge to the documents (no drift,
    one SENT counted for each)."""
    final = await wait_for(
        lambda: all_terminal(store, ids), within=120, what=f"{len(ids)} notifications"
    )
    assert set(final.values()) == {"SENT"}
    report = await wait_for(
        lambda: converged(store, ledger_dir),
        within=CONVERGED_WITHIN_S,
        interval=1,
        what="the counters to converge to the documents",
    )
    assert report.drift == {}
    assert await counted(store) == {"SENT": len(ids)}
