"""API keys on the real database: hashed, verified, listed, revoked."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.support.commands import Commands
from tests.support.wait import wait_for
from wavecom.core.constants import Scope
from wavecom.core.keys import Keys, parse_scopes
from wavecom.store import Store


async def test_a_key_is_stored_only_as_a_hash_and_verifies(store: Store) -> None:
    keys = Keys(store)
    key, token = await keys.create("acme", {Scope.SEND, Scope.READ}, "ci")
    assert token.startswith(f"wcn_{key.key_id}_")
    stored = await store.api_keys.collection.find_one({"_id": key.key_id})
    assert stored is not None
    secret = token.removeprefix(f"wcn_{key.key_id}_")
    assert len(secret) == 43
    assert secret not in str(stored)
    assert token not in str(stored)
    assert stored["hash"] != token
    verified = await keys.verify(token)
    assert verified is not None
    assert (verified.tenant, verified.scopes) == ("acme", frozenset({Scope.SEND, Scope.READ}))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # wrong secret
        lambda t: t.replace("wcn_", "wck_"),  # wrong prefix
        lambda t: t[:-2],  # too short
        lambda t: t + "\x00",  # NUL
        lambda t: "wcn_0000000000000000_" + t.split("_", 2)[2],  # unknown id
        lambda t: "",
    ],
)
async def test_anything_but_the_exact_key_is_refused(store: Store, mangle: object) -> None:
    keys = Keys(store)
    _, token = await keys.create("acme", {Scope.READ})
    assert await keys.verify(mangle(token)) is None  # type: ignore[operator]


async def test_a_revoked_key_is_refused_and_listed_as_revoked(store: Store) -> None:
    keys = Keys(store)
    key, token = await keys.create("acme", {Scope.READ}, "old")
    other, _ = await keys.create("globex", {Scope.READ})
    assert await keys.revoke(key.key_id, "globex") is None  # not globex's key
    revoked = await keys.revoke(key.key_id, "acme")
    assert revoked is not None
    assert revoked.revoked
    assert await keys.verify(token) is None
    listed = {k.key_id: k for k in await keys.list("acme")}
    assert set(listed) == {key.key_id}
    assert listed[key.key_id].revoked
    assert {k.key_id for k in await keys.list()} == {key.key_id, other.key_id}


async def test_a_key_revoked_by_another_process_is_refused_within_the_cache_bound(
    store: Store,
) -> None:
    """Each API process caches a key's document for ``cache_s``: a revocation made elsewhere
    (another API process, the admin CLI) is refused here within that bound, and not before
    this process has read the key again."""
    here = Keys(store, cache_s=0.5)
    elsewhere = Keys(store)
    key, token = await here.create("acme", {Scope.SEND})
    assert await here.verify(token) is not None  # cached now
    revoked_at = time.monotonic()
    await elsewhere.revoke(key.key_id, "acme")

    async def refused() -> bool:
        return await here.verify(token) is None

    await wait_for(refused, within=10, interval=0.05, what="the revoked key to be refused")
    # refused only once the cached entry has expired: the bound is the cache's age, no more
    assert time.monotonic() - revoked_at <= here.cache_s + 5  # 5 s of slack for a busy box
    # the process that revokes refuses at once
    other, other_token = await here.create("acme", {Scope.SEND})
    assert await here.verify(other_token) is not None
    await here.revoke(other.key_id, "acme")
    assert await here.verify(other_token) is None


async def test_concurrent_requests_of_a_key_share_one_read(
    watched_store: Store, commands: Commands
) -> None:
    """A hundred requests of one key whose entry expired read its document once."""
    keys = Keys(watched_store, cache_s=60)
    _, token = await keys.create("acme", {Scope.SEND})
    results = await asyncio.gather(*(keys.verify(token) for _ in range(100)))
    assert all(r is not None for r in results)
    assert commands.seen[("find", "apikeys")] == 1


def test_scopes_are_parsed_strictly() -> None:
    assert parse_scopes(["send", " READ "]) == {Scope.SEND, Scope.READ}
    with pytest.raises(ValueError, match="unknown scope 'write'"):
        parse_scopes(["write"])
    with pytest.raises(ValueError, match="at least one"):
        parse_scopes(["", " "])


async def test_tenant_ids_are_validated(store: Store) -> None:
    with pytest.raises(ValueError, match="tenant"):
        await Keys(store).create("acme corp", {Scope.READ})
