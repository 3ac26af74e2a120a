"""/api/dlq: dead-lettered notifications, and replaying them."""

from __future__ import annotations

from typing import Any

from bson import ObjectId
from bson.errors import InvalidId
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from wavecom.api import views
from wavecom.api.auth import Admin
from wavecom.api.deps import IntakeDep, LimitParam, PageParam, StoreDep
from wavecom.api.errors import ApiError
from wavecom.api.responses import OrjsonResponse
from wavecom.api.schemas import ErrorEnvelope, PageEnvelope
from wavecom.constants import Channel

router = APIRouter(prefix="/api/dlq", tags=["dead letters"])

REASONS = ("permanent", "retries_exhausted", "replay_failed")


class ReplayRequest(BaseModel):
    """Which dead letters to replay: by ids, or every one matching type and reason."""

    model_config = ConfigDict(extra="forbid")

    ids: list[str] | None = Field(default=None, max_length=1000)
    type: Channel | None = None
    reason: str | None = Field(default=None, description=f"one of {', '.join(REASONS)}")


class ReplayResult(BaseModel):
    replayed: int
    ids: list[str]


class ReplayEnvelope(BaseModel):
    success: bool = True
    data: ReplayResult


def _filters(type_: Channel | None, reason: str | None) -> dict[str, str]:
    filters: dict[str, str] = {}
    if type_ is not None:
        filters["type"] = type_.value
    if reason is not None:
        if reason not in REASONS:
            raise ApiError(
                400,
                "VALIDATION_ERROR",
                f"reason must be one of {', '.join(REASONS)}",
                [{"field": "reason", "message": f"must be one of {', '.join(REASONS)}"}],
            )
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
    reason: str | None = None,
) -> OrjsonResponse:
    """FAILED notifications with `deadLetter: {reason, attempts, lastError, at}`, newest first."""
    filters = {"status": "FAILED", **_filters(type, reason)}
    result = await store.page(caller.tenant, filters, page, limit)
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
    no longer FAILED (replayed already) is skipped, so replaying twice does not send twice."""
    filters = _filters(body.type, body.reason)
    if body.ids is not None:
        docs: list[dict[str, Any]] = []
        for raw in body.ids:
            try:
                oid = ObjectId(raw)
            except (InvalidId, TypeError) as exc:
                raise ApiError(
                    400,
                    "VALIDATION_ERROR",
                    f"{raw!r} is not a notification id",
                    [{"field": "ids", "message": "must be 24 hexadecimal characters"}],
                ) from exc
            doc = await store.get(caller.tenant, oid)
            if doc is not None and doc["status"] == "FAILED":
                docs.append(doc)
    else:
        docs = await store.dead_letters(caller.tenant, filters, limit=1000)
    ids = await intake.replay(docs)
    return OrjsonResponse({"success": True, "data": {"replayed": len(ids), "ids": ids}})
