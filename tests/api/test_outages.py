"""While the broker or the database is away, readiness stays (the pod itself still serves) and
every endpoint answers: what needs the missing dependency a 503 in the error envelope with
Retry-After, never a bare 500.

The shared RabbitMQ and FerretDB keep running: the broker goes away by deleting the test's
vhost under the API (the broker closes its connection), the database by stopping a TCP proxy
the API's MONGODB_URL points at.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.notifications import email
from tests.support.processes import serve
from tests.support.services import delete_vhost
from tests.support.wait import wait_for
from wavecom.api.app import create_app
from wavecom.core.settings import Settings

NOTIFICATION = "6b012ec4f17543ff7390895c"
ENDPOINT = "cb_0123456789abcdef"
EVENTS = ["notification.delivered", "notification.expired"]


def requests() -> list[tuple[str, str, dict[str, Any] | None]]:
    """A valid request to every endpoint of the API (method, path, JSON body)."""
    return [
        ("POST", "/api/notifications", email(1)),
        ("GET", "/api/notifications", None),
        ("POST", "/api/notifications/batch", {"notifications": [email(2), email(3)]}),
        ("GET", "/api/notifications/stats/system", None),
        ("GET", f"/api/notifications/{NOTIFICATION}", None),
        ("POST", f"/api/notifications/{NOTIFICATION}/cancel", None),
        ("POST", f"/api/notifications/{NOTIFICATION}/retry", None),
        ("GET", "/api/dlq", None),
        ("POST", "/api/dlq/replay", {"ids": [NOTIFICATION]}),
        ("GET", "/api/auth/me", None),
        ("GET", "/api/admin/keys", None),
        ("POST", "/api/admin/keys", {"name": "outage", "scopes": ["read"]}),
        ("DELETE", "/api/admin/keys/0123456789abcdef", None),
        ("GET", "/api/admin/providers", None),
        ("GET", "/api/admin/reconcile", None),
        ("GET", "/api/admin/expiry", None),
        ("PUT", "/api/admin/expiry", {"SMS": 300}),
        ("GET", "/api/admin/callbacks", None),
        ("POST", "/api/admin/callbacks", {"url": "https://hooks.example/cb", "events": EVENTS}),
        ("GET", f"/api/admin/callbacks/{ENDPOINT}", None),
        ("PATCH", f"/api/admin/callbacks/{ENDPOINT}", {"enabled": False}),
        ("DELETE", f"/api/admin/callbacks/{ENDPOINT}", None),
        ("POST", f"/api/admin/callbacks/{ENDPOINT}/rotate", None),
        ("GET", "/api/admin/callback-dead-letters", None),
        ("POST", "/api/admin/callback-dead-letters/replay", {"ids": [f"{ENDPOINT}:msg_1"]}),
        ("GET", f"/api/notifications/{NOTIFICATION}/callbacks", None),
        # signed by their providers, not by a key: unsigned here, so 401 while the database
        # answers, and 503 (never a bare 500) when it does not
        ("POST", "/api/receipts/twilio/textwave", None),
        ("POST", "/api/receipts/webhook/textwave", None),
        ("POST", "/api/receipts/mailgun/mailgrid", None),
        ("POST", "/api/receipts/dsn/mailgrid", None),
        ("GET", "/api/events", None),
        ("GET", "/api/ready", None),
        ("GET", "/api/health", None),
    ]


def test_every_endpoint_is_in_the_list() -> None:
    app_paths = {
        (method.upper(), path) for path, item in serve_app_openapi().items() for method in item
    }
    listed = {
        (
            m,
            p.replace(NOTIFICATION, "{notification_id}")
            .replace(ENDPOINT, "{endpoint_id}")
            .replace("0123456789abcdef", "{key_id}")
            .replace("textwave", "{account}")
            .replace("mailgrid", "{account}"),
        )
        for m, p, _ in requests()
    }
    assert app_paths == listed


def serve_app_openapi() -> dict[str, Any]:
    paths: dict[str, Any] = create_app(Settings()).openapi()["paths"]
    return paths


async def answers(http: httpx.AsyncClient) -> dict[str, tuple[int, Any, httpx.Headers | None]]:
    """Each endpoint's status, JSON body and headers, all at once (a database that does not
    answer costs each request its server-selection timeout)."""

    async def one(method: str, path: str, body: dict[str, Any] | None) -> tuple[int, Any, Any]:
        try:
            r = await asyncio.wait_for(http.request(method, path, json=body), 20)
        except TimeoutError:
            # only the live stream may still be open: it answered and streams
            assert path == "/api/events", f"{method} {path} did not answer"
            return 200, None, None
        try:
            data = r.json()
        except ValueError:
            data = r.text
        return r.status_code, data, r.headers

    found = await asyncio.gather(*(one(m, p, b) for m, p, b in requests()))
    return {f"{m} {p}": a for (m, p, _), a in zip(requests(), found, strict=True)}


def check(found: dict[str, tuple[int, Any, httpx.Headers | None]], needs: set[str]) -> None:
    for what, (status, body, headers) in found.items():
        assert status != 500, f"{what}: {body}"
        if status >= 500:
            assert status == 503, f"{what}: {status} {body}"
            if what != "GET /api/health":  # health reports each dependency instead
                assert headers is not None, what
                assert "retry-after" in headers, what
                assert body["success"] is False, what
                assert body["error"]["code"] == "SERVICE_UNAVAILABLE", f"{what}: {body}"
    assert found["GET /api/ready"][0] == 200
    assert found["GET /api/health"][0] == 503
    for what in needs:
        assert found[what][0] == 503, f"{what}: {found[what]}"


async def test_with_the_broker_gone_ready_stays_and_every_endpoint_answers(
    settings: Settings, vhost: str
) -> None:
    async with serve(settings) as http:
        assert (await http.get("/api/ready")).status_code == 200
        delete_vhost(vhost)  # RabbitMQ closes the API's connection and refuses it back

        async def broker_gone() -> bool:
            health = (await http.get("/api/health")).json()
            return bool(health["services"]["rabbitmq"] == "disconnected")

        await wait_for(broker_gone, within=15, what="the broker to be gone")
        found = await answers(http)
        check(found, set())
        assert found["GET /api/notifications/stats/system"][0] in (200, 503)


class Proxy:
    """A TCP proxy to the database that the test starts and stops."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.close()
            return
        self.pipes |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def stop(self) -> None:
        """Refuse new connections and cut every open one."""
        if self.server is not None:
            self.server.close()
        for w in self.pipes:
            w.close()
        self.pipes.clear()


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    p = Proxy(27017)
    yield p
    await p.stop()


async def test_with_the_database_gone_ready_stays_and_every_endpoint_answers(
    settings: Settings, proxy: Proxy
) -> None:
    port = await proxy.start()
    behind = settings.model_copy(
        update={"mongodb_url": f"mongodb://127.0.0.1:{port}/?directConnection=true"}
    )
    async with serve(behind) as http:
        assert (await http.get("/api/notifications")).status_code == 200
        await proxy.stop()
        found = await answers(http)
        check(
            found,
            {
                "GET /api/notifications",
                f"GET /api/notifications/{NOTIFICATION}",
                "GET /api/dlq",
                "GET /api/admin/keys",
                "GET /api/admin/callbacks",
                f"GET /api/notifications/{NOTIFICATION}/callbacks",
                "GET /api/admin/callback-dead-letters",
            },
        )
