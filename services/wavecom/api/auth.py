"""Who is calling: API keys, scopes and per-key rate limits, as route dependencies.

``Depends(require(Scope.SEND))`` authenticates the request (``Authorization: Bearer <key>`` or
``X-API-Key: <key>``), checks the scope, charges the key's token bucket one token and returns
the caller as a :class:`Principal`, whose tenant scopes every query the route makes. Missing
or bad key: 401; key without the scope: 403; bucket empty: 429 with Retry-After. Every answer to
a charged request carries RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from wavecom.api.errors import ApiError
from wavecom.api.quota import Decision, Quota
from wavecom.core import metrics
from wavecom.core.constants import Scope
from wavecom.core.keys import Keys
from wavecom.core.tenants import Tenants

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer wcn_…`")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key")


@dataclass(frozen=True)
class Principal:
    """The caller: a tenant, the key it used (None in development mode) and its scopes."""

    tenant: str
    key_id: str | None
    scopes: frozenset[Scope]

    @property
    def bucket(self) -> str:
        return self.key_id or f"dev:{self.tenant}"


class Auth:
    """What the dependencies need, built once per API process (``app.state.auth``)."""

    def __init__(self, keys: Keys, tenants: Tenants, quota: Quota, dev_tenant: str = "") -> None:
        self.keys = keys
        self.tenants = tenants
        self.quota = quota
        self.dev_tenant = dev_tenant

    async def authenticate(self, token: str | None) -> Principal:
        if token is None:
            if self.dev_tenant:
                return Principal(self.dev_tenant, None, frozenset(Scope))
            raise _unauthorized("An API key is required: Authorization: Bearer <key> or X-API-Key")
        key = await self.keys.verify(token)
        if key is None:
            raise _unauthorized("The API key is not valid (unknown, malformed or revoked)")
        return Principal(key.tenant, key.key_id, key.scopes)

    async def charge(self, request: Request, principal: Principal, cost: int) -> Decision:
        """Take ``cost`` tokens from the caller's bucket, or raise the 429."""
        limit = await self.tenants.limit(principal.tenant)
        if cost > limit.burst:
            raise ApiError(
                429,
                "RATE_LIMITED",
                f"This request costs {cost} tokens; the key's bucket holds {limit.burst}: "
                f"send at most {limit.burst} notifications per request",
                [{"field": "notifications", "message": f"at most {limit.burst} per request"}],
                headers={"Retry-After": str(math.ceil(limit.burst / limit.per_second))},
            )
        decision = await self.quota.charge(principal.bucket, cost, limit)
        request.state.ratelimit = decision
        if not decision.allowed:
            metrics.RATE_LIMITED.labels(principal.tenant).inc()
            raise ApiError(
                429,
                "RATE_LIMITED",
                f"Rate limit of this API key exceeded ({limit.per_second:g}/s, burst "
                f"{limit.burst}); retry after {decision.retry_after_s:.1f}s",
                headers={"Retry-After": str(max(1, math.ceil(decision.retry_after_s)))},
            )
        return decision


def _unauthorized(message: str) -> ApiError:
    metrics.AUTH_FAILURES.labels("401").inc()
    return ApiError(401, "UNAUTHORIZED", message, headers={"WWW-Authenticate": "Bearer"})


def ratelimit_headers(decision: Decision) -> list[tuple[bytes, bytes]]:
    return [
        (b"ratelimit-limit", str(decision.limit).encode()),
        (b"ratelimit-remaining", str(decision.remaining).encode()),
        (b"ratelimit-reset", str(math.ceil(decision.reset_s)).encode()),
    ]


def require(scope: Scope | None, *, charge: bool = True) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the authenticated caller, holding ``scope`` (any key when None),
    charged one token unless ``charge`` is False (the route charges what it costs)."""

    async def dependency(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
        api_key: Annotated[str | None, Depends(_header)],
    ) -> Principal:
        return await _caller(request, bearer, api_key, scope, charge)

    return dependency


async def caller(request: Request, scope: Scope | None, *, charge: bool = True) -> Principal:
    """What ``require(scope, charge=charge)`` answers, for a route that binds its arguments
    itself (``wavecom.api.direct``): the same header parsing, checks and charge."""
    return await _caller(request, await _bearer(request), await _header(request), scope, charge)


async def _caller(
    request: Request,
    bearer: HTTPAuthorizationCredentials | None,
    api_key: str | None,
    scope: Scope | None,
    charge: bool,
) -> Principal:
    auth: Auth = request.app.state.auth
    if bearer is None and request.headers.get("authorization"):
        raise _unauthorized("Authorization must be: Bearer <API key>")
    token = bearer.credentials if bearer is not None else api_key
    principal = await auth.authenticate(token)
    if scope is not None and scope not in principal.scopes:
        metrics.AUTH_FAILURES.labels("403").inc()
        raise ApiError(403, "FORBIDDEN", f"This API key does not have the {scope} scope")
    if charge:
        await auth.charge(request, principal, 1)
    return principal


Sender = Annotated[Principal, Depends(require(Scope.SEND))]
Reader = Annotated[Principal, Depends(require(Scope.READ))]
Admin = Annotated[Principal, Depends(require(Scope.ADMIN))]
BatchSender = Annotated[Principal, Depends(require(Scope.SEND, charge=False))]
AnyKey = Annotated[Principal, Depends(require(None))]
