"""The callbacks process in-process, on the test's database and vhost, with fast retries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.support.notifications import TWO_PROVIDERS
from wavecom.callbacks.service import CallbackService
from wavecom.core.settings import Settings

FAST = {
    "callback_backoff_base_s": 0.2,
    "callback_backoff_max_s": 1.0,
    "callback_timeout_s": 1.0,
    "callback_poll_s": 0.2,
    "callback_repair_s": 1.0,
    "callback_repair_overlap_s": 5.0,
}


@pytest.fixture
def worker_settings(settings: Settings) -> Settings:
    """The shared fixture's worker settings, with the callbacks' fast timings (the API, the
    workers and the callbacks process all read these)."""
    return settings.model_copy(
        update={"providers_email": TWO_PROVIDERS, "providers_sms": TWO_PROVIDERS, **FAST}
    )


class Running:
    """``await running(**overrides)`` starts a callbacks process in-process; all stop at the end."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.services: dict[CallbackService, asyncio.Task[None]] = {}

    async def __call__(self, **overrides: Any) -> CallbackService:
        service = await CallbackService.start(self.settings.model_copy(update=overrides))
        self.services[service] = asyncio.create_task(service.run())
        return service

    async def stop(self, service: CallbackService) -> None:
        service.stop()
        await asyncio.wait_for(self.services.pop(service), 30)


@pytest.fixture
async def callbacks(worker_settings: Settings) -> AsyncIterator[Running]:
    running = Running(worker_settings)
    yield running
    for service in list(running.services):
        await running.stop(service)


async def register(
    api: httpx.AsyncClient, url: str, events: list[str] | None = None
) -> tuple[str, str]:
    """Register an endpoint through the admin API: (endpoint id, secret)."""
    body: dict[str, Any] = {"url": url, "events": events or ["notification.sent"]}
    r = await api.post("/api/admin/callbacks", json=body)
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    return data["id"], data["secret"]
