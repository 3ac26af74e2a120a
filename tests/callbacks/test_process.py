"""``python -m wavecom.callbacks`` as the deployment runs it: ready once it follows the
endpoints and consumes the events, its metrics served, and a clean exit on SIGTERM."""

from __future__ import annotations

import signal

import httpx
import pytest

from tests.support.services import free_port
from tests.support.system import System
from tests.support.wait import wait_for
from wavecom.core.settings import Settings

pytestmark = pytest.mark.e2e


async def test_the_process_gets_ready_serves_metrics_and_stops_on_sigterm(
    settings: Settings,
) -> None:
    port = free_port()
    async with System(settings) as system, httpx.AsyncClient() as http:
        await system.spawn_callbacks(metrics_port=port)

        async def ready() -> bool:
            try:
                return (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
            except httpx.TransportError:
                return False

        await wait_for(ready, within=30, interval=0.2, what="/readyz")
        metrics = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        assert "callback_endpoints 0.0" in metrics
        assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
        process = system.procs["callbacks"]
        process.send_signal(signal.SIGTERM)
        assert await process.wait() == 0
