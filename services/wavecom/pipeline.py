"""The delivery pipeline every channel shares: breakers, failover, classification, backoff.

Channels differ only in the provider accounts handed to :class:`Dispatcher`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pybreaker
from opentelemetry.trace import SpanKind

from wavecom import metrics, telemetry
from wavecom.constants import Status, snap_to_ladder
from wavecom.errors import (
    PermanentProviderError,
    ProviderError,
    SendDeferred,
    TransientProviderError,
)
from wavecom.logs import mask
from wavecom.messages import DeliveryJob
from wavecom.providers.base import Provider, Receipt, SendRequest
from wavecom.ratelimit import TokenBucket
from wavecom.settings import Settings
from wavecom.store import Outcome, utcnow
from wavecom.store.expiries import Where, expires_of, where_job

log = logging.getLogger("wavecom.pipeline")

# a wait for a send-rate token longer than this was the cap holding the job (not scheduling)
_CAP_WAIT_S = 0.005
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
            # a bad recipient, a busy device or a 429 says nothing of the account's health
            exclude=[PermanentProviderError, SendDeferred],
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


def _rank(route: Route) -> tuple[int, str]:
    return route.priority, route.provider.name


@dataclass(frozen=True, slots=True)
class Attempted:
    """An outcome plus where it goes next: a delay rung (retry/park) or the DLQ."""

    outcome: Outcome
    delay_rung_ms: int | None = None  # publish job again after this delay
    next_job: DeliveryJob | None = None

    @property
    def dead_reason(self) -> str | None:
        return self.outcome.dead_reason


@dataclass(frozen=True, slots=True)
class Route:
    """A provider account's place in a channel's failover order.

    ``tenants``: the account is reserved for these tenants (empty: shared by every tenant).
    ``revision`` is the stored account's: an account whose revision changes gets a new driver,
    breaker and token bucket; an unchanged one keeps all three.
    """

    provider: Provider
    priority: int
    tenants: frozenset[str] = frozenset()
    revision: int = 0
    timeout_s: float | None = None  # the account's send timeout (None: PROVIDER_TIMEOUT_S)


class Dispatcher:
    """Delivers one job through a channel's providers in failover order.

    A tenant's order is the accounts reserved for it, then the shared ones, each by priority
    (not the shared ones for a tenant in :attr:`no_shared`); accounts reserved for other tenants
    are never used for it. A job whose tenant has no account in its order waits, parked,
    without using an attempt. :meth:`update` swaps the
    accounts while sends are in flight: a send finishes on the account it started with, and a
    replaced or removed account's driver is closed once its last send is done.
    """

    def __init__(self, providers: Sequence[Provider], settings: Settings) -> None:
        self.settings = settings
        self.routes: dict[str, Route] = {}
        self.breakers: dict[str, _Breaker] = {}
        self.buckets: dict[str, TokenBucket] = {}
        self._orders: dict[str, list[Provider]] = {}
        self._sending: Counter[int] = Counter()  # sends in flight per driver (by id)
        self._retired: dict[int, Provider] = {}  # replaced drivers still sending
        self._rng = random.Random(settings.provider_seed)
        self._changed = asyncio.Event()
        self.no_shared: frozenset[str] = frozenset()  # tenants that never use a shared account
        self._install([Route(p, i) for i, p in enumerate(providers)])

    @property
    def providers(self) -> list[Provider]:
        """Every live account's driver (any tenant), in priority order."""
        return [r.provider for r in sorted(self.routes.values(), key=_rank)]

    def breaker_states(self) -> dict[str, str]:
        return {name: b.state for name, b in self.breakers.items()}

    async def update(self, routes: Sequence[Route]) -> list[str]:
        """Make ``routes`` the channel's accounts; the names whose driver changed or went.

        A route whose provider object is the live one for its name is unchanged and keeps its
        breaker and bucket (the caller passes the same object for an unchanged revision).
        """
        changed = [
            name
            for name, live in self.routes.items()
            if all(r.provider is not live.provider for r in routes)
        ]
        old = {name: self.routes[name].provider for name in changed}
        self._install(routes)
        for provider in old.values():
            if self._sending[id(provider)]:
                self._retired[id(provider)] = provider  # closed when its last send is done
            else:
                await provider.close()
        return changed

    def _install(self, routes: Sequence[Route]) -> None:
        names = [r.provider.name for r in routes]
        if len(set(names)) != len(names):
            raise ValueError("two provider accounts of one channel share a name")
        previous = self.routes
        self.routes = {r.provider.name: r for r in routes}
        for name, route in self.routes.items():
            before = previous.get(name)
            if before is None or before.provider is not route.provider:
                self.breakers[name] = _Breaker(name, self.settings)
                self.buckets[name] = TokenBucket(route.provider.send_rate)
        for name in set(self.breakers) - set(self.routes):
            del self.breakers[name], self.buckets[name]
            with contextlib.suppress(KeyError):  # another dispatcher in this process
                metrics.BREAKER_STATE.remove(name)
        self._orders.clear()
        self._changed.set()  # jobs waiting for a token look at the new order
        self._changed = asyncio.Event()

    def set_no_shared(self, tenants: frozenset[str]) -> None:
        """The tenants whose notifications must never go to a shared account."""
        if tenants != self.no_shared:
            self.no_shared = tenants
            self._orders.clear()

    def order(self, tenant: str) -> list[Provider]:
        """The tenant's failover order: its reserved accounts, then the shared ones (unless
        it is in :attr:`no_shared`)."""
        found = self._orders.get(tenant)
        if found is None:
            ranked = sorted(self.routes.values(), key=_rank)
            found = [r.provider for r in ranked if tenant in r.tenants]
            if tenant not in self.no_shared:
                found += [r.provider for r in ranked if not r.tenants]
            self._orders[tenant] = found
        return found

    def flush(self) -> None:
        """Flush what the drivers buffer per batch (the mock providers' ledgers)."""
        for route in self.routes.values():
            route.provider.flush()

    async def close(self) -> None:
        for provider in [*self.providers, *self._retired.values()]:
            await provider.close()
        self._retired.clear()

    async def _token(self, bucket: TokenBucket) -> bool:
        """Wait for a token; False if the accounts changed first (no token was taken)."""
        if bucket.ready():
            return True
        changed = self._changed
        token = asyncio.ensure_future(bucket.acquire())
        interrupt = asyncio.ensure_future(changed.wait())
        try:
            await asyncio.wait((token, interrupt), return_when=asyncio.FIRST_COMPLETED)
        finally:
            interrupt.cancel()
            if not token.done():
                token.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await token
        return not token.cancelled()

    async def _send(self, route: Route, request: SendRequest) -> Receipt:
        provider, key = route.provider, id(route.provider)
        self._sending[key] += 1
        try:
            timeout = route.timeout_s or self.settings.provider_timeout_s
            with (
                metrics.PROVIDER_SEND.labels(request.channel.value, provider.name).time(),
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
                    receipt = await asyncio.wait_for(provider.send(request), timeout)
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
        finally:
            self._sending[key] -= 1
            if not self._sending[key]:
                del self._sending[key]
                retired = self._retired.pop(key, None)
                if retired is not None:
                    retired.flush()
                    await retired.close()

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
            for provider in self.order(job.tenant_id):
                if provider.name in tried:
                    continue
                live = self.routes.get(provider.name)
                if live is None or live.provider is not provider:
                    continue  # replaced or removed while this job was failing over
                breaker = self.breakers[provider.name]
                if not breaker.allows():
                    continue
                bucket = self.buckets[provider.name]
                # the account's send-rate cap: wait, never fail; but if the accounts change
                # meanwhile, look at the new order (a new first account, a new cap, a
                # disabled one) instead of waiting out the old one
                asked = time.monotonic()
                if not await self._token(bucket) or self.routes.get(provider.name) is not live:
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
                    metrics.PROVIDER_CALLS.labels(provider.name, "permanent").inc()
                    return self._failed(job, started, str(exc), provider.name, "permanent")
                except TimeoutError:
                    err = TransientProviderError(
                        f"{provider.name}: timed out", provider=provider.name
                    )
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
                    return self._sent(job, started, provider.name, receipt)
        if not tried:
            if not self.order(job.tenant_id):
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

    def _sent(self, job: DeliveryJob, started: datetime, name: str, receipt: Receipt) -> Attempted:
        metrics.PROVIDER_CALLS.labels(name, "sent").inc()
        done = utcnow()
        note = ""
        if job.retaken and not receipt.repeated:
            # the provider did not recognise the key: if the lost round's send had reached it,
            # this one went out a second time
            metrics.POSSIBLE_DUPLICATES.labels(job.type.value, name).inc()
            note = (
                " (possible duplicate: this attempt was retaken from a lost worker, whose send "
                f"may have reached {name} already)"
            )
        metrics.SENT.labels(job.type.value, name).inc()
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
                f"Successfully sent via {name}{note}",
                provider=receipt.provider,
                provider_message_id=receipt.provider_message_id,
            )
        )

    def _no_account(self, job: DeliveryJob) -> str:
        """Why no account can take ``job`` at all (its tenant's order is empty)."""
        if job.tenant_id in self.no_shared:
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
        metrics.PARKED.labels(job.type.value).inc()
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
        metrics.EXPIRED.labels(job.type.value, where.value).inc()
        return Attempted(
            Outcome(job, Status.EXPIRED, started, utcnow(), where.message, where=where)
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
