"""/api/admin: the caller's API keys, the providers' breakers, the reconciliation (admin scope)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field
from pymongo.errors import PyMongoError

from wavecom.api.auth import Admin, AnyKey
from wavecom.api.deps import AuthDep, SettingsDep, StoreDep
from wavecom.api.errors import ApiError, error_body
from wavecom.api.responses import OrjsonResponse
from wavecom.api.schemas import PROTECTED, ErrorEnvelope
from wavecom.core.constants import Scope
from wavecom.core.errors import DependencyUnavailable, MockRefused
from wavecom.providers.accounts import refuse_mock
from wavecom.relay.reconcile import Report, Window, reconcile_steps

router = APIRouter(prefix="/api", tags=["admin"], responses=PROTECTED)

NDJSON = "application/x-ndjson"

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorEnvelope, "description": "No such key in the caller's tenant"}
}


class KeyCreate(BaseModel):
    """A new key of the caller's tenant."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(default="", max_length=100, description="what the key is for")
    scopes: list[Scope] = Field(min_length=1, max_length=3)


class KeyView(BaseModel):
    id: str
    tenantId: str
    scopes: list[Scope]
    name: str
    createdAt: str
    revokedAt: str | None


class KeyCreated(KeyView):
    key: str = Field(description="the key itself: shown this once, store it now")


class KeyEnvelope(BaseModel):
    success: bool = True
    data: KeyView


class KeyCreatedEnvelope(BaseModel):
    success: bool = True
    data: KeyCreated
    message: str


class KeyListEnvelope(BaseModel):
    success: bool = True
    data: list[KeyView]


class Me(BaseModel):
    tenantId: str
    keyId: str | None
    scopes: list[Scope]


class MeEnvelope(BaseModel):
    success: bool = True
    data: Me


@router.get("/auth/me", response_model=MeEnvelope, tags=["auth"], summary="Who the key is")
async def me(caller: AnyKey) -> OrjsonResponse:
    """The caller's tenant, key id and scopes: how the dashboard checks a key at sign-in."""
    data = {"tenantId": caller.tenant, "keyId": caller.key_id, "scopes": sorted(caller.scopes)}
    return OrjsonResponse({"success": True, "data": data})


@router.post(
    "/admin/keys",
    status_code=201,
    response_model=KeyCreatedEnvelope,
    responses={400: {"model": ErrorEnvelope}},
    summary="Create an API key for the caller's tenant",
)
async def create_key(body: KeyCreate, auth: AuthDep, caller: Admin) -> OrjsonResponse:
    """The answer holds the key itself, the only time it is shown; only its hash is kept."""
    key, token = await auth.keys.create(caller.tenant, body.scopes, body.name)
    return OrjsonResponse(
        {
            "success": True,
            "data": {**key.as_dict(), "key": token},
            "message": "Key created: store it now, it is not shown again",
        },
        status_code=201,
    )


@router.get("/admin/keys", response_model=KeyListEnvelope, summary="The tenant's API keys")
async def list_keys(auth: AuthDep, caller: Admin) -> OrjsonResponse:
    """Ids, names, scopes and dates; never the keys themselves."""
    keys = await auth.keys.list(caller.tenant)
    return OrjsonResponse({"success": True, "data": [k.as_dict() for k in keys]})


@router.delete(
    "/admin/keys/{key_id}",
    response_model=KeyEnvelope,
    responses=_NOT_FOUND,
    summary="Revoke an API key",
)
async def revoke_key(
    key_id: Annotated[str, Path(pattern="^[0-9a-f]{16}$", description="the key's id")],
    auth: AuthDep,
    caller: Admin,
) -> OrjsonResponse:
    """Takes effect at once, in every API process: keys are checked on every request."""
    key = await auth.keys.revoke(key_id, caller.tenant)
    if key is None:
        raise ApiError(404, "NOT_FOUND", f"API key {key_id} not found")
    return OrjsonResponse({"success": True, "data": key.as_dict()})


@router.get("/admin/providers", summary="Provider accounts and their circuit breakers")
async def providers(store: StoreDep, settings: SettingsDep, caller: Admin) -> OrjsonResponse:
    """Every provider account (never its credentials) with the worst breaker state a live
    worker reports and how many workers report it, and the configuration's revision (shared
    by every tenant: the provider accounts are the system's). `refused` says why no worker
    uses an account whatever its state (a mock with ENVIRONMENT=production), else null."""
    revision = await store.accounts.revision()
    breakers = await store.breakers.states()
    listed = []
    for account in await store.accounts.listed():
        seen = breakers.get(account["name"])
        try:
            refuse_mock(account["name"], str(account.get("driver")), settings.environment)
            refused = None
        except MockRefused as exc:
            refused = str(exc)
        listed.append(
            {
                **account,
                "breaker": {"state": seen["state"], "workers": seen["workers"]} if seen else None,
                "refused": refused,
            }
        )
    return OrjsonResponse({"success": True, "data": {"revision": revision, "providers": listed}})


@router.get(
    "/admin/reconcile",
    summary="Prove that every accepted notification is accounted for",
    responses={
        200: {
            "content": {
                NDJSON: {
                    "schema": {"type": "string"},
                    "example": '{"window": {...}}\n{"window": {...}}\n'
                    '{"success": true, "data": {...}}\n',
                }
            },
            "description": "The report; with `Accept: application/x-ndjson`, one line per "
            "counting window as it is counted, then the report's envelope",
        }
    },
)
async def reconcile_now(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    caller: Admin,
    stuck_after_s: Annotated[float, Query(alias="stuckAfterS", gt=0, le=86_400)] = 300.0,
) -> Response:
    """The caller's tenant, per channel: accepted = sent + failed + cancelled + in flight,
    computed from the documents created before `asOf`; counters that differ from them;
    notifications not final and untouched for `stuckAfterS`. (`make verify` shows every
    tenant.) The time this takes grows with the tenant's data (`durationMs` says how long it
    took): ask for `application/x-ndjson` to have the documents counted in windows of
    `createdAt` (about 20,000 each) and each window streamed as it is counted, the report last."""
    streamed = NDJSON in request.headers.get("accept", "")
    steps = reconcile_steps(
        store,
        stuck_after_s=stuck_after_s,
        ledger_dir=settings.ledger_dir,
        tenant=caller.tenant,
        windowed=streamed,
    )
    if streamed:
        return StreamingResponse(_lines(steps), media_type=NDJSON)
    async for step in steps:
        if isinstance(step, Report):
            data: dict[str, Any] = step.as_dict()
            return OrjsonResponse({"success": True, "data": data})
    raise AssertionError("reconcile_steps ends with its report")  # pragma: no cover


async def _lines(steps: AsyncIterator[Window | Report]) -> AsyncIterator[bytes]:
    try:
        async for step in steps:
            if isinstance(step, Window):
                yield orjson.dumps({"window": step.as_dict()}) + b"\n"
            else:
                yield orjson.dumps({"success": True, "data": step.as_dict()}) + b"\n"
    except (DependencyUnavailable, PyMongoError) as exc:
        # the status line is sent already: the stream ends with the error's envelope
        body = {"success": False, "error": error_body("SERVICE_UNAVAILABLE", str(exc))}
        yield orjson.dumps(body) + b"\n"
