"""A channel's live account table: each account's route, breaker and token bucket.

The registry (:mod:`wavecom.providers.registry`) installs and updates it from the stored
accounts; the pipeline (:class:`wavecom.worker.pipeline.Dispatcher`) reads a tenant's failover order
from it and sends through it. :meth:`RouteTable.update` swaps the accounts while sends are in
flight: a send finishes on the account it started with, and a replaced or removed account's
driver is closed once its last send is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pybreaker

from wavecom.core import metrics
from wavecom.core.errors import PermanentProviderError, ProviderError, SendDeferred
from wavecom.core.settings import Settings
from wavecom.providers.base import Provider
from wavecom.worker.ratelimit import TokenBucket

_STATE_VALUE = {pybreaker.STATE_CLOSED: 0, pybreaker.STATE_HALF_OPEN: 1, pybreaker.STATE_OPEN: 2}


class Breaker(pybreaker.CircuitBreakerListener):
    """A pybreaker breaker for one provider, driven from asyncio.

    pybreaker's own async support needs tornado, so the send is awaited by the pipeline and its
    result is replayed through ``breaker.call``: the breaker counts it exactly as if it had
    made the call.
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


def _rank(route: Route) -> tuple[int, str]:
    return route.priority, route.provider.name


class RouteTable:
    """A channel's accounts in failover order, with a breaker and a token bucket each.

    A tenant's order is the accounts reserved for it, then the shared ones, each by priority
    (not the shared ones for a tenant in :attr:`no_shared`); accounts reserved for other tenants
    are never in it.
    """

    def __init__(self, providers: Sequence[Provider], settings: Settings) -> None:
        self.settings = settings
        self.routes: dict[str, Route] = {}
        self.breakers: dict[str, Breaker] = {}
        self.buckets: dict[str, TokenBucket] = {}
        self._orders: dict[str, list[Provider]] = {}
        self._sending: Counter[int] = Counter()  # sends in flight per driver (by id)
        self._retired: dict[int, Provider] = {}  # replaced drivers still sending
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
                self.breakers[name] = Breaker(name, self.settings)
                self.buckets[name] = TokenBucket(route.provider.send_rate)
        for name in set(self.breakers) - set(self.routes):
            del self.breakers[name], self.buckets[name]
            with contextlib.suppress(KeyError):  # another table in this process
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

    async def token(self, bucket: TokenBucket) -> bool:
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

    @contextlib.asynccontextmanager
    async def sending(self, provider: Provider) -> AsyncIterator[None]:
        """Count a send in flight on ``provider``: a driver replaced meanwhile is flushed and
        closed when its last send is done."""
        key = id(provider)
        self._sending[key] += 1
        try:
            yield
        finally:
            self._sending[key] -= 1
            if not self._sending[key]:
                del self._sending[key]
                retired = self._retired.pop(key, None)
                if retired is not None:
                    retired.flush()
                    await retired.close()
