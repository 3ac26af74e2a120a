"""The delivery pipeline every channel shares: breakers, failover, classification, backoff.

Channels differ only in the provider accounts handed to :class:`Dispatcher`.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pybreaker

from wavecom import metrics
from wavecom.broker import snap_to_ladder
from wavecom.constants import Status
from wavecom.errors import PermanentProviderError, ProviderError, TransientProviderError
from wavecom.messages import DeliveryJob
from wavecom.providers.base import Provider, SendRequest
from wavecom.ratelimit import TokenBucket
from wavecom.settings import Settings
from wavecom.store import Outcome, utcnow

_STATE_VALUE = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_HALF_OPEN: 1, pybreaker.STATE_OPEN: 2}


class _Breaker(pybreaker.CircuitBreakerListener):
    """A pybreaker breaker for one provider, driven from asyncio.

    pybreaker's own async support needs tornado, so the send is awaited here and its result is
    replayed through ``breaker.call``: the breaker counts it exactly as if it had made the call.
    """

    def __init__(self, provider: str, settings: Settings) -> None:
        self.provider = provider
        self.opened_at = 0.0
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=settings.breaker_fail_max,
            reset_timeout=settings.breaker_reset_s,
            exclude=[PermanentProviderError],  # a bad recipient says nothing of provider health
            listeners=[self],
            name=provider,
        )
        metrics.BREAKER_STATE.labels(provider).set(0)

    def state_change(self, cb: object, old: object, new: pybreaker.CircuitBreakerState) -> None:
        if new.name == pybreaker.STATE_OPEN:
            self.opened_at = time.monotonic()
        metrics.BREAKER_STATE.labels(self.provider).set(_STATE_VALUE.get(new.name, 0))

    @property
    def state(self) -> str:
        return str(self.breaker.current_state)

    def allows(self) -> bool:
        """False while open and its reset timeout has not run out."""
        if self.state != pybreaker.STATE_OPEN:
            return True
        return time.monotonic() >= self.opened_at + self.breaker.reset_timeout

    def record(self, error: BaseException | None) -> None:
        def replay() -> None:
            if error is not None:
                raise error

        # the error was already handled by the caller; the breaker only needs to count it
        with contextlib.suppress(pybreaker.CircuitBreakerError, ProviderError, TimeoutError):
            self.breaker.call(replay)


@dataclass(frozen=True, slots=True)
class Attempted:
    """An outcome plus where it goes next: a delay rung (retry/park) or the DLQ."""

    outcome: Outcome
    delay_rung_ms: int | None = None  # publish job again after this delay
    next_job: DeliveryJob | None = None

    @property
    def dead_reason(self) -> str | None:
        return self.outcome.dead_reason


class Dispatcher:
    """Delivers one job through a channel's providers in failover order."""

    def __init__(self, providers: Sequence[Provider], settings: Settings) -> None:
        if not providers:
            raise ValueError("a channel needs at least one provider")
        self.providers = list(providers)
        self.settings = settings
        self.breakers = {p.name: _Breaker(p.name, settings) for p in self.providers}
        self.buckets = {p.name: TokenBucket(p.send_rate) for p in self.providers}
        self._rng = random.Random(settings.provider_seed)

    def breaker_states(self) -> dict[str, str]:
        return {name: b.state for name, b in self.breakers.items()}

    async def deliver(self, job: DeliveryJob) -> Attempted:
        started = utcnow()
        request = SendRequest(
            notification_id=job.id,
            attempt=job.attempt,
            channel=job.type,
            recipient=job.recipient,
            message=job.message,
            subject=job.subject,
            metadata=job.metadata,
            recovering=job.round > 0,
        )
        last: TransientProviderError | None = None
        tried = 0
        for provider in self.providers:
            breaker = self.breakers[provider.name]
            if not breaker.allows():
                continue
            tried += 1
            bucket = self.buckets[provider.name]
            await bucket.acquire()  # the account's send-rate cap: wait, never fail
            try:
                receipt = await asyncio.wait_for(
                    provider.send(request), self.settings.provider_timeout_s
                )
            except PermanentProviderError as exc:
                breaker.record(exc)
                metrics.PROVIDER_CALLS.labels(provider.name, "permanent").inc()
                return self._failed(job, started, str(exc), provider.name, "permanent")
            except TimeoutError:
                err = TransientProviderError(f"{provider.name}: timed out", provider=provider.name)
                breaker.record(err)
                metrics.PROVIDER_CALLS.labels(provider.name, "timeout").inc()
                last = err
            except TransientProviderError as exc:
                if exc.retry_after_s is not None:  # 429: slow down for as long as it asks
                    bucket.pause(exc.retry_after_s)
                breaker.record(exc)
                metrics.PROVIDER_CALLS.labels(provider.name, "transient").inc()
                last = exc
            else:
                breaker.record(None)
                metrics.PROVIDER_CALLS.labels(provider.name, "sent").inc()
                done = utcnow()
                metrics.SENT.labels(job.type.value, provider.name).inc()
                metrics.PROCESSING.labels(job.type.value).observe((done - started).total_seconds())
                if job.accepted_ms:
                    metrics.END_TO_END.labels(job.type.value, job.priority.value).observe(
                        max(0.0, time.time() - job.accepted_ms / 1000)
                    )
                return Attempted(
                    Outcome(
                        job,
                        Status.SENT,
                        started,
                        done,
                        f"Successfully sent via {provider.name}",
                        provider=receipt.provider,
                        provider_message_id=receipt.provider_message_id,
                    )
                )
        if tried == 0:
            return self._parked(job, started)
        assert last is not None
        return self._retry_or_fail(job, started, last)

    def backoff_ms(self, attempt: int, retry_after_s: float | None = None) -> float:
        """Exponential backoff with jitter for the attempt that just failed (0-based)."""
        s = self.settings
        base = s.retry_base_delay_ms * (s.retry_multiplier**attempt)
        jittered = base * self._rng.uniform(1 - s.retry_jitter, 1 + s.retry_jitter)
        if retry_after_s is not None:
            jittered = max(jittered, retry_after_s * 1000)
        return min(jittered, s.retry_max_delay_ms)

    def _retry_or_fail(
        self, job: DeliveryJob, started: datetime, error: TransientProviderError
    ) -> Attempted:
        done = utcnow()
        if job.attempt >= job.max_retries:
            return self._failed(
                job,
                started,
                f"retries exhausted after {job.attempt + 1} attempts: {error}",
                error.provider or None,
                "retries_exhausted",
            )
        rung = snap_to_ladder(self.backoff_ms(job.attempt, error.retry_after_s))
        metrics.RETRIED.labels(job.type.value).inc()
        retry_at = done + timedelta(milliseconds=rung)
        return Attempted(
            Outcome(
                job,
                Status.RETRYING,
                started,
                done,
                f"Attempt {job.attempt + 1} failed ({error}); retrying in {rung / 1000:g}s",
                provider=error.provider or None,
                error=str(error),
                retry_at=retry_at,
                retry_count=job.attempt + 1,
            ),
            delay_rung_ms=rung,
            next_job=job.next_attempt(),
        )

    def _parked(self, job: DeliveryJob, started: datetime) -> Attempted:
        """Every breaker is open: wait a while without using up an attempt."""
        done = utcnow()
        rung = snap_to_ladder(self.settings.breaker_reset_s * 1000)
        metrics.PARKED.labels(job.type.value).inc()
        waiting = Status.QUEUED if job.attempt == 0 else Status.RETRYING
        return Attempted(
            Outcome(
                job,
                waiting,
                started,
                done,
                f"Every {job.type.value} provider is unavailable; waiting {rung / 1000:g}s "
                "without using an attempt",
                error="all providers' circuit breakers open",
                retry_at=done + timedelta(milliseconds=rung),
                retry_count=job.attempt,
                next_round=job.round + 1,
            ),
            delay_rung_ms=rung,
            next_job=job.parked(),
        )

    def _failed(
        self, job: DeliveryJob, started: datetime, error: str, provider: str | None, reason: str
    ) -> Attempted:
        metrics.FAILED.labels(job.type.value, reason).inc()
        return Attempted(
            Outcome(
                job,
                Status.FAILED,
                started,
                utcnow(),
                f"Failed: {error}",
                provider=provider,
                error=error,
                dead_reason=reason,
            ),
        )
