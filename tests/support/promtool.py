"""Running promtool."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

PROMTOOL = shutil.which("promtool")


def promtool(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(  # noqa: S603 - Debian's promtool, our own files
        [PROMTOOL, *map(str, args)], capture_output=True, text=True, timeout=60, check=False
    )
