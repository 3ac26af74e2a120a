"""Fixtures the store tests share."""

from __future__ import annotations

from tests.support import indexes

# every query the database runs, recorded to check it uses an index (tests/support/indexes.py)
recording = indexes.recording
