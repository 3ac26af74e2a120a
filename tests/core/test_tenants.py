"""wavecom.core.tenants on the real database: which rate limit and default TTLs a tenant gets
(its own, else the installation's), how long an API process trusts what it read, and the
values refused before anything is stored."""

from __future__ import annotations

import pytest

from wavecom.core.constants import Channel
from wavecom.core.tenants import RateLimit, Tenants
from wavecom.store import Store
from wavecom.store.expiries import MAX_TTL_S

DEFAULT = RateLimit(per_second=1000.0, burst=2000)


async def test_a_tenant_has_the_default_limit_until_it_is_given_its_own(store: Store) -> None:
    tenants = Tenants(store, DEFAULT, cache_s=60)
    assert await tenants.limit("acme") == DEFAULT
    await tenants.set_limit("acme", RateLimit(per_second=2.5, burst=10))
    # the process that set it uses it at once, whatever its cache
    assert await tenants.limit("acme") == RateLimit(2.5, 10)
    assert await tenants.limit("globex") == DEFAULT
    assert await tenants.configured() == {"acme": RateLimit(2.5, 10)}


async def test_another_process_trusts_what_it_read_for_cache_s(store: Store) -> None:
    setter = Tenants(store, DEFAULT, cache_s=60)
    trusting = Tenants(store, DEFAULT, cache_s=60)
    rereading = Tenants(store, DEFAULT, cache_s=0)
    assert await trusting.limit("acme") == DEFAULT
    await setter.set_limit("acme", RateLimit(5.0, 50))
    assert await trusting.limit("acme") == DEFAULT  # read a moment ago: within its 60 s
    assert await rereading.limit("acme") == RateLimit(5.0, 50)
    assert await Tenants(store, DEFAULT).limit("acme") == RateLimit(5.0, 50)


@pytest.mark.parametrize("limit", [RateLimit(0.0, 10), RateLimit(-1.0, 10), RateLimit(1.0, 0)])
async def test_a_limit_that_admits_nothing_is_refused_and_not_stored(
    store: Store, limit: RateLimit
) -> None:
    tenants = Tenants(store, DEFAULT, cache_s=0)
    with pytest.raises(ValueError, match="perSecond > 0 and burst >= 1"):
        await tenants.set_limit("acme", limit)
    assert await tenants.limit("acme") == DEFAULT
    assert await tenants.configured() == {}


async def test_default_ttls_per_channel_beside_the_limit(store: Store) -> None:
    tenants = Tenants(store, DEFAULT, cache_s=60)
    assert await tenants.default_ttls("acme") == {}
    await tenants.set_limit("acme", RateLimit(3.0, 30))
    await tenants.set_default_ttl("acme", Channel.SMS, 300)
    await tenants.set_default_ttl("acme", Channel.PUSH, MAX_TTL_S)
    await tenants.set_default_ttl("globex", Channel.EMAIL, 1)
    assert await tenants.default_ttls("acme") == {Channel.SMS: 300, Channel.PUSH: MAX_TTL_S}
    assert await tenants.configured_ttls() == {
        "acme": {Channel.SMS: 300, Channel.PUSH: MAX_TTL_S},
        "globex": {Channel.EMAIL: 1},
    }
    # one setting of a tenant leaves its others alone
    await tenants.set_default_ttl("acme", Channel.SMS, None)
    assert await tenants.default_ttls("acme") == {Channel.PUSH: MAX_TTL_S}
    assert await tenants.limit("acme") == RateLimit(3.0, 30)
    await tenants.set_default_ttl("globex", Channel.EMAIL, None)
    assert await tenants.configured_ttls() == {"acme": {Channel.PUSH: MAX_TTL_S}}


@pytest.mark.parametrize("seconds", [0, -5, MAX_TTL_S + 1])
async def test_a_default_ttl_out_of_bounds_is_refused_and_not_stored(
    store: Store, seconds: int
) -> None:
    tenants = Tenants(store, DEFAULT, cache_s=0)
    with pytest.raises(ValueError, match=f"1 to {MAX_TTL_S} seconds"):
        await tenants.set_default_ttl("acme", Channel.SMS, seconds)
    assert await tenants.default_ttls("acme") == {}


def test_a_limit_round_trips_through_its_stored_form() -> None:
    limit = RateLimit(per_second=0.5, burst=7)
    assert limit.as_dict() == {"perSecond": 0.5, "burst": 7}
    assert RateLimit.of(limit.as_dict()) == limit
    assert RateLimit.of({"perSecond": 3, "burst": 4.0}) == RateLimit(3.0, 4)
