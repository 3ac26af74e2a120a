"""Operator actions: the dead-letter list, replay, retry and cancel, with a real worker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from bson import ObjectId

from tests.support.api import assert_error
from tests.support.notifications import all_terminal, create, email, ledger, put_mock_account, sms
from tests.support.processes import TENANT, RunWorker
from tests.support.wait import queue_empty, wait_for
from wavecom.core.constants import Channel, Lane, lane_queue
from wavecom.store import Store


async def fail_one_bounce_and_one_flaky(
    api: httpx.AsyncClient, store: Store, run_worker: RunWorker
) -> tuple[str, str]:
    worker = await run_worker()
    bounce, flaky = await create(
        api, [email(1, domain="bounce.example"), email(2, domain="flaky.example")]
    )
    await wait_for(lambda: all_terminal(store, [bounce, flaky]), what="both to fail")
    await run_worker.stop(worker)
    return bounce, flaky


async def test_dead_letters_are_listed_with_reason_attempts_and_error(
    api: httpx.AsyncClient, store: Store, run_worker: RunWorker
) -> None:
    bounce, flaky = await fail_one_bounce_and_one_flaky(api, store, run_worker)
    await create(api, [sms(1)])  # queued, not dead
    r = await api.get("/api/dlq")
    assert r.status_code == 200, r.text
    page = r.json()["data"]
    assert page["pagination"]["totalItems"] == 2
    by_id = {n["_id"]: n for n in page["notifications"]}
    assert by_id[bounce]["deadLetter"]["reason"] == "permanent"
    assert by_id[bounce]["deadLetter"]["attempts"] == 1
    assert "invalid recipient" in by_id[bounce]["deadLetter"]["lastError"]
    assert by_id[flaky]["deadLetter"]["reason"] == "retries_exhausted"
    assert by_id[flaky]["deadLetter"]["attempts"] == 4

    r = await api.get("/api/dlq", params={"reason": "permanent"})
    assert [n["_id"] for n in r.json()["data"]["notifications"]] == [bounce]
    r = await api.get("/api/dlq", params={"type": "SMS"})
    assert r.json()["data"]["pagination"]["totalItems"] == 0
    assert_error(
        await api.get("/api/dlq", params={"reason": "nope"}), 400, "VALIDATION_ERROR", "reason"
    )


async def test_retry_requeues_once_and_a_fixed_provider_delivers_it(
    api: httpx.AsyncClient, store: Store, run_worker: RunWorker, ledger_dir: Path
) -> None:
    bounce, _ = await fail_one_bounce_and_one_flaky(api, store, run_worker)
    # the provider account is fixed: the rule that bounced the domain is gone
    await put_mock_account(store, "alpha", latencyMs=5)
    await run_worker()
    r = await api.post(f"/api/notifications/{bounce}/retry")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] in {"QUEUED", "PROCESSING", "SENT"}
    assert r.json()["data"]["retryCount"] == 0
    assert_error(await api.post(f"/api/notifications/{bounce}/retry"), 409, "CONFLICT")
    final = await wait_for(lambda: all_terminal(store, [bounce]), what="the replayed email")
    assert final[bounce] == "SENT"
    assert ledger(ledger_dir)[bounce] == 1
    doc = (await api.get(f"/api/notifications/{bounce}")).json()["data"]
    assert "deadLetter" not in doc["notification"]
    steps = [e["status"] for e in doc["logs"]]
    assert steps[-3:] == ["QUEUED", "PROCESSING", "SENT"]
    assert "FAILED" in steps


async def test_replay_by_filter_twice_sends_each_once(
    api: httpx.AsyncClient, store: Store, run_worker: RunWorker, ledger_dir: Path
) -> None:
    bounce, flaky = await fail_one_bounce_and_one_flaky(api, store, run_worker)
    await put_mock_account(store, "alpha", latencyMs=5)
    await run_worker()
    first, second = (
        await api.post("/api/dlq/replay", json={"type": "EMAIL"}),
        await api.post("/api/dlq/replay", json={"type": "EMAIL"}),
    )
    assert first.status_code == 200, first.text
    assert sorted(first.json()["data"]["ids"]) == sorted([bounce, flaky])
    assert second.json()["data"]["replayed"] == 0
    await wait_for(lambda: all_terminal(store, [bounce, flaky]), what="the replays")
    assert ledger(ledger_dir) == {bounce: 1, flaky: 1}
    by_ids = await api.post("/api/dlq/replay", json={"ids": [bounce]})
    assert by_ids.json()["data"]["replayed"] == 0
    assert_error(
        await api.post("/api/dlq/replay", json={"ids": ["zz"]}), 400, "VALIDATION_ERROR", "ids.0"
    )


async def test_a_cancelled_notification_is_never_sent(
    api: httpx.AsyncClient,
    store: Store,
    run_worker: RunWorker,
    ledger_dir: Path,
    queue_depth: Callable[[str], Awaitable[int]],
) -> None:
    keep, drop = await create(api, [email(1), email(2)])
    r = await api.post(f"/api/notifications/{drop}/cancel")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["status"] == "CANCELLED"
    assert_error(await api.post(f"/api/notifications/{drop}/cancel"), 409, "CONFLICT")
    # the worker gets both messages; the cancelled one is consumed without a send
    await run_worker()
    await wait_for(lambda: all_terminal(store, [keep, drop]), what="both to finish")
    queue = lane_queue(Channel.EMAIL, Lane.STANDARD)
    await wait_for(lambda: queue_empty(queue_depth, queue), what="the queue to drain")
    assert ledger(ledger_dir) == {keep: 1}
    assert (await store.notifications.get(TENANT, ObjectId(drop)))["status"] == "CANCELLED"  # type: ignore[index]
    stats = (await api.get("/api/notifications/stats/system")).json()["data"]
    assert stats["byStatus"]["CANCELLED"] == 1
    assert stats["byStatus"]["SENT"] == 1
    assert stats["byStatus"]["QUEUED"] == 0


async def test_a_scheduled_notification_can_be_cancelled(
    api: httpx.AsyncClient, store: Store
) -> None:
    at = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = await api.post("/api/notifications", json={**sms(1), "scheduledAt": at})
    nid = r.json()["data"]["_id"]
    r = await api.post(f"/api/notifications/{nid}/cancel")
    assert r.status_code == 200, r.text
    assert await store.schedule.collection.count_documents({}) == 0


async def test_cancel_and_retry_answer_404_400_409(
    api: httpx.AsyncClient, store: Store, run_worker: RunWorker
) -> None:
    assert_error(await api.post("/api/notifications/" + "a" * 24 + "/cancel"), 404, "NOT_FOUND")
    assert_error(await api.post("/api/notifications/xyz/cancel"), 400, "INVALID_ID")
    assert_error(await api.post("/api/notifications/" + "a" * 24 + "/retry"), 404, "NOT_FOUND")
    await run_worker()
    [sent] = await create(api, [email(1)])
    await wait_for(lambda: all_terminal(store, [sent]))
    assert_error(await api.post(f"/api/notifications/{sent}/cancel"), 409, "CONFLICT")
    assert_error(await api.post(f"/api/notifications/{sent}/retry"), 409, "CONFLICT")
