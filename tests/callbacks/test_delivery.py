"""Callbacks end to end in-process: the API, a channel worker and the callbacks process on the
real broker and database, POSTing to a real receiver that verifies every signature."""

from __future__ import annotations

import time

import httpx
from bson import ObjectId
from standardwebhooks import Webhook

from tests.callbacks.conftest import Running, register
from tests.callbacks.receiver import receiving
from tests.support.auth import as_other, key
from tests.support.notifications import create, email, statuses
from tests.support.processes import Workers
from tests.support.wait import wait_for
from wavecom.callbacks.payload import webhook_id
from wavecom.core.constants import Channel, Scope
from wavecom.store import Store


async def test_a_sent_notification_is_called_back_signed_with_its_reference_and_timeline(
    api: httpx.AsyncClient, run_worker: Workers, callbacks: Running, store: Store
) -> None:
    async with receiving() as receiver:
        endpoint_id, receiver.secret = await register(
            api, receiver.url, ["notification.sent", "notification.failed"]
        )
        await callbacks()
        await run_worker(Channel.EMAIL)
        item = {**email(1), "reference": "otp-42", "metadata": {"customer": "c-9"}}
        [nid] = await create(api, [item])
        bounced = await create(api, [email(2, "bounce.example")])

        async def both() -> bool:
            return len(receiver.acknowledged) == 2

        await wait_for(both, within=30, what="two callbacks")
        doc = await store.notifications.get("acme", ObjectId(nid))
        assert doc is not None
        sent_step = next(e for e in doc["timeline"] if e["status"] == "SENT")
        msg_id = webhook_id(nid, sent_step["_id"])
        payload = receiver.payloads()[msg_id]
        assert payload["type"] == "notification.sent"
        data = payload["data"]
        assert data["notificationId"] == nid
        assert data["reference"] == "otp-42"
        assert data["metadata"] == {"customer": "c-9"}
        assert data["status"] == "SENT"
        assert data["sequence"] == 1
        assert data["timelineEntry"]["id"] == sent_step["_id"]
        assert data["timelineEntry"]["status"] == "SENT"
        types = {p["data"]["notificationId"]: p["type"] for p in receiver.payloads().values()}
        assert types[bounced[0]] == "notification.failed"
        assert receiver.forged == 0

        # the API shows the notification's callback and the attempt that delivered it
        r = await api.get(f"/api/notifications/{nid}/callbacks")
        assert r.status_code == 200, r.text
        [cb] = r.json()["data"]
        assert cb["endpointId"] == endpoint_id
        assert cb["webhookId"] == msg_id
        assert cb["state"] == "delivered"
        assert [a["status"] for a in cb["attempts"]] == [204]
        assert cb["payload"] == payload


async def test_a_failing_then_hanging_receiver_gets_its_callback_when_it_recovers(
    api: httpx.AsyncClient, run_worker: Workers, callbacks: Running
) -> None:
    async with receiving(mode="down") as receiver:
        _, receiver.secret = await register(api, receiver.url)
        await callbacks()
        await run_worker(Channel.EMAIL)
        [nid] = await create(api, [email(3)])

        async def refused_twice() -> bool:
            return len(receiver.seen) >= 2

        await wait_for(refused_twice, within=20, what="two refused attempts")
        receiver.mode, receiver.hold_s = "slow", 3.0  # past the 1 s timeout

        async def timed_out() -> bool:
            r = await api.get(f"/api/notifications/{nid}/callbacks")
            return any(a["error"] for a in r.json()["data"][0]["attempts"])

        await wait_for(timed_out, within=20, what="an attempt that timed out")
        receiver.mode = "ok"

        async def delivered() -> dict[str, object] | None:
            r = await api.get(f"/api/notifications/{nid}/callbacks")
            cb: dict[str, object] = r.json()["data"][0]
            return cb if cb["state"] == "delivered" else None

        cb = await wait_for(delivered, within=30, what="the callback delivered")
        attempts = cb["attempts"]
        assert isinstance(attempts, list)
        statuses = [a["status"] for a in attempts]
        assert statuses[:2] == [503, 503]
        assert None in statuses  # the timeout: no answer
        assert statuses[-1] == 204
        assert [a["outcome"] for a in attempts][-1] == "delivered"


async def test_retry_after_is_honoured(
    api: httpx.AsyncClient, run_worker: Workers, callbacks: Running
) -> None:
    async with receiving(mode="busy") as receiver:
        receiver.retry_after = "2"
        _, receiver.secret = await register(api, receiver.url)
        await callbacks()
        await run_worker(Channel.EMAIL)
        await create(api, [email(4)])

        async def busy_once() -> bool:
            return len(receiver.seen) >= 1

        await wait_for(busy_once, within=20, what="a 429")
        receiver.mode = "ok"

        async def acknowledged() -> bool:
            return len(receiver.acknowledged) == 1

        await wait_for(acknowledged, within=20, what="the retry")
        first, second = receiver.seen[0][0], receiver.seen[1][0]
        assert second - first >= 1.9  # Retry-After: 2, beyond the 0.2-1 s backoff


async def test_a_parked_callback_is_listed_and_replayed_once(
    api: httpx.AsyncClient, run_worker: Workers, callbacks: Running
) -> None:
    async with receiving(mode="down") as receiver:
        endpoint_id, receiver.secret = await register(api, receiver.url)
        await callbacks(callback_retry_window_s=1.5)
        await run_worker(Channel.EMAIL)
        [nid] = await create(api, [email(5)])

        async def parked() -> list[dict[str, object]]:
            r = await api.get("/api/admin/callback-dead-letters")
            assert r.status_code == 200, r.text
            listed: list[dict[str, object]] = r.json()["data"]
            return listed

        [dead] = await wait_for(parked, within=30, what="a dead letter")
        assert dead["notificationId"] == nid
        assert dead["endpointId"] == endpoint_id
        assert dead["state"] == "parked"
        assert "no success within" in str(dead["parkedReason"])
        attempts = dead["attempts"]
        assert isinstance(attempts, list)
        assert len(attempts) >= 2
        assert {a["status"] for a in attempts} == {503}

        receiver.mode = "ok"
        r = await api.post("/api/admin/callback-dead-letters/replay", json={"ids": [dead["id"]]})
        assert r.status_code == 200, r.text
        assert r.json()["data"] == {"replayed": 1, "ids": [dead["id"]]}

        async def acknowledged() -> bool:
            return len(receiver.acknowledged) == 1

        await wait_for(acknowledged, within=20, what="the replayed callback")
        assert list(receiver.acknowledged.values()) == [1]
        assert list(receiver.acknowledged) == [dead["webhookId"]]
        assert (await parked()) == []
        # replaying it again changes nothing: it is not parked any more
        r = await api.post("/api/admin/callback-dead-letters/replay", json={"ids": [dead["id"]]})
        assert r.json()["data"]["replayed"] == 0


async def test_a_receiver_with_the_wrong_secret_refuses_and_the_callback_is_parked(
    api: httpx.AsyncClient, run_worker: Workers, callbacks: Running
) -> None:
    async with receiving() as receiver:
        _, secret = await register(api, receiver.url)
        _, receiver.secret = await register(api, receiver.url + "?other")  # another's secret
        assert secret != receiver.secret
        await callbacks()
        await run_worker(Channel.EMAIL)
        await create(api, [email(6)])

        async def one_each() -> bool:
            return receiver.forged == 1 and len(receiver.acknowledged) == 1

        await wait_for(one_each, within=20, what="one forged, one verified")

        async def parked() -> list[dict[str, object]]:
            r = await api.get("/api/admin/callback-dead-letters")
            listed: list[dict[str, object]] = r.json()["data"]
            return listed

        [dead] = await wait_for(parked, within=10, what="the refused one parked")
        assert dead["parkedReason"] == "HTTP 401"


async def test_the_repair_scan_queues_what_no_event_announced(
    api: httpx.AsyncClient, run_worker: Workers, callbacks: Running, store: Store
) -> None:
    """The events are hints: with no callbacks process running, nothing is bound to receive
    them and the broker drops them. The process started afterwards finds the change by its
    repair scan and delivers it, once."""
    async with receiving() as receiver:
        _, receiver.secret = await register(api, receiver.url)
        await run_worker(Channel.EMAIL)
        [nid] = await create(api, [email(7)])

        async def sent() -> bool:
            doc = await store.notifications.get("acme", ObjectId(nid))
            return doc is not None and doc["status"] == "SENT"

        await wait_for(sent, within=20, what="SENT")
        service = await callbacks()

        async def acknowledged() -> bool:
            return len(receiver.acknowledged) == 1

        await wait_for(acknowledged, within=20, what="the repaired callback")
        [payload] = receiver.payloads().values()
        assert payload["data"]["notificationId"] == nid
        # the next scans find it stored: nothing is queued twice
        assert await service.repair() == 0
        assert list(receiver.acknowledged.values()) == [1]


async def test_endpoint_changes_take_effect_within_seconds(
    api: httpx.AsyncClient, run_worker: Workers, callbacks: Running, store: Store
) -> None:
    async with receiving() as receiver:
        endpoint_id, old_secret = await register(api, receiver.url)
        receiver.secret = old_secret
        service = await callbacks()
        await run_worker(Channel.EMAIL)

        async def seen_by_the_process() -> bool:
            return service.revision == await store.endpoints.revision()

        r = await api.patch(f"/api/admin/callbacks/{endpoint_id}", json={"enabled": False})
        assert r.status_code == 200, r.text
        assert r.json()["data"]["enabled"] is False
        await wait_for(seen_by_the_process, within=5, what="the process to see the change")
        [quiet] = await create(api, [email(8)])

        async def sent() -> bool:
            doc = await store.notifications.get("acme", ObjectId(quiet))
            return doc is not None and doc["status"] == "SENT"

        await wait_for(sent, within=20, what="SENT while disabled")
        r = await api.post(f"/api/admin/callbacks/{endpoint_id}/rotate")
        assert r.status_code == 200, r.text
        new_secret = r.json()["data"]["secret"]
        assert new_secret != old_secret
        assert r.json()["data"]["previousSecretUntil"]
        r = await api.patch(f"/api/admin/callbacks/{endpoint_id}", json={"enabled": True})
        assert r.status_code == 200, r.text
        await wait_for(seen_by_the_process, within=5, what="the process to see the change")
        [loud] = await create(api, [email(9)])

        async def acknowledged() -> bool:
            return len(receiver.acknowledged) >= 1

        await wait_for(acknowledged, within=20, what="a callback after enabling")
        assert await service.repair() == 0  # the one SENT while disabled is not owed
        [payload] = receiver.payloads().values()
        assert payload["data"]["notificationId"] == loud
        r = await api.get(f"/api/notifications/{quiet}/callbacks")
        assert r.json()["data"] == []
        # during the grace period both secrets sign: the old secret and the new one verify
        [(_, msg_id, _)] = receiver.seen
        assert receiver.forged == 0
        body, headers = receiver.last
        assert len(headers["webhook-signature"].split()) == 2
        for secret in (new_secret, old_secret):
            assert Webhook(secret).verify(body, headers)["data"]["notificationId"] == loud
        [cb] = (await api.get(f"/api/notifications/{loud}/callbacks")).json()["data"]
        assert cb["webhookId"] == msg_id


async def test_cancelled_and_expired_notifications_are_called_back(
    api: httpx.AsyncClient, callbacks: Running
) -> None:
    """The API's own state changes (a cancel, the expiry sweep) reach the tenant too: no worker
    runs, so one notification waits to be cancelled and another until its validity ends."""
    async with receiving() as receiver:
        _, receiver.secret = await register(
            api, receiver.url, ["notification.cancelled", "notification.expired"]
        )
        await callbacks()
        [cancelled] = await create(api, [email(10)])
        [expired] = await create(api, [{**email(11), "ttlSeconds": 1}])
        r = await api.post(f"/api/notifications/{cancelled}/cancel")
        assert r.status_code == 200, r.text

        async def both() -> dict[str, str] | None:
            got = {p["data"]["notificationId"]: p["type"] for p in receiver.payloads().values()}
            return got if len(got) == 2 else None

        got = await wait_for(both, within=30, what="the cancel and the expiry called back")
        assert got == {cancelled: "notification.cancelled", expired: "notification.expired"}


async def test_a_hanging_endpoint_delays_neither_delivery_nor_another_tenant(
    api: httpx.AsyncClient, run_worker: Workers, callbacks: Running, store: Store
) -> None:
    """acme's receiver holds every POST past the 1 s timeout; globex's answers. Every
    notification is still SENT at once, and globex's callbacks all arrive while acme's lane is
    stuck in its timeouts."""
    async with (
        receiving(mode="slow") as slow,
        receiving() as fine,
        as_other(api, await key(api, "globex", *Scope)) as globex,
    ):
        slow.hold_s = 3.0  # past the 1 s timeout
        _, slow.secret = await register(api, slow.url)
        _, fine.secret = await register(globex, fine.url)
        await callbacks()
        await run_worker(Channel.EMAIL)
        started = time.monotonic()
        acme_ids = await create(api, [email(100 + i) for i in range(20)])
        globex_ids = await create(globex, [email(200 + i) for i in range(20)])

        async def all_sent() -> bool:
            s = await statuses(store, acme_ids + globex_ids)
            return len(s) == 40 and set(s.values()) == {"SENT"}

        await wait_for(all_sent, within=20, what="every notification SENT")

        async def globex_called_back() -> bool:
            return len(fine.acknowledged) == 20

        await wait_for(globex_called_back, within=20, what="globex's 20 callbacks")
        assert time.monotonic() - started < 30  # sent and called back, timeouts or not
        assert slow.acknowledged == {}
        assert slow.seen  # acme's lane was trying (and timing out) meanwhile
