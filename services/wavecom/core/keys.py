"""API keys: one tenant and a set of scopes each, stored only as a hash, revocable.

A key reads ``wcn_<id>_<secret>``. The id (16 hex) is public and names the key in lists, logs
and revocations; the secret (256 random bits) is shown once, at creation. The database holds
SHA-256 of the secret: with that much entropy a plain hash cannot be reversed by guessing, and
checking it costs one ``_id`` lookup.

That lookup is cached per process for ``cache_s`` (``KEY_CACHE_S``, 1 s by default): at
hundreds of requests a second from a handful of keys, the key's document is read about once a
second per key instead of once per request, and concurrent requests of a key whose entry
expired share one read. The bound that buys: **a revoked key is refused by every API process
within ``cache_s`` of its revocation**, and at once by the process that revoked it. The secret
is still compared on every request (the cache holds the stored hash, never a token).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wavecom.core.cache import TtlCache
from wavecom.core.constants import Scope, valid_tenant
from wavecom.store import Doc, Store, utcnow

PREFIX = "wcn_"
_TOKEN = re.compile(r"wcn_([0-9a-f]{16})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class ApiKey:
    """A key as stored, without its secret."""

    key_id: str
    tenant: str
    scopes: frozenset[Scope]
    name: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.key_id,
            "tenantId": self.tenant,
            "scopes": sorted(self.scopes),
            "name": self.name,
            "createdAt": self.created_at,
            "revokedAt": self.revoked_at,
        }

    @classmethod
    def of(cls, doc: Doc) -> ApiKey:
        return cls(
            key_id=doc["_id"],
            tenant=doc["tenantId"],
            scopes=frozenset(Scope(s) for s in doc["scopes"]),
            name=doc.get("name", ""),
            created_at=doc["createdAt"],
            revoked_at=doc.get("revokedAt"),
        )


def parse_scopes(raw: Iterable[str]) -> frozenset[Scope]:
    """Scopes from names (``send``, ``read``, ``admin``); ValueError names an unknown one."""
    scopes = set()
    for raw_name in raw:
        name = raw_name.strip().lower()
        if not name:
            continue
        try:
            scopes.add(Scope(name))
        except ValueError:
            known = ", ".join(s.value for s in Scope)
            raise ValueError(f"unknown scope {name!r} (known: {known})") from None
    if not scopes:
        raise ValueError("at least one scope is needed")
    return frozenset(scopes)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class Keys:
    """The ``apikeys`` collection, read through a per-process cache of ``cache_s``."""

    def __init__(self, store: Store, *, cache_s: float = 1.0) -> None:
        self.keys = store.api_keys
        self.cache_s = cache_s
        # key id -> its document (None when unknown), at most 10,000 keys per process
        self._cache: TtlCache[Doc | None] = TtlCache(self._read, cache_s)

    async def create(
        self, tenant: str, scopes: Iterable[Scope], name: str = ""
    ) -> tuple[ApiKey, str]:
        """A new key and its token; the token is returned here and never again."""
        if not valid_tenant(tenant):
            raise ValueError("tenant must be 1-64 letters, digits, - or _")
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        key = ApiKey(key_id, tenant, frozenset(scopes), name[:100], utcnow().replace(microsecond=0))
        doc = {
            "_id": key_id,
            "tenantId": tenant,
            "scopes": sorted(key.scopes),
            "name": key.name,
            "hash": _digest(secret),
            "createdAt": key.created_at,
            "revokedAt": None,
        }
        await self.keys.add(doc)
        return key, f"{PREFIX}{key_id}_{secret}"

    async def verify(self, token: str) -> ApiKey | None:
        """The key a token belongs to, if it is well formed, known, matches and not revoked."""
        match = _TOKEN.fullmatch(token)
        if match is None:
            return None
        key_id, secret = match.groups()
        doc = await self._cache.get(key_id)
        if doc is None or not hmac.compare_digest(doc["hash"], _digest(secret)):
            return None
        key = ApiKey.of(doc)
        return None if key.revoked else key

    async def _read(self, key_id: str) -> Doc | None:
        return await self.keys.get(key_id)

    async def list(self, tenant: str | None = None) -> list[ApiKey]:
        docs = await self.keys.of(tenant)
        return sorted((ApiKey.of(d) for d in docs), key=lambda k: (k.tenant, k.created_at))

    async def revoke(self, key_id: str, tenant: str | None = None) -> ApiKey | None:
        """Revoke a key (of ``tenant`` only, when given); None if there is no such key."""
        doc = await self.keys.get(key_id, tenant)
        if doc is None:
            return None
        if doc.get("revokedAt") is None:
            doc["revokedAt"] = utcnow().replace(microsecond=0)
            await self.keys.revoke(key_id, doc["revokedAt"])
        self._cache.forget(key_id)  # this process refuses it from the next request on
        return ApiKey.of(doc)
