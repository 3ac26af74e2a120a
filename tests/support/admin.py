"""Running the admin CLI."""

from __future__ import annotations

import os
import subprocess
import sys

from wavecom.core.settings import Settings


def admin(
    settings: Settings, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {
        **os.environ,
        "MONGODB_URL": settings.mongodb_url,
        "MONGODB_DATABASE": settings.mongodb_database,
        **(env or {}),
    }
    return subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "wavecom.admin", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
