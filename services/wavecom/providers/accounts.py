"""Provider accounts as data: what a NotificationProvider resource, the admin CLI and the seed
all write, through :func:`apply`, and what the workers build their failover lists from.

An account names its channel, its driver and the driver's settings, its place in the failover
order (``priority``, lower first), a send-rate cap and a timeout, an optional reference to the
Secret its credentials came from, and optionally the tenants it is reserved for. Credentials are
stored sealed (see :mod:`wavecom.providers.credentials`) and never leave a worker's memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

from wavecom.core.constants import Channel, valid_tenant
from wavecom.core.errors import MockRefused, ProviderConfigError
from wavecom.core.settings import Environment
from wavecom.providers.credentials import Cipher
from wavecom.providers.drivers import build_driver
from wavecom.store import Doc, OwnedElsewhere, Store

NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")  # a DNS label, as Kubernetes names
Driver = Literal["mock", "smtp", "twilio", "fcm", "webhook"]


class AccountConflict(ProviderConfigError):
    """An account of that name exists and another source manages it."""


class SecretRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=253)


class AccountSpec(BaseModel):
    """A provider account's desired state: the ``spec`` of a NotificationProvider resource."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    channel: Channel
    driver: Driver
    priority: int = Field(default=100, ge=0, le=10_000)
    enabled: bool = True
    send_rate_per_second: float = Field(default=0.0, ge=0, le=100_000)
    timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    settings: dict[str, Any] = Field(default_factory=dict)
    credentials_secret_ref: SecretRef | None = None
    tenants: tuple[str, ...] = ()

    @field_validator("tenants")
    @classmethod
    def _tenants_ok(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for t in v:
            if not valid_tenant(t):
                raise ValueError(f"{t!r} is not a tenant id (letters, digits, - and _, 1-64)")
        if len(set(v)) != len(v):
            raise ValueError("a tenant is listed twice")
        return v

    def document(self) -> dict[str, Any]:
        """The stored fields (camelCase, as the resource spells them)."""
        return self.model_dump(mode="json", by_alias=True)


@dataclass(frozen=True, slots=True)
class Account:
    """A stored account: its spec, sealed credentials (or none), and who wrote it when."""

    name: str
    spec: AccountSpec
    sealed: dict[str, str] | None
    revision: int
    source: str
    updated_at: datetime | None

    @classmethod
    def of(cls, doc: Doc) -> Account:
        fields = {k: v for k, v in doc.items() if k in _SPEC_FIELDS}
        return cls(
            name=str(doc["_id"]),
            spec=AccountSpec.model_validate(fields),
            sealed=doc.get("credentials"),
            revision=int(doc.get("revision", 0)),
            source=str(doc.get("source", "")),
            updated_at=doc.get("updatedAt"),
        )

    def view(self) -> dict[str, Any]:
        """What the API and the CLI show: everything but the credentials."""
        return {
            "name": self.name,
            **self.spec.document(),
            "hasCredentials": self.sealed is not None,
            "revision": self.revision,
            "source": self.source,
            "updatedAt": self.updated_at.isoformat() if self.updated_at else None,
        }


_SPEC_FIELDS = frozenset(f.alias or n for n, f in AccountSpec.model_fields.items())


def check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        raise ProviderConfigError(
            f"provider name {name!r}: must be a DNS label (a-z, 0-9 and -, 1-63, "
            "starting and ending with a letter or digit)"
        )


def refuse_mock(name: str, driver: str, environment: Environment) -> None:
    """Raise :class:`MockRefused` for a mock account in production.

    The one check every way an account is written or loaded goes through (the admin CLI and the
    operator by :func:`validate`, the workers by :class:`~wavecom.providers.registry.Registry`):
    a mock answers "sent" and delivers nothing, so in production it would turn OTPs that never
    arrive into SENT notifications. A disabled one is refused too: enabling it is one field.
    """
    if driver == "mock" and environment == "production":
        raise MockRefused(
            f"provider {name!r} (driver 'mock'): refused with ENVIRONMENT=production, a mock "
            "delivers nothing; use smtp, twilio, fcm or webhook"
        )


async def validate(
    name: str,
    spec: AccountSpec,
    credentials: dict[str, Any] | None,
    *,
    environment: Environment,
) -> None:
    """Build the account's driver once, so a bad field is refused before anything is written
    (and a mock in production, see :func:`refuse_mock`)."""
    check_name(name)
    refuse_mock(name, spec.driver, environment)
    if spec.credentials_secret_ref is not None and credentials is None:
        raise ProviderConfigError(
            f"provider {name!r}: credentialsSecretRef {spec.credentials_secret_ref.name!r} "
            "was not resolved"
        )
    driver = build_driver(
        name,
        spec.channel,
        spec.driver,
        spec.settings,
        credentials or {},
        spec.send_rate_per_second,
        spec.timeout_seconds,
    )
    await driver.close()


async def apply(
    store: Store,
    cipher: Cipher,
    name: str,
    spec: AccountSpec,
    credentials: dict[str, Any] | None,
    *,
    source: str,
    environment: Environment,
) -> Account:
    """Validate and write one account (its revision and the configuration's revision bump).

    Raises :class:`ProviderConfigError` naming each bad field (nothing is written), its
    :class:`MockRefused` for a mock in production, or :class:`AccountConflict` when another
    source manages an account of that name.
    """
    await validate(name, spec, credentials, environment=environment)
    sealed = cipher.seal(name, credentials) if credentials else None
    try:
        doc = await store.accounts.put(name, {**spec.document(), "credentials": sealed}, source)
    except OwnedElsewhere as exc:
        raise AccountConflict(str(exc)) from None
    return Account.of(doc)


async def remove(store: Store, name: str, *, source: str | None = None) -> bool:
    """Delete one account (only if ``source`` manages it, when given)."""
    return await store.accounts.remove(name, source)


async def list_accounts(store: Store, channel: Channel | None = None) -> list[Account]:
    docs = await store.accounts.all(channel.value if channel else None)
    return [Account.of(d) for d in docs]


async def rotate(store: Store, cipher: Cipher) -> int:
    """Re-seal every account's credentials with the current key; how many were re-sealed."""
    done = 0
    for account in await list_accounts(store):
        if account.sealed is None or cipher.is_current(account.sealed):
            continue
        plain = cipher.open(account.name, account.sealed)
        if await store.accounts.reseal(
            account.name, account.revision, cipher.seal(account.name, plain)
        ):
            done += 1
    return done
