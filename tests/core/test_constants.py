"""wavecom.core.constants: the delay ladder and how delays snap to it, the lane of each
priority, the status sets the pipeline and the receipts go by, and the broker names derived
from a channel, a lane and a rung."""

from __future__ import annotations

import itertools
import math

import pytest

from wavecom.core.constants import (
    ACCEPTED_BY_PROVIDER,
    ALL_LANE_QUEUES,
    DELAY_LADDER_MS,
    RECEIPT_STATUSES,
    TERMINAL,
    Channel,
    Lane,
    Priority,
    Status,
    delay_key,
    delay_queue,
    lane_key,
    lane_queue,
    snap_to_ladder,
    valid_tenant,
)


def test_the_ladder_climbs_by_root_two_from_250_ms_to_about_twelve_minutes() -> None:
    assert DELAY_LADDER_MS[0] == 250
    assert len(DELAY_LADDER_MS) == 24
    assert 11 * 60_000 <= DELAY_LADDER_MS[-1] <= 13 * 60_000
    ratios = [b / a for a, b in itertools.pairwise(DELAY_LADDER_MS)]
    assert all(abs(r - math.sqrt(2)) < 0.01 for r in ratios), ratios


def test_every_rung_snaps_to_itself_and_a_delay_between_two_to_the_nearer_in_ratio() -> None:
    assert [snap_to_ladder(r) for r in DELAY_LADDER_MS] == list(DELAY_LADDER_MS)
    for low, high in itertools.pairwise(DELAY_LADDER_MS):
        middle = math.sqrt(low * high)  # the geometric middle: where nearest in ratio turns
        assert snap_to_ladder(middle * 0.98) == low
        assert snap_to_ladder(middle * 1.02) == high
    # nothing below the first rung, nothing above the last: zero and negatives included
    assert snap_to_ladder(0) == snap_to_ladder(-5) == DELAY_LADDER_MS[0]
    assert snap_to_ladder(float("1e12")) == DELAY_LADDER_MS[-1]


@pytest.mark.parametrize(
    ("priority", "lane"),
    [
        (Priority.CRITICAL, Lane.HIGH),
        (Priority.HIGH, Lane.HIGH),
        (Priority.MEDIUM, Lane.STANDARD),
        (Priority.LOW, Lane.STANDARD),
    ],
)
def test_each_priority_rides_its_lane(priority: Priority, lane: Lane) -> None:
    assert priority.lane is lane


def test_the_status_sets() -> None:
    # receipts move SENT on; everything a receipt reaches counts as accepted by a provider
    assert set(RECEIPT_STATUSES) == {
        Status.DELIVERED,
        Status.UNDELIVERED,
        Status.BOUNCED,
        Status.COMPLAINED,
    }
    assert set(ACCEPTED_BY_PROVIDER) == RECEIPT_STATUSES | {Status.SENT}
    assert ACCEPTED_BY_PROVIDER <= TERMINAL
    # the pipeline is done with the terminal ones only; the waiting and working ones are not
    waiting = {s for s in Status if not s.terminal}
    assert waiting == {
        Status.PENDING,
        Status.SCHEDULED,
        Status.QUEUED,
        Status.PROCESSING,
        Status.RETRYING,
    }
    assert set(TERMINAL - ACCEPTED_BY_PROVIDER) == {Status.FAILED, Status.CANCELLED, Status.EXPIRED}


def test_queue_names_and_routing_keys_of_a_channel_lane_and_rung() -> None:
    assert lane_queue(Channel.EMAIL, Lane.HIGH) == "wavecom.email.high"
    assert lane_key(Channel.PUSH, Lane.STANDARD) == "push.standard"
    assert delay_queue(250) == "wavecom.delay.250ms"
    assert delay_key(354, Channel.SMS, Lane.HIGH) == "delay.354.sms.high"
    # a delayed message keeps the key its lane queue is bound with after "delay.<ms>."
    assert delay_key(354, Channel.SMS, Lane.HIGH).endswith(lane_key(Channel.SMS, Lane.HIGH))
    assert len(ALL_LANE_QUEUES) == len(set(ALL_LANE_QUEUES)) == len(Channel) * len(Lane)


@pytest.mark.parametrize(
    ("tenant", "valid"),
    [
        ("acme", True),
        ("A1_b-2", True),
        ("x" * 64, True),
        ("x" * 65, False),
        ("", False),
        ("-acme", False),
        ("_acme", False),
        ("ac me", False),
        ("acme.io", False),
        ("acme\n", False),
    ],
)
def test_tenant_ids(tenant: str, valid: bool) -> None:
    assert valid_tenant(tenant) is valid
