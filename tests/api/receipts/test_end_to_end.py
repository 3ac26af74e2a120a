"""Receipts end to end: the API and the workers as real processes, accounts applied with the
admin CLI from kubectl's YAML, a fake Twilio that calls the status callback back as Twilio
does, and Mailgun's bounce for an email relayed over real SMTP."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.callbacks.receiver import receiving
from tests.support.accounts import apply, bank_mail, bank_sms, manifest
from tests.support.events import Stream
from tests.support.notifications import email, sms
from tests.support.receipts import MAILGUN_KEY, mailgun_event
from tests.support.servers import make_tls, serving
from tests.support.smtp import SmtpServer
from tests.support.system import System
from tests.support.twilio import MESSAGES as TWILIO_MESSAGES
from tests.support.twilio import FakeTwilio
from tests.support.wait import wait_for
from wavecom.core.settings import Settings
from wavecom.store import Store

pytestmark = pytest.mark.e2e
RECEIPT_EVENTS = ["notification.delivered", "notification.undelivered", "notification.bounced"]


async def test_twilio_calls_back_delivered_a_forgery_is_refused_and_an_email_bounces(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    (tmp_path / "tls").mkdir()
    relay = SmtpServer(make_tls(tmp_path / "tls"), "none", auth=False)
    await relay.start()
    twilio = FakeTwilio(report_after_send="delivered")
    app = web.Application()
    app.router.add_post(TWILIO_MESSAGES, twilio.messages)
    try:
        async with serving(app) as base_url, System(settings) as system, receiving() as receiver:
            documents = manifest(bank_mail(relay.port, MAILGUN_KEY), bank_sms(base_url))
            key = apply(settings, tmp_path / "providers.yaml", documents)
            system.env.update(
                CREDENTIALS_KEY=key, PUBLIC_BASE_URL=system.url, RECEIPT_SWEEP_S="0.2"
            )
            await system.start()
            await system.spawn_callbacks()
            async with system.client(timeout=30) as http:
                # the tenant's signed status callbacks (docs/callbacks.md)
                r = await http.post(
                    "/api/admin/callbacks", json={"url": receiver.url, "events": RECEIPT_EVENTS}
                )
                assert r.status_code == 201, r.text
                receiver.secret = r.json()["data"]["secret"]
                stream = Stream(http)
                await wait_for(lambda: stream.has("ready"), what="the stream to open")
                try:
                    await _sms_delivered_and_forgery_refused(http, twilio, system, stream)
                    await _email_bounced(http, system, stream)
                finally:
                    await stream.close()

                async def counted() -> dict[str, Any] | None:
                    r = await http.get("/api/notifications/stats/system")
                    by_status = r.json()["data"]["byStatus"]
                    wanted = {"DELIVERED": 1, "UNDELIVERED": 1, "BOUNCED": 1, "SENT": 0}
                    return by_status if all(by_status[k] == v for k, v in wanted.items()) else None

                await wait_for(counted, what="the stats to count each receipt")

                async def called_back() -> bool:
                    return len(receiver.acknowledged) == 3

                # each receipt's state reached the tenant as a callback its secret verifies
                await wait_for(called_back, what="the tenant's three signed callbacks")
                types = sorted(p["type"] for p in receiver.payloads().values())
                assert types == sorted(RECEIPT_EVENTS)
                assert receiver.forged == 0
            await twilio.drain()
    finally:
        await relay.stop()
    # Twilio's own callback was answered 2xx (202 when it came first: held, then applied)
    assert twilio.callbacks[0][1:] in (("delivered", 200), ("delivered", 202))
    docs = await store.notifications.collection.find({}, {"status": 1}).to_list()
    assert sorted(d["status"] for d in docs) == ["BOUNCED", "DELIVERED", "UNDELIVERED"]


async def _sms_delivered_and_forgery_refused(
    http: Any, twilio: FakeTwilio, system: System, stream: Stream
) -> None:
    r = await http.post("/api/notifications", json=sms(1))
    assert r.status_code == 201, r.text
    nid = r.json()["data"]["_id"]

    async def delivered() -> dict[str, Any] | None:
        data: dict[str, Any] = (await http.get(f"/api/notifications/{nid}")).json()["data"]
        return data if data["notification"]["status"] == "DELIVERED" else None

    data = await wait_for(delivered, within=60, what="the SMS to be DELIVERED")
    assert [log["status"] for log in data["logs"]][-2:] == ["SENT", "DELIVERED"]
    (form,) = twilio.forms
    assert form["StatusCallback"] == f"{system.url}/api/receipts/twilio/bank-sms"

    await _streamed(stream, nid, "DELIVERED")

    # a second SMS: a forged callback is refused and changes nothing; the real one applies
    twilio.report_after_send = None
    r = await http.post("/api/notifications", json=sms(2))
    other = r.json()["data"]["_id"]

    sid = await _sent(http, other, "the second SMS")
    forged = await twilio.report(sid, "delivered", token="f" * 32)
    assert forged.status_code == 401
    assert forged.json()["error"]["code"] == "UNAUTHORIZED"
    n = (await http.get(f"/api/notifications/{other}")).json()["data"]["notification"]
    assert n["status"] == "SENT"
    real = await twilio.report(sid, "undelivered", error_code=30005)
    assert real.json()["data"] == {"result": "applied", "status": "UNDELIVERED"}


async def _email_bounced(http: Any, system: System, stream: Stream) -> None:
    r = await http.post("/api/notifications", json=email(3))
    nid = r.json()["data"]["_id"]

    message_id = await _sent(http, nid, "the email")
    bounce = mailgun_event(
        message_id,
        "failed",
        extra={"severity": "permanent", "delivery-status": {"code": 550}},
    )
    async with system.client(timeout=30) as anonymous:
        anonymous.headers.pop("Authorization")
        r = await anonymous.post(
            "/api/receipts/mailgun/bank-mail",
            content=bounce,
            headers={"content-type": "application/json"},
        )
    assert r.json()["data"] == {"result": "applied", "status": "BOUNCED"}, r.text
    n = (await http.get(f"/api/notifications/{nid}")).json()["data"]["notification"]
    assert (n["status"], n["receipt"]["code"]) == ("BOUNCED", "550")

    await _streamed(stream, nid, "BOUNCED")


async def _sent(http: Any, nid: str, what: str) -> str:
    """Once the notification ``nid`` is SENT, its provider's message id."""

    async def sent() -> str | None:
        n = (await http.get(f"/api/notifications/{nid}")).json()["data"]["notification"]
        return str(n["providerMessageId"]) if n["status"] == "SENT" else None

    return str(await wait_for(sent, within=60, what=f"{what} to be SENT"))


async def _streamed(stream: Stream, nid: str, status: str) -> None:
    async def streamed() -> bool:
        latest = stream.latest().get(nid)
        return latest is not None and latest["status"] == status

    await wait_for(streamed, what=f"{status} on the live stream")
