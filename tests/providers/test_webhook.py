"""The webhook driver against a local gateway that verifies Standard Webhooks signatures with the
``standardwebhooks`` reference package."""

from __future__ import annotations

import asyncio
import base64
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from aiohttp import web
from standardwebhooks import Webhook

from tests.support.servers import closed_port
from tests.support.webhook import SECRET, Gateway, driver, request
from wavecom.core.errors import PermanentProviderError, TransientProviderError
from wavecom.providers.base import Provider
from wavecom.providers.webhook import sign, signing_key

OTHER_SECRET = "whsec_" + base64.b64encode(bytes(range(32, 64))).decode()


def test_the_signature_is_the_reference_implementations() -> None:
    body = b'{"type":"notification.sms"}'
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    ours = sign(signing_key(SECRET), "n1:0", int(at.timestamp()), body)
    assert ours == Webhook(SECRET).sign("n1:0", at, body.decode())


async def test_a_send_is_signed_and_returns_the_gateways_id(
    gateway: tuple[Gateway, str], made: list[Provider]
) -> None:
    fake, url = gateway
    receipt = await driver(made, url).send(request())
    assert (receipt.provider, receipt.provider_message_id) == ("gateway", "gw_1")
    [payload] = fake.payloads
    assert payload["type"] == "notification.sms"
    assert payload["data"] == {
        "notificationId": "n1",
        "attempt": 2,
        "idempotencyKey": "n1:2",
        "channel": "SMS",
        "recipient": "+2348012345678",
        "subject": None,
        "message": "Your code is 123456",
        "metadata": {"userId": "12345"},
    }
    assert fake.headers[0]["webhook-id"] == "n1:2"
    assert fake.headers[0]["webhook-signature"].startswith("v1,")


async def test_without_an_id_in_the_answer_the_webhook_id_is_the_message_id(
    gateway: tuple[Gateway, str], made: list[Provider]
) -> None:
    fake, url = gateway
    fake.replies.append(web.Response(status=204))
    receipt = await driver(made, url).send(request())
    assert receipt.provider_message_id == "n1:2"


@pytest.mark.parametrize(("status", "retry_after"), [(408, None), (429, "7"), (503, "30")])
async def test_timeouts_throttling_and_5xx_are_transient(
    gateway: tuple[Gateway, str], made: list[Provider], status: int, retry_after: str | None
) -> None:
    fake, url = gateway
    headers = {"Retry-After": retry_after} if retry_after else {}
    fake.replies.append(web.Response(status=status, headers=headers))
    with pytest.raises(TransientProviderError, match=f"HTTP {status}") as caught:
        await driver(made, url).send(request())
    assert caught.value.retry_after_s == (float(retry_after) if retry_after else None)


@pytest.mark.parametrize("status", [400, 404, 410, 422, 302])
async def test_other_4xx_and_redirects_are_permanent(
    gateway: tuple[Gateway, str], made: list[Provider], status: int
) -> None:
    fake, url = gateway
    fake.replies.append(web.Response(status=status, headers={"Location": "/elsewhere"}))
    with pytest.raises(PermanentProviderError, match=f"HTTP {status}"):
        await driver(made, url).send(request())


async def test_a_rejected_signature_is_transient_so_the_breaker_counts_it(
    gateway: tuple[Gateway, str], made: list[Provider]
) -> None:
    fake, url = gateway
    with pytest.raises(TransientProviderError, match="HTTP 401"):
        await driver(made, url, secret=OTHER_SECRET).send(request())
    assert fake.payloads == []


async def test_a_slow_gateway_times_out_as_transient(
    gateway: tuple[Gateway, str], made: list[Provider]
) -> None:
    fake, url = gateway
    fake.hold = asyncio.Event()
    with pytest.raises(TransientProviderError, match="timed out"):
        await driver(made, url, timeout_s=0.3).send(request())


async def test_a_refused_connection_is_transient(made: list[Provider]) -> None:
    provider = driver(made, f"http://127.0.0.1:{closed_port()}/hooks")
    with pytest.raises(TransientProviderError, match="ConnectError"):
        await provider.send(request())


async def test_the_expiry_is_signed_in_the_body_and_named_in_a_header(
    gateway: tuple[Gateway, str], made: list[Provider]
) -> None:
    fake, url = gateway
    expires = datetime(2031, 1, 1, 9, 5, 0, 250_000, tzinfo=UTC)
    await driver(made, url).send(replace(request(i=1), expires_at=expires))
    await driver(made, url).send(request(i=2))
    signed, endless = fake.payloads  # both verified by the reference package
    assert signed["data"]["expiresAt"] == "2031-01-01T09:05:00.250Z"
    assert fake.headers[0]["x-wavecom-expires-at"] == "2031-01-01T09:05:00.250Z"
    assert "expiresAt" not in endless["data"]
    assert "x-wavecom-expires-at" not in fake.headers[1]
