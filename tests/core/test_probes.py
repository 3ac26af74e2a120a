"""``wavecom.core.probes``: a worker's /metrics, /healthz and /readyz over a real socket."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from wavecom.core import metrics
from wavecom.core.probes import ProbeServer


class Readiness:
    def __init__(self) -> None:
        self.reason: str | None = "declaring its queues"

    def __call__(self) -> str | None:
        return self.reason


@pytest.fixture
async def probes() -> AsyncIterator[tuple[ProbeServer, Readiness, str]]:
    readiness = Readiness()
    server = ProbeServer(readiness)
    port = await server.start("127.0.0.1", 0)
    yield server, readiness, f"http://127.0.0.1:{port}"
    await server.close()


async def test_readiness_follows_the_worker_and_liveness_only_the_loop(
    probes: tuple[ProbeServer, Readiness, str],
) -> None:
    _, readiness, url = probes
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        not_ready = await http.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.text == "not ready: declaring its queues\n"
        assert (await http.get("/healthz")).status_code == 200

        readiness.reason = None
        assert (await http.get("/readyz")).text == "ready\n"
        readiness.reason = "broker connection lost: reconnecting"
        assert (await http.get("/readyz")).status_code == 503
        assert (await http.get("/healthz")).text == "ok\n"  # an outage is no reason to restart


async def test_metrics_are_the_process_registry(probes: tuple[ProbeServer, Readiness, str]) -> None:
    _, _, url = probes
    metrics.DEAD_LETTERED.labels("probe-test").inc(3)
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        r = await http.get("/metrics")
        head = await http.head("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain; version=")
    assert 'notifications_dead_lettered_total{reason="probe-test"} 3.0' in r.text
    assert head.status_code == 200
    assert head.content == b""


async def test_other_requests_get_a_clear_4xx(probes: tuple[ProbeServer, Readiness, str]) -> None:
    _, _, url = probes
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        missing = await http.get("/api/health")
        posted = await http.post("/readyz", content=b"x")
    assert missing.status_code == 404
    assert "/readyz" in missing.text
    assert posted.status_code == 405

    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"garbage\r\n\r\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    assert answer.startswith(b"HTTP/1.0 400 ")


async def test_a_silent_client_does_not_hold_the_server(
    probes: tuple[ProbeServer, Readiness, str],
) -> None:
    _, _, url = probes
    host, port = url.removeprefix("http://").split(":")
    _, silent = await asyncio.open_connection(host, int(port))  # sends nothing
    async with httpx.AsyncClient(base_url=url, timeout=5) as http:
        assert (await http.get("/healthz")).status_code == 200
    silent.close()
