"""Workers reload provider accounts under load: a change reaches the ledger within 5 s, and
every notification is sent exactly once across the changes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.support.admin import admin
from tests.support.notifications import all_terminal, create, email, put_mock_account
from tests.support.processes import RunWorker
from tests.support.wait import wait_for
from wavecom.core.constants import Channel
from wavecom.core.settings import Settings
from wavecom.store import Store

SWITCH_S = 5.0  # the bound: a change shows in the ledger within this
TOTAL = 3000
FAST: dict[str, Any] = {"latencyMs": 2, "latencySigma": 0}
TERTIARY = """
apiVersion: notify.wavecom.io/v1alpha1
kind: NotificationProvider
metadata: {name: tertiary}
spec: {channel: EMAIL, driver: mock, priority: 1, settings: {latencyMs: 2, latencySigma: 0}}
"""


@pytest.fixture
def worker_settings(settings: Settings) -> Settings:
    # 3,000 accepted in a few requests, and one reload poll a second (the default)
    return settings.model_copy(update={"rate_limit_burst": 10_000, "providers_poll_s": 1.0})


def sends(ledger_dir: Path) -> list[tuple[float, str, str]]:
    """(at, provider, notification id) of every recorded send, oldest first."""
    out = []
    for f in ledger_dir.glob("*.jsonl"):
        for line in f.read_bytes().splitlines():
            e = orjson.loads(line)
            out.append((float(e["at"]), str(e["provider"]), str(e["notificationId"])))
    return sorted(out)


async def sent_by(ledger_dir: Path, provider: str, since: float, at_least: int) -> bool:
    return sum(1 for at, p, _ in sends(ledger_dir) if p == provider and at > since) >= at_least


async def test_disable_enable_recap_and_add_reach_the_ledger_within_5_s_under_load(
    api: httpx.AsyncClient,
    store: Store,
    run_worker: RunWorker,
    ledger_dir: Path,
    tmp_path: Path,
    worker_settings: Settings,
) -> None:
    api_settings = worker_settings
    await put_mock_account(store, "primary", priority=10, send_rate=150, **FAST)
    await put_mock_account(store, "secondary", priority=20, send_rate=150, **FAST)
    await run_worker(Channel.EMAIL)
    ids: list[str] = []
    for start in range(0, TOTAL, 500):
        ids += await create(api, [email(i) for i in range(start, start + 500)])

    async def flowing(provider: str, since: float, n: int = 150) -> None:
        await wait_for(
            lambda: sent_by(ledger_dir, provider, since, n),
            within=90,
            interval=0.2,
            what=f"{n} sends through {provider}",
        )

    await flowing("primary", 0)

    # 1. the primary is disabled: its last send and the secondary's first within 5 s
    disabled = time.time()
    await put_mock_account(store, "primary", priority=10, send_rate=150, enabled=False, **FAST)
    await flowing("secondary", disabled)
    log = sends(ledger_dir)
    assert max(at for at, p, _ in log if p == "primary") <= disabled + SWITCH_S
    assert min(at for at, p, _ in log if p == "secondary" and at > disabled) <= disabled + SWITCH_S

    # 2. re-enabled: the primary takes the traffic back, the secondary stops
    enabled = time.time()
    await put_mock_account(store, "primary", priority=10, send_rate=150, **FAST)
    await flowing("primary", enabled)
    log = sends(ledger_dir)
    assert min(at for at, p, _ in log if p == "primary" and at > enabled) <= enabled + SWITCH_S
    assert max(at for at, p, _ in log if p == "secondary") <= enabled + SWITCH_S
    before = [at for at, p, _ in log if p == "primary" and at > enabled]
    rate_before = (len(before) - 1) / max(before[-1] - before[0], 1e-3)

    # 3. the primary's cap goes from 150/s to 25/s: 5 s later it sends at most 25/s, plus the
    # bucket's burst of a second's worth (full if a busy machine stalled the sends a while)
    capped = time.time()
    await put_mock_account(store, "primary", priority=10, send_rate=25, **FAST)
    await flowing("primary", capped + SWITCH_S, n=100)
    after = [at for at, p, _ in sends(ledger_dir) if p == "primary" and at > capped + SWITCH_S]
    window = after[-1] - (capped + SWITCH_S)
    assert len(after) <= 25 * window + 25, (
        f"{len(after)} sends in {window:.1f}s after the cap of 25/s (before: {rate_before:.1f}/s)"
    )
    assert rate_before > 30, f"the cap did not bind before: {rate_before:.1f}/s"

    # 4. a new account first in the order, added with the admin CLI: it takes the traffic
    # within 5 s of its write (the stored updatedAt: the CLI's own start-up is not counted)
    manifest = tmp_path / "tertiary.yaml"
    manifest.write_text(TERTIARY)
    applied = admin(api_settings, "providers", "apply", "-f", str(manifest))
    assert applied.returncode == 0, applied.stderr
    doc = await store.accounts.get("tertiary")
    assert doc is not None
    added = doc["updatedAt"].timestamp()
    await wait_for(
        lambda: all_terminal(store, ids), within=120, interval=0.5, what=f"{TOTAL} to finish"
    )
    log = sends(ledger_dir)
    assert min(at for at, p, _ in log if p == "tertiary") <= added + SWITCH_S
    assert max(at for at, p, _ in log if p == "primary") <= added + SWITCH_S

    statuses = await all_terminal(store, ids)
    assert statuses is not None
    assert set(statuses.values()) == {"SENT"}
    per_id: dict[str, int] = {}
    for _, _, nid in log:
        per_id[nid] = per_id.get(nid, 0) + 1
    assert sorted(per_id) == sorted(ids)
    assert set(per_id.values()) == {1}  # exactly once, across four changes
