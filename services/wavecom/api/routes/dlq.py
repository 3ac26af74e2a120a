"""/api/dlq: dead-lettered notifications, and replaying them."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from bson import ObjectId
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from wavecom.api import views
from wavecom.api.auth import Admin
from wavecom.api.deps import IntakeDep, LimitParam, PageParam, StoreDep
from wavecom.api.responses import OrjsonResponse
from wavecom.api.schemas import PROTECTED, ErrorEnvelope, PageEnvelope, ReplayEnvelope
from wavecom.core.constants import Channel
from wavecom.store import ListQuery

router = APIRouter(prefix="/api/dlq", tags=["dead letters"], responses=PROTECTED)

Reason = Literal["permanent", "retries_exhausted", "replay_failed"]


class ReplayRequest(BaseModel):
    """Which dead letters to replay: by ids, or every one matching type and reason."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[str, Field(pattern="^[0-9a-fA-F]{24}$")]] | None = Field(
        default=None, max_length=1000, description="notification ids (24 hex)"
    )
    type: Channel | None = None
    reason: Reason | None = Field(default=None, description="why they were dead-lettered")


def _filters(type_: Channel | None, reason: Reason | None) -> dict[str, str]:
    filters: dict[str, str] = {}
    if type_ is not None:
        filters["type"] = type_.value
    if reason is not None:
        filters["deadLetter.reason"] = reason
    return filters


@router.get(
    "",
    response_model=PageEnvelope,
    responses={400: {"model": ErrorEnvelope}},
    summary="Dead-lettered notifications",
)
async def list_dead_letters(
    store: StoreDep,
    caller: Admin,
    page: PageParam = 1,
    limit: LimitParam = 20,
    type: Channel | None = None,
    reason: Reason | None = None,
) -> OrjsonResponse:
    """FAILED notifications with `deadLetter: {reason, attempts, lastError, at}`, newest first."""
    filters = {"status": "FAILED", **_filters(type, reason)}
    result = await store.notifications.page(caller.tenant, ListQuery(filters), page, limit)
    return OrjsonResponse({"success": True, "data": views.page(result, page, limit)})


@router.post(
    "/replay",
    response_model=ReplayEnvelope,
    responses={400: {"model": ErrorEnvelope}, 503: {"model": ErrorEnvelope}},
    summary="Replay dead letters",
)
async def replay(
    body: ReplayRequest, store: StoreDep, intake: IntakeDep, caller: Admin
) -> OrjsonResponse:
    """Queue each matching dead letter once more, with fresh attempts. A notification that is
    no longer FAILED (replayed already) is skipped, so replaying twice does not send twice; so
    is one whose `expiresAt` passed (it stays FAILED: a replay would deliver it late)."""
    filters = _filters(body.type, body.reason)
    if body.ids is not None:
        docs: list[dict[str, Any]] = []
        for raw in body.ids:  # 24 hex each: the schema checked them
            oid = ObjectId(raw)
            doc = await store.notifications.get(caller.tenant, oid)
            if doc is not None and doc["status"] == "FAILED":
                docs.append(doc)
    else:
        docs = await store.notifications.dead_letters(caller.tenant, filters, limit=1000)
    ids = await intake.replay(docs)
    return OrjsonResponse(views.replayed(ids))
