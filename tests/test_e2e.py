"""End to end: the API and the three workers as real processes, a mixed batch, the ledger."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from bson import ObjectId
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.accounts import apply, bank_mail, bank_push, bank_sms, manifest
from tests.support.fcm import PROJECT as FCM_PROJECT
from tests.support.fcm import FakeGoogle, pem
from tests.support.notifications import all_terminal, email, ledger, push, sms
from tests.support.servers import make_tls, serving
from tests.support.smtp import SmtpServer
from tests.support.system import System
from tests.support.twilio import MESSAGES as TWILIO_MESSAGES
from tests.support.twilio import FakeTwilio
from tests.support.wait import wait_for
from wavecom.core.settings import Settings
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


async def test_one_notification_per_channel_goes_out_through_a_real_driver(
    settings: Settings, store: Store, tmp_path: Path
) -> None:
    """SMTP, Twilio and FCM accounts written with the admin CLI from kubectl's YAML, their
    credentials sealed; real worker processes deliver through local protocol servers."""
    (tmp_path / "tls").mkdir()
    relay = SmtpServer(make_tls(tmp_path / "tls"), "none", auth=False)
    await relay.start()
    twilio, service_key = (
        FakeTwilio(),
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
    )
    google = FakeGoogle(service_key.public_key())
    app = web.Application()
    app.router.add_post(TWILIO_MESSAGES, twilio.messages)
    app.router.add_post("/token", google.token)
    app.router.add_post("/v1/projects/{project}/messages:send", google.send)
    try:
        async with serving(app) as base_url, System(settings) as system:
            google.token_url = f"{base_url}/token"
            documents = manifest(
                bank_mail(relay.port), bank_sms(base_url), bank_push(base_url, pem(service_key))
            )
            system.env["CREDENTIALS_KEY"] = apply(settings, tmp_path / "providers.yaml", documents)
            await system.start()
            async with system.client(timeout=30) as http:
                items = [email(1), {**sms(1), "recipient": "+15005550006"}, push(1)]
                r = await http.post("/api/notifications/batch", json={"notifications": items})
                assert r.status_code == 201, r.text
                ids = [x["data"]["_id"] for x in r.json()["data"]["results"]]
                final = await wait_for(
                    lambda: all_terminal(store, ids), within=60, what="three real sends"
                )
                assert list(final.values()) == ["SENT"] * 3, final
                docs = {
                    d["type"]: d
                    for d in await store.notifications.get_many([ObjectId(i) for i in ids])
                }
    finally:
        await relay.stop()

    (mail,) = relay.mailbox.messages
    assert mail["To"] == "user1@example.com"
    assert docs["EMAIL"]["provider"] == "bank-mail"
    assert docs["EMAIL"]["providerMessageId"] == str(mail["Message-ID"])
    (form,) = twilio.forms
    assert (form["To"], form["From"]) == ("+15005550006", "+15005550000")
    assert docs["SMS"]["providerMessageId"] == f"SM{1:032x}"
    (message,) = google.messages
    assert message["token"] == push(1)["recipient"]
    assert docs["PUSH"]["providerMessageId"].startswith(f"projects/{FCM_PROJECT}/messages/")
