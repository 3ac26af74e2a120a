"""End to end: the API and the three workers as real processes, a mixed batch, the ledger."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bson import ObjectId

from tests.conftest import all_terminal, email, ledger, push, sms, wait_for
from tests.system import System
from wavecom.settings import Settings
from wavecom.store import Store

pytestmark = pytest.mark.e2e


@pytest.fixture
async def system(settings: Settings) -> AsyncIterator[System]:
    async with System(settings) as s:
        await s.start()
        yield s


async def test_a_mixed_batch_ends_exactly_as_the_providers_dictate(
    system: System, store: Store, ledger_dir: Path
) -> None:
    items: list[dict[str, Any]] = []
    expect: list[str] = []

    def add(item: dict[str, Any], outcome: str) -> None:
        items.append(item)
        expect.append(outcome)

    priorities = ["LOW", "MEDIUM", "HIGH", "CRITICAL"]
    for i in range(40):
        add({**email(i), "priority": priorities[i % 4]}, "SENT")
    for i in range(4):
        add(email(100 + i, domain="bounce.example"), "FAILED-permanent")
        add(email(200 + i, domain="flaky.example"), "FAILED-retried")
    for i in range(30):
        add({**sms(i), "priority": priorities[i % 4]}, "SENT")
    add({**sms(0), "recipient": "+234801555000"}, "FAILED-permanent")
    add({**sms(0), "recipient": "+234801555999"}, "FAILED-retried")
    for i in range(20):
        add({**push(i), "priority": priorities[i % 4]}, "SENT")
    add({**push(0), "recipient": "device-token-bounce"}, "FAILED-permanent")
    add({**push(0), "recipient": "device-token-flaky"}, "FAILED-retried")

    async with system.client(timeout=30) as http:
        r = await http.post("/api/notifications/batch", json={"notifications": items})
        assert r.status_code == 201, r.text
        ids = [x["data"]["_id"] for x in r.json()["data"]["results"]]
        single = await http.post("/api/notifications", json={**email(999), "priority": "HIGH"})
        assert single.status_code == 201
        ids.append(single.json()["data"]["_id"])
        expect.append("SENT")

        final = await wait_for(
            lambda: all_terminal(store, ids),
            within=60,
            what=f"{len(ids)} notifications to reach a final state",
        )
        docs = {
            str(d["_id"]): d for d in await store.notifications.get_many([ObjectId(i) for i in ids])
        }
        for nid, outcome in zip(ids, expect, strict=True):
            doc = docs[nid]
            if outcome == "SENT":
                assert final[nid] == "SENT", doc
                assert doc["retryCount"] == 0
                assert doc["providerMessageId"]
            elif outcome == "FAILED-permanent":
                assert final[nid] == "FAILED", doc
                assert doc["retryCount"] == 0
            else:
                assert final[nid] == "FAILED", doc
                assert doc["retryCount"] == 3

        sent_ids = {nid for nid, o in zip(ids, expect, strict=True) if o == "SENT"}
        assert ledger(ledger_dir) == Counter(dict.fromkeys(sent_ids, 1))

        async def settled() -> dict[str, Any] | None:
            # counters are written just after the statuses: give them their moment
            data: dict[str, Any] = (await http.get("/api/notifications/stats/system")).json()[
                "data"
            ]
            done = data["byStatus"]["SENT"] + data["byStatus"]["FAILED"] == len(ids)
            return (
                data
                if done and data["queueDepth"]["wavecom.dlq"] == len(ids) - len(sent_ids)
                else None
            )

        stats = await wait_for(settled, what="the counters to settle")
        assert stats["byStatus"]["SENT"] == len(sent_ids)
        assert stats["byStatus"]["FAILED"] == len(ids) - len(sent_ids)
        assert stats["queueDepth"]["wavecom.dlq"] == len(ids) - len(sent_ids)
        assert sum(v for k, v in stats["queueDepth"].items() if k != "wavecom.dlq") == 0

    codes = await system.stop()
    # uvicorn shuts down gracefully, then re-raises SIGTERM so its exit status names the signal
    assert codes == {"api": -signal.SIGTERM, "email": 0, "sms": 0, "push": 0}
