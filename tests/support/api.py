"""Helpers the API tests share: the error envelope's check, the API served by uvicorn, the
admission refusals this process counted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI
from prometheus_client import REGISTRY

from tests.support.wait import wait_for
from wavecom.api.app import create_app
from wavecom.core.settings import Settings


def admission_refused(reason: str) -> float:
    """This process's ``api_admission_refused_total`` for ``reason`` (in_flight, loop_lag,
    queue_deadline)."""
    value = REGISTRY.get_sample_value("api_admission_refused_total", {"reason": reason})
    return value or 0.0


def assert_error(r: httpx.Response, status: int, code: str, field: str | None = None) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    if field is not None:
        fields = [d["field"] for d in body["error"]["details"]]
        assert field in fields, fields


@asynccontextmanager
async def uvicorn_api(settings: Settings, port: int) -> AsyncIterator[FastAPI]:
    """The API on 127.0.0.1:``port``, served by uvicorn in this loop until the block ends."""
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False)
    )
    task = asyncio.create_task(server.serve())

    async def started() -> bool:
        return server.started

    await wait_for(started, what="uvicorn to start")
    try:
        yield app
    finally:
        app.state.hub.close()
        server.should_exit = True
        await asyncio.wait_for(task, 30)
