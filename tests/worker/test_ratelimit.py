"""``wavecom.worker.ratelimit``: a provider account's token bucket, on a clock the test moves.

The bucket reads ``time.monotonic`` for what it has earned and sleeps (for real, briefly) while
it waits; the tests stand a clock of their own in for it (``tests/support/clock.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from functools import partial

import pytest

from tests.support.clock import Clock, stand_in
from tests.support.wait import wait_for
from wavecom.worker import ratelimit
from wavecom.worker.ratelimit import HEADROOM, TokenBucket


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return stand_in(monkeypatch, ratelimit)


async def drain(bucket: TokenBucket, n: int) -> None:
    for _ in range(n):
        await asyncio.wait_for(bucket.acquire(), 30)


async def cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def looked_at(bucket: TokenBucket, clock: Clock) -> None:
    """Return once a waiting ``acquire`` has counted the tokens up to the clock's time (it then
    either returned or went back to sleep: the check and the take are one step)."""

    async def seen() -> bool:
        return bucket.refilled == clock.now

    await wait_for(seen, what="the bucket to look at the clock again")


async def test_a_burst_is_bounded_by_one_seconds_worth_under_the_cap(clock: Clock) -> None:
    bucket = TokenBucket(10)  # 10 a second; 9 after the headroom
    assert bucket.rate == pytest.approx(10 * HEADROOM)
    assert bucket.capacity == pytest.approx(9)
    await drain(bucket, 9)  # the whole burst at once, the clock standing still
    assert bucket.tokens < 1
    tenth = asyncio.create_task(bucket.acquire())
    await looked_at(bucket, clock)
    assert not tenth.done()  # empty: it waits for a token, it does not fail
    await cancelled(tenth)


async def test_tokens_come_back_at_the_rate_and_a_waiter_takes_the_first(clock: Clock) -> None:
    bucket = TokenBucket(10)  # 9 tokens a second
    await drain(bucket, 9)
    waiting = asyncio.create_task(bucket.acquire())
    clock.now += 0.1  # 0.9 of a token
    await looked_at(bucket, clock)
    assert not waiting.done()
    assert bucket.tokens == pytest.approx(0.9)
    clock.now += 0.02  # 1.08: one whole token
    await asyncio.wait_for(waiting, 30)
    assert bucket.tokens == pytest.approx(0.08)


async def test_an_idle_bucket_refills_to_its_capacity_and_no_further(clock: Clock) -> None:
    bucket = TokenBucket(10)
    await drain(bucket, 9)
    clock.now += 3600  # an hour idle earns a burst, not 32,400 sends
    await drain(bucket, 9)
    assert bucket.tokens < 1
    tenth = asyncio.create_task(bucket.acquire())
    await looked_at(bucket, clock)
    assert not tenth.done()
    await cancelled(tenth)


async def test_a_slow_cap_still_allows_one_send_at_a_time(clock: Clock) -> None:
    bucket = TokenBucket(0.5)  # one send every 2.2 s: the burst is one, not 0.45
    assert bucket.capacity == 1.0
    await drain(bucket, 1)
    second = asyncio.create_task(bucket.acquire())
    clock.now += 2.0
    await looked_at(bucket, clock)
    assert not second.done()
    clock.now += 0.3  # 2.3 s * 0.45 = 1.035 tokens
    await asyncio.wait_for(second, 30)


async def test_waiters_are_served_in_the_order_they_came(clock: Clock) -> None:
    bucket = TokenBucket(10)  # 9 a second
    await drain(bucket, 9)
    served: list[int] = []

    async def send(i: int) -> None:
        await bucket.acquire()
        served.append(i)

    senders = [asyncio.create_task(send(i)) for i in range(3)]
    for n in range(1, 4):
        clock.now += 1 / 9 + 0.001  # one more token
        await wait_for(partial(_at_least, served, n), what=f"{n} sends")
    assert served == [0, 1, 2]
    await asyncio.gather(*senders)


async def _at_least(served: list[int], n: int) -> bool:
    return len(served) >= n


async def test_without_a_cap_acquire_never_waits_and_the_bucket_is_ready(clock: Clock) -> None:
    bucket = TokenBucket(0)
    assert bucket.ready()
    await drain(bucket, 10_000)  # the clock never moves: nothing is counted
    assert TokenBucket(5).ready() is False  # a capped bucket is never "ready" without asking


async def test_a_429_pauses_even_an_uncapped_bucket_until_its_retry_after(clock: Clock) -> None:
    bucket = TokenBucket(0)
    bucket.pause(0.2)
    assert not bucket.ready()
    paused = asyncio.create_task(bucket.acquire())
    await asyncio.sleep(0)  # one turn of the loop: its first step, which would have returned
    assert not paused.done()  # the clock has not moved: it cannot have returned since
    clock.now += 0.2
    await asyncio.wait_for(paused, 30)
    assert bucket.ready()


async def test_a_shorter_retry_after_does_not_cut_a_longer_pause_short(clock: Clock) -> None:
    bucket = TokenBucket(10)
    bucket.pause(60)
    bucket.pause(1)
    assert bucket.paused_until == clock.now + 60
    clock.now += 30
    assert not bucket.ready()
