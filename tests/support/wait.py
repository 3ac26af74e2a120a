"""Waiting on conditions with deadlines, never on fixed sleeps."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


async def queue_empty(depth: Callable[[str], Awaitable[int]], name: str) -> bool:
    """For ``wait_for``: is queue ``name`` empty (``depth`` is the queue_depth fixture)?"""
    return await depth(name) == 0


async def wait_for(
    check: Callable[[], Awaitable[T | None]],
    *,
    within: float = 20.0,
    interval: float = 0.05,
    what: str = "condition",
) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``within`` seconds."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)  # polling interval of a deadline-bounded wait
    pytest.fail(f"timed out after {within}s waiting for {what} (last: {last!r})")
