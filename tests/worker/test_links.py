"""What a worker process opens once (``wavecom.worker.links``), on the real broker and
database: the store with its indexes and counters' settler, one connection, the publisher and
the events' exchange; all of it closed by ``close``; a queue of another type stops the open
and leaves no connection behind."""

from __future__ import annotations

import httpx
import pytest
from pymongo.errors import InvalidOperation

from tests.support.services import GUEST, MANAGEMENT_URL, declare_the_other_queue_type
from tests.support.wait import wait_for
from wavecom.core.constants import NOTIFICATIONS
from wavecom.core.errors import QueueMismatch
from wavecom.core.settings import Settings
from wavecom.store.settling import Settler
from wavecom.worker.links import Links


async def _connections(vhost: str, name: str) -> list[str]:
    """The broker's connections of ``vhost`` named ``name`` (its management API)."""
    async with httpx.AsyncClient(auth=GUEST, timeout=10) as http:
        r = await http.get(f"{MANAGEMENT_URL}/api/vhosts/{vhost}/connections")
        r.raise_for_status()
    return [
        c["name"]
        for c in r.json()
        if (c.get("client_properties") or {}).get("connection_name") == name
    ]


async def test_links_open_what_a_worker_process_needs_and_close_it_all(
    settings: Settings, vhost: str
) -> None:
    # the tests' settings settle at once; a process's default gathers them
    lingering = settings.model_copy(update={"settle_linger_ms": 100})
    links = await Links.open(lingering, "worker-links-test")
    try:
        names = {i["name"] async for i in await links.store.db[NOTIFICATIONS].list_indexes()}
        assert {"tenant_created", "tenant_status_created"} <= names
        assert isinstance(links.store.rounds.settler, Settler)
        assert not links.connection.is_closed
        assert links.publisher.ready
        await wait_for(
            lambda: _connections(vhost, "worker-links-test"),
            what="the connection, named, in the broker's list",
        )
    finally:
        await links.close()
    assert links.connection.is_closed
    with pytest.raises(InvalidOperation):
        await links.store.db.command("ping")


async def test_no_settler_when_counters_settle_at_once(settings: Settings) -> None:
    links = await Links.open(settings.model_copy(update={"settle_linger_ms": 0}), "worker-t")
    try:
        assert links.store.rounds.settler is None
    finally:
        await links.close()


async def test_a_queue_of_another_type_stops_the_open_and_leaves_no_connection(
    settings: Settings, vhost: str
) -> None:
    await declare_the_other_queue_type(settings)
    with pytest.raises(QueueMismatch):
        await Links.open(settings, "worker-mismatch")

    async def gone() -> bool:
        return not await _connections(vhost, "worker-mismatch")

    await wait_for(gone, what="the refused open's connection closed")
