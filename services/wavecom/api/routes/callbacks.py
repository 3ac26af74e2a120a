"""/api/admin/callbacks: the caller's callback endpoints and dead letters (admin scope), and
/api/notifications/{id}/callbacks: one notification's callbacks and their attempts (read).

The callback itself (what a tenant's endpoint receives) is described as an OpenAPI webhook,
``notification-status`` (docs/callbacks.md)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Header, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from wavecom.api import views
from wavecom.api.auth import Admin, Reader
from wavecom.api.deps import SettingsDep, StoreDep
from wavecom.api.errors import ApiError
from wavecom.api.responses import OrjsonResponse
from wavecom.api.schemas import PROTECTED, ErrorEnvelope, ReplayEnvelope
from wavecom.callbacks.endpoints import EndpointAdmin, EndpointRefused, SecretsUnsealable
from wavecom.callbacks.payload import ALL_EVENTS
from wavecom.store import Doc, utcnow

router = APIRouter(prefix="/api", tags=["callbacks"], responses=PROTECTED)
webhooks = APIRouter(tags=["callbacks"])

EventType = Literal[
    "notification.sent",
    "notification.delivered",
    "notification.undelivered",
    "notification.bounced",
    "notification.complained",
    "notification.failed",
    "notification.expired",
    "notification.cancelled",
]
assert set(EventType.__args__) == set(ALL_EVENTS)  # type: ignore[attr-defined]

EndpointId = Annotated[
    str, Path(pattern="^cb_[0-9a-f]{16}$", description="the endpoint's id (cb_ and 16 hex)")
]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorEnvelope, "description": "No such endpoint in the caller's tenant"}
}
# absolute http(s), a host name or IPv4 address, an optional port, no user:password, no
# fragment: what the schema can say (production's https-only and internal-address refusals
# are checked in wavecom.callbacks.endpoints)
URL_PATTERN = r"^https?://[A-Za-z0-9._~-]+(:[0-9]{1,5})?([/?][^\s#]*)?$"
_URL = Field(
    min_length=1,
    max_length=2000,
    pattern=URL_PATTERN,
    description="where callbacks are POSTed: http(s), https only in production",
    examples=["https://bank.example/hooks/wavecom"],
)
_EVENTS = Field(
    min_length=1,
    max_length=len(ALL_EVENTS),
    description="the event types this endpoint receives",
)


class EndpointCreate(BaseModel):
    """A new callback endpoint of the caller's tenant."""

    model_config = ConfigDict(extra="forbid")

    url: str = _URL
    events: list[EventType] = _EVENTS
    description: str = Field(default="", max_length=200)


class EndpointChange(BaseModel):
    """The fields to change; the others stay."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(default=None, min_length=1, max_length=2000, pattern=URL_PATTERN)
    events: list[EventType] | None = Field(default=None, min_length=1, max_length=len(ALL_EVENTS))
    enabled: bool | None = Field(
        default=None, description="false: no new callbacks for it, its lane stops"
    )
    description: str | None = Field(default=None, max_length=200)


class EndpointView(BaseModel):
    id: str
    tenantId: str
    url: str
    events: list[EventType]
    enabled: bool
    description: str
    createdAt: str
    updatedAt: str
    previousSecretUntil: str | None = Field(
        description="after a rotation: until when the previous secret also signs"
    )


class EndpointWithSecret(EndpointView):
    secret: str = Field(
        description="the signing secret (whsec_ + base64): shown this once, store it now"
    )


class EndpointEnvelope(BaseModel):
    success: bool = True
    data: EndpointView


class EndpointSecretEnvelope(BaseModel):
    success: bool = True
    data: EndpointWithSecret
    message: str


class EndpointListEnvelope(BaseModel):
    success: bool = True
    data: list[EndpointView]


class Attempt(BaseModel):
    at: str
    status: int | None = Field(description="the receiver's HTTP status; null: no answer")
    error: str | None = Field(description="why there was no answer (a timeout, a refusal)")
    durationMs: int
    outcome: Literal["delivered", "retry", "parked"]


class CallbackView(BaseModel):
    id: str = Field(description="<endpoint id>:<webhook-id>")
    endpointId: str
    webhookId: str
    notificationId: str
    type: EventType
    status: str
    sequence: int
    state: Literal["pending", "delivered", "parked"]
    createdAt: str
    nextAttemptAt: str | None
    deliveredAt: str | None
    parkedAt: str | None
    parkedReason: str | None
    attempts: list[Attempt]
    payload: dict[str, Any] = Field(description="the body POSTed (the same on every attempt)")


class CallbackListEnvelope(BaseModel):
    success: bool = True
    data: list[CallbackView]


class ReplayRequest(BaseModel):
    """Which dead letters to replay: by ids, or every one (of one endpoint)."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[str, Field(max_length=100)]] | None = Field(
        default=None, max_length=1000, description="callback ids as listed"
    )
    endpointId: str | None = Field(default=None, pattern="^cb_[0-9a-f]{16}$")


def _refused(exc: EndpointRefused) -> ApiError:
    return ApiError(
        400,
        "VALIDATION_ERROR",
        f"Invalid request: {exc}",
        [{"field": exc.field, "message": exc.message}],
    )


def _unsealable(exc: SecretsUnsealable) -> ApiError:
    return ApiError(503, "SERVICE_UNAVAILABLE", str(exc))


def _missing(endpoint_id: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"callback endpoint {endpoint_id} not found")


def _found(view: Doc | None, endpoint_id: str) -> OrjsonResponse:
    """The endpoint's answer, or 404 when the caller's tenant has no such endpoint."""
    if view is None:
        raise _missing(endpoint_id)
    return OrjsonResponse({"success": True, "data": view})


def _callbacks(docs: list[Doc]) -> OrjsonResponse:
    """A list of callback records, as the API shows them."""
    return OrjsonResponse({"success": True, "data": [callback_view(d) for d in docs]})


def _iso(at: datetime | None) -> str | None:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z") if at else None


def callback_view(doc: Doc) -> dict[str, Any]:
    """A callback record as the API shows it."""
    state = doc["state"]
    return {
        "id": doc["_id"],
        "endpointId": doc["endpointId"],
        "webhookId": doc["webhookId"],
        "notificationId": doc["notificationId"],
        "type": doc["type"],
        "status": doc["status"],
        "sequence": doc["sequence"],
        "state": state,
        "createdAt": _iso(doc["createdAt"]),
        "nextAttemptAt": _iso(doc.get("dueAt")) if state == "pending" else None,
        "deliveredAt": _iso(doc.get("deliveredAt")),
        "parkedAt": _iso(doc.get("parkedAt")),
        "parkedReason": doc.get("parkedReason"),
        "attempts": [{**a, "at": _iso(a["at"])} for a in doc.get("attempts", [])],
        "payload": orjson.loads(doc["body"]),
    }


@router.post(
    "/admin/callbacks",
    status_code=201,
    response_model=EndpointSecretEnvelope,
    summary="Register a callback endpoint",
)
async def create_endpoint(
    body: EndpointCreate, store: StoreDep, settings: SettingsDep, caller: Admin
) -> OrjsonResponse:
    """The answer holds the endpoint's signing secret, the only time it is shown. Callbacks
    start within seconds, for status changes from then on."""
    try:
        view, secret = await EndpointAdmin(store, settings).create(
            caller.tenant, body.url, body.events, body.description
        )
    except EndpointRefused as exc:
        raise _refused(exc) from exc
    except SecretsUnsealable as exc:
        raise _unsealable(exc) from exc
    return OrjsonResponse(
        {
            "success": True,
            "data": {**view, "secret": secret},
            "message": "Endpoint registered: store its secret now, it is not shown again",
        },
        status_code=201,
    )


@router.get(
    "/admin/callbacks", response_model=EndpointListEnvelope, summary="The tenant's endpoints"
)
async def list_endpoints(store: StoreDep, settings: SettingsDep, caller: Admin) -> OrjsonResponse:
    """Every endpoint of the caller's tenant; never a secret."""
    data = await EndpointAdmin(store, settings).list(caller.tenant)
    return OrjsonResponse({"success": True, "data": data})


@router.get(
    "/admin/callback-dead-letters",
    response_model=CallbackListEnvelope,
    summary="Callbacks parked after their retries (dead letters)",
)
async def dead_letters(
    store: StoreDep,
    caller: Admin,
    endpoint_id: Annotated[
        str | None, Query(alias="endpointId", pattern="^cb_[0-9a-f]{16}$")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> OrjsonResponse:
    """The caller's parked callbacks, the most recently parked first, each with its attempts."""
    docs = await store.callbacks.parked(caller.tenant, endpoint_id, limit)
    return _callbacks(docs)


@router.post(
    "/admin/callback-dead-letters/replay",
    response_model=ReplayEnvelope,
    summary="Send parked callbacks again",
)
async def replay_dead_letters(
    body: ReplayRequest, store: StoreDep, caller: Admin
) -> OrjsonResponse:
    """Each is due at once, with the same webhook-id and body, and a new retry window. Without
    ids, every dead letter of the tenant (of `endpointId` when given), up to 1,000."""
    ids = body.ids
    if ids is None:
        ids = [d["_id"] for d in await store.callbacks.parked(caller.tenant, body.endpointId, 1000)]
    replayed = await store.callbacks.replay(caller.tenant, ids, utcnow())
    return OrjsonResponse(views.replayed(replayed))


@router.get(
    "/admin/callbacks/{endpoint_id}",
    response_model=EndpointEnvelope,
    responses=_NOT_FOUND,
    summary="One endpoint",
)
async def get_endpoint(
    endpoint_id: EndpointId, store: StoreDep, settings: SettingsDep, caller: Admin
) -> OrjsonResponse:
    view = await EndpointAdmin(store, settings).get(caller.tenant, endpoint_id)
    return _found(view, endpoint_id)


@router.patch(
    "/admin/callbacks/{endpoint_id}",
    response_model=EndpointEnvelope,
    responses=_NOT_FOUND,
    summary="Change, disable or enable an endpoint",
)
async def change_endpoint(
    endpoint_id: EndpointId,
    body: EndpointChange,
    store: StoreDep,
    settings: SettingsDep,
    caller: Admin,
) -> OrjsonResponse:
    """Takes effect within seconds. A disabled endpoint is owed nothing new and its pending
    callbacks wait; enabled again, they go out (those past their window are parked)."""
    try:
        view = await EndpointAdmin(store, settings).change(
            caller.tenant,
            endpoint_id,
            url=body.url,
            events=body.events,
            enabled=body.enabled,
            description=body.description,
        )
    except EndpointRefused as exc:
        raise _refused(exc) from exc
    return _found(view, endpoint_id)


@router.post(
    "/admin/callbacks/{endpoint_id}/rotate",
    response_model=EndpointSecretEnvelope,
    responses=_NOT_FOUND,
    summary="Rotate an endpoint's signing secret",
)
async def rotate_secret(
    endpoint_id: EndpointId, store: StoreDep, settings: SettingsDep, caller: Admin
) -> OrjsonResponse:
    """A new secret, shown this once. Until `previousSecretUntil` (CALLBACK_ROTATION_GRACE_S)
    each callback carries two signatures, the new secret's and the old one's, so the receiver
    can switch secrets without refusing a callback."""
    try:
        rotated = await EndpointAdmin(store, settings).rotate(caller.tenant, endpoint_id)
    except SecretsUnsealable as exc:
        raise _unsealable(exc) from exc
    if rotated is None:
        raise _missing(endpoint_id)
    view, secret = rotated
    return OrjsonResponse(
        {
            "success": True,
            "data": {**view, "secret": secret},
            "message": "Secret rotated: store it now, it is not shown again",
        }
    )


@router.delete(
    "/admin/callbacks/{endpoint_id}",
    response_model=EndpointEnvelope,
    responses=_NOT_FOUND,
    summary="Delete an endpoint",
)
async def delete_endpoint(
    endpoint_id: EndpointId, store: StoreDep, settings: SettingsDep, caller: Admin
) -> OrjsonResponse:
    """The endpoint and every callback it was owed (pending and parked ones too) are removed."""
    view = await EndpointAdmin(store, settings).delete(caller.tenant, endpoint_id)
    return _found(view, endpoint_id)


@router.get(
    "/notifications/{notification_id}/callbacks",
    response_model=CallbackListEnvelope,
    tags=["notifications"],
    summary="A notification's status callbacks and their attempts",
)
async def notification_callbacks(
    notification_id: Annotated[
        str, Path(pattern="^[0-9a-fA-F]{24}$", description="the notification's id (24 hex)")
    ],
    store: StoreDep,
    caller: Reader,
) -> OrjsonResponse:
    """Every callback this notification's status changes owed the tenant's endpoints, in
    `sequence` order, with each POST's answer. Empty for a tenant without endpoints."""
    docs = await store.callbacks.of_notification(caller.tenant, notification_id.lower())
    return _callbacks(docs)


# --- what a tenant's endpoint receives (an OpenAPI webhook) ----------------------------------


class CallbackTimelineEntry(BaseModel):
    id: str = Field(description="the timeline step's id (stable)")
    status: str
    message: str
    timestamp: str
    metadata: dict[str, Any] | None = Field(
        default=None, description="the step's details (attempt, provider, provider's code)"
    )


class CallbackData(BaseModel):
    notificationId: str
    reference: str | None = Field(description="the tenant's own reference, when it gave one")
    metadata: dict[str, Any] = Field(description="the notification's metadata, as created")
    type: Literal["EMAIL", "SMS", "PUSH"]
    status: str = Field(description="the status this step moved the notification to")
    sequence: int = Field(
        description="the step's 1-based position among the notification's callback steps: "
        "callbacks may arrive out of order, a higher sequence is a later state"
    )
    timelineEntry: CallbackTimelineEntry


class CallbackPayload(BaseModel):
    """The JSON body of a status callback (Standard Webhooks' type/timestamp/data)."""

    type: EventType
    timestamp: str = Field(description="when the status changed (the timeline entry's time)")
    data: CallbackData


@webhooks.post(
    "notification-status",
    summary="A status callback to a tenant's endpoint",
    status_code=200,
    responses={
        200: {"description": "Any 2xx: delivered"},
        429: {"description": "Retried after Retry-After (or the backoff, if longer)"},
        500: {"description": "Any 5xx (or a timeout, or no connection): retried with backoff"},
    },
)
async def notification_status(
    body: CallbackPayload,
    webhook_id: Annotated[
        str,
        Header(
            alias="webhook-id",
            description="stable per event (notification id + timeline step): deduplicate on it",
        ),
    ],
    webhook_timestamp: Annotated[
        str, Header(alias="webhook-timestamp", description="Unix seconds of this attempt")
    ],
    webhook_signature: Annotated[
        str,
        Header(
            alias="webhook-signature",
            description="space-separated `v1,<base64 HMAC-SHA256 of id.timestamp.body>`, "
            "keyed by the endpoint's secret (two during a rotation)",
        ),
    ],
) -> None:
    """POSTed to each endpoint subscribed to the event type, signed per Standard Webhooks;
    at least once, retried for 24 hours (docs/callbacks.md)."""
