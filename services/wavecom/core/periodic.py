"""A background task that runs one coroutine every few seconds until it is stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from wavecom.core.errors import DependencyUnavailable

log = logging.getLogger("wavecom.periodic")


class Periodic:
    """Runs ``tick`` every ``interval_s``; a failing tick is logged and the next one runs.

    ``stop()`` lets a running tick finish (up to ``grace_s``) rather than cancel it mid-call:
    a broker RPC cancelled half-way closes its channel, and closing the connection then can
    wait on that channel for good.
    """

    def __init__(
        self,
        name: str,
        tick: Callable[[], Awaitable[object]],
        interval_s: float,
        *,
        grace_s: float = 5.0,
    ) -> None:
        self.name = name
        self.tick = tick
        self.interval_s = interval_s
        self.grace_s = grace_s
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        self._stopping.set()
        if self._task:
            try:
                await asyncio.wait_for(asyncio.shield(self._task), self.grace_s)
            except TimeoutError:
                log.warning("%s: the running tick did not finish in %.0fs", self.name, self.grace_s)
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task

    async def _loop(self) -> None:
        while not self._stopping.is_set():
            try:
                await self.tick()
            except DependencyUnavailable as exc:
                log.warning("%s: %s", self.name, exc)
            except Exception:  # a background loop must outlive any one failure
                log.exception("%s failed", self.name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval_s)
