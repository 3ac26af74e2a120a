"""A token bucket per provider account: the worker waits for a token instead of failing.

Waiting inside a batch slows consumption (the prefetch fills, then the broker holds the rest),
which is the backpressure a provider's send-rate cap needs. A 429 from the provider pauses the
bucket for its Retry-After.
"""

from __future__ import annotations

import asyncio
import time

# stay a little under the provider's cap: its clock and ours do not refill in step
HEADROOM = 0.9


class TokenBucket:
    """``rate`` sends a second (less HEADROOM) with bursts of up to one second's worth; 0: none."""

    def __init__(self, rate: float) -> None:
        self.rate = rate * HEADROOM
        self.capacity = max(1.0, self.rate)  # the burst stays under the cap too
        self.tokens = self.capacity
        self.refilled = time.monotonic()
        self.paused_until = 0.0
        self._lock = asyncio.Lock()

    def ready(self) -> bool:
        """True if :meth:`acquire` would return at once (no cap, not paused)."""
        return self.rate <= 0 and self.paused_until <= time.monotonic()

    async def acquire(self) -> None:
        if self.rate <= 0 and self.paused_until <= time.monotonic():
            return
        async with self._lock:  # first come, first served
            while True:
                now = time.monotonic()
                if now < self.paused_until:
                    await asyncio.sleep(self.paused_until - now)
                    continue
                if self.rate <= 0:
                    return
                self.tokens = min(self.capacity, self.tokens + (now - self.refilled) * self.rate)
                self.refilled = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)

    def pause(self, seconds: float) -> None:
        """The provider said 429: send nothing more for ``seconds``."""
        self.paused_until = max(self.paused_until, time.monotonic() + seconds)
