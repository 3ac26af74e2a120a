"""Admission control: a bound on the create requests one API process works on at once.

Past what the process can finish, every request it takes in only makes all of them later:
the event loop, the database and the broker are shared, so a queue of accepted-but-unfinished
requests grows until clients time out, and then work is done for clients that have gone
(#16 measured it: offered 200/s, 4.5 % answered, the rest after 30 s). So the create routes
(``POST /api/notifications`` and ``/batch``) pass through a counter: while
``ADMISSION_MAX_IN_FLIGHT`` of them are in progress in this process, the next is answered
``503 OVERLOADED`` with ``Retry-After`` at once, in the API's envelope, before its body is
read, so refusing costs almost nothing and nothing of it is stored. The bound caps how long an
admitted request waits (about bound / rate), which is what keeps the p99 of what is accepted
low under any offered load, and the process recovers by itself as soon as the load drops.

A count alone bounds the work in progress, not the time: when the event loop itself is
saturated (parsing requests faster than it can finish them), a request waits before it is even
counted, and #25 measured a p99 of 7.5 s at 2,500 offered/s. So the process also watches its
event loop's lag (how late a timer set every ``LAG_SAMPLE_S`` runs, a callback, no task) and,
while the last sample is above ``ADMISSION_MAX_LAG_MS``, refuses creates the same way. The lag
falls as soon as the loop catches up, and the next sample admits again: recovery is on its
own.

Pure ASGI and placed outside the routes' work (inside the HTTP metrics), so refusals are
counted in ``http_requests_total`` and in ``api_admission_refused_total`` (by reason:
``in_flight``, ``loop_lag``; intake's ``queue_deadline``).
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from wavecom.api.errors import envelope
from wavecom.core import metrics

GUARDED = frozenset({"/api/notifications", "/api/notifications/batch"})
LAG_SAMPLE_S = 0.1


class LoopLag:
    """How late the running event loop runs a timer, sampled every ``LAG_SAMPLE_S``."""

    def __init__(self, sample_s: float = LAG_SAMPLE_S) -> None:
        self.sample_s = sample_s
        self.lag_s = 0.0
        self._loop: asyncio.AbstractEventLoop | None = None

    def watch(self) -> None:
        """Start sampling on the running loop (once per loop)."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._schedule()

    def _schedule(self) -> None:
        assert self._loop is not None
        due = time.monotonic() + self.sample_s
        self._loop.call_later(self.sample_s, self._sample, due)

    def _sample(self, due: float) -> None:
        self.lag_s = max(0.0, time.monotonic() - due)
        metrics.LOOP_LAG.set(self.lag_s)
        if self._loop is not None and not self._loop.is_closed():
            self._schedule()


class Admission:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_in_flight: int,
        retry_after_s: int = 1,
        max_lag_ms: int = 0,
        lag: LoopLag | None = None,
    ) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.retry_after_s = retry_after_s
        self.max_lag_s = max_lag_ms / 1000
        self.lag = lag or LoopLag()
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in GUARDED:
            await self.app(scope, receive, send)
            return
        if self.max_lag_s:
            self.lag.watch()
        if self.in_flight >= self.max_in_flight:
            await self._refuse(
                scope,
                receive,
                send,
                "in_flight",
                f"This API process is working on {self.in_flight} create requests, its bound",
            )
            return
        if self.max_lag_s and self.lag.lag_s > self.max_lag_s:
            await self._refuse(
                scope,
                receive,
                send,
                "loop_lag",
                f"This API process is {self.lag.lag_s * 1000:.0f} ms behind its work "
                f"(bound {self.max_lag_s * 1000:.0f} ms)",
            )
            return
        self.in_flight += 1
        metrics.ADMISSION_IN_FLIGHT.set(self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            metrics.ADMISSION_IN_FLIGHT.set(self.in_flight)

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, reason: str, why: str
    ) -> None:
        metrics.labelled(metrics.ADMISSION_REFUSED, reason).inc()
        response = envelope(
            503,
            "OVERLOADED",
            f"{why}: retry after {self.retry_after_s}s (nothing of this request was stored)",
            headers={"Retry-After": str(self.retry_after_s)},
        )
        await response(scope, receive, send)
