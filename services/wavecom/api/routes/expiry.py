"""/api/admin/expiry: the caller's tenant's default validity per channel (admin scope).

A create that names neither ``ttlSeconds`` nor ``expiresAt`` gets its channel's default, when
the tenant set one (docs/expiry.md). The admin CLI sets the same (``tenants set-ttl``).
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from wavecom.api.auth import Admin
from wavecom.api.deps import AuthDep
from wavecom.api.responses import OrjsonResponse
from wavecom.api.schemas import PROTECTED, ErrorEnvelope, TtlSeconds
from wavecom.core.constants import Channel

router = APIRouter(prefix="/api/admin/expiry", tags=["admin"], responses=PROTECTED)


class DefaultTtls(BaseModel):
    """Each channel's default ``ttlSeconds`` (null: none, its notifications do not expire
    unless a create says so)."""

    model_config = ConfigDict(extra="forbid")

    EMAIL: TtlSeconds | None = None
    SMS: TtlSeconds | None = None
    PUSH: TtlSeconds | None = None


class DefaultTtlsChange(DefaultTtls):
    """The channels named are set (null clears a default); the others keep theirs."""


class DefaultTtlsEnvelope(BaseModel):
    success: bool = True
    data: DefaultTtls


async def _current(auth: AuthDep, tenant: str) -> OrjsonResponse:
    ttls = await auth.tenants.default_ttls(tenant)
    data = {c.value: ttls.get(c) for c in Channel}
    return OrjsonResponse({"success": True, "data": data})


@router.get("", response_model=DefaultTtlsEnvelope, summary="Default TTL per channel")
async def default_ttls(auth: AuthDep, caller: Admin) -> OrjsonResponse:
    """The caller's tenant's default validity per channel, in seconds (null: none)."""
    return await _current(auth, caller.tenant)


@router.put(
    "",
    response_model=DefaultTtlsEnvelope,
    responses={400: {"model": ErrorEnvelope, "description": "Invalid input"}},
    summary="Set the default TTL per channel",
)
async def set_default_ttls(body: DefaultTtlsChange, auth: AuthDep, caller: Admin) -> OrjsonResponse:
    """Set (1 to 604800 s) or clear (null) the default of each channel named; creates accepted
    by any API process use it within TENANT_CACHE_S. Notifications already accepted keep the
    expiry they were given."""
    for channel in body.model_fields_set:
        seconds: int | None = getattr(body, channel)
        await auth.tenants.set_default_ttl(caller.tenant, Channel(channel), seconds)
    return await _current(auth, caller.tenant)
