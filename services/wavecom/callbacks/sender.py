"""One endpoint's lane: POSTs its due callbacks, signed, at most CALLBACK_CONCURRENCY at once.

Each endpoint has a lane of its own (a task, an HTTP client with its own connection pool, its
own bound): a slow or dead receiver fills only its lane, never another tenant's, and never the
delivery workers, which do not know callbacks exist.

What an answer means:
- 2xx: delivered.
- 429, 408, 5xx, a timeout or no connection: tried again after an exponential backoff with
  jitter (or the receiver's ``Retry-After`` when longer), until CALLBACK_RETRY_WINDOW_S after
  the callback was first due (24 h by default); then parked as a dead letter.
- anything else (a redirect, another 4xx): parked at once. The same signed body would get the
  same answer; once the receiver is fixed, the tenant replays its dead letters.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from datetime import datetime, timedelta

import httpx

from wavecom.callbacks import metrics
from wavecom.callbacks.endpoints import Endpoint
from wavecom.callbacks.payload import headers
from wavecom.core.settings import Settings
from wavecom.providers.http import retry_after_s
from wavecom.store import Doc, Store, utcnow
from wavecom.store.callbacks import DELIVERED, PARKED, PENDING, attempt_doc

log = logging.getLogger("wavecom.callbacks")

RETRYABLE_STATUS = frozenset({408, 429, *range(500, 600)})
_MAX_ERROR = 300
_RNG = random.Random()


def backoff_s(attempts: int, settings: Settings, rng: random.Random | None = None) -> float:
    """The wait before the next try after ``attempts`` failed ones: doubling from the base up
    to the cap, its second half random ("equal jitter"), so receivers that come back are not
    hit by every lane at the same instant."""
    ceiling = min(
        settings.callback_backoff_max_s,
        settings.callback_backoff_base_s * 2.0 ** max(0, attempts - 1),
    )
    return ceiling / 2 + (rng or _RNG).uniform(0, ceiling / 2)


class Lane:
    """Delivers one endpoint's callbacks until stopped."""

    def __init__(self, endpoint: Endpoint, store: Store, settings: Settings) -> None:
        self.endpoint = endpoint
        self.store = store
        self.settings = settings
        self.wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.callback_timeout_s),
            limits=httpx.Limits(max_connections=settings.callback_concurrency),
            follow_redirects=False,  # a redirected POST would be sent where nobody signed up
        )
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"callbacks {self.endpoint.id}")

    async def stop(self) -> None:
        """Let the POSTs in flight finish (each is bounded by its timeout), then close."""
        self._stopping.set()
        self.wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._client.aclose()

    async def _run(self) -> None:
        s = self.settings
        while not self._stopping.is_set():
            self.wake.clear()
            try:
                due = await self.store.callbacks.due(
                    self.endpoint.id, utcnow(), s.callback_concurrency
                )
            except Exception as exc:  # the database is away: look again later
                log.warning("callbacks of %s: %r", self.endpoint.id, exc)
                due = []
            if due:
                await asyncio.gather(*(self._deliver(r) for r in due))
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), s.callback_poll_s)

    async def _deliver(self, record: Doc) -> None:
        s = self.settings
        now = utcnow()
        lease = timedelta(seconds=s.callback_timeout_s * 3 + 30)
        try:
            if not await self.store.callbacks.claim(record, now + lease):
                return  # another process took it
            await self._attempt(record)
        except Exception:  # one callback's trouble must not stop the lane
            log.exception("callback %s of %s", record["_id"], self.endpoint.id)

    async def _attempt(self, record: Doc) -> None:
        s, endpoint = self.settings, self.endpoint
        tenant = endpoint.tenant
        content: bytes = record["body"]
        timestamp = int(time.time())
        sent = time.monotonic()
        status: int | None = None
        error: str | None = None
        wait_s: float | None = None
        metrics.CALLBACKS.labels(tenant, "attempted").inc()
        try:
            response = await self._client.post(
                endpoint.url,
                content=content,
                headers=headers(list(endpoint.secrets), record["webhookId"], timestamp, content),
            )
            status = response.status_code
            wait_s = retry_after_s(response.headers)
        except httpx.TimeoutException:
            error = f"no answer within {s.callback_timeout_s:g}s"
        except httpx.HTTPError as exc:
            error = (f"{type(exc).__name__}: {exc}")[:_MAX_ERROR]
        took = time.monotonic() - sent
        metrics.CALLBACK_DURATION.labels(tenant).observe(took)
        at = utcnow()
        if status is not None and 200 <= status < 300:
            await self._record(record, at, status, None, took, DELIVERED)
            metrics.CALLBACKS.labels(tenant, "succeeded").inc()
            metrics.CALLBACK_LATENCY.labels(tenant).observe(
                max(0.0, (at - record["stepAt"]).total_seconds())
            )
            return
        metrics.CALLBACKS.labels(tenant, "failed").inc()
        if status is not None and status not in RETRYABLE_STATUS:
            await self._record(record, at, status, None, took, PARKED, reason=f"HTTP {status}")
            metrics.CALLBACKS.labels(tenant, "parked").inc()
            return
        delay = max(backoff_s(int(record.get("attemptCount", 0)) + 1, s), wait_s or 0.0)
        window_end: datetime = record["windowFrom"] + timedelta(seconds=s.callback_retry_window_s)
        if at + timedelta(seconds=delay) > window_end:
            reason = f"no success within {s.callback_retry_window_s:g}s"
            await self._record(record, at, status, error, took, PARKED, reason=reason)
            metrics.CALLBACKS.labels(tenant, "parked").inc()
            return
        await self._record(
            record, at, status, error, took, PENDING, due=at + timedelta(seconds=delay)
        )

    async def _record(
        self,
        record: Doc,
        at: datetime,
        status: int | None,
        error: str | None,
        took: float,
        state: str,
        *,
        due: datetime | None = None,
        reason: str | None = None,
    ) -> None:
        outcome = {DELIVERED: "delivered", PARKED: "parked", PENDING: "retry"}[state]
        attempt = attempt_doc(at, status, error, round(took * 1000), outcome)
        await self.store.callbacks.attempted(
            record["_id"], attempt, state=state, due=due, reason=reason
        )
