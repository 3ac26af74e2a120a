"""A per-process read-through cache with a time to live and shared reads.

When an entry expires under load, the hundreds of requests in flight must not each read the
same document: one read per key runs at a time, as a task of its own that every waiter shares
(a request cancelled meanwhile does not cancel the others' read).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

V = TypeVar("V")


class TtlCache(Generic[V]):
    """``get(key)`` answers from memory while the entry is younger than ``ttl_s``."""

    def __init__(
        self, read: Callable[[str], Awaitable[V]], ttl_s: float, *, max_entries: int = 10_000
    ) -> None:
        self._read = read
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, V]] = {}  # key -> (monotonic time read, value)
        self._reading: dict[str, asyncio.Task[V]] = {}

    async def get(self, key: str) -> V:
        cached = self._entries.get(key)
        if cached is not None and time.monotonic() - cached[0] < self.ttl_s:
            return cached[1]
        reading = self._reading.get(key)
        if reading is None:
            reading = asyncio.create_task(self._fill(key))
            self._reading[key] = reading
            reading.add_done_callback(lambda _: self._reading.pop(key, None))
        return await asyncio.shield(reading)

    def forget(self, key: str) -> None:
        """Read ``key`` again on its next use (this process changed it)."""
        self._entries.pop(key, None)

    async def _fill(self, key: str) -> V:
        read_at = time.monotonic()  # the entry's age counts from before the read
        value = await self._read(key)
        if len(self._entries) >= self.max_entries and key not in self._entries:
            del self._entries[next(iter(self._entries))]  # the oldest first
        self._entries[key] = (read_at, value)
        return value
