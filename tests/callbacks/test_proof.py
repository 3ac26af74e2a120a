"""The proof of #23's callbacks, with real processes: the API, the email worker and the
callbacks process (``python -m wavecom.callbacks``) as the deployment starts them.

acme's receiver is down (503) for the first part of a 1,000-notification run, while globex's
answers. globex's callbacks all arrive while acme's receiver is still down, each within seconds
of its status change; once acme's receiver recovers, it receives every one of its 1,000 events,
each exactly once by webhook-id, every signature verified by ``standardwebhooks``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from bson import ObjectId

from tests.callbacks.receiver import Receiver, receiving
from tests.support.processes import new_key
from tests.support.system import System
from tests.support.wait import wait_for
from wavecom.callbacks.payload import EVENT_TYPES, webhook_id
from wavecom.core.constants import Status
from wavecom.core.settings import Settings
from wavecom.store import Store

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

N = 1000
EVENTS = ["notification.sent", "notification.failed"]


@pytest.fixture
async def system(settings: Settings) -> AsyncIterator[System]:
    async with System(settings) as s:
        await s.spawn_worker("email")
        await s.spawn_api()
        yield s


async def _register(http: httpx.AsyncClient, receiver: Receiver) -> None:
    r = await http.post("/api/admin/callbacks", json={"url": receiver.url, "events": EVENTS})
    assert r.status_code == 201, r.text
    receiver.secret = r.json()["data"]["secret"]


async def _send(http: httpx.AsyncClient, tenant: str, count: int, first: int = 0) -> list[str]:
    ids: list[str] = []
    for start in range(first, first + count, 100):
        items = [
            {
                "type": "EMAIL",
                "recipient": f"{tenant}{i}@example.com",
                "subject": "Code",
                "message": f"Your code is {i:06d}",
                "reference": f"{tenant}-{i}",
                "metadata": {"i": i},
            }
            for i in range(start, min(first + count, start + 100))
        ]
        r = await http.post("/api/notifications/batch", json={"notifications": items})
        assert r.status_code == 201, r.text
        ids += [x["data"]["_id"] for x in r.json()["data"]["results"]]
    return ids


async def _expected(store: Store, ids: list[str]) -> dict[str, str]:
    """webhook-id -> notification id of the one callback each terminal notification owes."""
    docs = await store.notifications.get_many([ObjectId(i) for i in ids])
    wanted = {s.value for s, e in EVENT_TYPES.items() if e in EVENTS}
    out = {}
    for doc in docs:
        [step] = [e for e in doc["timeline"] if e["status"] in wanted]
        out[webhook_id(str(doc["_id"]), step["_id"])] = str(doc["_id"])
    return out


def _lag_s(receiver: Receiver) -> list[float]:
    """For each acknowledged callback: seconds from its status change to its arrival."""
    lags = []
    started = time.monotonic()
    now = datetime.now(UTC)
    for msg_id, payload in receiver.payloads().items():
        changed = datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00"))
        arrived_ago = started - receiver.acknowledged_at[msg_id]
        lags.append((now - changed).total_seconds() - arrived_ago)
    return lags


async def test_a_receiver_down_for_the_first_part_gets_every_event_once_and_delays_nobody(
    system: System, settings: Settings, store: Store
) -> None:
    globex_key = await new_key(settings, "globex")
    async with (
        receiving(mode="down") as acme_rx,
        receiving() as globex_rx,
        system.client(timeout=30) as acme,
        httpx.AsyncClient(
            base_url=system.url, headers={"Authorization": f"Bearer {globex_key}"}, timeout=30
        ) as globex,
    ):
        await _register(acme, acme_rx)
        await _register(globex, globex_rx)
        await system.spawn_callbacks()

        acme_ids = await _send(acme, "acme", N // 2)
        globex_ids = await _send(globex, "globex", 100)
        acme_ids += await _send(acme, "acme", N // 2, first=N // 2)
        assert len(acme_ids) == N

        async def all_final() -> bool:
            docs = await store.notifications.get_many([ObjectId(i) for i in acme_ids + globex_ids])
            return len(docs) == N + 100 and all(
                Status(d["status"]) in (Status.SENT, Status.FAILED) for d in docs
            )

        await wait_for(all_final, within=120, interval=0.5, what="every notification final")
        expected_globex = await _expected(store, globex_ids)

        async def globex_done() -> bool:
            return set(globex_rx.acknowledged) == set(expected_globex)

        await wait_for(globex_done, within=30, interval=0.2, what="globex's 100 callbacks")
        # globex was not held up by acme's dead receiver: all of its callbacks arrived while
        # acme's was still refusing, each within seconds of its status change
        assert acme_rx.acknowledged == {}
        lags = sorted(_lag_s(globex_rx))
        assert lags[-1] < 20.0, lags[-10:]  # seconds, not acme's retry schedule

        async def refused_a_hundred() -> bool:
            return len(acme_rx.seen) >= 100

        # acme's stays down a while longer: its lane keeps trying, and refused, meanwhile
        await wait_for(refused_a_hundred, within=60, interval=0.2, what="100 refused POSTs")
        assert acme_rx.acknowledged == {}

        acme_rx.mode = "ok"  # acme's receiver recovers
        expected_acme = await _expected(store, acme_ids)
        assert len(expected_acme) == N

        async def acme_done() -> bool:
            return set(acme_rx.acknowledged) == set(expected_acme)

        await wait_for(acme_done, within=120, interval=0.5, what="acme's 1,000 callbacks")
        # every event exactly once by webhook-id, for both tenants; nothing forged, nothing
        # of one tenant sent to the other
        assert set(acme_rx.acknowledged.values()) == {1}
        assert set(globex_rx.acknowledged.values()) == {1}
        assert acme_rx.forged == globex_rx.forged == 0
        payloads = acme_rx.payloads()
        assert {p["data"]["notificationId"] for p in payloads.values()} == set(acme_ids)
        assert all(p["data"]["reference"].startswith("acme-") for p in payloads.values())

        # the API shows each callback's attempts: refused ones first, then the delivery (of the
        # callback POSTed first, while the receiver refused: which one is first is the lane's
        # choice, not necessarily the first notification's)
        nid = acme_rx.seen[0][2]["data"]["notificationId"]
        r = await acme.get(f"/api/notifications/{nid}/callbacks")
        [cb] = r.json()["data"]
        assert cb["state"] == "delivered"
        assert cb["attempts"][0]["status"] == 503
        assert cb["attempts"][-1]["status"] == 204
