"""``loadtest.message_shape``: every job published in its shape comes back, and is counted."""

from __future__ import annotations

import orjson
import pytest

from loadtest.message_shape import _body, _job, run_shape
from tests.support.services import amqp_url


def test_one_job_is_its_own_body_and_several_are_an_array_of_them() -> None:
    single = orjson.loads(_body([_job(1)]))
    assert isinstance(single, dict)
    assert single["notificationId"] == f"{1:024x}"
    jobs = orjson.loads(_body([_job(1), _job(2), _job(3)]))
    assert [j["notificationId"] for j in jobs] == [f"{i:024x}" for i in (1, 2, 3)]


@pytest.mark.parametrize("per", [1, 4])
async def test_every_job_published_is_consumed_and_the_cpu_is_split(vhost: str, per: int) -> None:
    report = await run_shape(amqp_url(vhost), per, rate=200, seconds=5)
    assert report["published"] == report["consumed"] > 0
    assert report["published"] % per == 0  # whole messages only
    assert report["messagesPerSecond"] == pytest.approx(report["jobsPerSecond"] / per, abs=0.2)
    ms = report["msPerJob"]
    assert ms["machine"] > 0
    assert ms["rabbitmq"] > 0
    assert ms["client"] > 0
    # parts of the whole, within the clock ticks' rounding
    assert ms["rabbitmq"] + ms["client"] <= ms["machine"] + 0.05
