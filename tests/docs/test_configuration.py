"""docs/configuration.md names every setting the one Settings class reads: a setting added
without a line there fails here (a platform team configures from that page, not from code)."""

from __future__ import annotations

import re
from pathlib import Path

from wavecom.core.settings import Settings

PAGE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def _documented() -> set[str]:
    """The variables named in the first column of the page's table."""
    names: set[str] = set()
    for line in PAGE.read_text().splitlines():
        if line.startswith("| `"):
            first = line.split("|")[1]
            names |= set(re.findall(r"`([A-Z][A-Z0-9_]*)`", first))
    return names


def test_every_setting_has_a_row() -> None:
    settings = {(field.alias or name).upper() for name, field in Settings.model_fields.items()}
    missing = sorted(settings - _documented())
    assert not missing, f"settings without a row in docs/configuration.md: {missing}"


def test_every_row_is_a_setting_or_tracing() -> None:
    settings = {(field.alias or name).upper() for name, field in Settings.model_fields.items()}
    unknown = sorted(n for n in _documented() - settings if not n.startswith("OTEL_"))
    assert not unknown, f"docs/configuration.md names settings that do not exist: {unknown}"
