"""The delivery pipeline every channel shares: breakers, failover, classification, backoff.

Channels differ only in the provider accounts of the table handed to :class:`Dispatcher`
(:class:`wavecom.providers.routes.RouteTable`, which the registry keeps current).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from opentelemetry.trace import SpanKind

from wavecom.core import metrics, telemetry
from wavecom.core.constants import Status, snap_to_ladder
from wavecom.core.errors import (
    PermanentProviderError,
    ProviderError,
    TransientProviderError,
)
from wavecom.core.logs import mask
from wavecom.core.messages import DeliveryJob
from wavecom.providers.base import Receipt, SendRequest
from wavecom.providers.routes import Route, RouteTable
from wavecom.store import Outcome, utcnow
from wavecom.store.expiries import Where, expires_of, where_job

log = logging.getLogger("wavecom.pipeline")

# a wait for a send-rate token longer than this was the cap holding the job (not scheduling)
_CAP_WAIT_S = 0.005


def _redact(error: ProviderError, request: SendRequest) -> None:
    """Mask ``error``'s text for ``request``: a provider's answer often quotes the
    recipient (Twilio's "The 'To' number +234... is not valid", an SMTP server's "<jane@...>:
    mailbox unavailable") or the message. Its cause is dropped, never printed: the driver's
    own exception (aiosmtplib's, httpx's) carries the same text unmasked."""
    private = (request.message, request.subject or "")
    error.args = (mask(str(error), recipient=request.recipient, private=private),)
    error.__cause__ = None
    error.__suppress_context__ = True


def _outcome_of(error: BaseException) -> str:
    """A failed send's result, as ``provider_calls_total`` names it."""
    if isinstance(error, asyncio.CancelledError):
        return "cancelled"
    if isinstance(error, PermanentProviderError):
        return "permanent"
    if isinstance(error, TimeoutError):
        return "timeout"
    return "transient"


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
    """Delivers one job through its tenant's providers in failover order (``table``).

    A job whose tenant has no account in its order waits, parked, without using an attempt.
    """

    def __init__(self, table: RouteTable) -> None:
        self.table = table
        self.settings = table.settings
        self._rng = random.Random(self.settings.provider_seed)

    async def _send(self, route: Route, request: SendRequest) -> Receipt:
        provider = route.provider
        async with self.table.sending(provider):
            timeout = route.timeout_s or self.settings.provider_timeout_s
            with (
                metrics.labelled(
                    metrics.PROVIDER_SEND, request.channel.value, provider.name
                ).time(),
                telemetry.span(
                    f"send {provider.name}",
                    kind=SpanKind.CLIENT,
                    attributes={
                        "wavecom.channel": request.channel.value,
                        "wavecom.provider.account": provider.name,
                        "wavecom.notification.id": request.notification_id,
                        "wavecom.attempt": request.attempt,
                    },
                ) as span,
            ):
                try:
                    async with asyncio.timeout(timeout):  # no task of its own, as wait_for makes
                        receipt = await provider.send(request)
                except ProviderError as exc:
                    outcome = _outcome_of(exc)
                    span.set_attribute("wavecom.outcome", outcome)
                    _redact(exc, request)  # before the span records it as its exception
                    log.info(
                        "send %s via %s failed (%s): %s",
                        request.idempotency_key,
                        provider.name,
                        outcome,
                        exc,
                    )
                    raise exc from None
                except BaseException as exc:
                    span.set_attribute("wavecom.outcome", _outcome_of(exc))
                    raise
                span.set_attribute("wavecom.outcome", "sent")
                span.set_attribute("wavecom.provider.message_id", receipt.provider_message_id)
                return receipt

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
            expires_at=expires_of(job),
        )
        last: TransientProviderError | None = None
        tried: set[str] = set()
        changed = True
        while changed:
            changed = False
            for provider in self.table.order(job.tenant_id):
                if provider.name in tried:
                    continue
                live = self.table.routes.get(provider.name)
                if live is None or live.provider is not provider:
                    continue  # replaced or removed while this job was failing over
                breaker = self.table.breakers[provider.name]
                if not breaker.allows():
                    continue
                bucket = self.table.buckets[provider.name]
                # the account's send-rate cap: wait, never fail; but if the accounts change
                # meanwhile, look at the new order (a new first account, a new cap, a
                # disabled one) instead of waiting out the old one
                asked = time.monotonic()
                if (
                    not await self.table.token(bucket)
                    or self.table.routes.get(provider.name) is not live
                ):
                    changed = True
                    break
                # the last moment before the provider has it: an expired one is never sent
                if job.expired(int(time.time() * 1000)):
                    if time.monotonic() - asked > _CAP_WAIT_S:
                        where = Where.RATE_CAP  # it expired waiting for the account's cap
                    elif tried:
                        where = Where.FAILOVER  # while an earlier provider failed
                    else:
                        where = where_job(job)  # just as it was claimed: where it waited
                    return self._expired(job, started, where)
                tried.add(provider.name)
                try:
                    receipt = await self._send(live, request)
                except PermanentProviderError as exc:
                    breaker.record(exc)
                    metrics.labelled(metrics.PROVIDER_CALLS, provider.name, "permanent").inc()
                    return self._failed(job, started, str(exc), provider.name, "permanent")
                except TimeoutError:
                    err = TransientProviderError(
                        f"{provider.name}: timed out", provider=provider.name
                    )
                    breaker.record(err)
                    metrics.labelled(metrics.PROVIDER_CALLS, provider.name, "timeout").inc()
                    last = err
                except TransientProviderError as exc:
                    if exc.retry_after_s is not None:  # 429: slow down for as long as it asks
                        bucket.pause(exc.retry_after_s)
                    breaker.record(exc)
                    metrics.labelled(metrics.PROVIDER_CALLS, provider.name, "transient").inc()
                    last = exc
                else:
                    breaker.record(None)
                    return self._sent(job, started, provider.name, receipt)
        if not tried:
            if not self.table.order(job.tenant_id):
                return self._parked(job, started, self._no_account(job))
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
        metrics.labelled(metrics.RETRIED, job.type.value).inc()
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

    def _sent(self, job: DeliveryJob, started: datetime, name: str, receipt: Receipt) -> Attempted:
        metrics.labelled(metrics.PROVIDER_CALLS, name, "sent").inc()
        done = utcnow()
        note = ""
        if job.retaken and not receipt.repeated:
            # the provider did not recognise the key: if the lost round's send had reached it,
            # this one went out a second time
            metrics.labelled(metrics.POSSIBLE_DUPLICATES, job.type.value, name).inc()
            note = (
                " (possible duplicate: this attempt was retaken from a lost worker, whose send "
                f"may have reached {name} already)"
            )
        channel, priority = job.kind
        metrics.labelled(metrics.SENT, channel, name).inc()
        metrics.labelled(metrics.PROCESSING, channel).observe((done - started).total_seconds())
        if job.accepted_ms:
            metrics.labelled(metrics.END_TO_END, channel, priority).observe(
                max(0.0, time.time() - job.accepted_ms / 1000)
            )
        return Attempted(
            Outcome(
                job,
                Status.SENT,
                started,
                done,
                f"Successfully sent via {name}{note}",
                provider=receipt.provider,
                provider_message_id=receipt.provider_message_id,
            )
        )

    def _no_account(self, job: DeliveryJob) -> str:
        """Why no account can take ``job`` at all (its tenant's order is empty)."""
        if job.tenant_id in self.table.no_shared:
            return (
                f"no {job.type.value} account is reserved for tenant {job.tenant_id}, "
                "which never uses shared accounts"
            )
        return f"no usable {job.type.value} provider account"

    def _parked(self, job: DeliveryJob, started: datetime, no_account: str = "") -> Attempted:
        """No account can take the job now: every breaker is open, or (``no_account`` says
        why) there is none for its tenant. Wait a while without using up an attempt; never
        FAILED for it, that is the configuration's fault, not the notification's."""
        done = utcnow()
        rung = snap_to_ladder(self.settings.breaker_reset_s * 1000)
        metrics.labelled(metrics.PARKED, job.type.value).inc()
        waiting = Status.QUEUED if job.attempt == 0 else Status.RETRYING
        held = Where.NO_ACCOUNT.value if no_account else Where.BREAKER.value
        if no_account:
            why, error = no_account[0].upper() + no_account[1:], no_account
        else:
            why = f"Every {job.type.value} provider is unavailable"
            error = "all providers' circuit breakers open"
        return Attempted(
            Outcome(
                job,
                waiting,
                started,
                done,
                f"{why}; waiting {rung / 1000:g}s without using an attempt",
                error=error,
                retry_at=done + timedelta(milliseconds=rung),
                retry_count=job.attempt,
                next_round=job.round + 1,
                held=held,
            ),
            delay_rung_ms=rung,
            next_job=job.parked(held),
        )

    def _expired(self, job: DeliveryJob, started: datetime, where: Where) -> Attempted:
        """Its validity ended before a provider had it: EXPIRED, never sent late."""
        metrics.labelled(metrics.EXPIRED, job.type.value, where.value).inc()
        return Attempted(
            Outcome(job, Status.EXPIRED, started, utcnow(), where.message, where=where)
        )

    def _failed(
        self, job: DeliveryJob, started: datetime, error: str, provider: str | None, reason: str
    ) -> Attempted:
        metrics.labelled(metrics.FAILED, job.type.value, reason).inc()
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
