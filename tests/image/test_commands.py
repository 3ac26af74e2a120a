"""The image's other commands, as the chart runs them: `operator --help` and `admin setup` (the
pre-install hook Job), read-only and non-root, against the host's RabbitMQ and database."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from tests.image.conftest import Containers, container_env
from tests.support.image import READ_ONLY
from wavecom.core.constants import NOTIFICATIONS, Channel, Lane, lane_queue
from wavecom.core.settings import Settings
from wavecom.store import Store

pytestmark = pytest.mark.e2e


async def test_operator_help(containers: Containers) -> None:
    code, out = await containers("operator", "--help", options=READ_ONLY).run()
    assert code == 0, out
    assert out.startswith("usage: python -m wavecom.operator"), out
    assert "--all-namespaces" in out


async def test_admin_setup_makes_the_indexes_and_the_topology(
    containers: Containers,
    settings: Settings,
    store: Store,
    queue_depth: Callable[[str], Awaitable[int]],
) -> None:
    setup = containers("admin", "setup", env=container_env(settings), options=READ_ONLY)
    code, out = await setup.run()
    assert code == 0, out
    assert "database: indexes present" in out
    assert f"lane queues ({settings.queue_type.value})" in out
    indexes = await store.db[NOTIFICATIONS].index_information()
    assert len(indexes) > 1, indexes  # more than _id's
    for channel in Channel:
        for lane in Lane:
            assert await queue_depth(lane_queue(channel, lane)) == 0  # declared (passive), empty
    # idempotent, as a hook that runs on every upgrade must be
    again = containers("admin", "setup", env=container_env(settings), options=READ_ONLY)
    assert (await again.run())[0] == 0
