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

Pure ASGI and placed outside the routes' work (inside the HTTP metrics), so refusals are
counted in ``http_requests_total`` and in ``api_admission_refused_total``.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from wavecom import metrics
from wavecom.api.errors import envelope

GUARDED = frozenset({"/api/notifications", "/api/notifications/batch"})


class Admission:
    def __init__(self, app: ASGIApp, *, max_in_flight: int, retry_after_s: int = 1) -> None:
        self.app = app
        self.max_in_flight = max_in_flight
        self.retry_after_s = retry_after_s
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] not in GUARDED:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.max_in_flight:
            metrics.ADMISSION_REFUSED.inc()
            response = envelope(
                503,
                "OVERLOADED",
                f"This API process is working on {self.in_flight} create requests, its bound:"
                f" retry after {self.retry_after_s}s (nothing of this request was stored)",
                headers={"Retry-After": str(self.retry_after_s)},
            )
            await response(scope, receive, send)
            return
        self.in_flight += 1
        metrics.ADMISSION_IN_FLIGHT.set(self.in_flight)
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            metrics.ADMISSION_IN_FLIGHT.set(self.in_flight)
