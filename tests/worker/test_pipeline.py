"""The shared delivery pipeline: backoff, failover, breakers, parking."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from prometheus_client import REGISTRY

from wavecom.core.constants import DELAY_LADDER_MS, Channel, Priority, Status, snap_to_ladder
from wavecom.core.messages import DeliveryJob
from wavecom.core.settings import Settings
from wavecom.providers.mock import MockProvider, MockProviderConfig
from wavecom.providers.routes import Route, RouteTable
from wavecom.worker.pipeline import Dispatcher


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
    return Dispatcher(RouteTable(providers, s))


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
    assert d.table.breaker_states()["a"] == "open"
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


def mock(name: str, **config: Any) -> MockProvider:
    cfg = MockProviderConfig.model_validate({"name": name, "latencyMs": 0, **config})
    return MockProvider(Channel.EMAIL, cfg)


async def test_a_tenant_uses_its_reserved_accounts_first_and_never_anothers() -> None:
    d = Dispatcher(RouteTable([], Settings(retry_jitter=0.0)))
    shared, mine, theirs = mock("shared"), mock("acme-own"), mock("globex-own")
    await d.table.update(
        [
            Route(shared, 1),
            Route(mine, 50, frozenset({"acme"})),
            Route(theirs, 0, frozenset({"globex"})),
        ]
    )
    assert d.table.order("acme") == [mine, shared]
    assert d.table.order("globex") == [theirs, shared]
    assert d.table.order("initech") == [shared]
    sent = await d.deliver(replace(job(), tenant_id="acme"))
    assert sent.outcome.provider == "acme-own"


async def test_an_unchanged_account_keeps_its_breaker_and_bucket_a_changed_one_starts_afresh() -> (
    None
):
    d = Dispatcher(RouteTable([], Settings(retry_jitter=0.0, breaker_fail_max=1)))
    a, b = mock("a", rules=[DOWN]), mock("b")
    await d.table.update([Route(a, 1, revision=1), Route(b, 2, revision=1)])
    await d.deliver(job("x@x.example"))  # a fails once: its breaker opens
    assert d.table.breaker_states() == {"a": "open", "b": "closed"}
    breaker_b, bucket_b = d.table.breakers["b"], d.table.buckets["b"]
    a2 = mock("a")  # a's account changed (its driver was rebuilt)
    assert await d.table.update([Route(a2, 1, revision=2), Route(b, 2, revision=1)]) == ["a"]
    assert d.table.breaker_states() == {"a": "closed", "b": "closed"}
    assert d.table.breakers["b"] is breaker_b
    assert d.table.buckets["b"] is bucket_b
    assert await d.table.update([Route(b, 2, revision=1)]) == ["a"]  # a disabled: gone
    assert d.table.providers == [b]
    assert (await d.deliver(job())).outcome.provider == "b"


async def test_no_account_for_the_channel_parks_the_job_without_an_attempt() -> None:
    d = Dispatcher(RouteTable([], Settings()))
    attempted = await d.deliver(job())
    assert attempted.outcome.status == Status.QUEUED
    assert attempted.next_job is not None
    assert attempted.next_job.attempt == 0


# --- expiry: the last check before a provider has it (docs/expiry.md) ---------------------------


def _expiring(in_s: float, **fields: Any) -> DeliveryJob:
    return replace(job(**fields), expires_ms=int((time.time() + in_s) * 1000))


def _expired_count(where: str) -> float:
    value = REGISTRY.get_sample_value(
        "notifications_expired_total", {"type": "EMAIL", "reason": where}
    )
    return value or 0.0


async def test_an_expired_job_is_expired_not_sent_and_counted() -> None:
    d = dispatcher({"name": "a"})
    before = _expired_count("queued")
    a = await d.deliver(_expiring(-1))
    assert a.outcome.status is Status.EXPIRED
    assert a.outcome.where is not None
    assert a.outcome.where.value == "queued"
    assert a.next_job is None
    assert a.dead_reason is None
    assert d.table.providers[0].ledger.entries == 0  # type: ignore[attr-defined]
    assert _expired_count("queued") == before + 1
    fresh = await d.deliver(_expiring(60))
    assert fresh.outcome.status is Status.SENT


async def test_a_job_that_expires_waiting_for_a_send_rate_cap_is_never_sent() -> None:
    d = dispatcher({"name": "a", "rateLimitPerSec": 1})
    assert (await d.deliver(job())).outcome.status is Status.SENT  # the burst's one token
    capped = await d.deliver(_expiring(0.2))  # the next token comes after about 1.1 s
    assert capped.outcome.status is Status.EXPIRED
    assert capped.outcome.where is not None
    assert capped.outcome.where.value == "rate_cap"
    assert d.table.providers[0].ledger.entries == 1  # type: ignore[attr-defined]


async def test_a_job_that_expires_while_failing_over_is_not_sent_by_the_next_provider() -> None:
    d = dispatcher(
        {"name": "a", "rules": [DOWN], "latencyMs": 300, "latencySigma": 0}, {"name": "b"}
    )
    a = await d.deliver(_expiring(0.1, recipient="u@x.example"))
    assert a.outcome.status is Status.EXPIRED
    assert a.outcome.where is not None
    assert a.outcome.where.value == "failover"
    assert all(p.ledger.entries == 0 for p in d.table.providers)  # type: ignore[attr-defined]


async def test_a_parked_job_says_why_it_waits_and_its_next_attempt_forgets_it() -> None:
    only = dispatcher({"name": "a", "rules": [DOWN]}, breaker_fail_max=1)
    await only.deliver(job("u@x.example"))
    parked = await only.deliver(job())
    assert parked.next_job is not None
    assert parked.next_job.held == "breaker"
    assert parked.outcome.held == "breaker"
    assert parked.next_job.next_attempt().held == ""
    nobody = await Dispatcher(RouteTable([], Settings())).deliver(job())
    assert nobody.next_job is not None
    assert nobody.next_job.held == "no_account"
