"""Fixtures the store tests share."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support import indexes
from wavecom.core.settings import Settings
from wavecom.store import Store

# every query the database runs, recorded to check it uses an index (tests/support/indexes.py)
recording = indexes.recording


@pytest.fixture
async def other_store(settings: Settings) -> AsyncIterator[Store]:
    """A second process's view of the same database (another API process, worker or relay)."""
    s = Store.connect(settings.mongodb_url, settings.mongodb_database)
    yield s
    await s.close()
