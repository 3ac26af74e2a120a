"""make verify / GET /api/admin/reconcile: every accepted notification is accounted for."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from bson import ObjectId

from tests.conftest import TENANT, RunWorker, all_terminal, create, email, sms, wait_for
from wavecom.reconcile import Report, reconcile
from wavecom.store import Store, utcnow


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
    assert "reconcile_stuck 0.0" in (await api.get("/api/metrics")).text


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


async def _settled(store: Store, ledger_dir: Path) -> Report | None:
    report = await reconcile(store, ledger_dir=str(ledger_dir))
    return report if not report.drift else None
