"""A fake webhook gateway (the receiving end of the webhook driver) and its helpers."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.support.servers import serving_fake
from wavecom.core.constants import Channel
from wavecom.providers.base import Provider, SendRequest
from wavecom.providers.drivers import build_driver

SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()


@dataclass
class Gateway:
    """An in-house gateway: verifies each POST's signature, then answers as scripted."""

    payloads: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    replies: list[web.StreamResponse] = field(default_factory=list)
    hold: asyncio.Event | None = None

    async def receive(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            payload = Webhook(SECRET).verify(body, headers)
        except WebhookVerificationError:
            return web.json_response({"error": "invalid signature"}, status=401)
        assert request.content_type == "application/json"
        assert headers["webhook-id"] == payload["data"]["idempotencyKey"]
        self.payloads.append(payload)
        self.headers.append(headers)
        if self.hold is not None:
            await self.hold.wait()
        if self.replies:
            return self.replies.pop(0)
        return web.json_response({"id": f"gw_{len(self.payloads)}", "status": "accepted"})


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[Gateway, str]]:
    fake = Gateway()
    async with serving_fake(fake, {"/hooks/wavecom": fake.receive}) as base_url:
        yield fake, f"{base_url}/hooks/wavecom"


def driver(
    made: list[Provider], url: str, *, secret: str = SECRET, timeout_s: float = 5.0
) -> Provider:
    provider = build_driver(
        "gateway", Channel.SMS, "webhook", {"url": url}, {"secret": secret}, timeout_s=timeout_s
    )
    made.append(provider)
    return provider


def request(i: int = 1) -> SendRequest:
    return SendRequest(
        notification_id=f"n{i}",
        attempt=2,
        channel=Channel.SMS,
        recipient="+2348012345678",
        message="Your code is 123456",
        metadata={"userId": "12345"},
    )
