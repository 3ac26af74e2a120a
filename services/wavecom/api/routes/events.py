"""/api/events: the caller's status changes as Server-Sent Events."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from wavecom.api.auth import Reader
from wavecom.api.deps import SettingsDep
from wavecom.api.live import EventHub, stream
from wavecom.api.schemas import PROTECTED, ErrorEnvelope

router = APIRouter(prefix="/api", tags=["live"], responses=PROTECTED)


@router.get(
    "/events",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "`event: ready`, then `event: notification` (a JSON array of "
            "changes), `event: resync` and `: keepalive` comments",
        },
        401: {"model": ErrorEnvelope},
        403: {"model": ErrorEnvelope},
        429: {"model": ErrorEnvelope},
    },
    summary="Live status changes of the caller's notifications",
)
async def events(request: Request, caller: Reader, settings: SettingsDep) -> StreamingResponse:
    """Every status change of the caller's tenant, coalesced: at most one `notification`
    message per `EVENTS_FLUSH_MS` (500 ms), newest state per notification. Authenticated with
    a header like every call (browsers read it with fetch, not EventSource, so the key never
    appears in a URL). `resync` means changes were dropped: read the lists again."""
    hub: EventHub = request.app.state.hub
    return StreamingResponse(
        stream(hub, caller.tenant, settings.events_flush_ms),
        media_type="text/event-stream",
        headers={"X-Accel-Buffering": "no"},
    )
