"""``wavecom.core.periodic``: the background loop every API process runs its relay, sweeper and
samplers in. Its task is a coroutine function it is given: here ones that count their runs,
fail, or wait for the test."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import pytest

from tests.support.wait import wait_for
from wavecom.core.errors import StoreUnavailable
from wavecom.core.periodic import Periodic

LONG = 3600.0  # an interval no test waits out: a second run would mean it was not waited


class Task:
    """A tick that counts its runs; ``fail`` lists what the next runs raise, in turn."""

    def __init__(self) -> None:
        self.runs = 0
        self.finished = 0
        self.fail: list[Exception] = []
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.release.set()
        self.cancelled = False

    async def tick(self) -> None:
        self.runs += 1
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        if self.fail:
            raise self.fail.pop(0)
        self.finished += 1

    async def ran(self, n: int) -> bool:
        return self.runs >= n


Start = Callable[..., Periodic]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """``start(task, interval_s, grace_s=30)``: a running loop, stopped at the test's end (a
    second stop returns at once; one whose run was cancelled raises CancelledError)."""
    running: list[Periodic] = []

    def started(task: Task, interval_s: float, grace_s: float = 30) -> Periodic:
        loop = Periodic("test task", task.tick, interval_s, grace_s=grace_s)
        loop.start()
        running.append(loop)
        return loop

    yield started
    for loop in running:
        with contextlib.suppress(asyncio.CancelledError):
            await loop.stop()


async def test_the_task_runs_at_once_and_then_again_every_interval(start: Start) -> None:
    task = Task()
    start(task, 0.01)
    await wait_for(lambda: task.ran(5), what="five runs")
    assert task.finished >= 4  # one after the other, none left half-way


async def test_between_runs_it_waits_the_interval_and_stop_ends_the_wait(
    start: Start,
) -> None:
    task = Task()
    loop = start(task, LONG)
    await wait_for(lambda: task.ran(1), what="the first run")
    await asyncio.wait_for(loop.stop(), 30)  # not an hour: stop wakes the interval's wait
    assert task.runs == 1
    assert task.finished == 1


async def test_a_raising_task_is_logged_and_the_next_run_happens(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    task = Task()
    task.fail = [RuntimeError("boom"), StoreUnavailable("the database is away")]
    with caplog.at_level(logging.WARNING, logger="wavecom.periodic"):
        start(task, 0.01)
        await wait_for(lambda: task.ran(4), what="runs after the failures")
    assert task.finished >= 2
    records = [(r.levelno, r.getMessage(), r.exc_info is not None) for r in caplog.records]
    # a bug: an error with its traceback; a dependency away: a warning, no traceback
    assert records[:2] == [
        (logging.ERROR, "test task failed", True),
        (logging.WARNING, "test task: the database is away", False),
    ]


async def test_stop_lets_a_running_task_finish_and_runs_it_no_more(
    start: Start,
) -> None:
    task = Task()
    task.release.clear()
    loop = start(task, 0.01)
    await task.started.wait()
    stopping = asyncio.create_task(loop.stop())
    await asyncio.sleep(0)  # one turn of the loop: stop() has begun waiting for the run
    assert not stopping.done()  # the run is held: stop cannot have returned
    task.release.set()
    await asyncio.wait_for(stopping, 30)
    assert (task.runs, task.finished, task.cancelled) == (1, 1, False)


async def test_a_task_that_outlasts_the_grace_is_cancelled_and_stop_returns(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    task = Task()
    task.release.clear()  # never released: a run stuck on a dead dependency
    loop = start(task, 0.01, grace_s=0.2)
    await task.started.wait()
    with caplog.at_level(logging.WARNING, logger="wavecom.periodic"):
        await asyncio.wait_for(loop.stop(), 30)
    assert task.cancelled
    assert task.finished == 0
    assert [r.getMessage() for r in caplog.records] == [
        "test task: the running tick did not finish in 0s"
    ]


async def test_stop_before_start_returns() -> None:
    task = Task()
    loop = Periodic("never started", task.tick, 0.01)
    await asyncio.wait_for(loop.stop(), 30)
    assert task.runs == 0
