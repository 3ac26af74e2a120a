"""``wavecom.api.shedding``: the decision at each backlog of a channel's standard lane.

Below the LOW threshold everything is taken; from it LOW is refused, from the MEDIUM threshold
MEDIUM too, HIGH and CRITICAL never; each channel is judged by its own lane only, and the
reason names the channel, the backlog and the threshold. The depths are the sampler's
(:class:`QueueDepths` on a channel of the test's vhost); tests/api/routes/test_shedding.py
tests the 429 it becomes and that nothing accepted is dropped."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aio_pika
import pytest

from wavecom.api.depths import QueueDepths
from wavecom.api.shedding import LoadShedder
from wavecom.core.constants import Channel, Lane, Priority, lane_queue
from wavecom.core.settings import Settings

LOW, MEDIUM = 30, 60


@pytest.fixture
async def depths(settings: Settings) -> AsyncIterator[QueueDepths]:
    connection = await aio_pika.connect(settings.amqp_url)
    yield QueueDepths(await connection.channel())
    await connection.close()


def backlog(depths: QueueDepths, channel: Channel, n: int) -> None:
    """As if the last sample had read ``n`` waiting in ``channel``'s standard lane."""
    depths.depths[lane_queue(channel, Lane.STANDARD)] = n


def refused(shedder: LoadShedder, channel: Channel = Channel.SMS) -> set[str]:
    return {p.value for p in Priority if shedder.refuses(channel, p) is not None}


@pytest.mark.parametrize(
    ("waiting", "shed"),
    [
        (0, set()),
        (LOW - 1, set()),
        (LOW + 1, {"LOW"}),
        (MEDIUM - 1, {"LOW"}),
        (MEDIUM + 1, {"LOW", "MEDIUM"}),
        (10 * MEDIUM, {"LOW", "MEDIUM"}),
    ],
)
def test_the_priorities_refused_at_each_backlog(
    depths: QueueDepths, waiting: int, shed: set[str]
) -> None:
    shedder = LoadShedder(depths, low=LOW, medium=MEDIUM)
    backlog(depths, Channel.SMS, waiting)
    assert refused(shedder) == shed


def test_nothing_is_refused_before_the_first_sample(depths: QueueDepths) -> None:
    assert refused(LoadShedder(depths, low=1, medium=1)) == set()


def test_each_channel_is_judged_by_its_own_lane(depths: QueueDepths) -> None:
    shedder = LoadShedder(depths, low=LOW, medium=MEDIUM)
    backlog(depths, Channel.EMAIL, MEDIUM + 5)
    assert refused(shedder, Channel.EMAIL) == {"LOW", "MEDIUM"}
    assert refused(shedder, Channel.SMS) == set()
    assert refused(shedder, Channel.PUSH) == set()


def test_the_reason_names_the_channel_the_backlog_and_the_threshold(depths: QueueDepths) -> None:
    shedder = LoadShedder(depths, low=LOW, medium=MEDIUM)
    backlog(depths, Channel.PUSH, 75)
    assert shedder.refuses(Channel.PUSH, Priority.LOW) == (
        "PUSH backlog is 75: LOW is refused above 30"
    )
    assert shedder.refuses(Channel.PUSH, Priority.MEDIUM) == (
        "PUSH backlog is 75: MEDIUM is refused above 60"
    )


def test_a_backlog_exactly_at_a_threshold_is_not_above_it(depths: QueueDepths) -> None:
    shedder = LoadShedder(depths, low=LOW, medium=MEDIUM)
    backlog(depths, Channel.SMS, LOW)
    assert refused(shedder) == set()
    backlog(depths, Channel.SMS, MEDIUM)
    assert refused(shedder) == {"LOW"}
