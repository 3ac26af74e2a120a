"""``Idempotency-Key`` on the create endpoints.

The first request with a key inserts a record whose ``_id`` is the tenant and the key: a unique
insert, so of two concurrent requests with one key exactly one goes on (no read-then-write).
Its response is stored; the same key with the same body gets that response again and creates
nothing; the same key with a different body is a 409. A request that failed for a dependency
(503) releases its key so the client can retry with it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import Request

from wavecom.api.errors import ApiError
from wavecom.api.responses import OrjsonResponse
from wavecom.core.errors import DependencyUnavailable
from wavecom.store import Store
from wavecom.store.idempotency import IdempotencyKeys

HEADER = "Idempotency-Key"
_MAX_KEY = 255


async def idempotent(
    key: str | None,
    request: Request,
    store: Store,
    tenant: str,
    handle: Callable[[], Awaitable[OrjsonResponse]],
) -> OrjsonResponse:
    """Run ``handle`` once per (tenant, key); without a key, just run it."""
    if key is None:
        return await handle()
    if not key or len(key) > _MAX_KEY or not key.isprintable():
        raise ApiError(
            400,
            "VALIDATION_ERROR",
            f"{HEADER} must be 1-{_MAX_KEY} printable characters",
            [{"field": HEADER, "message": "invalid"}],
        )
    body = await request.body()
    fingerprint = hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
    ).hexdigest()
    record_id = f"{tenant}:{key}"
    keys = store.idempotency
    if not await keys.claim(record_id, fingerprint):
        return await _earlier(keys, record_id, fingerprint)

    try:
        response = await handle()
    except (DependencyUnavailable, ApiError) as exc:
        if isinstance(exc, ApiError) and exc.status < 500:
            await _store(
                keys,
                record_id,
                exc.status,
                {
                    "success": False,
                    "error": {"code": exc.code, "message": exc.message, "details": exc.details},
                },
            )
        else:
            await keys.release(record_id)  # let the client retry the key
        raise
    except BaseException:
        await keys.release(record_id)
        raise
    await _store(keys, record_id, response.status_code, orjson.loads(response.body))
    return response


async def _store(keys: IdempotencyKeys, record_id: str, status: int, body: Any) -> None:
    await keys.complete(record_id, status, orjson.dumps(body).decode())


async def _earlier(keys: IdempotencyKeys, record_id: str, fingerprint: str) -> OrjsonResponse:
    earlier = await keys.get(record_id)
    if earlier is None:  # released by a failed first request a moment ago
        raise ApiError(
            409, "IDEMPOTENCY_KEY_IN_USE", "Retry this request", headers={"Retry-After": "1"}
        )
    if earlier["fingerprint"] != fingerprint:
        raise ApiError(
            409,
            "IDEMPOTENCY_KEY_REUSED",
            f"{HEADER} was already used with a different request body",
            [{"field": HEADER, "message": "already used with a different body"}],
        )
    if earlier["state"] != "done":
        raise ApiError(
            409,
            "IDEMPOTENCY_KEY_IN_USE",
            "A request with this Idempotency-Key is still being processed",
            headers={"Retry-After": "1"},
        )
    return OrjsonResponse(
        orjson.loads(earlier["body"]),
        status_code=earlier["status"],
        headers={"Idempotent-Replayed": "true"},
    )
