"""Admission control: past its bound of create requests in flight, an API process answers
503 with Retry-After at once, in the envelope, and admits again as soon as one finishes."""

from __future__ import annotations

import asyncio
import time

import httpx
from prometheus_client import REGISTRY
from starlette.types import Receive, Scope, Send

from tests.support.api import admission_refused
from tests.support.notifications import sms
from tests.support.processes import serve
from tests.support.wait import wait_for
from wavecom.api.admission import Admission, LoopLag
from wavecom.core.settings import Settings


async def test_past_the_bound_a_create_is_refused_at_once_and_then_admitted_again() -> None:
    release = asyncio.Event()
    both_in = asyncio.Event()
    entered = 0

    async def slow(scope: Scope, receive: Receive, send: Send) -> None:
        """Stands for a create that takes time (the app behind the middleware)."""
        nonlocal entered
        entered += 1
        if entered == 2:
            both_in.set()
        await release.wait()
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    app = Admission(slow, max_in_flight=2, retry_after_s=3)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        first = [asyncio.create_task(http.post("/api/notifications", json={})) for _ in range(2)]
        await asyncio.wait_for(both_in.wait(), 10)  # both admitted and working
        refused = await asyncio.wait_for(http.post("/api/notifications/batch", json={}), 5)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "3"
        body = refused.json()
        assert body["success"] is False
        assert body["error"]["code"] == "OVERLOADED"
        assert "nothing of this request was stored" in body["error"]["message"]
        # reads are never refused by it
        release.set()
        assert [r.status_code for r in await asyncio.gather(*first)] == [201, 201]
        assert app.in_flight == 0
        again = await http.post("/api/notifications", json={})
        assert again.status_code == 201


async def test_the_api_refuses_creates_past_its_bound_and_stores_none_of_them(
    settings: Settings,
) -> None:
    async with serve(settings.model_copy(update={"admission_max_in_flight": 4})) as http:
        before, bound = _create_503s(), admission_refused("in_flight")
        answers = await asyncio.gather(
            *(http.post("/api/notifications", json=sms(i)) for i in range(60))
        )
        codes = [r.status_code for r in answers]
        assert set(codes) <= {201, 503}, codes
        assert 4 <= codes.count(201) < 60, codes
        for r in answers:
            if r.status_code == 503:
                assert r.json()["error"]["code"] == "OVERLOADED"
        store = http.app.state.store  # type: ignore[attr-defined]
        stored = await store.notifications.collection.count_documents({})
        assert stored == codes.count(201)
        # refused before routing, still counted as the create route's 503 (the accept alerts)
        assert _create_503s() - before == codes.count(503)
        assert admission_refused("in_flight") - bound == codes.count(503)


def _create_503s() -> float:
    """503s of POST /api/notifications in this process's http_requests_total."""
    value = REGISTRY.get_sample_value(
        "http_requests_total",
        {"method": "POST", "route": "/api/notifications", "status": "503"},
    )
    return value or 0.0


def _block_loop(seconds: float) -> None:
    """Hold the event loop like a burst of request parsing would (busy, not sleeping)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


async def test_while_the_event_loop_lags_a_create_is_refused_at_once_and_after_it_admitted() -> (
    None
):
    async def created(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    # a sample every 0.5 s: the one that saw the block stands for half a second, long enough
    # for the next request on a busy machine
    lag = LoopLag(sample_s=0.5)
    app = Admission(created, max_in_flight=100, retry_after_s=2, max_lag_ms=100, lag=lag)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api.test") as http:
        assert (await http.post("/api/notifications", json={})).status_code == 201  # watching
        asyncio.get_running_loop().call_soon(_block_loop, 1.0)

        async def lagging() -> bool:
            return lag.lag_s > 0.1

        await wait_for(lagging, within=10, interval=0.01, what="the loop's lag to be seen")
        lagged = admission_refused("loop_lag")
        answer = await http.post("/api/notifications", json={})
        assert answer.status_code == 503
        assert answer.headers["retry-after"] == "2"
        assert admission_refused("loop_lag") - lagged == 1
        error = answer.json()["error"]
        assert error["code"] == "OVERLOADED"
        assert "ms behind its work" in error["message"]
        assert (await http.get("/api/notifications")).status_code != 503  # reads pass

        async def admitted() -> bool:
            return (await http.post("/api/notifications", json={})).status_code == 201

        # the next samples find the loop on time again: admitted without anyone's help
        await wait_for(admitted, within=10, interval=0.02, what="creates to be admitted again")
