"""/api/notifications: create (single and batch), read, list, stats."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from bson import ObjectId
from bson.errors import InvalidId
from fastapi import APIRouter, Header, Path, Query, Request
from pydantic import TypeAdapter, ValidationError

from wavecom.api import views
from wavecom.api.auth import Admin, Auth, BatchSender, Reader, Sender, caller
from wavecom.api.deps import (
    AuthDep,
    IntakeDep,
    LimitParam,
    PageParam,
    SettingsDep,
    ShedderDep,
    StoreDep,
)
from wavecom.api.direct import DirectRoute, binds
from wavecom.api.errors import ApiError, error_body, validation_error
from wavecom.api.idempotency import idempotent
from wavecom.api.intake import Intake
from wavecom.api.responses import OrjsonResponse
from wavecom.api.schemas import (
    PROTECTED,
    BatchCreate,
    BatchEnvelope,
    CreatedEnvelope,
    ErrorEnvelope,
    NotificationCreate,
    NotificationEnvelope,
    PageEnvelope,
    StatsEnvelope,
)
from wavecom.api.shedding import LoadShedder
from wavecom.api.views import CURSOR_PATTERN
from wavecom.core import metrics
from wavecom.core.constants import Channel, Priority, Scope, Status
from wavecom.core.events import doc_event
from wavecom.core.settings import Settings
from wavecom.store import Doc, ListQuery, RecipientHasher, Store, new_notification
from wavecom.store.expiries import expired

router = APIRouter(prefix="/api/notifications", tags=["notifications"], responses=PROTECTED)

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorEnvelope, "description": "Invalid input (field-level details)"},
    429: {"model": ErrorEnvelope, "description": "Overloaded: LOW/MEDIUM refused, Retry-After"},
    409: {"model": ErrorEnvelope, "description": "Idempotency-Key reused with another body"},
    413: {"model": ErrorEnvelope, "description": "Body too large"},
    503: {"model": ErrorEnvelope, "description": "Database or broker unavailable"},
}
_NOT_FOUND: dict[str, Any] = {"model": ErrorEnvelope, "description": "Unknown id"}
_CONFLICT: dict[str, Any] = {
    "model": ErrorEnvelope,
    "description": "Not in a state that allows it",
}
_item = TypeAdapter(NotificationCreate)
# successRate's numerator and the rest of its denominator (the stats schema states it)
_SUCCEEDED = (Status.SENT, Status.DELIVERED, Status.COMPLAINED)
_LOST = (Status.FAILED, Status.UNDELIVERED, Status.BOUNCED, Status.EXPIRED)
NotificationId = Annotated[
    str, Path(pattern="^[0-9a-fA-F]{24}$", description="the notification's id (24 hex)")
]
# printable characters (str.isprintable over the latin-1 a header carries), no space at either
# end (HTTP drops it): the rule api/idempotency.py checks, as the spec states it
_PRINTABLE = r"[!-~\u00a1-\u00ac\u00ae-\u00ff]"
IDEMPOTENCY_KEY_PATTERN = rf"^{_PRINTABLE}([ -~\u00a1-\u00ac\u00ae-\u00ff]{{0,253}}{_PRINTABLE})?$"
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=255,
        description="Repeat a create safely: the same key and body return the first "
        "response; the same key with another body is a 409",
        json_schema_extra={"pattern": IDEMPOTENCY_KEY_PATTERN},
    ),
]


def _document(
    body: NotificationCreate,
    tenant: str,
    settings: Settings,
    now: datetime,
    hasher: RecipientHasher,
    default_ttls: dict[Channel, int],
) -> Doc:
    return new_notification(
        tenant_id=tenant,
        channel=body.type,
        recipient=body.recipient,
        subject=body.subject,
        message=body.message,
        priority=body.priority,
        metadata=body.metadata or {},
        max_retries=settings.max_retries,
        scheduled_at=body.scheduledAt,
        now=now,
        recipient_hash=hasher(body.recipient),
        reference=body.reference,
        expires_at=body.expiry(now, default_ttls.get(body.type)),
    )


async def _reference_conflict(store: Store, tenant: str, reference: str) -> ApiError:
    first = await store.notifications.by_reference(tenant, reference)
    named = f"notification {first['_id']}" if first is not None else "another notification"
    return ApiError(
        409,
        "REFERENCE_CONFLICT",
        f"reference {reference!r} is already used by {named} (nothing was created)",
        [{"field": "reference", "message": f"is already used by {named}"}],
    )


async def _bind_create(request: Request) -> dict[str, Any]:
    """``create_notification``'s arguments but the body and the Idempotency-Key, without
    FastAPI's dependency solving (``wavecom.api.direct``): the same objects, the same caller."""
    state = request.app.state
    return {
        "request": request,
        "intake": state.intake,
        "store": state.store,
        "caller": await caller(request, Scope.SEND),
        "auth": state.auth,
        "settings": state.settings,
        "shedder": state.shedder,
    }


@binds(_bind_create)
async def create_notification(
    body: NotificationCreate,
    request: Request,
    intake: IntakeDep,
    store: StoreDep,
    caller: Sender,
    auth: AuthDep,
    settings: SettingsDep,
    shedder: ShedderDep,
    idempotency_key: IdempotencyKey = None,
) -> OrjsonResponse:
    """Validate, store and queue one notification. 201 once it is stored and the broker
    confirmed it (or it is SCHEDULED for later). With an Idempotency-Key, repeating the
    request returns the first response and creates nothing."""

    async def handle() -> OrjsonResponse:
        if refused := shedder.refuses(body.type, body.priority):
            metrics.labelled(metrics.SHED, body.type.value, body.priority.value).inc()
            raise _overloaded(refused, settings)
        hasher = await store.recipient_hasher()
        ttls = await auth.tenants.default_ttls(caller.tenant)
        doc = _document(body, caller.tenant, settings, datetime.now(UTC), hasher, ttls)
        accepted = await intake.accept([doc])
        if body.reference is not None and doc["_id"] in accepted.taken:
            raise await _reference_conflict(store, caller.tenant, body.reference)
        confirmed = accepted.confirmed
        message = (
            "Notification scheduled successfully"
            if body.scheduledAt
            else "Notification created and queued successfully"
            if confirmed
            else "Notification created; it will be queued as soon as the broker confirms"
        )
        return OrjsonResponse(
            {"success": True, "data": views.notification(doc), "message": message},
            status_code=201,
        )

    return await idempotent(idempotency_key, request, store, caller.tenant, handle)


# the route a burst of single requests runs through: its arguments are bound by _bind_create
router.add_api_route(
    "",
    create_notification,
    methods=["POST"],
    status_code=201,
    response_model=CreatedEnvelope,
    responses=_ERRORS,
    summary="Create a notification",
    route_class_override=DirectRoute,
)


@router.post(
    "/batch",
    status_code=201,
    response_model=BatchEnvelope,
    responses=_ERRORS,
    summary="Create up to 1,000 notifications",
)
async def create_batch(
    body: BatchCreate,
    request: Request,
    intake: IntakeDep,
    store: StoreDep,
    caller: BatchSender,
    auth: AuthDep,
    settings: SettingsDep,
    shedder: ShedderDep,
    idempotency_key: IdempotencyKey = None,
) -> OrjsonResponse:
    """Each item is validated on its own: a bad item is reported at its index and does not
    reject the others. The accepted items are written in one round trip and published with
    confirms. 400 only when no item is valid. With an Idempotency-Key, repeating the request
    returns the first response and creates nothing. Costs one rate-limit token per item."""
    await auth.charge(request, caller, len(body.notifications))
    return await idempotent(
        idempotency_key,
        request,
        store,
        caller.tenant,
        lambda: _create_batch(body, intake, store, caller.tenant, settings, shedder, auth),
    )


async def _create_batch(
    body: BatchCreate,
    intake: Intake,
    store: Store,
    tenant: str,
    settings: Settings,
    shedder: LoadShedder,
    auth: Auth,
) -> OrjsonResponse:
    now = datetime.now(UTC)
    hasher = await store.recipient_hasher()
    ttls = await auth.tenants.default_ttls(tenant)
    results: list[dict[str, Any]] = []
    docs: list[Doc] = []
    references: dict[str, int] = {}  # reference -> the index that used it first
    shed = 0
    for index, raw in enumerate(body.notifications):
        try:
            item = _item.validate_python(raw)
        except ValidationError as exc:
            err = validation_error(exc.errors())
            results.append(
                {
                    "index": index,
                    "success": False,
                    "error": error_body(err.code, err.message, err.details),
                }
            )
            continue
        if item.reference is not None:
            first = references.setdefault(item.reference, index)
            if first != index:
                used = f"is used by item {first} of this batch"
                results.append(
                    {
                        "index": index,
                        "success": False,
                        "error": error_body(
                            "VALIDATION_ERROR",
                            f"reference {item.reference!r} {used}",
                            [{"field": "reference", "message": used}],
                        ),
                    }
                )
                continue
        if refused := shedder.refuses(item.type, item.priority):
            metrics.labelled(metrics.SHED, item.type.value, item.priority.value).inc()
            shed += 1
            results.append(
                {"index": index, "success": False, "error": error_body("OVERLOADED", refused)}
            )
            continue
        doc = _document(item, tenant, settings, now, hasher, ttls)
        docs.append(doc)
        results.append({"index": index, "success": True, "doc": doc})
    if not docs and shed:
        raise _overloaded(f"{shed} of {len(results)} refused: the backlog is too deep", settings)
    if not docs:
        details = [
            {**d, "field": f"notifications.{r['index']}" + (f".{d['field']}" if d["field"] else "")}
            for r in results
            for d in r["error"]["details"]
        ]
        raise ApiError(400, "VALIDATION_ERROR", "No notification in the batch is valid", details)
    taken = (await intake.accept(docs)).taken
    for r in results:
        if not r["success"]:
            continue
        doc = r.pop("doc")
        if doc["_id"] in taken:
            conflict = await _reference_conflict(store, tenant, doc["reference"])
            r.update(
                success=False, error=error_body(conflict.code, conflict.message, conflict.details)
            )
        else:
            r["data"] = views.notification(doc)
    accepted = len(docs) - len(taken)
    if not accepted:
        raise ApiError(
            409,
            "REFERENCE_CONFLICT",
            "Every valid notification of the batch has a reference already used (nothing was "
            "created)",
            [
                {**d, "field": f"notifications.{r['index']}.{d['field']}"}
                for r in results
                if r["error"]["code"] == "REFERENCE_CONFLICT"
                for d in r["error"]["details"]
            ],
        )
    return OrjsonResponse(
        {
            "success": True,
            "data": {"accepted": accepted, "rejected": len(results) - accepted, "results": results},
            "message": f"{accepted} of {len(results)} notifications queued",
        },
        status_code=201,
    )


@router.get(
    "/stats/system",
    response_model=StatsEnvelope,
    responses={503: _ERRORS[503]},
    summary="System statistics",
)
async def system_stats(request: Request, store: StoreDep, caller: Reader) -> OrjsonResponse:
    """Counts by status, type and priority (the caller's tenant), queue depths from the broker
    (system-wide: the queues are shared), mean processing time and success rate."""
    stats = await store.counters.of(caller.tenant)
    # the background sample (wavecom.api.depths): no broker round trip here, so none that
    # waits on a channel the broker closed (a restart answered a bare 500 or hung before)
    depths = dict(request.app.state.depths.depths)
    # a provider took it and reported no loss (a complaint means it arrived), against what a
    # provider refused or lost and what expired before it could be sent (an OTP that never came);
    # waiting and cancelled ones are in neither
    sent = sum(stats.by_status.get(s.value, 0) for s in _SUCCEEDED)
    failed = sum(stats.by_status.get(s.value, 0) for s in _LOST)
    data = {
        "total": stats.total,
        "byStatus": {s.value: stats.by_status.get(s.value, 0) for s in Status},
        "byType": {c.value: stats.by_type.get(c.value, 0) for c in Channel},
        "byPriority": {p.value: stats.by_priority.get(p.value, 0) for p in Priority},
        "queueDepth": depths,
        "averageProcessingTime": round(stats.processing_ms_sum / stats.processing_count, 1)
        if stats.processing_count
        else 0.0,
        "successRate": round(100.0 * sent / (sent + failed), 2) if sent + failed else 100.0,
        "providers": await store.breakers.states(),
    }
    return OrjsonResponse({"success": True, "data": data})


@router.get(
    "/{notification_id}",
    response_model=NotificationEnvelope,
    responses={400: _ERRORS[400], 404: {"model": ErrorEnvelope, "description": "Unknown id"}},
    summary="A notification and its logs",
)
async def get_notification(
    notification_id: NotificationId, store: StoreDep, caller: Reader
) -> OrjsonResponse:
    doc = await store.notifications.get(caller.tenant, parse_id(notification_id))
    if doc is None:
        raise _not_found(notification_id)
    return OrjsonResponse(
        {
            "success": True,
            "data": {"notification": views.notification(doc), "logs": views.logs(doc)},
        }
    )


@router.get(
    "",
    response_model=PageEnvelope,
    responses={400: _ERRORS[400]},
    summary="List notifications, newest first",
)
async def list_notifications(
    store: StoreDep,
    caller: Reader,
    page: PageParam = 1,
    limit: LimitParam = 20,
    status: Status | None = None,
    type: Channel | None = None,
    priority: Priority | None = None,
    recipient: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=4096,
            description="Every notification to this recipient (an e-mail address compares "
            "without case); found through a keyed hash, so no index holds the recipient",
        ),
    ] = None,
    reference: Annotated[
        str | None, Query(min_length=1, max_length=128, description="Your own `reference`")
    ] = None,
    providerMessageId: Annotated[
        str | None,
        Query(min_length=1, max_length=256, description="The id the provider gave the send"),
    ] = None,
    createdFrom: Annotated[
        str | None,
        Query(
            description="Created at or after (ISO 8601 with a timezone)",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    createdTo: Annotated[
        str | None,
        Query(
            description="Created before (ISO 8601 with a timezone)",
            json_schema_extra={"format": "date-time"},
        ),
    ] = None,
    after: Annotated[
        str | None,
        Query(
            pattern=CURSOR_PATTERN,
            description="A `nextCursor`: the items older than the last one of that page; "
            "`page` is then not read (the walk is stable while new notifications arrive)",
        ),
    ] = None,
) -> OrjsonResponse:
    """Newest first. Filters combine; a lookup (`recipient`, `reference`,
    `providerMessageId`) answers every match. Every page carries `nextCursor` when more may
    follow."""
    filters = {
        k: v.value
        for k, v in (("status", status), ("type", type), ("priority", priority))
        if v is not None
    }
    # a range that ends before it starts holds nothing: an empty page, not an error
    created_from = _instant("createdFrom", createdFrom)
    created_to = _instant("createdTo", createdTo)
    cursor = None
    if after is not None:
        try:
            cursor = views.parse_cursor(after)
        except ValueError as exc:
            raise _bad_query("after", str(exc)) from exc
    query = ListQuery(
        filters=filters,
        recipient_hash=(await store.recipient_hasher())(recipient) if recipient else None,
        reference=reference,
        provider_message_id=providerMessageId,
        created_from=created_from,
        created_to=created_to,
        after=cursor,
    )
    result = await store.notifications.page(caller.tenant, query, page, limit)
    return OrjsonResponse(
        {"success": True, "data": views.page(result, 1 if cursor else page, limit)}
    )


def _instant(name: str, text: str | None) -> datetime | None:
    """An ISO 8601 time with a timezone (a number is not one, whatever parsers allow)."""
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise _bad_query(name, "must be an ISO 8601 time, e.g. 2030-01-01T09:00:00Z") from None
    if at.tzinfo is None:
        raise _bad_query(name, "must include a timezone, e.g. 2030-01-01T09:00:00Z")
    return at.astimezone(UTC)


def _bad_query(name: str, message: str) -> ApiError:
    return ApiError(
        400,
        "VALIDATION_ERROR",
        f"Invalid request: {name}: {message}",
        [{"field": name, "message": message}],
    )


@router.post(
    "/{notification_id}/cancel",
    response_model=CreatedEnvelope,
    responses={400: _ERRORS[400], 404: _NOT_FOUND, 409: _CONFLICT},
    summary="Cancel a SCHEDULED, QUEUED or RETRYING notification",
)
async def cancel_notification(
    notification_id: NotificationId, store: StoreDep, intake: IntakeDep, caller: Sender
) -> OrjsonResponse:
    """Never sent after a 200: a worker that already holds its message finds it cancelled.
    409 if it is already final or a worker is delivering it at this moment."""
    doc, refused = await store.notifications.cancel(caller.tenant, parse_id(notification_id))
    if doc is None:
        raise _not_found(notification_id)
    if refused:
        raise ApiError(409, "CONFLICT", f"Notification {notification_id}: {refused}")
    intake.events.emit([doc_event(doc)])
    return OrjsonResponse(
        {"success": True, "data": views.notification(doc), "message": "Notification cancelled"}
    )


@router.post(
    "/{notification_id}/retry",
    response_model=CreatedEnvelope,
    responses={400: _ERRORS[400], 404: _NOT_FOUND, 409: _CONFLICT, 503: _ERRORS[503]},
    summary="Requeue a FAILED (dead-lettered) notification",
)
async def retry_notification(
    notification_id: NotificationId, store: StoreDep, intake: IntakeDep, caller: Admin
) -> OrjsonResponse:
    """Queue it once more with fresh attempts (a replay: the admin scope). 409 unless it is
    FAILED, so retrying twice does not send twice; 409 too once its `expiresAt` passed, as a
    replay would deliver it late."""
    oid = parse_id(notification_id)
    doc = await store.notifications.get(caller.tenant, oid)
    if doc is None:
        raise _not_found(notification_id)
    if not await intake.replay([doc]):
        if doc["status"] == Status.FAILED.value and expired(doc, datetime.now(UTC)):
            raise ApiError(
                409,
                "CONFLICT",
                f"Notification {notification_id} expired at {views.iso(doc['expiresAt'])}: "
                "replaying it would deliver it late",
            )
        raise ApiError(
            409,
            "CONFLICT",
            f"Notification {notification_id} is not dead-lettered (it is {doc['status']})",
        )
    fresh = await store.notifications.get(caller.tenant, oid)
    if fresh is None:
        raise _not_found(notification_id)
    return OrjsonResponse(
        {"success": True, "data": views.notification(fresh), "message": "Notification requeued"}
    )


def parse_id(raw: str) -> ObjectId:
    """A notification id from a path, or a 400."""
    try:
        return ObjectId(raw)
    except (InvalidId, TypeError) as exc:
        raise ApiError(
            400,
            "INVALID_ID",
            "Notification id must be 24 hexadecimal characters",
            [{"field": "id", "message": "must be 24 hexadecimal characters"}],
        ) from exc


def _overloaded(reason: str, settings: Settings) -> ApiError:
    return ApiError(
        429,
        "OVERLOADED",
        f"Overloaded, retry later: {reason}",
        headers={"Retry-After": str(settings.shed_retry_after_s)},
    )


def _not_found(notification_id: str) -> ApiError:
    return ApiError(404, "NOT_FOUND", f"Notification {notification_id} not found")
