"""Keys, the API served on a real port, and workers run in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx

from wavecom.api.app import create_app
from wavecom.core.constants import Channel, Scope
from wavecom.core.keys import Keys
from wavecom.core.settings import Settings
from wavecom.store import Store
from wavecom.worker.consumer import Worker

TENANT = "acme"  # the tenant of the keys the fixtures sign in with


EVERY_SCOPE = frozenset(Scope)


async def new_key(
    settings: Settings, tenant: str = TENANT, scopes: frozenset[Scope] = EVERY_SCOPE
) -> str:
    """A new API key in the test's database."""
    store = Store.connect(settings.mongodb_url, settings.mongodb_database)
    try:
        _, token = await Keys(store).create(tenant, scopes, "tests")
    finally:
        await store.close()
    return token


@asynccontextmanager
async def serve(
    settings: Settings, *, tenant: str = TENANT, scopes: frozenset[Scope] = EVERY_SCOPE
) -> AsyncIterator[httpx.AsyncClient]:
    """The API in-process (its lifespan connects to the real stack), and a client that signs
    in with a new key of ``tenant`` holding ``scopes``."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        _, token = await app.state.auth.keys.create(tenant, scopes, "tests")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://api.test",
            headers={"Authorization": f"Bearer {token}"},
        ) as http:
            http.app = app  # type: ignore[attr-defined]
            yield http


class Workers:
    """Channel workers running in-process: ``await workers(Channel.SMS, batch_size=10)``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.running: dict[Worker, asyncio.Task[None]] = {}

    async def __call__(self, channel: Channel = Channel.EMAIL, **overrides: Any) -> Worker:
        worker = await Worker.start(self.settings.model_copy(update=overrides), channel)
        self.running[worker] = asyncio.create_task(worker.run())
        return worker

    async def stop(self, worker: Worker) -> None:
        """Stop as SIGTERM does: it finishes and acks what it holds."""
        worker.stop()
        await asyncio.wait_for(self.running.pop(worker), 30)


RunWorker = Workers
