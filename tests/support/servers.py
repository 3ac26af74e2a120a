"""Real local servers for the driver tests: a private CA and its server certificate, an HTTP
server for aiohttp apps, and a port nobody listens on. Everything binds to 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from aiohttp import web

from tests.support.certs import make_pki


@dataclass(frozen=True)
class Tls:
    """A private CA (``ca_pem``) and a certificate it signed for 127.0.0.1 and localhost."""

    ca_pem: str
    cert_file: Path
    key_file: Path


def make_tls(directory: Path) -> Tls:
    """Make a private CA and a server certificate for 127.0.0.1 signed by it
    (``tests.support.certs.make_pki``'s, as the driver tests take them)."""
    pki = make_pki(directory)
    return Tls(pki.ca.read_text(), pki.server.cert, pki.server.key)


def closed_port() -> int:
    """A loopback port that was free a moment ago: connecting to it is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on an ephemeral loopback port; yields its base URL."""
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


class Fake(Protocol):
    """A fake provider: ``hold`` (when set to an event) keeps its answers until the event is set."""

    hold: asyncio.Event | None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@contextlib.asynccontextmanager
async def serving_fake(fake: Fake, routes: Mapping[str, Handler]) -> AsyncIterator[str]:
    """Serve ``fake``'s POST ``routes`` (path: handler) like :func:`serving`; at the end, a
    held answer is let go so that the server can close."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_post(path, handler)
    async with serving(app) as base_url:
        yield base_url
        if fake.hold is not None:
            fake.hold.set()
