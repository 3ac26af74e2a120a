"""Fault injection with real processes: what the system does when something breaks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from bson import ObjectId

from tests.conftest import email, ledger, wait_for
from tests.test_e2e import System
from wavecom.settings import Settings
from wavecom.store import Store

pytestmark = pytest.mark.e2e


@pytest.fixture
async def system(settings: Settings) -> AsyncIterator[System]:
    s = System(settings)
    s.env.update({"PUBLISH_TIMEOUT_S": "1", "OUTBOX_GRACE_S": "2", "SCHEDULER_INTERVAL_S": "0.2"})
    yield s
    await s.stop()


async def test_e_the_api_killed_between_write_and_publish_is_covered_by_the_relay(
    system: System, store: Store, ledger_dir: Path
) -> None:
    await system.spawn_worker("email")
    await system.spawn_api("doomed-api", EXIT_BEFORE_PUBLISH="true")
    async with httpx.AsyncClient(base_url=system.url, timeout=10) as http:
        with pytest.raises(httpx.TransportError):
            await http.post("/api/notifications", json=email(1))
    assert await system.procs["doomed-api"].wait() == 137
    [doc] = await store.notifications.find({}).to_list()
    assert doc["status"] == "QUEUED"  # stored, never published, never answered

    await system.spawn_api()  # its relay finds the unconfirmed publish
    nid = str(doc["_id"])

    async def sent() -> bool:
        d = await store.notifications.find_one({"_id": ObjectId(nid)})
        return d is not None and d["status"] == "SENT"

    await wait_for(sent, within=30, what="the relay to publish and the worker to send")
    assert ledger(ledger_dir) == {nid: 1}
    assert await store.outbox.count_documents({}) == 0
