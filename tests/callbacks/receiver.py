"""A tenant's callback receiver: a real HTTP server on loopback that verifies every POST with
the ``standardwebhooks`` reference package, then answers as its ``mode`` says.

Modes: ``ok`` (204), ``down`` (503), ``slow`` (answers when ``hold_s`` has passed, past the
sender's timeout, or when the server closes), ``busy`` (429 with ``Retry-After``), ``reject``
(400). A POST whose signature does not verify is answered 401 and counted in ``forged``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.support.servers import serving


@dataclass
class Receiver:
    secret: str = ""
    mode: str = "ok"
    hold_s: float = 5.0
    retry_after: str = "1"
    # every verified POST, answered or not: (monotonic time, webhook-id, payload)
    seen: list[tuple[float, str, dict[str, Any]]] = field(default_factory=list)
    # webhook-ids answered 2xx, and how often each
    acknowledged: Counter[str] = field(default_factory=Counter)
    acknowledged_at: dict[str, float] = field(default_factory=dict)
    forged: int = 0
    url: str = ""
    # the last verified POST as it came: (body, headers)
    last: tuple[bytes, dict[str, str]] = (b"", {})
    # set when the server closes: what a slow answer waits for, up to hold_s
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def receive(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            payload = Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            self.forged += 1
            return web.json_response({"error": "invalid signature"}, status=401)
        msg_id = headers["webhook-id"]
        self.last = (body, headers)
        self.seen.append((time.monotonic(), msg_id, payload))
        if self.mode == "down":
            return web.Response(status=503, text="down for maintenance")
        if self.mode == "busy":
            return web.Response(status=429, headers={"Retry-After": self.retry_after})
        if self.mode == "reject":
            return web.Response(status=400, text="no such account")
        if self.mode == "slow":
            # a receiver that hangs past the sender's timeout: nothing sets `closed` before the
            # server closes, so the answer waits for the deadline (or the close)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.closed.wait(), self.hold_s)
        self.acknowledged[msg_id] += 1
        self.acknowledged_at.setdefault(msg_id, time.monotonic())
        return web.Response(status=204)

    def payloads(self) -> dict[str, dict[str, Any]]:
        """The acknowledged callbacks' payloads by webhook-id."""
        return {m: p for _, m, p in self.seen if m in self.acknowledged}


@asynccontextmanager
async def receiving(secret: str = "", mode: str = "ok") -> AsyncIterator[Receiver]:
    """A receiver on an ephemeral loopback port (its ``url``); set ``secret`` once known."""
    receiver = Receiver(secret=secret, mode=mode)
    app = web.Application()
    app.router.add_post("/hooks/wavecom", receiver.receive)
    async with serving(app) as base:
        receiver.url = f"{base}/hooks/wavecom"
        try:
            yield receiver
        finally:
            receiver.closed.set()  # a slow answer still held ends now, not at its deadline
