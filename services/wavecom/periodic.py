"""A background task that runs one coroutine every few seconds until it is stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from wavecom.errors import DependencyUnavailable

log = logging.getLogger("wavecom.periodic")


class Periodic:
    """Runs ``tick`` every ``interval_s``; a failing tick is logged and the next one runs."""

    def __init__(self, name: str, tick: Callable[[], Awaitable[object]], interval_s: float) -> None:
        self.name = name
        self.tick = tick
        self.interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except DependencyUnavailable as exc:
                log.warning("%s: %s", self.name, exc)
            except Exception:  # a background loop must outlive any one failure
                log.exception("%s failed", self.name)
            await asyncio.sleep(self.interval_s)
