"""Registering, changing and reading a tenant's callback endpoints (the admin API and CLI).

A secret is made here, shown once (the answer to create and rotate) and stored sealed like a
provider's credentials (AES-256-GCM with CREDENTIALS_KEY, the endpoint's id as associated
data). Without CREDENTIALS_KEY a development or test installation stores it as it is;
production refuses to. A rotated secret keeps signing beside the new one for
CALLBACK_ROTATION_GRACE_S, so a receiver can switch without losing a callback.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from wavecom.callbacks.payload import ALL_EVENTS, new_endpoint_id, new_secret
from wavecom.core.errors import ProviderConfigError
from wavecom.core.settings import Settings
from wavecom.providers.credentials import Cipher
from wavecom.store import Doc, Store, utcnow

MAX_URL = 2000


class EndpointRefused(ValueError):
    """Raised when an endpoint's fields are not acceptable (``field`` names which)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class SecretsUnsealable(ProviderConfigError):
    """Raised when a secret cannot be stored sealed (no CREDENTIALS_KEY in production)."""


@dataclass(frozen=True)
class Endpoint:
    """An endpoint as the callbacks process uses it: the secrets open, in signing order."""

    id: str
    tenant: str
    url: str
    events: frozenset[str]
    enabled: bool
    owed_from: datetime  # changes before this (its creation, its last enabling) are not owed
    secrets: tuple[str, ...]
    revision: int


def check_url(url: str, environment: str) -> str:
    """An absolute http(s) URL without credentials; https only in production."""
    if len(url) > MAX_URL:
        raise EndpointRefused("url", f"at most {MAX_URL} characters")
    parts = urlsplit(url)
    allowed = ("https",) if environment == "production" else ("http", "https")
    if parts.scheme not in allowed or not parts.hostname:
        raise EndpointRefused("url", f"must be an absolute {' or '.join(allowed)} URL")
    if parts.username or parts.password:
        raise EndpointRefused("url", "must not carry credentials (the signature authenticates)")
    if parts.fragment:
        raise EndpointRefused("url", "must not have a fragment")
    if environment == "production" and _internal(parts.hostname):
        raise EndpointRefused(
            "url", "must not name a loopback, private, link-local or reserved address"
        )
    return url


def _internal(host: str) -> bool:
    """Whether ``host`` is an address (or name) inside the installation's own networks: a
    tenant must not make the callbacks process POST to them. Only literals and ``localhost``
    are caught here; a name that resolves inside is for the NetworkPolicy's egress rules."""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return not address.is_global


def check_events(events: Iterable[str]) -> list[str]:
    wanted = list(dict.fromkeys(events))
    unknown = [e for e in wanted if e not in ALL_EVENTS]
    if unknown or not wanted:
        raise EndpointRefused(
            "events", f"must name at least one of {', '.join(ALL_EVENTS)} (not {unknown})"
        )
    return wanted


def view(doc: Doc) -> dict[str, Any]:
    """The endpoint as the API and the CLI show it: never its secret."""
    rotated = doc.get("previousUntil")
    return {
        "id": doc["_id"],
        "tenantId": doc["tenantId"],
        "url": doc["url"],
        "events": doc["events"],
        "enabled": doc["enabled"],
        "description": doc.get("description", ""),
        "createdAt": _iso(doc["createdAt"]),
        "updatedAt": _iso(doc["updatedAt"]),
        "previousSecretUntil": _iso(rotated) if rotated else None,
    }


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EndpointAdmin:
    """Create, list, change, rotate and delete endpoints of one tenant at a time."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.cipher = Cipher.of(settings)

    def _seal(self, endpoint_id: str, secret: str) -> dict[str, str]:
        if self.cipher.current is not None:
            return self.cipher.seal(endpoint_id, {"secret": secret})
        if self.settings.environment == "production":
            raise SecretsUnsealable(
                "CREDENTIALS_KEY is not set: callback secrets are never stored unencrypted"
            )
        return {"plain": secret}

    async def create(
        self, tenant: str, url: str, events: Iterable[str], description: str = ""
    ) -> tuple[dict[str, Any], str]:
        """A new enabled endpoint and its secret (shown this once)."""
        check_url(url, self.settings.environment)
        wanted = check_events(events)
        endpoint_id, secret, now = new_endpoint_id(), new_secret(), utcnow()
        doc: Doc = {
            "_id": endpoint_id,
            "tenantId": tenant,
            "url": url,
            "events": wanted,
            "enabled": True,
            "description": description,
            "secret": self._seal(endpoint_id, secret),
            "createdAt": now,
            "updatedAt": now,
        }
        await self.store.endpoints.create(doc)
        return view(doc), secret

    async def list(self, tenant: str) -> list[dict[str, Any]]:
        return [view(d) for d in await self.store.endpoints.of_tenant(tenant)]

    async def get(self, tenant: str, endpoint_id: str) -> dict[str, Any] | None:
        doc = await self.store.endpoints.get(tenant, endpoint_id)
        return view(doc) if doc else None

    async def change(
        self,
        tenant: str,
        endpoint_id: str,
        *,
        url: str | None = None,
        events: Iterable[str] | None = None,
        enabled: bool | None = None,
        description: str | None = None,
    ) -> dict[str, Any] | None:
        fields: Doc = {}
        if url is not None:
            fields["url"] = check_url(url, self.settings.environment)
        if events is not None:
            fields["events"] = check_events(events)
        if enabled is not None:
            fields["enabled"] = enabled
            current = await self.store.endpoints.get(tenant, endpoint_id)
            if enabled and current is not None and not current["enabled"]:
                # what changed while it was disabled is not owed to it
                fields["enabledAt"] = utcnow()
        if description is not None:
            fields["description"] = description
        doc = await self.store.endpoints.change(tenant, endpoint_id, fields)
        return view(doc) if doc else None

    async def rotate(self, tenant: str, endpoint_id: str) -> tuple[dict[str, Any], str] | None:
        """A new secret (shown this once); the old one signs beside it for the grace period."""
        doc = await self.store.endpoints.get(tenant, endpoint_id)
        if doc is None:
            return None
        secret = new_secret()
        until = utcnow() + timedelta(seconds=self.settings.callback_rotation_grace_s)
        changed = await self.store.endpoints.change(
            tenant,
            endpoint_id,
            {
                "secret": self._seal(endpoint_id, secret),
                "previousSecret": doc["secret"],
                "previousUntil": until,
            },
        )
        return (view(changed), secret) if changed else None

    async def delete(self, tenant: str, endpoint_id: str) -> dict[str, Any] | None:
        """Remove the endpoint and every callback it was owed (pending, delivered, parked)."""
        doc = await self.store.endpoints.delete(tenant, endpoint_id)
        if doc is None:
            return None
        await self.store.callbacks.drop_endpoint(endpoint_id)
        return view(doc)


def open_endpoint(doc: Doc, cipher: Cipher, now: datetime, revision: int) -> Endpoint:
    """The endpoint with its secrets open: the current one, then the previous one while its
    grace period runs."""
    secrets = [_open(cipher, doc["_id"], doc["secret"])]
    previous_until = doc.get("previousUntil")
    if doc.get("previousSecret") and previous_until and previous_until > now:
        secrets.append(_open(cipher, doc["_id"], doc["previousSecret"]))
    return Endpoint(
        id=doc["_id"],
        tenant=doc["tenantId"],
        url=doc["url"],
        events=frozenset(doc["events"]),
        enabled=bool(doc["enabled"]),
        owed_from=doc.get("enabledAt") or doc["createdAt"],
        secrets=tuple(secrets),
        revision=revision,
    )


def _open(cipher: Cipher, endpoint_id: str, sealed: dict[str, str]) -> str:
    if "plain" in sealed:
        return sealed["plain"]
    return str(cipher.open(endpoint_id, sealed)["secret"])
