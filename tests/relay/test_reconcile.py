"""make verify / GET /api/admin/reconcile: every accepted notification is accounted for."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import httpx
from bson import ObjectId
from prometheus_client import generate_latest

from tests.support.notifications import all_terminal, create, email, sms
from tests.support.processes import TENANT, RunWorker
from tests.support.wait import wait_for
from wavecom.relay.reconcile import Report, Window, export_stuck, reconcile, reconcile_steps
from wavecom.store import Store, utcnow
from wavecom.store.counters import facet


def exported() -> str:
    """What the API process's metrics port serves (its registry; see tests/api/test_depths.py)."""
    return generate_latest().decode()


async def test_the_books_balance_after_sends_failures_and_a_cancel(
    api: httpx.AsyncClient, store: Store, run_worker: RunWorker, ledger_dir: Path
) -> None:
    [cancelled] = await create(api, [sms(9)])
    assert (await api.post(f"/api/notifications/{cancelled}/cancel")).status_code == 200
    await run_worker()
    ids = await create(api, [email(i) for i in range(5)] + [email(9, domain="bounce.example")])
    await wait_for(lambda: all_terminal(store, ids), what="the emails")
    report = await wait_for(lambda: _settled(store, ledger_dir), what="counters to settle")
    assert report.ok, report.as_dict()
    assert report.by_channel[TENANT]["EMAIL"] == {
        "accepted": 6,
        "sent": 5,
        "failed": 1,
        "cancelled": 0,
        "inFlight": 0,
    }
    assert report.by_channel[TENANT]["SMS"] == {
        "accepted": 1,
        "sent": 0,
        "failed": 0,
        "cancelled": 1,
        "inFlight": 0,
    }

    r = await api.get("/api/admin/reconcile")
    assert r.status_code == 200
    assert r.json()["data"]["ok"] is True
    assert "reconcile_stuck 0.0" in exported()


async def test_stuck_notifications_and_double_sends_are_reported(
    api: httpx.AsyncClient, store: Store, ledger_dir: Path
) -> None:
    [stuck] = await create(api, [sms(1)])  # queued, and no worker ever takes it
    await store.notifications.collection.update_one(
        {"_id": ObjectId(stuck)}, {"$set": {"updatedAt": utcnow() - timedelta(minutes=10)}}
    )
    (ledger_dir / "x-1.jsonl").write_bytes(b'{"notificationId": "n1"}\n{"notificationId": "n1"}\n')
    report = await reconcile(store, stuck_after_s=300, ledger_dir=str(ledger_dir))
    assert not report.ok
    assert [s["_id"] for s in report.stuck] == [stuck]
    assert report.ledger_problems == ["n1 sent 2 times"]
    assert report.balanced  # in flight, but accounted for


async def test_the_api_exports_the_stuck_notifications_every_tenant_has(
    api: httpx.AsyncClient, store: Store
) -> None:
    """What the WavecomNotificationsStuck alert reads: each API process sets reconcile_stuck
    every STUCK_CHECK_S from reconcile's scan (every tenant), capped at ``limit``."""
    ids = await create(api, [sms(i) for i in range(3)])  # queued; no worker takes them
    assert await export_stuck(store) == 0  # untouched for seconds only
    assert "reconcile_stuck 0.0" in exported()
    await store.notifications.collection.update_many(
        {"_id": {"$in": [ObjectId(i) for i in ids[:2]]}},
        {"$set": {"updatedAt": utcnow() - timedelta(minutes=10)}},
    )
    assert await export_stuck(store) == 2
    assert "reconcile_stuck 2.0" in exported()
    assert await export_stuck(store, limit=1) == 1


async def _settled(store: Store, ledger_dir: Path) -> Report | None:
    report = await reconcile(store, ledger_dir=str(ledger_dir))
    return report if not report.drift else None


async def _seed(store: Store, tenant: str, n: int, *, over: timedelta) -> Counter[tuple[str, str]]:
    """``n`` notifications of ``tenant`` created over the last ``over``, denser recently (a
    burst), with its counters; returns what was seeded by (channel, status)."""
    now = utcnow()
    seeded: Counter[tuple[str, str]] = Counter()
    docs = []
    changes: Counter[str] = Counter()
    statuses = ("SENT", "FAILED", "QUEUED", "CANCELLED")
    channels = ("EMAIL", "SMS", "PUSH")
    for i in range(n):
        age = over * (i / n) ** 3  # most of them recent
        channel, status = channels[i % 3], statuses[i % 4]
        docs.append(
            {
                "_id": ObjectId(),
                "tenantId": tenant,
                "type": channel,
                "status": status,
                "priority": "MEDIUM",
                "createdAt": now - age - timedelta(seconds=1),
                "updatedAt": now,
            }
        )
        seeded[(channel, status)] += 1
        changes["total"] += 1
        changes[f"byStatus.{status}"] += 1
        changes[facet(status, (channel, "MEDIUM"))] += 1
    await store.notifications.insert(docs)
    await store.counters.add({tenant: changes})
    return seeded


async def test_a_large_tenant_is_counted_in_windows_and_nothing_is_missed(store: Store) -> None:
    seeded = await _seed(store, "big", 3000, over=timedelta(days=30))
    await _seed(store, "other", 200, over=timedelta(days=1))
    windows: list[Window] = []
    report: Report | None = None
    async for step in reconcile_steps(store, tenant="big", windowed=True, window_docs=400):
        if isinstance(step, Window):
            windows.append(step)
        else:
            report = step
    assert report is not None
    assert report.ok, report.as_dict()
    assert len(windows) == report.windows > 3  # counted in several windows
    assert report.scanned == sum(w.documents for w in windows) == 3000
    rows = report.by_channel["big"]
    assert {c: rows[c]["accepted"] for c in rows} == {"EMAIL": 1000, "SMS": 1000, "PUSH": 1000}
    assert sum(rows[c]["sent"] for c in rows) == sum(
        n for (_, s), n in seeded.items() if s == "SENT"
    )
    assert set(report.by_channel) == {"big"}  # another tenant's documents are not its
    # the windows tile time: each ends where the next (older) one starts, the last is open
    for newer, older in itertools.pairwise(windows):
        assert older.until == newer.since
    assert windows[-1].since is None


async def test_counters_that_say_less_or_more_than_the_documents_miss_nothing(
    store: Store,
) -> None:
    await _seed(store, "drifted", 1500, over=timedelta(days=3))
    for wrong in (-1400, +100_000):  # counters far below, then far above the documents
        await store.counters.add({"drifted": Counter({"total": wrong})})
        async for step in reconcile_steps(store, tenant="drifted", window_docs=200):
            if isinstance(step, Report):
                assert step.scanned == 1500, wrong
        await store.counters.add({"drifted": Counter({"total": -wrong})})


async def test_the_api_streams_the_windows_then_the_report(
    api: httpx.AsyncClient, store: Store
) -> None:
    await create(api, [sms(i) for i in range(5)])
    async with api.stream(
        "GET", "/api/admin/reconcile", headers={"Accept": "application/x-ndjson"}
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) async for line in r.aiter_lines() if line]
    *windows, last = lines
    assert windows
    assert all("window" in w for w in windows)
    assert sum(w["window"]["documents"] for w in windows) == 5
    assert last["success"] is True
    assert last["data"]["documentsCounted"] == 5
    assert last["data"]["windows"] == len(windows)
    plain = (await api.get("/api/admin/reconcile")).json()["data"]
    assert plain["tenants"] == last["data"]["tenants"]
    assert plain["windows"] == 1  # the plain answer counts in one pass


async def test_a_tenant_receiving_a_burst_gets_a_small_first_window(store: Store) -> None:
    """2,000 in the last hour, most of them in its last minutes, over 1,000 in the day before:
    the first window is ten seconds (about 280 of them; ten minutes held 1,100), and the windows
    still count everything once."""
    await _seed(store, "busy", 2000, over=timedelta(hours=1))
    await _seed(store, "busy", 1000, over=timedelta(days=1))
    windows: list[Window] = []
    async for step in reconcile_steps(store, tenant="busy", windowed=True, window_docs=400):
        if isinstance(step, Window):
            windows.append(step)
    assert 0 < windows[0].documents <= 400
    assert sum(w.documents for w in windows) == 3000
    for newer, older in itertools.pairwise(windows):
        assert older.until == newer.since


async def test_a_burst_behind_a_quiet_spell_is_not_counted_in_one_window(store: Store) -> None:
    """A few notifications now, none for hours, then a burst of 3,000 within two minutes:
    the windows grow through the quiet hours, and the one that would reach into the burst
    (sized from the quiet density) is shortened until it holds at most twice its aim."""
    now = utcnow()
    docs = [
        {
            "_id": ObjectId(),
            "tenantId": "bursty",
            "type": "SMS",
            "status": "SENT",
            "priority": "MEDIUM",
            "createdAt": now - timedelta(hours=5, seconds=i * 0.04),
            "updatedAt": now,
        }
        for i in range(3000)
    ] + [
        {
            "_id": ObjectId(),
            "tenantId": "bursty",
            "type": "SMS",
            "status": "SENT",
            "priority": "MEDIUM",
            "createdAt": now - timedelta(minutes=5 * i + 1),
            "updatedAt": now,
        }
        for i in range(40)
    ]
    await store.notifications.insert(docs)
    await store.counters.add(
        {
            "bursty": Counter(
                {"total": 3040, "byStatus.SENT": 3040, facet("SENT", ("SMS", "MEDIUM")): 3040}
            )
        }
    )
    windows: list[Window] = []
    async for step in reconcile_steps(store, tenant="bursty", windowed=True, window_docs=200):
        if isinstance(step, Window):
            windows.append(step)
    assert sum(w.documents for w in windows) == 3040
    assert max(w.documents for w in windows[:-1]) <= 400, [w.documents for w in windows]
    for newer, older in itertools.pairwise(windows):
        assert older.until == newer.since
