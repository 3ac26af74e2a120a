"""``wavecom.providers.routes``: a channel's live account table.

A tenant's failover order (its reserved accounts, then the shared ones, each by priority), the
breaker of each account (only account-wide failures count) and its token bucket, and
:meth:`RouteTable.update` swapping accounts while sends are in flight: an unchanged account
keeps its breaker and bucket, a replaced one's driver is flushed and closed once its last send
is done, and a job waiting for a token looks at the new order.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.support.wait import wait_for
from wavecom.core.constants import Channel
from wavecom.core.errors import PermanentProviderError, SendDeferred, TransientProviderError
from wavecom.core.settings import Settings
from wavecom.providers.base import Provider, Receipt, SendRequest
from wavecom.providers.routes import Breaker, Route, RouteTable

SETTINGS = Settings(breaker_fail_max=2, breaker_reset_s=3600.0)


class Driver(Provider):
    """An account's driver that counts what the table does to it (it sends nothing)."""

    def __init__(self, name: str, send_rate: float = 0.0) -> None:
        self.name = name
        self.channel = Channel.SMS
        self.send_rate = send_rate
        self.flushed = 0
        self.closed = 0

    async def send(self, request: SendRequest) -> Receipt:
        raise AssertionError("the table never sends")

    def flush(self) -> None:
        self.flushed += 1

    async def close(self) -> None:
        self.closed += 1


def names(providers: list[Provider]) -> list[str]:
    return [p.name for p in providers]


async def test_a_tenants_order_is_its_own_accounts_then_the_shared_ones_by_priority() -> None:
    table = RouteTable([], SETTINGS)
    await table.update(
        [
            Route(Driver("shared-b"), priority=20),
            Route(Driver("shared-a"), priority=20),  # a tie goes by name
            Route(Driver("shared-first"), priority=5),
            Route(Driver("acme-own"), priority=50, tenants=frozenset({"acme"})),
            Route(Driver("globex-own"), priority=1, tenants=frozenset({"globex"})),
        ]
    )
    assert names(table.order("acme")) == ["acme-own", "shared-first", "shared-a", "shared-b"]
    assert names(table.order("initech")) == ["shared-first", "shared-a", "shared-b"]
    assert names(table.providers) == [
        "globex-own",
        "shared-first",
        "shared-a",
        "shared-b",
        "acme-own",
    ]
    table.set_no_shared(frozenset({"acme", "initech"}))
    assert names(table.order("acme")) == ["acme-own"]
    assert table.order("initech") == []  # it waits for an account of its own
    assert names(table.order("globex")) == ["globex-own", "shared-first", "shared-a", "shared-b"]


def test_two_accounts_of_a_channel_cannot_share_a_name() -> None:
    with pytest.raises(ValueError, match="share a name"):
        RouteTable([Driver("bank-sms"), Driver("bank-sms")], SETTINGS)


async def test_an_update_keeps_an_unchanged_accounts_breaker_and_bucket_and_closes_the_rest() -> (
    None
):
    kept, replaced, removed = Driver("kept", 10), Driver("replaced"), Driver("removed")
    table = RouteTable([kept, replaced, removed], SETTINGS)
    breaker, bucket = table.breakers["kept"], table.buckets["kept"]
    old_breaker = table.breakers["replaced"]
    assert table.order("acme") == [kept, replaced, removed]  # cached until the update

    newer = Driver("replaced", 5)
    changed = await table.update([Route(kept, 0), Route(newer, 1)])

    assert sorted(changed) == ["removed", "replaced"]
    assert table.breakers["kept"] is breaker
    assert table.buckets["kept"] is bucket
    assert table.breakers["replaced"] is not old_breaker
    assert table.buckets["replaced"].rate > 0  # the new revision's send rate
    assert set(table.breakers) == set(table.buckets) == {"kept", "replaced"}
    assert table.order("acme") == [kept, newer]
    assert (kept.closed, replaced.closed, removed.closed, newer.closed) == (0, 1, 1, 0)


async def test_a_replaced_driver_still_sending_is_flushed_and_closed_after_its_last_send() -> None:
    old = Driver("bank-sms")
    table = RouteTable([old], SETTINGS)
    async with table.sending(old):
        async with table.sending(old):
            assert await table.update([Route(Driver("bank-sms"), 0)]) == ["bank-sms"]
        assert (old.flushed, old.closed) == (0, 0)  # one send is still on it
    assert (old.flushed, old.closed) == (1, 1)
    await table.close()
    assert old.closed == 1  # not closed twice


async def test_close_and_flush_reach_every_driver_a_retired_one_too() -> None:
    first, second, retiring = Driver("first"), Driver("second"), Driver("retiring")
    table = RouteTable([first, second, retiring], SETTINGS)
    table.flush()
    assert (first.flushed, second.flushed, retiring.flushed) == (1, 1, 1)
    async with table.sending(retiring):
        await table.update([Route(first, 0), Route(second, 1)])
        await table.close()
        assert (first.closed, second.closed, retiring.closed) == (1, 1, 1)


async def test_a_job_waiting_for_a_token_gives_up_when_the_accounts_change() -> None:
    capped = Driver("capped", 1)
    table = RouteTable([capped], SETTINGS)
    assert await table.token(RouteTable([Driver("free")], SETTINGS).buckets["free"])  # no cap
    bucket = table.buckets["capped"]
    bucket.pause(3600)  # the provider said 429
    waiting = asyncio.ensure_future(table.token(bucket))
    await asyncio.sleep(0)  # it starts waiting (a scheduling point, not a wait on time)
    assert not waiting.done()
    await table.update([Route(Driver("capped", 1), 0)])

    async def ended() -> bool:
        return waiting.done()

    assert await wait_for(ended, what="the wait to end")
    assert waiting.result() is False  # no token taken: it looks at the new order


def test_only_account_wide_failures_open_the_breaker_until_its_reset_timeout() -> None:
    breaker = Breaker("bank-sms", SETTINGS)
    for _ in range(5):  # a bad number, a 429: nothing about the account's health
        breaker.record(PermanentProviderError("invalid number", provider="bank-sms"))
        breaker.record(SendDeferred("429", provider="bank-sms"))
    assert breaker.state == "closed"
    breaker.record(TransientProviderError("503", provider="bank-sms"))
    breaker.record(None)  # a success in between starts the count again
    breaker.record(TransientProviderError("503", provider="bank-sms"))
    assert breaker.state == "closed"
    assert breaker.allows()
    breaker.record(TransientProviderError("503", provider="bank-sms"))
    assert breaker.state == "open"
    assert not breaker.allows()
    breaker.record(TransientProviderError("503", provider="bank-sms"))  # counted, not raised
    assert breaker.state == "open"


async def test_an_open_breaker_allows_a_trial_send_once_its_reset_timeout_is_over() -> None:
    brief = Breaker("bank-mail", Settings(breaker_fail_max=1, breaker_reset_s=0.01))
    brief.record(TimeoutError())  # a send the pipeline timed out
    assert brief.state == "open"

    async def allows() -> bool:
        return brief.allows()

    assert await wait_for(allows, what="the reset timeout to run out")
    brief.record(None)  # the trial send went through
    assert brief.state == "closed"


async def test_the_breaker_states_are_the_live_accounts() -> None:
    table = RouteTable([Driver("a"), Driver("b")], SETTINGS)
    for _ in range(2):
        table.breakers["b"].record(TransientProviderError("503", provider="b"))
    assert table.breaker_states() == {"a": "closed", "b": "open"}
    await table.update([Route(table.routes["a"].provider, 0)])
    assert table.breaker_states() == {"a": "closed"}
