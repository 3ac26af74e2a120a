"""/api/admin: the caller's API keys, the providers' breakers, the reconciliation (admin scope)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from wavecom.api.auth import Admin, AnyKey
from wavecom.api.deps import AuthDep, SettingsDep, StoreDep
from wavecom.api.errors import ApiError
from wavecom.api.responses import OrjsonResponse
from wavecom.api.schemas import PROTECTED, ErrorEnvelope
from wavecom.constants import Scope
from wavecom.reconcile import reconcile

router = APIRouter(prefix="/api", tags=["admin"], responses=PROTECTED)

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


@router.get("/admin/providers", summary="Providers and their circuit breakers")
async def providers(store: StoreDep, caller: Admin) -> OrjsonResponse:
    """Per provider: its channel, the worst breaker state a live worker reports, and how many
    workers report it (shared by every tenant: the provider accounts are the system's)."""
    return OrjsonResponse({"success": True, "data": await store.breakers.states()})


@router.get("/admin/reconcile", summary="Prove that every accepted notification is accounted for")
async def reconcile_now(
    store: StoreDep,
    settings: SettingsDep,
    caller: Admin,
    stuck_after_s: Annotated[float, Query(alias="stuckAfterS", gt=0, le=86_400)] = 300.0,
) -> OrjsonResponse:
    """The caller's tenant, per channel: accepted = sent + failed + cancelled + in flight,
    computed from the documents; counters that differ from them; notifications not final and
    untouched for `stuckAfterS`. (`make verify` shows every tenant.)"""
    report = await reconcile(
        store,
        stuck_after_s=stuck_after_s,
        ledger_dir=settings.ledger_dir,
        tenant=caller.tenant,
    )
    data: dict[str, Any] = report.as_dict()
    return OrjsonResponse({"success": True, "data": data})
