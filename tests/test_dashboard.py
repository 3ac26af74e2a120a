"""The dashboard in Debian's Chromium (playwright-core) against the real stack.

The browser tests live in frontend/e2e/ (node --test); this test starts the system they need
(the API serving the static export, and a worker per channel) and runs them with an
every-scope API key (WAVECOM_KEY): they sign in through the UI, check the scopes and a
revocation, send, burst 500, replay a dead letter, see a notification's status callbacks and
measure a live-update storm of 3,000.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from tests.support.system import ROOT, System
from wavecom.core.settings import Settings

pytestmark = pytest.mark.e2e

FRONTEND = ROOT / "frontend"
FAIL = {"suffix": "@fail.wavecom.test", "outcome": "permanent"}


@pytest.fixture
async def system(settings: Settings) -> AsyncIterator[System]:
    async with System(settings) as s:
        s.env["PROVIDERS_EMAIL"] = orjson.dumps(
            [
                {"name": "mailgrid", "latencyMs": 30, "rules": [FAIL]},
                {"name": "postbox", "latencyMs": 30, "rules": [FAIL]},
            ]
        ).decode()
        await s.start()
        await s.spawn_callbacks()  # a notification's page shows its callbacks (e2e/callbacks)
        yield s


@pytest.mark.skipif(
    not (FRONTEND / "out" / "index.html").is_file()
    or shutil.which("node") is None
    or not Path("/usr/bin/chromium").exists(),
    reason="needs the built dashboard (make frontend), node and /usr/bin/chromium",
)
@pytest.mark.timeout(700)
async def test_the_dashboard_in_a_browser(system: System) -> None:
    proc = await asyncio.create_subprocess_exec(
        "node",
        "--test",
        "--test-concurrency=1",
        "e2e/",
        cwd=FRONTEND,
        env={**os.environ, "WAVECOM_URL": system.url, "WAVECOM_KEY": system.key},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), 640)
    finally:
        if proc.returncode is None:  # timed out or cancelled: never leave it (or its pipe) behind
            proc.kill()
            await proc.wait()
    report = out.decode(errors="replace")
    assert proc.returncode == 0, report[-6000:]
    assert "# fail 0" in report, report[-3000:]
