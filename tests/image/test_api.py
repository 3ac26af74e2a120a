"""`api` from the built image: /api/health and the dashboard from a read-only root file system
as the non-root user, and a SIGTERM drain that loses nothing it accepted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from tests.image.conftest import Containers, container_env
from tests.image.podman import UID, Container
from tests.support.image import READ_ONLY
from tests.support.notifications import ledger, sms, statuses
from tests.support.processes import new_key
from tests.support.services import free_port
from tests.support.wait import wait_for
from wavecom.core.settings import Settings
from wavecom.store import Store

pytestmark = pytest.mark.e2e

GRACE_S = 10  # SHUTDOWN_GRACE_S of the containers here


async def start_api(containers: Containers, settings: Settings) -> tuple[Container, str]:
    """An API container on a free loopback port (the host's network), answering."""
    port = free_port()
    env = container_env(
        settings, API_HOST="127.0.0.1", API_PORT=str(port), SHUTDOWN_GRACE_S=str(GRACE_S)
    )
    api = containers("api", env=env, options=READ_ONLY)
    await api.start()
    url = f"http://127.0.0.1:{port}"

    async def healthy() -> bool:
        assert await api.running(), f"the api exited: {await api.logs()}"
        try:
            async with httpx.AsyncClient(base_url=url) as http:
                return (await http.get("/api/health")).status_code == 200
        except httpx.TransportError:
            return False

    await wait_for(healthy, within=60, interval=0.2, what="the api container to answer")
    return api, url


async def test_api_answers_and_serves_the_dashboard_read_only_as_non_root(
    containers: Containers, settings: Settings
) -> None:
    api, url = await start_api(containers, settings)
    async with httpx.AsyncClient(base_url=url) as http:
        health = (await http.get("/api/health")).json()
        assert health["status"] == "healthy"
        assert health["services"] == {"mongodb": "connected", "rabbitmq": "connected"}
        page = await http.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "WaveCom Notify" in page.text  # the static export's <title>
    assert (await api.exec("id", "-u")) == (0, f"{UID}\n")
    code, out = await api.exec("touch", "/app/written")
    assert code != 0, out
    assert "Read-only file system" in out
    assert (await api.exec("touch", "/tmp/written"))[0] == 0  # noqa: S108 - inside the container
    # the entry point execs Python: it is PID 1, so SIGTERM reaches it
    code, out = await api.exec("cat", "/proc/1/cmdline")
    assert out.split("\0")[:3] == ["python", "-m", "wavecom.api"], out


async def test_sigterm_drains_the_api_and_nothing_it_accepted_is_lost(
    containers: Containers, settings: Settings, store: Store, ledger_dir: Path
) -> None:
    api, url = await start_api(containers, settings)
    key = await new_key(settings)
    accepted: list[str] = []
    cut_off = 0  # requests that ended without an answer once the API was going away

    async def send(lane: int) -> None:
        nonlocal cut_off
        headers = {"Authorization": f"Bearer {key}"}
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as http:
            for i in range(lane * 10_000, (lane + 1) * 10_000):
                try:
                    r = await http.post("/api/notifications", json=sms(i))
                except httpx.TransportError:
                    cut_off += 1
                    return
                if r.status_code == 201:
                    accepted.append(r.json()["data"]["_id"])

    senders = [asyncio.create_task(send(lane)) for lane in range(4)]
    try:
        await wait_for(lambda: _at_least(accepted, 40), within=60, what="40 accepted")
        await api.signal("TERM")
        stopped = asyncio.get_running_loop().time()

        async def exited() -> bool:
            return not await api.running()

        await wait_for(exited, within=GRACE_S + 5, interval=0.1, what="the api to exit")
        took = asyncio.get_running_loop().time() - stopped
        await asyncio.wait_for(asyncio.gather(*senders), 15)
    finally:
        for t in senders:
            t.cancel()
    assert await api.exit_code() == 0, await api.logs()
    assert took < GRACE_S + 3, took  # measured through podman inspect polls
    # every accepted notification is stored, and a worker delivers each exactly once
    assert len(await statuses(store, accepted)) == len(accepted)
    worker = containers("worker", "--channel", "sms", env=container_env(settings))
    await worker.start()

    async def all_sent() -> bool:
        s = await statuses(store, accepted)
        return all(v == "SENT" for v in s.values())

    await wait_for(all_sent, within=60, what=f"{len(accepted)} accepted notifications SENT")
    sent = ledger(ledger_dir)
    assert all(sent[i] == 1 for i in accepted), [i for i in accepted if sent[i] != 1]


async def _at_least(items: list[str], n: int) -> bool:
    return len(items) >= n
