"""(g) Overload: LOW, then MEDIUM, get 429 while HIGH and CRITICAL are accepted and delivered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from bson import ObjectId

from tests.support.api import assert_error
from tests.support.notifications import all_terminal, sms
from tests.support.processes import RunWorker, serve
from tests.support.wait import wait_for
from wavecom.api.depths import QueueDepths
from wavecom.core.constants import Channel
from wavecom.core.settings import Settings
from wavecom.store import Store


@pytest.fixture
async def shed_api(worker_settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    async with serve(
        worker_settings.model_copy(update={"shed_low_backlog": 30, "shed_medium_backlog": 60})
    ) as http:
        yield http, http.app.state.depths  # type: ignore[attr-defined]


def lows(n: int, start: int = 0) -> dict[str, Any]:
    return {"notifications": [{**sms(start + i), "priority": "LOW"} for i in range(n)]}


async def test_lower_priorities_are_refused_first_and_nothing_accepted_is_dropped(
    shed_api: tuple[httpx.AsyncClient, QueueDepths], store: Store, run_worker: RunWorker
) -> None:
    http, depths = shed_api
    accepted: list[str] = []

    async def post(body: dict[str, Any]) -> httpx.Response:
        r = await http.post("/api/notifications/batch", json=body)
        if r.status_code == 201:
            accepted.extend(x["data"]["_id"] for x in r.json()["data"]["results"] if x["success"])
        return r

    assert (await post(lows(40))).status_code == 201
    await depths.sample()  # the background tick, at once
    assert depths.standard(Channel.SMS) == 40

    refused = await http.post("/api/notifications", json={**sms(100), "priority": "LOW"})
    assert_error(refused, 429, "OVERLOADED")
    assert refused.headers["retry-after"] == "30"
    assert_error(await post(lows(5, 200)), 429, "OVERLOADED")
    mediums = {"notifications": [{**sms(300 + i), "priority": "MEDIUM"} for i in range(25)]}
    assert (await post(mediums)).status_code == 201

    await depths.sample()  # 65 waiting: MEDIUM is refused too
    medium = await http.post("/api/notifications", json={**sms(400), "priority": "MEDIUM"})
    assert_error(medium, 429, "OVERLOADED")
    mixed = await post(
        {
            "notifications": [
                {**sms(500), "priority": "LOW"},
                {**sms(501), "priority": "CRITICAL"},
                {**sms(502), "priority": "HIGH"},
            ]
        }
    )
    assert mixed.status_code == 201
    outcome = [
        (x["success"], (x.get("error") or {}).get("code")) for x in mixed.json()["data"]["results"]
    ]
    assert outcome == [(False, "OVERLOADED"), (True, None), (True, None)]
    critical = mixed.json()["data"]["results"][1]["data"]["_id"]

    await run_worker(Channel.SMS, batch_size=20, max_batches_in_flight=1)
    await wait_for(lambda: all_terminal(store, accepted), within=60, what="everything accepted")
    assert len(accepted) == 40 + 25 + 2
    docs = await store.notifications.get_many([ObjectId(i) for i in accepted])
    assert {d["status"] for d in docs} == {"SENT"}
    sent = sorted(d["sentAt"] for d in docs)
    crit = next(d["sentAt"] for d in docs if str(d["_id"]) == critical)
    assert crit <= sent[20], "the CRITICAL one waited behind the backlog"
