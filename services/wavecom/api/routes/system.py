"""/api/health. The API's Prometheus metrics are not on this port: ``--metrics-port`` serves
them on a port of their own (``wavecom.api.__main__``), which the Ingress does not route."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from pymongo.errors import PyMongoError

from wavecom.api.responses import OrjsonResponse
from wavecom.api.schemas import Health
from wavecom.core.constants import Channel
from wavecom.core.errors import DependencyUnavailable
from wavecom.core.settings import Environment
from wavecom.store import Doc

router = APIRouter(prefix="/api", tags=["system"])


@router.get(
    "/ready",
    summary="Readiness of this API process: it serves HTTP and its event loop runs",
)
async def ready() -> OrjsonResponse:
    """200 whenever this process answers: what the pod itself can do. Not the broker's or the
    database's state (that is ``/api/health``): an outage of either must not take every API
    pod out of the Service at once; meanwhile each endpoint answers 503 with the error
    envelope and Retry-After, and the rest (health, the dashboard, cached keys) keep working."""
    return OrjsonResponse({"status": "ready"})


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "A dependency is down"}},
    summary="Liveness of the API and its dependencies, and what each channel delivers through",
)
async def health(request: Request) -> OrjsonResponse:
    """`status` follows the database and the broker. `channels` and `warnings` say, from the
    stored provider accounts, whether each channel can deliver and whether only to mocks."""
    state = request.app.state
    services = {"mongodb": "connected", "rabbitmq": "connected"}
    channels: dict[str, Any] | None = None
    warnings: list[str] = []
    try:
        await asyncio.wait_for(state.store.ping(), 3)
        docs = await asyncio.wait_for(state.store.accounts.all(), 3)
        channels, warnings = _channels(docs, state.settings.environment)
    except (DependencyUnavailable, PyMongoError, TimeoutError):
        services["mongodb"] = "disconnected"
    connection = state.connection
    if (
        connection is None
        or connection.is_closed
        or not state.admin_channel
        or state.admin_channel.is_closed
    ):
        services["rabbitmq"] = "disconnected"
    healthy = all(v == "connected" for v in services.values())
    return OrjsonResponse(
        {
            "status": "healthy" if healthy else "unhealthy",
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
            "services": services,
            "uptime": round(time.monotonic() - state.started, 1),
            "channels": channels,
            "warnings": warnings,
        },
        status_code=200 if healthy else 503,
    )


def _channels(docs: list[Doc], environment: Environment) -> tuple[dict[str, Any], list[str]]:
    """Each channel's usable accounts and whether they are all mocks, and the warnings."""
    production = environment == "production"
    channels: dict[str, Any] = {}
    warnings: list[str] = []
    for d in docs:
        if d.get("driver") == "mock" and production:
            warnings.append(
                f"provider account {d['_id']} is a mock: refused with ENVIRONMENT=production "
                "(no worker uses it)"
            )
    for channel in Channel:
        usable = [
            d
            for d in docs
            if d.get("channel") == channel.value
            and d.get("enabled", True)
            and not (production and d.get("driver") == "mock")
        ]
        mock_only = bool(usable) and all(d.get("driver") == "mock" for d in usable)
        channels[channel.value] = {"usableAccounts": len(usable), "mockOnly": mock_only}
        if not usable:
            warnings.append(
                f"{channel.value} has no usable provider account: its notifications wait in "
                "the queue until one is applied"
            )
        elif mock_only:
            warnings.append(
                f"{channel.value} delivers only to mock accounts: its notifications are "
                "marked SENT and reach no one"
            )
    return channels, warnings
