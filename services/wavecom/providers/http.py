"""What the HTTP drivers share: one pooled client per account, Retry-After, transport errors.

Each driver keeps its own table of which answers are transient and which are permanent; this
module only turns the answers every HTTP API gives alike into the errors the pipeline expects.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import math
import time
from collections.abc import AsyncIterator, Mapping

import httpx
import orjson

from wavecom.core.errors import TransientProviderError

# a worker sends through each account concurrently (its prefetch is in the hundreds): a send
# beyond these waits for a free connection, within its timeout
_POOL = httpx.Limits(max_connections=64, max_keepalive_connections=32, keepalive_expiry=30.0)


def pooled_client(
    timeout_s: float,
    *,
    base_url: str = "",
    auth: tuple[str, str] | None = None,
) -> httpx.AsyncClient:
    """The account's client, created once; ``timeout_s`` bounds connect, each read and write."""
    return httpx.AsyncClient(
        base_url=base_url,
        auth=auth,
        timeout=httpx.Timeout(timeout_s),
        limits=_POOL,
        follow_redirects=False,  # a redirected POST would be a second, unsigned send
    )


@contextlib.asynccontextmanager
async def deadline(provider: str, timeout_s: float) -> AsyncIterator[None]:
    """The account's timeout over a whole send (a token refresh included): then transient."""
    try:
        async with asyncio.timeout(timeout_s):
            yield
    except TimeoutError as exc:
        raise TransientProviderError(
            f"{provider}: timed out after {timeout_s:g}s", provider=provider
        ) from exc


async def post(
    client: httpx.AsyncClient,
    provider: str,
    url: str,
    *,
    content: bytes | None = None,
    data: Mapping[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    """POST and read the whole answer; no answer (refused, reset, timed out) is transient."""
    try:
        return await client.post(url, content=content, data=data, headers=headers)
    except httpx.HTTPError as exc:
        raise transport_error(provider, exc) from exc


def retry_after_s(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP-date (RFC 9110)."""
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if math.isfinite(seconds) else None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP-date is always GMT
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def json_body(response: httpx.Response) -> dict[str, object]:
    """The response's JSON object, or an empty dict when it has none (an HTML error page)."""
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def transport_error(provider: str, exc: httpx.HTTPError) -> TransientProviderError:
    """A request that got no answer: timed out, refused, reset. The provider may be back soon."""
    if isinstance(exc, httpx.TimeoutException):
        what = f"timed out ({type(exc).__name__})"
    else:
        what = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return TransientProviderError(f"{provider}: {what}", provider=provider)
