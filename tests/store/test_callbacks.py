"""The callbacks' queries (store/callbacks.py) are answered through an index, over thousands of
records of many endpoints and tenants, as tests/store/test_indexes.py proves for the API's and
the workers' (the same recorder and explain)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.indexes import Recorder, explained, seed
from wavecom.store import Store
from wavecom.store.callbacks import PARKED, PENDING, attempt_doc


def _record(i: int, now: datetime) -> dict[str, Any]:
    endpoint = f"cb_{i % 40:016x}"
    return {
        "_id": f"{endpoint}:msg_{i:032x}",
        "endpointId": endpoint,
        "tenantId": f"t{i % 10}",
        "notificationId": f"{i:024x}",
        "webhookId": f"msg_{i:032x}",
        "type": "notification.sent",
        "status": "SENT",
        "sequence": 1,
        "stepId": f"{i:024x}:t:o",
        "stepAt": now,
        "body": b"{}",
        "state": (PENDING, PARKED, "delivered")[i % 3],
        "createdAt": now,
        "windowFrom": now,
        "dueAt": now - timedelta(seconds=i),
        "updatedAt": now,
        "attempts": [],
        "attemptCount": 0,
    }


async def test_every_callbacks_query_uses_an_index(store: Store, recording: Recorder) -> None:
    await seed(store)  # the notifications the repair scan reads, of many tenants
    now = datetime.now(UTC)
    await store.callbacks.collection.insert_many([_record(i, now) for i in range(4000)])
    await store.endpoints.collection.insert_many(
        [
            {"_id": f"cb_{i:016x}", "tenantId": f"t{i % 10}", "createdAt": now, "enabled": True}
            for i in range(40)
        ]
    )
    recording.queries.clear()

    due = await store.callbacks.due("cb_0000000000000001", now, 4)
    assert due
    assert await store.callbacks.claim(due[0], now + timedelta(minutes=1))
    attempt = attempt_doc(now, 503, None, 12, "retry")
    await store.callbacks.attempted(due[0]["_id"], attempt, state=PENDING, due=now)
    await store.callbacks.of_notification("t1", f"{1:024x}")
    parked = await store.callbacks.parked("t1", None, 100)
    await store.callbacks.parked("t1", "cb_0000000000000001", 100)
    await store.callbacks.replay("t1", [parked[0]["_id"]], now)
    await store.callbacks.add([_record(1, now), _record(99_999, now)])
    await store.endpoints.of_tenant("t3")
    await store.endpoints.get("t3", "cb_0000000000000003")
    await store.endpoints.change("t3", "cb_0000000000000003", {"enabled": False})
    await store.endpoints.repaired_to()
    async for _ in store.callbacks.changed_since(["t1", "t2"], ["SENT", "FAILED"], now):
        pass

    seen, offenders = explained(recording)
    assert len(seen) >= 10, seen
    assert not offenders, "\n".join(offenders)
