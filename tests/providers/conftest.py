"""Fixtures the driver tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from wavecom.providers.base import Provider


@pytest.fixture
async def made() -> AsyncIterator[list[Provider]]:
    providers: list[Provider] = []
    yield providers
    for p in providers:
        await p.close()
