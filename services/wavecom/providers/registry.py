"""A worker's provider accounts: loaded from the database, reloaded when their revision moves.

Why poll a revision document rather than broadcast a change on the broker: the database is
where an account change is made and kept, so a worker that was disconnected, restarting or
slow cannot miss one (a fanout message to a worker that is not consuming is lost); and the poll
is one read of one document by ``_id`` every PROVIDERS_POLL_S (1 s) per worker, nothing beside
the work itself. A change reaches every worker within PROVIDERS_POLL_S plus one reload. Each
poll also reads the tenants that never fall back to shared accounts (``admin tenants
set-shared-fallback``; a query of the small ``tenants`` collection), so that setting follows
within the same bound.

With ``ENVIRONMENT=production`` a mock account is left out like any account whose driver cannot
be built (logged with its name, counted in ``worker_provider_load_errors_total``): see
:func:`wavecom.providers.accounts.refuse_mock`. ``channel_usable_accounts`` says how many are
left; with none the worker stops consuming (see
:meth:`wavecom.worker.consumer.Worker.follow_accounts`).
"""

from __future__ import annotations

import logging

from wavecom.core import metrics
from wavecom.core.constants import Channel
from wavecom.core.errors import ProviderConfigError
from wavecom.core.settings import Settings
from wavecom.core.tenants import RateLimit, Tenants
from wavecom.providers.accounts import Account, list_accounts, refuse_mock
from wavecom.providers.credentials import Cipher
from wavecom.providers.drivers import build_driver
from wavecom.providers.routes import Route, RouteTable
from wavecom.store import Store

log = logging.getLogger("wavecom.providers")


class Registry:
    """Keeps a channel's :class:`RouteTable` on the stored accounts' latest revision."""

    def __init__(
        self, store: Store, settings: Settings, channel: Channel, table: RouteTable
    ) -> None:
        self.store = store
        self.settings = settings
        self.channel = channel
        self.table = table
        self.cipher = Cipher.of(settings)
        self.tenants = Tenants(
            store, RateLimit(settings.rate_limit_per_s, settings.rate_limit_burst)
        )
        self.revision = -1  # the configuration revision the table holds

    @property
    def usable(self) -> int:
        """How many accounts the channel can deliver through now (any tenant's)."""
        return len(self.table.routes)

    async def refresh(self) -> bool:
        """Reload if the configuration's revision moved; True if the accounts were reloaded."""
        self.table.set_no_shared(await self.tenants.without_shared_fallback())
        revision = await self.store.accounts.revision()
        if revision == self.revision:
            return False
        accounts = await list_accounts(self.store, self.channel)
        live = self.table.routes
        routes: list[Route] = []
        for account in accounts:
            if not account.spec.enabled:
                continue
            current = live.get(account.name)
            if current is not None and current.revision == account.revision:
                routes.append(current)  # unchanged: same driver, breaker and bucket
                continue
            route = self._build(account)
            if route is not None:
                routes.append(route)
        changed = await self.table.update(routes)
        self.revision = revision
        metrics.PROVIDER_RELOADS.labels(self.channel.value).inc()
        metrics.PROVIDER_REVISION.labels(self.channel.value).set(revision)
        metrics.USABLE_ACCOUNTS.labels(self.channel.value).set(len(routes))
        log.info(
            "%s providers at revision %d: %s%s",
            self.channel.slug,
            revision,
            ", ".join(f"{r.provider.name}@{r.revision}" for r in routes) or "none",
            f" (replaced or removed: {', '.join(changed)})" if changed else "",
        )
        return True

    def _build(self, account: Account) -> Route | None:
        """The account's driver, or None (logged, counted) when it cannot be built here."""
        spec = account.spec
        try:
            refuse_mock(account.name, spec.driver, self.settings.environment)
            credentials = self.cipher.open(account.name, account.sealed) if account.sealed else {}
            provider = build_driver(
                account.name,
                self.channel,
                spec.driver,
                spec.settings,
                credentials,
                spec.send_rate_per_second,
                spec.timeout_seconds,
                ledger_dir=self.settings.ledger_dir,
                public_base_url=self.settings.public_base_url,
            )
        except ProviderConfigError as exc:
            metrics.PROVIDER_LOAD_ERRORS.labels(self.channel.value).inc()
            log.error("provider %s left out: %s", account.name, exc)
            return None
        return Route(
            provider,
            spec.priority,
            frozenset(spec.tenants),
            account.revision,
            spec.timeout_seconds,
        )
