"""/api/receipts: provider receipts move SENT notifications on, through real drivers.

The API is served by uvicorn (providers call it over HTTP) and in-process workers deliver
through real drivers to local protocol servers: a fake Twilio that calls the status callback
back with a correct signature, an SMTP relay, and a webhook gateway. Each receipt is sent as its
provider sends it (the gateway's and the relay's signed with the ``standardwebhooks`` reference
package), and its effect is read where a user reads it: GET, the list filter, the stats, the
live stream.
"""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web
from prometheus_client import REGISTRY
from pydantic import SecretStr

from tests.support.api import uvicorn_api
from tests.support.events import Stream
from tests.support.notifications import email, push, sms
from tests.support.processes import EVERY_SCOPE, TENANT, Workers, serve
from tests.support.receipts import MAILGUN_KEY, delivery_report, mailgun_event, standard_webhook
from tests.support.servers import make_tls, serving
from tests.support.services import free_port
from tests.support.smtp import SmtpServer
from tests.support.twilio import MESSAGES as TWILIO_MESSAGES
from tests.support.twilio import SID, TOKEN, FakeTwilio, twilio_signature
from tests.support.wait import wait_for
from tests.support.webhook import SECRET as GATEWAY_SECRET
from tests.support.webhook import Gateway
from wavecom.core.constants import Channel
from wavecom.core.settings import Settings
from wavecom.providers import accounts
from wavecom.providers.credentials import Cipher
from wavecom.store import Store

DSN_SECRET = "whsec_" + base64.b64encode(bytes(range(100, 132))).decode()


@dataclass
class Bank:
    """The API (over HTTP), its workers, and the providers they deliver through."""

    url: str
    app: Any
    http: httpx.AsyncClient
    store: Store
    twilio: FakeTwilio
    gateway: Gateway
    relay: SmtpServer

    async def send(self, item: dict[str, Any]) -> str:
        r = await self.http.post("/api/notifications", json=item)
        assert r.status_code == 201, r.text
        nid: str = r.json()["data"]["_id"]
        return nid

    async def get(self, nid: str) -> dict[str, Any]:
        r = await self.http.get(f"/api/notifications/{nid}")
        assert r.status_code == 200, r.text
        data: dict[str, Any] = r.json()["data"]
        return data

    async def reaches(self, nid: str, status: str, within: float = 30) -> dict[str, Any]:
        async def there() -> dict[str, Any] | None:
            data = await self.get(nid)
            return data if data["notification"]["status"] == status else None

        return await wait_for(there, within=within, what=f"{nid} to be {status}")

    async def stats(self) -> dict[str, Any]:
        r = await self.http.get("/api/notifications/stats/system")
        data: dict[str, Any] = r.json()["data"]
        return data

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as anonymous:
            return await anonymous.post(path, **kwargs)


@pytest.fixture
async def bank(settings: Settings, store: Store, tmp_path: Path) -> AsyncIterator[Bank]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    keyed = settings.model_copy(
        update={
            "credentials_key": SecretStr(base64.b64encode(os.urandom(32)).decode()),
            "public_base_url": url,
            "receipt_sweep_s": 0.2,
        }
    )
    twilio, gateway = FakeTwilio(), Gateway()
    providers = web.Application()
    providers.router.add_post(TWILIO_MESSAGES, twilio.messages)
    providers.router.add_post("/hooks/wavecom", gateway.receive)
    (tmp_path / "tls").mkdir()
    relay = SmtpServer(make_tls(tmp_path / "tls"), "none", auth=False)
    await relay.start()
    cipher = Cipher.of(keyed)
    workers = Workers(keyed)
    try:
        async with serving(providers) as base_url:
            for name, channel, driver, fields, secrets in (
                (
                    "bank-sms",
                    Channel.SMS,
                    "twilio",
                    {"baseUrl": base_url, "fromNumber": "+15005550000"},
                    {"accountSid": SID, "authToken": TOKEN},
                ),
                (
                    "bank-gw",
                    Channel.PUSH,
                    "webhook",
                    {"url": f"{base_url}/hooks/wavecom"},
                    {"secret": GATEWAY_SECRET},
                ),
                (
                    "bank-mail",
                    Channel.EMAIL,
                    "smtp",
                    {
                        "host": "127.0.0.1",
                        "port": relay.port,
                        "security": "none",
                        "fromAddress": "otp@bank.example",
                    },
                    {"mailgunSigningKey": MAILGUN_KEY, "receiptsSecret": DSN_SECRET},
                ),
            ):
                spec = accounts.AccountSpec(
                    channel=channel, driver=driver, settings=fields, priority=1
                )
                await accounts.apply(
                    store, cipher, name, spec, secrets, source="admin", environment="test"
                )
            for channel in Channel:
                await workers(channel)
            async with uvicorn_api(keyed, port) as app:
                _, token = await app.state.auth.keys.create(TENANT, EVERY_SCOPE)
                async with httpx.AsyncClient(
                    base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
                ) as http:
                    yield Bank(url, app, http, store, twilio, gateway, relay)
                await twilio.drain()
    finally:
        for worker in list(workers.running):
            await workers.stop(worker)
        await relay.stop()


def receipts_counted(provider: str, status: str, result: str, code: str = "") -> float:
    value = REGISTRY.get_sample_value(
        "provider_receipts_total",
        {"provider": provider, "status": status, "code": code, "result": result},
    )
    return value or 0.0


def receipt_steps(data: dict[str, Any]) -> list[dict[str, Any]]:
    return [log for log in data["logs"] if ":receipt:" in log["_id"]]


async def test_twilio_calls_back_delivered_and_it_shows_in_get_the_stream_and_the_stats(
    bank: Bank,
) -> None:
    """Twilio's callback races its 201: it may come before the worker stored SENT with the
    sid, and is then held and applied by the sweep. Either way the SMS ends DELIVERED."""
    bank.twilio.report_after_send = "delivered"
    stream = Stream(bank.http)
    await wait_for(lambda: stream.has("ready"), what="the stream to open")
    try:
        nid = await bank.send(sms(1))
        data = await bank.reaches(nid, "DELIVERED")
        await bank.twilio.drain()
        ((sid, status, answer),) = bank.twilio.callbacks
        assert (status, answer in (200, 202)) == ("delivered", True)
        (form,) = bank.twilio.forms
        assert form["StatusCallback"] == f"{bank.url}/api/receipts/twilio/bank-sms"
        n = data["notification"]
        assert (n["providerMessageId"], n["provider"]) == (sid, "bank-sms")
        assert n["receipt"]["status"] == "DELIVERED"
        assert n["sentAt"]  # it was SENT first
        statuses = [log["status"] for log in data["logs"]]
        assert statuses[-2:] == ["SENT", "DELIVERED"]
        (step,) = receipt_steps(data)
        assert step["metadata"]["provider"] == "bank-sms"
        assert step["metadata"]["providerMessageId"] == sid
        assert step["metadata"]["via"] == "twilio"

        async def streamed() -> bool:
            latest = stream.latest().get(nid)
            return latest is not None and latest["status"] == "DELIVERED"

        await wait_for(streamed, what="DELIVERED on the live stream")
    finally:
        await stream.close()

    async def counted() -> dict[str, Any] | None:
        s = await bank.stats()
        return s if s["byStatus"]["DELIVERED"] == 1 else None

    stats = await wait_for(counted, what="the stats to count DELIVERED")
    assert stats["byStatus"]["SENT"] == 0
    assert stats["successRate"] == 100.0
    listed = await bank.http.get("/api/notifications", params={"status": "DELIVERED"})
    assert [x["_id"] for x in listed.json()["data"]["notifications"]] == [nid]


async def test_a_wrongly_signed_or_unsigned_callback_is_a_401_and_changes_nothing(
    bank: Bank,
) -> None:
    nid = await bank.send(sms(2))
    sent = await bank.reaches(nid, "SENT")
    sid = sent["notification"]["providerMessageId"]

    forged = await bank.twilio.report(sid, "delivered", token="0" * 32)
    assert forged.status_code == 401
    assert forged.json()["success"] is False
    assert forged.json()["error"]["code"] == "UNAUTHORIZED"
    unsigned = await bank.post(
        "/api/receipts/twilio/bank-sms", data={"MessageSid": sid, "MessageStatus": "delivered"}
    )
    assert unsigned.status_code == 401
    # signed for another URL (a receipt replayed against another account's endpoint)
    elsewhere = await bank.twilio.report(
        sid, "delivered", url=f"{bank.url}/api/receipts/twilio/bank-gw"
    )
    assert elsewhere.status_code == 401
    after = await bank.get(nid)
    assert after["notification"]["status"] == "SENT"
    assert receipt_steps(after) == []

    # the real one: undelivered with Twilio's error code; then repeated, then a late delivered
    real = await bank.twilio.report(sid, "undelivered", error_code=30003)
    assert (real.status_code, real.json()["data"]) == (
        200,
        {"result": "applied", "status": "UNDELIVERED"},
    )
    again = await bank.twilio.report(sid, "undelivered", error_code=30003)
    assert again.json()["data"]["result"] == "ignored"
    late = await bank.twilio.report(sid, "delivered")
    assert late.json()["data"]["result"] == "ignored"
    early = await bank.twilio.report(sid, "sent")
    assert early.json()["data"] == {"result": "notFinal"}
    data = await bank.get(nid)
    assert data["notification"]["status"] == "UNDELIVERED"
    assert data["notification"]["receipt"]["code"] == "30003"
    (step,) = receipt_steps(data)
    assert step["metadata"]["code"] == "30003"
    assert receipts_counted("bank-sms", "UNDELIVERED", "ignored", "30003") >= 1


async def test_an_email_bounce_reported_by_mailgun_and_a_complaint_after_delivery(
    bank: Bank,
) -> None:
    bounced, complained = await bank.send(email(3)), await bank.send(email(4))
    first = await bank.reaches(bounced, "SENT")
    second = await bank.reaches(complained, "SENT")
    mid = first["notification"]["providerMessageId"]
    assert mid in {str(m["Message-ID"]) for m in bank.relay.mailbox.messages}
    endpoint = "/api/receipts/mailgun/bank-mail"
    json = {"content-type": "application/json"}

    wrong = await bank.post(
        endpoint, content=mailgun_event(mid, "delivered", key="key-wrong"), headers=json
    )
    assert wrong.status_code == 401
    assert (await bank.get(bounced))["notification"]["status"] == "SENT"

    bounce = mailgun_event(
        mid,
        "failed",
        extra={
            "severity": "permanent",
            "reason": "bounce",
            "delivery-status": {"code": 550, "description": "No such mailbox"},
        },
    )
    r = await bank.post(endpoint, content=bounce, headers=json)
    assert r.json()["data"] == {"result": "applied", "status": "BOUNCED"}, r.text
    data = await bank.get(bounced)
    assert data["notification"]["status"] == "BOUNCED"
    assert data["notification"]["receipt"]["code"] == "550"
    assert receipt_steps(data)[0]["metadata"]["reason"] == "No such mailbox"
    # a delivery report that arrives after the bounce changes nothing
    r = await bank.post(endpoint, content=mailgun_event(mid, "delivered"), headers=json)
    assert r.json()["data"]["result"] == "ignored"
    # temporary failures are Mailgun's to retry: not final
    r = await bank.post(
        endpoint,
        content=mailgun_event(mid, "failed", extra={"severity": "temporary"}),
        headers=json,
    )
    assert r.json()["data"] == {"result": "notFinal"}

    other = second["notification"]["providerMessageId"]
    for event, status in (("delivered", "DELIVERED"), ("complained", "COMPLAINED")):
        r = await bank.post(endpoint, content=mailgun_event(other, event), headers=json)
        assert r.json()["data"] == {"result": "applied", "status": status}
    data = await bank.get(complained)
    assert [s["status"] for s in receipt_steps(data)] == ["DELIVERED", "COMPLAINED"]

    async def counted() -> dict[str, Any] | None:
        s = await bank.stats()
        return s if s["byStatus"]["BOUNCED"] == 1 and s["byStatus"]["COMPLAINED"] == 1 else None

    stats = await wait_for(counted, what="the stats to count the bounce and the complaint")
    assert stats["byStatus"]["SENT"] == stats["byStatus"]["DELIVERED"] == 0
    assert stats["successRate"] == 50.0  # the complaint arrived; the bounce did not


async def test_a_gateway_receipt_signed_per_standard_webhooks(bank: Bank) -> None:
    nid = await bank.send(push(5))
    sent = await bank.reaches(nid, "SENT")
    gw_id = sent["notification"]["providerMessageId"]
    assert gw_id == "gw_1"
    body = orjson.dumps(
        {
            "type": "message.status",
            "data": {"messageId": gw_id, "status": "delivered", "at": "2030-01-01T00:00:00Z"},
        }
    )
    endpoint = "/api/receipts/webhook/bank-gw"
    other_secret = "whsec_" + base64.b64encode(bytes(32)).decode()
    wrong = await bank.post(endpoint, content=body, headers=standard_webhook(other_secret, body))
    assert wrong.status_code == 401
    stale = standard_webhook(GATEWAY_SECRET, body) | {"webhook-timestamp": "1000000000"}
    assert (await bank.post(endpoint, content=body, headers=stale)).status_code == 401
    assert (await bank.get(nid))["notification"]["status"] == "SENT"

    r = await bank.post(endpoint, content=body, headers=standard_webhook(GATEWAY_SECRET, body))
    assert r.json()["data"] == {"result": "applied", "status": "DELIVERED"}
    data = await bank.get(nid)
    assert data["notification"]["receipt"]["at"] == "2030-01-01T00:00:00.000Z"

    # signed, but not a receipt: a 400 naming the field
    bad = orjson.dumps({"data": {"status": "delivered"}})
    r = await bank.post(endpoint, content=bad, headers=standard_webhook(GATEWAY_SECRET, bad))
    assert r.status_code == 400
    assert r.json()["error"]["details"][0]["field"] == "data.messageId"


async def test_a_delivery_status_notification_from_the_banks_relay(bank: Bank) -> None:
    nid = await bank.send(email(6))
    sent = await bank.reaches(nid, "SENT")
    mid = sent["notification"]["providerMessageId"]
    endpoint = "/api/receipts/dsn/bank-mail"
    report = delivery_report(mid, "failed", "5.1.1")
    rfc822 = {"content-type": "message/rfc822"}
    unsigned = await bank.post(endpoint, content=report, headers=rfc822)
    assert unsigned.status_code == 401
    delayed = delivery_report(mid, "delayed", "4.4.1")
    r = await bank.post(
        endpoint, content=delayed, headers=rfc822 | standard_webhook(DSN_SECRET, delayed)
    )
    assert r.json()["data"] == {"result": "notFinal"}
    r = await bank.post(
        endpoint, content=report, headers=rfc822 | standard_webhook(DSN_SECRET, report)
    )
    assert r.json()["data"] == {"result": "applied", "status": "BOUNCED"}, r.text
    data = await bank.get(nid)
    assert data["notification"]["receipt"] == {
        "status": "BOUNCED",
        "at": "2026-12-06T10:00:05.000Z",
        "code": "5.1.1",
    }
    assert "Recipient address rejected" in receipt_steps(data)[0]["metadata"]["reason"]


async def test_an_unknown_id_is_a_202_held_then_counted_and_dropped(bank: Bank) -> None:
    before = receipts_counted("bank-gw", "DELIVERED", "unknown")
    body = orjson.dumps({"data": {"messageId": "gw_nobody", "status": "delivered"}})
    headers = standard_webhook(GATEWAY_SECRET, body)
    for _ in range(2):  # the provider retries: held once
        r = await bank.post("/api/receipts/webhook/bank-gw", content=body, headers=headers)
        assert (r.status_code, r.json()["data"]) == (202, {"result": "held", "status": "DELIVERED"})
    assert await bank.store.receipts.held_count() == 1
    assert receipts_counted("bank-gw", "DELIVERED", "held") >= 2

    # the API's sweep drops what was held longer than RECEIPT_HOLD_S, and counts it
    bank.app.state.receipts.hold_s = 0

    async def dropped() -> bool:
        return await bank.store.receipts.held_count() == 0

    await wait_for(dropped, what="the sweep to drop the unknown receipt")
    assert receipts_counted("bank-gw", "DELIVERED", "unknown") == before + 1


async def test_behind_a_proxy_twilio_signs_the_public_url(settings: Settings, store: Store) -> None:
    """The API sees http://api.test/...; Twilio called (and signed) PUBLIC_BASE_URL's URL."""
    public = "https://notify.bank.example/edge"
    keyed = settings.model_copy(
        update={
            "credentials_key": SecretStr(base64.b64encode(os.urandom(32)).decode()),
            "public_base_url": public,
        }
    )
    spec = accounts.AccountSpec(
        channel=Channel.SMS, driver="twilio", settings={"fromNumber": "+15005550000"}
    )
    await accounts.apply(
        store,
        Cipher.of(keyed),
        "bank-sms",
        spec,
        {"accountSid": SID, "authToken": TOKEN},
        source="admin",
        environment="test",
    )
    form = {"AccountSid": SID, "MessageSid": "SM" + "9" * 32, "MessageStatus": "delivered"}
    path = "/api/receipts/twilio/bank-sms"
    async with serve(keyed) as http:
        for signed_for, answer in (
            (public + path, 202),  # held: no notification has this sid yet
            ("http://api.test" + path, 202),  # no proxy: the URL as received
            ("https://elsewhere.example" + path, 401),
        ):
            r = await http.post(
                path,
                data=form,
                headers={"X-Twilio-Signature": twilio_signature(signed_for, form)},
            )
            assert r.status_code == answer, (signed_for, r.text)


async def test_the_spec_documents_each_receipt_endpoint_without_an_api_key(
    client: httpx.AsyncClient,
) -> None:
    spec = (await client.get("/openapi.json")).json()
    for kind in ("twilio", "webhook", "mailgun", "dsn"):
        op = spec["paths"][f"/api/receipts/{kind}/{{account}}"]["post"]
        assert not op.get("security"), kind
        assert {"200", "202", "400", "401"} <= set(op["responses"]), kind
        assert op["requestBody"]["required"] is True
    twilio_op = spec["paths"]["/api/receipts/twilio/{account}"]["post"]
    assert "X-Twilio-Signature" in {p["name"] for p in twilio_op["parameters"]}
    dsn_op = spec["paths"]["/api/receipts/dsn/{account}"]["post"]
    assert "message/rfc822" in dsn_op["requestBody"]["content"]
    assert "webhook-signature" in {p["name"] for p in dsn_op["parameters"]}
