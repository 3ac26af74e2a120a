"""The API's metrics port: Prometheus text from the process's registry, off the API's own port,
and a scrape costs no broker round trip (the queue depths are sampled in the background by the
one sampler that load shedding reads too, ``wavecom.api.depths``)."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import aiormq
import httpx
import pytest

from tests.support.notifications import sms
from tests.support.processes import serve
from tests.support.wait import wait_for
from wavecom.api.depths import FULL_EVERY_S, TICK_S, QueueDepths
from wavecom.core.constants import ALL_LANE_QUEUES, DELAY_LADDER_MS, DLQ, Channel
from wavecom.core.probes import ProbeServer
from wavecom.core.settings import Settings

SAMPLER_TASK = "queue depths"  # the Periodic's task name in the API's lifespan
FULL_SAMPLE = len(ALL_LANE_QUEUES) + 1 + len(DELAY_LADDER_MS)  # passive declares
LANES_SAMPLE = len(Channel)


async def test_twenty_concurrent_scrapes_cost_no_broker_round_trip(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every RPC the API's connection sends to RabbitMQ is counted (a wrapper around aiormq's
    channel RPC, which every AMQP method of the product goes through), by the task that sent
    it: during 20 concurrent scrapes only the background sampler talks to the broker, at its
    own pace, and every scrape answers the sampled depths."""
    async with serve(settings) as http:
        app: Any = http.app  # type: ignore[attr-defined]
        assert (await http.post("/api/notifications", json=sms(1))).status_code == 201
        assert (await http.get("/api/metrics")).status_code == 404  # not on the Ingress's port
        probes = ProbeServer()  # what `python -m wavecom.api --metrics-port N` serves
        port = await probes.start("127.0.0.1", 0)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as scraper:

                async def sampled() -> bool:
                    text = (await scraper.get("/metrics")).text
                    return 'queue_depth{queue="wavecom.sms.standard"} 1.0' in text

                await wait_for(sampled, within=3 * FULL_EVERY_S, what="a full sample")

                ours = app.state.connection.transport.connection
                rpc = aiormq.Channel.rpc
                sent: Counter[str] = Counter()

                def counting(self: aiormq.Channel, frame: Any, timeout: Any = None) -> Any:
                    if self.connection is ours:
                        task = asyncio.current_task()
                        sent[task.get_name() if task else "?"] += 1
                    return rpc(self, frame, timeout)

                monkeypatch.setattr(aiormq.Channel, "rpc", counting)
                started = time.monotonic()
                answers = await asyncio.gather(*(scraper.get("/metrics") for _ in range(20)))
                elapsed = time.monotonic() - started
                monkeypatch.undo()
        finally:
            await probes.close()

    assert [a.status_code for a in answers] == [200] * 20
    for a in answers:
        assert 'queue_depth{queue="wavecom.sms.standard"} 1.0' in a.text
        assert 'notifications_created_total{priority="MEDIUM",type="SMS"}' in a.text
        assert "http_request_duration_seconds_bucket" in a.text
    sampler = sent.pop(SAMPLER_TASK, 0)
    assert sent == Counter(), f"broker round trips outside the sampler during the scrapes: {sent}"
    # the sampler's own pace, whatever the scrapes: the standard lanes each tick, every queue
    # at most once every FULL_EVERY_S (the old /api/metrics: 31 declares per scrape, 620 here)
    ticks = int(elapsed / TICK_S) + 1
    budget = ticks * LANES_SAMPLE + (int(elapsed / FULL_EVERY_S) + 1) * FULL_SAMPLE
    assert sampler <= budget, f"{sampler} RPCs in {elapsed:.2f}s"


async def test_the_sampler_reads_every_queue_at_most_once_per_interval(settings: Settings) -> None:
    """Ticks between two full samples read only the three standard lanes (load shedding's)."""
    async with serve(settings) as http:
        app: Any = http.app  # type: ignore[attr-defined]
        depths = QueueDepths(await app.state.connection.channel(), full_every_s=3600)
        await depths.sample()  # the first: every queue
        assert set(depths.depths) == {*ALL_LANE_QUEUES, DLQ, "retry"}
        await http.post("/api/notifications", json=sms(2))
        await http.post("/api/notifications", json={**sms(3), "priority": "CRITICAL"})
        await depths.sample()
        assert depths.standard(Channel.SMS) == 1  # fresh: load shedding reads it
        assert depths.depths["wavecom.sms.high"] == 0  # the full sample's, an hour old
