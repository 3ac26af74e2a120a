"""The backlog gauges the callbacks process samples per endpoint (callbacks_pending,
callback_oldest_due_seconds; the WavecomCallbackBacklogAging alert, docs/callbacks.md)."""

from __future__ import annotations

from datetime import timedelta

import httpx
from prometheus_client import REGISTRY

from tests.callbacks.conftest import Running, register
from tests.callbacks.receiver import receiving
from tests.support.notifications import create, email
from tests.support.processes import Workers
from tests.support.wait import wait_for
from wavecom.core.constants import Channel
from wavecom.store import Store, utcnow


def gauge(name: str, endpoint_id: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"tenant": "acme", "endpoint": endpoint_id})


async def test_a_refusing_endpoint_s_callbacks_are_pending_and_age_once_due(
    api: httpx.AsyncClient, run_worker: Workers, callbacks: Running, store: Store
) -> None:
    async with receiving(mode="down") as receiver:
        endpoint_id, receiver.secret = await register(api, receiver.url)
        # retries 15 to 30 s away: after one refusal each, nothing is due for a while
        service = await callbacks(callback_backoff_base_s=30.0, callback_backoff_max_s=60.0)
        await run_worker(Channel.EMAIL)
        await create(api, [email(20), email(21)])

        async def refused() -> bool:
            return len({m for _, m, _ in receiver.seen}) == 2

        await wait_for(refused, within=20, what="both callbacks refused once")

        async def sampled() -> bool:
            await service.sample_backlog()
            return gauge("callbacks_pending", endpoint_id) == 2

        await wait_for(sampled, within=10, what="two pending callbacks in the gauge")
        assert gauge("callback_oldest_due_seconds", endpoint_id) == 0  # none due yet
        # five minutes on, both are due and the one due first has waited 4.5 minutes or more
        pending, waited = await store.callbacks.backlog(
            endpoint_id, utcnow() + timedelta(minutes=5)
        )
        assert pending == 2
        assert 270 <= waited <= 300

        # a deleted endpoint's gauges go with it
        r = await api.delete(f"/api/admin/callbacks/{endpoint_id}")
        assert r.status_code in (200, 204), r.text

        async def gone() -> bool:
            await service.sample_backlog()
            return (
                endpoint_id not in service.lanes and gauge("callbacks_pending", endpoint_id) is None
            )

        await wait_for(gone, within=10, what="the deleted endpoint's gauges removed")
        assert gauge("callback_oldest_due_seconds", endpoint_id) is None
