"""A monotonic clock that moves only when the test says so, for the modules that read
``time.monotonic`` (``wavecom.worker.ratelimit``, ``wavecom.core.cache``): how old an entry is
or how many tokens a stretch of time is worth is then exact, whatever the machine's load."""

from __future__ import annotations

from types import ModuleType

import pytest


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now


def stand_in(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> Clock:
    """A clock in place of ``module``'s ``time`` (the module reads ``time.monotonic()``)."""
    clock = Clock()
    monkeypatch.setattr(module, "time", clock)
    return clock
