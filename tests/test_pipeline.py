"""The shared delivery pipeline: backoff, failover, breakers, parking."""

from __future__ import annotations

from typing import Any

from wavecom.broker import snap_to_ladder
from wavecom.constants import DELAY_LADDER_MS, Channel, Priority, Status
from wavecom.messages import DeliveryJob
from wavecom.pipeline import Dispatcher
from wavecom.providers.mock import MockProvider, MockProviderConfig
from wavecom.settings import Settings


def job(recipient: str = "a@example.com", attempt: int = 0) -> DeliveryJob:
    return DeliveryJob(
        id="6b012ec4f17543ff7390895c",
        tenant_id="t",
        type=Channel.EMAIL,
        recipient=recipient,
        message="m",
        priority=Priority.LOW,
        subject="s",
        attempt=attempt,
    )


def dispatcher(*configs: dict[str, Any], **settings: Any) -> Dispatcher:
    s = Settings(**{"retry_jitter": 0.0, **settings})
    providers = [
        MockProvider(Channel.EMAIL, MockProviderConfig.model_validate({"latencyMs": 0, **c}))
        for c in configs
    ]
    return Dispatcher(providers, s)


DOWN = {"suffix": "@x.example", "outcome": "transient"}


def test_default_backoff_is_seed_003s_5_25_125_seconds() -> None:
    d = dispatcher({"name": "a"})
    assert [d.backoff_ms(n) for n in range(3)] == [5000, 25000, 125000]


def test_retry_after_stretches_the_backoff() -> None:
    d = dispatcher({"name": "a"})
    assert d.backoff_ms(0, retry_after_s=60) == 60000


def test_jitter_spreads_delays_within_bounds() -> None:
    d = dispatcher({"name": "a"}, retry_jitter=0.5)
    delays = {d.backoff_ms(1) for _ in range(50)}
    assert len(delays) > 10
    assert all(12500 <= x <= 37500 for x in delays)


def test_delays_snap_to_the_nearest_rung() -> None:
    assert snap_to_ladder(5000) in DELAY_LADDER_MS
    assert abs(snap_to_ladder(5000) / 5000 - 1) < 0.2
    assert snap_to_ladder(10**9) == DELAY_LADDER_MS[-1]
    assert snap_to_ladder(1) == DELAY_LADDER_MS[0]


async def test_success_goes_out_through_the_first_provider() -> None:
    a = await dispatcher({"name": "a"}, {"name": "b"}).deliver(job())
    assert a.outcome.status is Status.SENT
    assert a.outcome.provider == "a"
    assert a.next_job is None
    assert a.dead_reason is None


async def test_a_transient_failure_fails_over_then_retries_when_all_fail() -> None:
    d = dispatcher({"name": "a", "rules": [DOWN]}, {"name": "b", "rules": [DOWN]})
    a = await d.deliver(job("u@x.example"))
    assert a.outcome.status is Status.RETRYING
    assert a.next_job is not None
    assert a.next_job.attempt == 1
    assert a.delay_rung_ms == snap_to_ladder(5000)
    assert a.outcome.retry_count == 1


async def test_the_last_attempt_fails_into_the_dlq() -> None:
    d = dispatcher({"name": "a", "rules": [DOWN]})
    a = await d.deliver(job("u@x.example", attempt=3))
    assert a.outcome.status is Status.FAILED
    assert a.dead_reason == "retries_exhausted"
    assert a.next_job is None


async def test_an_open_breaker_is_skipped_and_all_open_parks_without_an_attempt() -> None:
    d = dispatcher({"name": "a", "rules": [DOWN]}, {"name": "b"}, breaker_fail_max=2)
    for _ in range(2):
        await d.deliver(job("u@x.example"))
    assert d.breaker_states()["a"] == "open"
    sent = await d.deliver(job())
    assert sent.outcome.provider == "b"

    only = dispatcher({"name": "a", "rules": [DOWN]}, breaker_fail_max=1)
    await only.deliver(job("u@x.example"))
    parked = await only.deliver(job())
    assert parked.outcome.status is Status.QUEUED
    assert parked.next_job is not None
    assert parked.next_job.attempt == 0
    assert parked.next_job.round == 1
    assert parked.outcome.retry_count == 0
