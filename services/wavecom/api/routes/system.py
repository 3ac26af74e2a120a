"""/api/health and /api/metrics."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from wavecom import metrics
from wavecom.api.responses import OrjsonResponse
from wavecom.api.schemas import Health
from wavecom.broker import queue_depths
from wavecom.errors import DependencyUnavailable

router = APIRouter(prefix="/api", tags=["system"])


@router.get(
    "/health",
    response_model=Health,
    responses={503: {"model": Health, "description": "A dependency is down"}},
    summary="Liveness of the API and its dependencies",
)
async def health(request: Request) -> OrjsonResponse:
    state = request.app.state
    services = {"mongodb": "connected", "rabbitmq": "connected"}
    try:
        await asyncio.wait_for(state.store.ping(), 3)
    except (DependencyUnavailable, TimeoutError):
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
        },
        status_code=200 if healthy else 503,
    )


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
    summary="Prometheus metrics",
)
async def prometheus_metrics(request: Request) -> Response:
    try:
        depths = await asyncio.wait_for(queue_depths(request.app.state.admin_channel), 3)
    except Exception:  # metrics must answer even while the broker is away
        depths = {}
    for queue, depth in depths.items():
        metrics.QUEUE_DEPTH.labels(queue).set(depth)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
